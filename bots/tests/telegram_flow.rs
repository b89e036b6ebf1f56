//! End to end: teloxide against the fake Bot API, the real core on sled, a fake generator.
//! Consent, a selfie in a forum topic, albums, images sent as files, buttons, /cancel, /forget.

use crate::support;

use headshot::{Platform, UserKey, text};
use support::{Bot, fake::BOT_NAME, selfie};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_start_and_consent_by_button() {
    let bot = Bot::start(true).await;
    let fake = bot.fake.clone();
    let me = fake.private(11);
    fake.text(&me, "/start");
    fake.wait("consent buttons", |f| {
        f.sent("sendmessage", 11)
            .iter()
            .any(|c| c.buttons().contains(&"agree".to_string()))
    })
    .await;
    // A selfie before agreeing waits, then runs once agreed.
    fake.photo(&me, selfie(), None, None);
    let consent_id = fake.message_with_button(11, "agree").unwrap();
    assert!(fake.message_with_button(11, "decline").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(bot.generated(), 0, "no generation before consent");
    fake.press(&me, consent_id, "agree");
    fake.wait("the result album", |f| !f.sent("sendmediagroup", 11).is_empty())
        .await;
    assert!(fake.calls().iter().any(|c| c.method == "answercallbackquery"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_selfie_in_topic_gets_album_documents_and_buttons() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let group = fake.group(-1001, 21, Some(7));
    let selfie_id = fake.photo(&group, selfie(), Some(&format!("@{BOT_NAME}")), None);
    fake.wait("follow-up buttons", |f| {
        f.sent("sendmessage", -1001)
            .iter()
            .any(|c| c.buttons().iter().any(|b| b.starts_with("reroll:")))
    })
    .await;
    let calls: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.chat_id() == Some(-1001))
        .collect();
    // Queued status, then progress edits of that same message.
    assert!(
        calls.iter().any(|c| c.method == "editmessagetext"),
        "progress edits"
    );
    // The album: master + square, replying to the selfie, in the topic.
    let albums: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "sendmediagroup" && c.media().iter().all(|m| m.0 == "photo"))
        .collect();
    assert_eq!(albums.len(), 1);
    assert_eq!(albums[0].media().len(), 2);
    assert_eq!(albums[0].reply_to(), Some(selfie_id));
    assert!(
        albums[0].media()[0]
            .3
            .as_deref()
            .unwrap_or("")
            .contains("face ok"),
        "caption with checklist"
    );
    // Full-quality documents with file names.
    let docs: Vec<_> = calls
        .iter()
        .filter(|c| c.status == 200)
        .flat_map(|c| c.media())
        .filter(|m| m.0 == "document")
        .collect();
    assert_eq!(docs.len(), 2);
    assert!(
        docs.iter()
            .all(|d| d.1.as_deref().is_some_and(|n| n.ends_with(".png")))
    );
    assert!(
        calls
            .iter()
            .any(|c| c.method == "sendchataction" && c.str("action").as_deref() == Some("upload_photo"))
    );
    // Every answer in the topic carries its thread id.
    for c in calls.iter().filter(|c| c.method.starts_with("send")) {
        assert_eq!(c.thread(), Some(7), "{}", c.summary());
    }
    assert_eq!(bot.generated(), 1);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_album_of_selfies_is_one_job() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(31);
    for _ in 0..3 {
        fake.photo(&me, selfie(), None, Some("album-1"));
    }
    fake.wait("the result album", |f| !f.sent("sendmediagroup", 31).is_empty())
        .await;
    fake.wait("buttons", |f| {
        f.sent("sendmessage", 31).iter().any(|c| !c.buttons().is_empty())
    })
    .await;
    assert_eq!(bot.generated(), 1, "three photos of one album are one job");
    // Largest sizes only: three downloads, no thumbnails.
    assert_eq!(fake.downloads().len(), 3, "{:?}", fake.downloads());
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_image_sent_as_document_is_used_at_full_quality() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(41);
    let original = selfie();
    fake.document(&me, original.clone(), "portrait.png", "image/png", None);
    fake.wait("the result album", |f| !f.sent("sendmediagroup", 41).is_empty())
        .await;
    fake.wait("documents", |f| {
        f.sent("sendmediagroup", 41)
            .iter()
            .flat_map(|c| c.media())
            .any(|m| m.0 == "document")
    })
    .await;
    let names: Vec<String> = fake
        .sent("sendmediagroup", 41)
        .iter()
        .flat_map(|c| c.media())
        .filter_map(|m| m.1)
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("portrait")),
        "output names follow the file: {names:?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_style_chosen_by_button() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(51);
    fake.text(&me, "/styles");
    fake.wait("style buttons", |f| {
        f.message_with_button_prefix(51, "style:").is_some()
    })
    .await;
    let (id, data) = fake.message_with_button_prefix(51, "style:").unwrap();
    fake.press(&me, id, &data);
    let name = data.trim_start_matches("style:").to_string();
    let style = bot.service.catalog().get(&name).unwrap().clone();
    fake.wait("style confirmation", |f| {
        f.texts(51).contains(&text::style_set(&style))
    })
    .await;
    assert!(fake.calls().iter().any(|c| c.method == "answercallbackquery"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_cancel_stops_a_waiting_job() {
    let fake = support::Fake::start().await;
    let bot = Bot::start_with(
        fake.clone(),
        headshot::Store::temporary().unwrap(),
        support::config(false),
        60,
    )
    .await;
    let me = fake.private(61);
    fake.photo(&me, selfie(), None, None);
    fake.wait("the status message", |f| !f.sent("sendmessage", 61).is_empty())
        .await;
    fake.text(&me, "/cancel");
    fake.wait("cancel reply", |f| {
        f.texts(61).iter().any(|t| *t == text::cancelled(1))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        fake.sent("sendmediagroup", 61).is_empty(),
        "no results after /cancel"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_forget_with_confirmation() {
    let bot = Bot::start(false).await;
    let fake = bot.fake.clone();
    let me = fake.private(71);
    fake.photo(&me, selfie(), None, None);
    fake.wait("buttons", |f| {
        f.message_with_button_prefix(71, "reroll:").is_some()
    })
    .await;
    fake.text(&me, "/forget");
    fake.wait("confirmation", |f| {
        f.message_with_button(71, "forget:yes").is_some()
    })
    .await;
    let id = fake.message_with_button(71, "forget:yes").unwrap();
    fake.press(&me, id, "forget:yes");
    fake.wait("forgotten", |f| f.texts(71).contains(&text::forgotten()))
        .await;
    let user = UserKey::new(Platform::Telegram, "71");
    assert_eq!(bot.service.store().count_user_keys(&user), 0);
    bot.stop().await;
}
