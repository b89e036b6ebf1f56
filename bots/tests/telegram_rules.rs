//! End to end: group addressing, refusals (non-image, oversized, no face), a 429 storm, a
//! blocked user, a restart mid-job, and a server that lacks an optional method.

use crate::support;

use std::time::Duration;

use headshot::models::{DecodeError, IntakeError};
use headshot::text;
use support::{Bot, Failure, Fake, faceless, fake::BOT_NAME, selfie};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_group_addressing_rules() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let g = fake.group(-2002, 81, None);
    fake.text(&g, "hello everyone");
    fake.text(&g, "/help@OtherBot");
    fake.photo(&g, selfie(), None, None);
    fake.photo(&g, selfie(), Some("look at this"), None);
    fake.text(&g, &format!("/help@{BOT_NAME}"));
    fake.wait("help", |f| f.texts(-2002).len() == 1).await;
    assert_eq!(fake.texts(-2002), vec![text::help()]);
    // A reply to the bot is addressed to it.
    let bot_message = last_bot_message(&fake, -2002);
    fake.reply(&g, bot_message, "thanks");
    fake.wait("hint", |f| f.texts(-2002).len() == 2).await;
    assert_eq!(fake.texts(-2002)[1], text::hint());
    assert!(
        fake.downloads().is_empty(),
        "unaddressed photos are never downloaded"
    );
    assert!(!fake.calls().iter().any(|c| c.method == "getfile"));
    assert_eq!(bot.generated(), 0);
    bot.stop().await;
}

fn last_bot_message(fake: &Fake, chat: i64) -> i64 {
    fake.last_sent_id(chat).expect("a bot message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_refusals_cost_no_generation() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(91);
    fake.document(&me, b"%PDF-1.4".to_vec(), "cv.pdf", "application/pdf", None);
    fake.wait("non-image hint", |f| f.texts(91).len() == 1).await;
    assert_eq!(fake.texts(91)[0], text::hint_other("that kind of file"));
    fake.document(&me, selfie(), "huge.jpg", "image/jpeg", Some(25 * 1024 * 1024));
    fake.wait("oversize refusal", |f| f.texts(91).len() == 2).await;
    let too_large = text::intake_refusal(&IntakeError::Decode(DecodeError::TooLarge {
        bytes: 25 * 1024 * 1024,
        max: 20 * 1024 * 1024,
    }));
    assert_eq!(fake.texts(91)[1], too_large);
    assert!(
        !fake.calls().iter().any(|c| c.method == "getfile"),
        "oversized files are never fetched"
    );
    assert!(fake.downloads().is_empty());
    fake.photo(&me, faceless(), None, None);
    fake.wait("no-face refusal", |f| f.texts(91).len() == 3).await;
    assert_eq!(fake.texts(91)[2], text::intake_refusal(&IntakeError::NoFace));
    assert_eq!(bot.generated(), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_429_storm_during_delivery_loses_nothing() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(101);
    fake.fail("sendmediagroup", Failure::RetryAfter(1), 3);
    fake.fail("sendmessage", Failure::RetryAfter(1), 2);
    fake.photo(&me, selfie(), None, None);
    fake.wait("buttons", |f| {
        f.message_with_button_prefix(101, "reroll:").is_some()
    })
    .await;
    let groups = fake.sent("sendmediagroup", 101);
    let photos = groups
        .iter()
        .filter(|c| c.media().iter().all(|m| m.0 == "photo"))
        .count();
    let docs = groups
        .iter()
        .filter(|c| c.media().iter().all(|m| m.0 == "document"))
        .count();
    assert_eq!((photos, docs), (1, 1), "each part delivered exactly once");
    let throttled = fake.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(throttled, 5);
    bot.stop().await;
}

/// A 500 from the Bot API (teloxide itself waits 10 s before reporting it) is retried by the
/// outbox until the album arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_500_during_delivery_is_retried() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(121);
    fake.fail("sendmediagroup", Failure::Server, 1);
    fake.photo(&me, selfie(), None, None);
    fake.wait("buttons after the retried album", |f| {
        f.message_with_button_prefix(121, "reroll:").is_some()
    })
    .await;
    let failed = fake
        .calls()
        .iter()
        .filter(|c| c.method == "sendmediagroup" && c.status == 500)
        .count();
    assert_eq!(failed, 1);
    let photos = fake
        .sent("sendmediagroup", 121)
        .iter()
        .filter(|c| c.media().iter().all(|m| m.0 == "photo"))
        .count();
    assert_eq!(photos, 1, "the album arrives exactly once");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_blocked_user_stops_delivery() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(111);
    fake.fail("sendmediagroup", Failure::Blocked, 1);
    fake.photo(&me, selfie(), None, None);
    fake.wait("the blocked attempt", |f| {
        f.calls().iter().any(|c| c.status == 403)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let attempts = fake
        .calls()
        .iter()
        .filter(|c| c.method == "sendmediagroup")
        .count();
    assert_eq!(attempts, 1, "no retries after 'bot was blocked'");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_restart_mid_job_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    let bot = Bot::start_in(fake.clone(), dir.path(), 20).await;
    let me = fake.private(121);
    fake.photo(&me, selfie(), None, None);
    fake.wait("progress", |f| !f.sent("editmessagetext", 121).is_empty())
        .await;
    bot.stop().await;
    let bot = Bot::start_in(fake.clone(), dir.path(), 2).await;
    fake.wait("buttons", |f| {
        f.message_with_button_prefix(121, "reroll:").is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let albums = fake
        .sent("sendmediagroup", 121)
        .iter()
        .filter(|c| c.media().iter().all(|m| m.0 == "photo"))
        .count();
    assert_eq!(albums, 1, "the result arrives once");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_start_tolerates_unknown_optional_methods() {
    let fake = Fake::start().await;
    fake.forget_method("setMyCommands");
    fake.forget_method("deleteWebhook");
    let bot = Bot::start_with(
        fake.clone(),
        headshot::Store::temporary().unwrap(),
        support::config(false),
        2,
    )
    .await;
    let me = fake.private(131);
    fake.text(&me, "/help");
    fake.wait("help", |f| f.texts(131) == vec![text::help()]).await;
    bot.stop().await;
}
