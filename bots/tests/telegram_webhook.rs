//! Webhook mode: updates posted with the right secret reach the conversation; a wrong or
//! missing secret is answered 401 and nothing happens.

use crate::support;

use std::time::Duration;

use headshot::Store;
use headshot_bots::telegram::{self, Webhook};
use support::fake::Fake;
use support::{FakeGenerator, Running, config, options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post(addr: std::net::SocketAddr, path: &str, secret: Option<&str>, body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = secret
        .map(|s| format!("X-Telegram-Bot-Api-Secret-Token: {s}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply.lines().next().unwrap_or_default().to_string()
}

fn help_update(id: i64, chat: i64) -> String {
    serde_json::json!({
        "update_id": id,
        "message": {
            "message_id": id, "date": 1_700_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Web"},
            "from": {"id": chat, "is_bot": false, "first_name": "Web"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}]
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_webhook_checks_the_secret_and_routes_updates() {
    let fake = Fake::start().await;
    let _peer = fake.private(41);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let core = Running::start(
        config(false),
        FakeGenerator::new(1, Duration::ZERO),
        Store::temporary().unwrap(),
    );
    let service = core.service.clone();
    let stop = core.stop_token();
    let hook = Webhook {
        bind,
        public_url: "https://bot.example/tg-hook".parse().unwrap(),
        secret: "s3cret-Token_1".into(),
    };
    let front = tokio::spawn(telegram::run_with(
        service,
        fake.token.clone(),
        Some(fake.url.clone()),
        telegram::Options {
            webhook: Some(hook),
            ..options()
        },
        stop.clone().cancelled_owned(),
    ));
    fake.wait("setWebhook", |f| {
        f.calls().iter().any(|c| c.method == "setwebhook")
    })
    .await;
    let registered = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "setwebhook")
        .unwrap();
    assert_eq!(registered.str("secret_token").as_deref(), Some("s3cret-Token_1"));
    assert!(
        !fake.calls().iter().any(|c| c.method == "deletewebhook"),
        "webhook mode keeps the webhook"
    );
    // The server may need a moment to listen.
    let mut status = String::new();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(bind).await.is_ok() {
            status = post(bind, "/tg-hook", Some("wrong"), &help_update(1, 41)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(status.contains("401"), "{status}");
    assert!(
        post(bind, "/tg-hook", None, &help_update(2, 41))
            .await
            .contains("401")
    );
    assert!(
        post(bind, "/tg-hook", Some("s3cret-Token_1"), "not json")
            .await
            .contains("400")
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.texts(41).is_empty(), "refused updates do nothing");
    assert!(
        post(bind, "/tg-hook", Some("s3cret-Token_1"), &help_update(3, 41))
            .await
            .contains("200")
    );
    fake.wait("the /help answer", |f| {
        f.texts(41).iter().any(|t| t.contains("/styles"))
    })
    .await;
    stop.cancel();
    front.await.unwrap().unwrap();
    core.stop().await;
}
