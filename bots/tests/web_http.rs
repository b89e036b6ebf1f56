//! The web chat over HTTP, as a browser uses it: page and assets, uploads, commands, buttons,
//! the event stream with live status, downloads, `/forget`, limits; the operator API, `/healthz`
//! and `/metrics`. The real core and server; a fast fake generator.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::web::{Browser, WebApp, text_of, until_closed, web_options};
use support::{config, faceless, selfie};

async fn app() -> WebApp {
    WebApp::start(config(false), web_options()).await
}

async fn headshots(b: &Browser) -> serde_json::Value {
    b.wait_bot("the result album", |m| m["kind"] == "album").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_and_assets_are_served_from_the_binary() {
    let app = app().await;
    let b = app.browser();
    let page = b.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.text().contains("/assets/app.js") && page.text().contains("id=\"thread\""));
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'self'")
    );
    let cookie = page.header("set-cookie");
    assert!(
        cookie.starts_with("headshot_browser=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let js = b.get("/assets/app.js").await;
    assert_eq!(
        (
            js.status,
            js.header("content-type").starts_with("text/javascript")
        ),
        (200, true)
    );
    assert!(js.text().contains("EventSource"));
    assert_eq!(b.get("/assets/app.css").await.status, 200);
    let catalog = b.get("/api/catalog").await.json();
    let styles = catalog["styles"].as_array().unwrap();
    assert_eq!(styles.len(), app.service.catalog().styles().len());
    assert!(
        styles
            .iter()
            .any(|s| s["name"] == "corporate" && s["mode"] == "headshot")
    );
    assert!(
        catalog["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "forget")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_selfie_gets_live_status_and_headshots_to_download() {
    let app = app().await;
    let b = app.browser();
    b.listen().await;
    let sent = b.upload(vec![("me.png", "image/png", selfie())], None).await;
    assert_eq!(sent.status, 202, "{}", sent.text());
    // The selfie is echoed as the user's message, the status message is edited live.
    let (_, echo) = b
        .wait_event("the selfie echoed", |(_, m)| m["from"] == "user")
        .await;
    assert_eq!(echo["attachments"][0]["width"], 64);
    assert_eq!(echo["attachments"][0]["mime"], "image/png");
    let album = headshots(&b).await;
    let status_edits = b
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, m)| name == "edit" && text_of(m).starts_with("Working"))
        .count();
    assert!(status_edits >= 1, "progress is pushed as edits");
    assert!(
        b.thread().iter().any(|m| text_of(m).starts_with("Done")),
        "the status message ends as done"
    );
    let files = album["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        (files[0]["width"].as_u64(), files[0]["height"].as_u64()),
        (Some(40), Some(50))
    );
    assert_eq!(
        (files[1]["width"].as_u64(), files[1]["height"].as_u64()),
        (Some(40), Some(40))
    );
    // The image itself, and as a download.
    let shown = b.get(files[0]["url"].as_str().unwrap()).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.header("content-type"), "image/png");
    assert_eq!(image::load_from_memory(&shown.body).unwrap().height(), 50);
    let saved = b.get(files[0]["download"].as_str().unwrap()).await;
    assert!(
        saved
            .header("content-disposition")
            .starts_with("attachment; filename=\"")
    );
    // Another browser cannot fetch it.
    let stranger = app.browser();
    assert_eq!(stranger.get(files[0]["url"].as_str().unwrap()).await.status, 404);
    // The buttons under the results: Reroll makes another job.
    let more = b
        .wait_bot("the result buttons", |m| {
            m["buttons"].to_string().contains("reroll:")
        })
        .await;
    let reroll = more["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .find(|btn| btn["data"].as_str().unwrap().starts_with("reroll:"))
        .unwrap()["data"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.press(&reroll).await.status, 202);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while b
        .thread()
        .iter()
        .filter(|m| m["kind"] == "album" && m["from"] == "bot")
        .count()
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", b.thread());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_commands_buttons_and_consent_are_the_cores() {
    let app = WebApp::start(config(true), web_options()).await;
    let b = app.browser();
    b.listen().await;
    assert_eq!(b.say("/style creative").await.status, 202);
    b.wait_bot("style set", |m| text_of(m).starts_with("Style set to"))
        .await;
    assert_eq!(b.press("style:corporate").await.status, 202);
    b.wait_bot("corporate", |m| text_of(m).contains("Corporate"))
        .await;
    b.say("/nonsense").await;
    b.wait_bot("unknown command", |m| text_of(m).contains("nonsense"))
        .await;
    b.say("/styles").await;
    b.wait_bot("style buttons", |m| m["buttons"].to_string().contains("style:"))
        .await;
    // Consent first: the selfie waits until "I agree".
    b.upload(vec![("me.png", "image/png", selfie())], Some("/style tech"))
        .await;
    let ask = b
        .wait_bot("the consent request", |m| {
            m["buttons"].to_string().contains("agree")
        })
        .await;
    assert!(text_of(&ask).contains("only photos of yourself"));
    assert_eq!(app.generator.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    let agree = ask["buttons"][0][0]["data"].as_str().unwrap().to_string();
    b.press(&agree).await;
    headshots(&b).await;
    b.say("/status").await;
    b.wait_bot("status", |m| text_of(m).starts_with("Nothing in progress"))
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_forget_deletes_the_store_and_the_transcript() {
    let app = app().await;
    let b = app.browser();
    b.listen().await;
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    let album = headshots(&b).await;
    let url = album["attachments"][0]["url"].as_str().unwrap().to_string();
    b.say("/forget").await;
    b.wait_bot("the confirmation", |m| {
        m["buttons"].to_string().contains("forget:yes")
    })
    .await;
    b.press("forget:yes").await;
    let browser_id = b
        .cookies
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k == "headshot_browser")
        .unwrap()
        .1
        .clone();
    let user = headshot::UserKey::new(headshot::Platform::Web, browser_id);
    assert_eq!(
        app.service.store().count_user_keys(&user),
        0,
        "nothing left in the store"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.thread().len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", b.thread());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.service.store().count_chat_keys(&user),
        1,
        "the kept transcript is only the confirmation"
    );
    assert!(text_of(&b.thread()[0]).to_lowercase().contains("delete"));
    assert_eq!(
        b.get(&url).await.status,
        404,
        "the results are gone from memory too"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_transcript_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = || support::open_when_free(dir.path());
    let app = WebApp::start_with(config(false), web_options(), store()).await;
    let b = app.browser();
    b.listen().await;
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    headshots(&b).await;
    b.wait_bot("the result buttons", |m| {
        m["buttons"].to_string().contains("reroll:")
    })
    .await;
    let before = b.thread();
    app.stop().await;

    // The same browser (its cookie) after the restart: the page replays the whole transcript,
    // the status as last edited, and the album's files still open.
    let app = WebApp::start_with(config(false), web_options(), store()).await;
    let again = Browser::at(&app.url);
    *again.cookies.lock().unwrap() = b.cookies.lock().unwrap().clone();
    again.listen().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while again.thread().len() < before.len() {
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", again.thread());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shown = |t: &[serde_json::Value]| -> Vec<(String, String, String)> {
        t.iter()
            .map(|m| (m["id"].to_string(), text_of(m), m["attachments"].to_string()))
            .collect()
    };
    assert_eq!(shown(&again.thread()), shown(&before));
    assert!(before.iter().any(|m| text_of(m).starts_with("Done")));
    let album = before
        .iter()
        .find(|m| m["kind"] == "album" && m["from"] == "bot")
        .unwrap();
    let file = again.get(album["attachments"][0]["url"].as_str().unwrap()).await;
    assert_eq!(file.status, 200);
    assert_eq!(image::load_from_memory(&file.body).unwrap().height(), 50);
    // Another browser still cannot see it.
    assert_eq!(
        app.browser()
            .get(album["attachments"][0]["url"].as_str().unwrap())
            .await
            .status,
        404
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_bad_input_gets_the_cores_messages() {
    let mut cfg = config(false);
    cfg.intake.max_bytes = 50_000;
    let app = WebApp::start(cfg, web_options()).await;
    let b = app.browser();
    b.listen().await;
    let big = b
        .upload(vec![("big.jpg", "image/jpeg", vec![0xFF; 60_000])], None)
        .await;
    assert_eq!(big.status, 413);
    assert!(
        big.json()["error"].as_str().unwrap().contains("too large"),
        "{}",
        big.text()
    );
    let pdf = b
        .upload(
            vec![("cv.pdf", "application/pdf", b"%PDF-1.4 hello".to_vec())],
            None,
        )
        .await;
    assert_eq!(pdf.status, 202);
    b.wait_bot("the hint", |m| text_of(m).contains("I can't use a PDF"))
        .await;
    let broken = b
        .upload(vec![("x.jpg", "image/jpeg", b"not really a jpeg".to_vec())], None)
        .await;
    assert_eq!(broken.status, 202);
    b.wait_bot("not an image", |m| {
        text_of(m).contains("isn't a photo I can read")
    })
    .await;
    b.upload(vec![("dark.png", "image/png", faceless())], None).await;
    b.wait_bot("no face", |m| text_of(m).contains("couldn't find a face"))
        .await;
    assert_eq!(b.upload(Vec::new(), Some("hi")).await.status, 400);
    assert_eq!(b.say("   ").await.status, 400);
    assert_eq!(b.say(&"x".repeat(5000)).await.status, 413);
    assert_eq!(b.post("/api/send", json!({"nope": 1})).await.status, 400);
    let cross = b
        .request(
            b.http
                .post(format!("{}/api/send", b.base))
                .header("origin", "https://evil.example")
                .json(&json!({"text": "/forget"})),
        )
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(app.generator.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The service is still fine.
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    headshots(&b).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_admin_needs_its_token_and_pauses_intake() {
    let off = app().await;
    let b = off.browser();
    let page = b.get("/admin").await;
    assert_eq!(page.status, 403);
    assert!(page.text().contains("HEADSHOT_ADMIN_TOKEN"));
    assert_eq!(b.get("/admin/api/state").await.status, 403);
    off.stop().await;

    let token = "admin-token-0123456789";
    let mut options = web_options();
    options.admin_token = Some(token.into());
    let app = WebApp::start(config(false), options).await;
    let b = app.browser();
    assert_eq!(b.get("/admin").await.status, 200);
    assert_eq!(b.get("/admin/api/state").await.status, 401);
    let wrong = b
        .request(
            b.http
                .get(format!("{}/admin/api/state", b.base))
                .bearer_auth("nope"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(token);
    b.listen().await;
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    headshots(&b).await;
    b.upload(vec![("dark.png", "image/png", faceless())], None).await;
    b.wait_bot("no face", |m| text_of(m).contains("couldn't find a face"))
        .await;
    let state = b
        .request(admin(b.http.get(format!("{}/admin/api/state", b.base))))
        .await
        .json();
    assert_eq!(state["queue"]["queued"], 0);
    assert_eq!(state["platforms"]["web"], 1);
    assert_eq!(state["states"]["delivered"], 1);
    assert_eq!(state["durations"]["count"], 1);
    assert!(
        state["durations"]["p50_ms"].as_u64().unwrap() >= 150,
        "3 steps of 60 ms"
    );
    assert_eq!(state["generator"]["loaded"], true);
    let paused = b
        .request(
            admin(b.http.post(format!("{}/admin/api/pause", b.base))).json(&json!({"reason": "new lamps"})),
        )
        .await
        .json();
    assert_eq!(paused["paused"], "new lamps");
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    b.wait_bot("the pause reason", |m| text_of(m).contains("new lamps"))
        .await;
    assert_eq!(app.generator.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let resumed = b
        .request(admin(b.http.post(format!("{}/admin/api/resume", b.base))).json(&json!({})))
        .await
        .json();
    assert_eq!(resumed["paused"], serde_json::Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_healthz_and_metrics_report_the_service() {
    let app = app().await;
    let b = app.browser();
    let health = b.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["generator"]["loaded"], true);
    assert_eq!(health.json()["generator"]["name"], "fake");
    b.listen().await;
    b.upload(vec![("me.png", "image/png", selfie())], None).await;
    headshots(&b).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let metrics = loop {
        let m = b.get("/metrics").await;
        assert!(m.header("content-type").starts_with("text/plain; version=0.0.4"));
        if m.text().contains("headshot_jobs{state=\"delivered\"} 1") || tokio::time::Instant::now() > deadline
        {
            break m.text();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for line in [
        "headshot_jobs{state=\"delivered\"} 1",
        "headshot_queue_depth 0",
        "headshot_generation_seconds_count 1",
        "headshot_delivery_seconds_count 1",
        "# TYPE headshot_platform_errors_total counter",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_access_token_guards_a_remote_chat() {
    let mut options = web_options();
    options.access_token = Some("access-token-0123456789".into());
    let app = WebApp::start(config(false), options).await;
    let b = app.browser();
    assert_eq!(b.get("/").await.status, 401);
    assert_eq!(b.get("/api/catalog").await.status, 401);
    let enter = b.get("/?access=wrong").await;
    assert_eq!(enter.status, 401);
    let enter = b.get("/?access=access-token-0123456789").await;
    assert_eq!(enter.status, 303);
    assert_eq!(enter.header("location"), "/");
    assert_eq!(b.get("/").await.status, 200);
    assert_eq!(b.get("/api/catalog").await.status, 200);
    assert_eq!(b.get("/healthz").await.status, 200);
    app.stop().await;
}

/// The web port under abuse, with small limits: a client that connects and sends nothing, or
/// sends its headers a byte at a time, is closed at the header deadline; a stalled body gets
/// an error at the body deadline; connections over the cap are answered 503 at once and the
/// cap frees up when the idle ones are closed; oversized bodies get 413. A browser's chat and
/// its open event stream work throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_port_bounds_idle_slow_and_excess_clients() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let mut options = web_options();
    let deadline = Duration::from_millis(700);
    options.limits = headshot_bots::web::Limits {
        max_connections: 8,
        header_timeout: deadline,
        body_timeout: deadline,
    };
    let app = WebApp::start(config(false), options).await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // A browser with its event stream open: one connection held for the whole test.
    let b = app.browser();
    b.listen().await;

    // Silent client: closed at the header deadline, not before.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = until_closed(&mut silent, Duration::from_secs(5)).await;
    let closed = closed.expect("a silent client is closed");
    assert!(
        closed >= deadline / 2 && closed < Duration::from_secs(4),
        "{closed:?}"
    );

    // Slow headers, a byte every 50 ms: closed before the request completes.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut cut = false;
    for byte in request {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (answer, closed) = until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(cut || closed.is_some(), "a slow client is closed");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "a 4-second header is not served: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() < Duration::from_secs(9));

    // A body that stops half way: an error answer at the body deadline.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /api/send HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"text\": \"hel")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut stalled, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 4") || (answer.is_empty() && closed.is_some()),
        "a stalled body is ended: {answer:?}"
    );

    // Over the cap: 7 more idle connections fill it (the event stream holds one), the next
    // one is answered 503 at once.
    let mut held = Vec::new();
    for _ in 0..7 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let (answer, closed) = until_closed(&mut extra, Duration::from_secs(2)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(closed.expect("closed at once") < Duration::from_millis(500));
    // The idle ones are closed at the header deadline, and the chat answers again.
    for mut idle in held {
        let (_, closed) = until_closed(&mut idle, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "an idle connection over the deadline is closed");
    }
    assert_eq!(b.get("/healthz").await.status, 200);

    // Oversized bodies are refused on their declared length, before any of it is read.
    // (The upload limit is an album's worth of photos, 221 MB by default.)
    for (path, length) in [("/api/send", 3usize << 20), ("/api/upload", 1 << 30)] {
        let mut big = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        big.write_all(head.as_bytes()).await.unwrap();
        let (answer, _) = until_closed(&mut big, Duration::from_millis(400)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer:?}");
    }

    // The browser's stream survived all of it: a command still gets its answer.
    assert_eq!(b.say("/help").await.status, 202);
    b.wait_bot("the help text", |m| text_of(m).contains("/redo [STYLE]"))
        .await;
    let metrics = b.get("/metrics").await.text();
    assert!(
        metrics.contains("headshot_web_connections_refused_total 1"),
        "{metrics}"
    );
    app.stop().await;
}
