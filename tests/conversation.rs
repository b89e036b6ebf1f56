//! Conversation flows through a recording fake front end: commands, photo to results in the
//! same thread, albums, caption commands, consent, unknown input, access rules.

use crate::util;

use std::time::Duration;

use headshot::{Event, JobState, Outbound, SendError};
use util::{FakeGenerator, Harness, Record, config, faceless, selfie, user};

fn fast() -> std::sync::Arc<FakeGenerator> {
    FakeGenerator::new(3, Duration::from_millis(5))
}

#[tokio::test]
async fn start_help_privacy_and_unknown_input_get_answers() {
    let h = Harness::start(config(true), fast()).await;
    h.command("1", "/start").await;
    let texts = h.front.texts("1");
    assert!(texts[0].contains("professional headshots"), "{texts:?}");
    assert!(
        texts[1].contains("only photos of yourself") && texts[1].contains("/forget"),
        "{texts:?}"
    );
    assert!(h.front.buttons("1").iter().any(|b| b.data == "agree"));
    h.command("1", "/help").await;
    h.command("1", "/privacy").await;
    h.command("1", "/frobnicate").await;
    h.send("1", Event::Text("hello".into())).await;
    h.send("1", Event::Other("a sticker".into())).await;
    let texts = h.front.texts("1");
    assert!(texts[2].contains("/styles") && texts[2].contains("/forget"));
    assert!(
        texts[3].contains("7 days") && texts[3].contains("30 days"),
        "{}",
        texts[3]
    );
    assert!(texts[4].contains("/frobnicate") && texts[4].contains("/help"));
    assert!(texts[5].contains("Send me a selfie"));
    assert!(texts[6].contains("a sticker"));
    h.shutdown().await;
}

#[tokio::test]
async fn styles_are_offered_as_buttons_and_settings_change_the_next_job() {
    let h = Harness::start(config(false), fast()).await;
    h.command("1", "/styles").await;
    let buttons = h.front.buttons("1");
    assert!(buttons.len() >= 12, "{buttons:?}");
    assert!(buttons.iter().all(|b| b.data.len() <= 64));
    h.press("1", "style:creative").await;
    h.command("1", "/crop 1:1").await;
    h.command("1", "/variants 2").await;
    h.command("1", "/background white").await;
    h.command("1", "/variants 9").await;
    h.command("1", "/style nosuch").await;
    h.command("1", "/settings").await;
    let texts = h.front.texts("1");
    let n = texts.len();
    assert!(texts[n - 3].contains("1 to 4"), "{texts:?}");
    assert!(texts[n - 2].contains("nosuch") && texts[n - 2].contains("corporate"));
    let settings = &texts[n - 1];
    for part in ["creative", "1:1", "variants: 2", "white"] {
        assert!(settings.contains(part), "{settings}");
    }
    h.photo("1", selfie(100)).await;
    h.front.wait_until("album", |f| !f.albums("1").is_empty()).await;
    let (_, photos, caption) = &h.front.albums("1")[0];
    let names: Vec<&str> = photos.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "me0-creative-4x5.png",
            "me0-creative-1x1.png",
            "me0-creative-4x5-v2.png",
            "me0-creative-1x1-v2.png"
        ]
    );
    assert!(caption.contains("Creative"), "{caption}");
    h.command("1", "/mode portrait").await;
    assert!(h.front.texts("1").last().unwrap().contains("dramatic"));
    h.shutdown().await;
}

#[tokio::test]
async fn a_selfie_is_queued_progressed_and_delivered_in_its_thread() {
    let h = Harness::start(config(false), FakeGenerator::new(4, Duration::from_millis(30))).await;
    h.photo_message("7", selfie(100), "selfie-7").await;
    let texts = h.front.texts("7");
    assert!(texts[0].starts_with("Queued: position 1"), "{texts:?}");
    h.front
        .wait_until("buttons after results", |f| {
            f.buttons("7").iter().any(|b| b.data.starts_with("reroll:"))
        })
        .await;
    let edits = h.front.edits("7");
    assert!(edits.iter().any(|(_, t)| t.contains("Working")), "{edits:?}");
    assert_eq!(edits.last().unwrap().1, headshot::text::done());
    let status_id = match &h.front.records()[0] {
        Record::Sent { id, .. } => id.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        edits.iter().all(|(id, _)| *id == status_id),
        "all edits go to the one status message"
    );
    let albums = h.front.albums("7");
    assert_eq!(albums.len(), 1);
    let (chat, photos, caption) = &albums[0];
    assert_eq!(chat.thread_id.as_deref(), Some("topic-7"));
    assert_eq!(
        chat.reply_to.as_deref(),
        Some("selfie-7"),
        "results reply to the selfie"
    );
    assert_eq!(photos.len(), 2);
    assert!(caption.contains("Corporate") && caption.contains("face ok"));
    assert_eq!(
        h.front.files("7").len(),
        2,
        "full-quality documents follow the album"
    );
    let job = h.service.store().jobs_of(&user("7")).unwrap().pop().unwrap();
    h.front
        .wait_until("delivered state", |_| {
            h.service.store().job(&user("7"), &job.id).unwrap().unwrap().state == JobState::Delivered
        })
        .await;
    h.shutdown().await;
}

#[tokio::test]
async fn an_album_is_one_job_using_the_best_selfie() {
    let h = Harness::start(config(false), fast()).await;
    h.photos("2", vec![selfie(10), selfie(250), faceless(), selfie(60)], None)
        .await;
    let first = &h.front.texts("2")[0];
    assert!(
        first.contains("Using photo 2 of 4") && first.contains("1 could not be used"),
        "{first}"
    );
    h.front.wait_until("album", |f| !f.albums("2").is_empty()).await;
    let jobs = h.service.store().jobs_of(&user("2")).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].selfies.len(), 3, "every accepted selfie is kept");
    assert_eq!(jobs[0].stem, "me1");
    h.shutdown().await;
}

#[tokio::test]
async fn a_caption_command_sets_the_style_of_that_photo() {
    let h = Harness::start(config(false), fast()).await;
    h.photos("3", vec![selfie(90)], Some("/style tech")).await;
    h.front.wait_until("album", |f| !f.albums("3").is_empty()).await;
    assert_eq!(h.front.albums("3")[0].1[0].name, "me0-tech-4x5.png");
    h.shutdown().await;
}

#[tokio::test]
async fn outputs_refused_by_the_safety_checker_end_the_job_with_a_neutral_message() {
    let generator = fast();
    generator
        .flag_unsafe
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let h = Harness::start(config(false), generator.clone()).await;
    h.photo("5", selfie(100)).await;
    h.front
        .wait_until("the refusal", |f| {
            f.texts("5")
                .iter()
                .any(|t| *t == headshot::text::generation_unsafe())
        })
        .await;
    assert!(h.front.albums("5").is_empty(), "nothing is sent");
    let job = &h.service.store().jobs_of(&user("5")).unwrap()[0];
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.results, 0, "nothing is stored");
    assert!(
        !headshot::text::generation_unsafe()
            .to_lowercase()
            .contains("nsfw")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_selfie_before_consent_waits_and_runs_after_agreeing() {
    let generator = fast();
    let h = Harness::start(config(true), generator.clone()).await;
    h.photo("4", selfie(90)).await;
    assert!(h.front.texts("4")[0].contains("I agree"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(generator.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        h.service.store().jobs_of(&user("4")).unwrap()[0].state,
        JobState::Pending
    );
    h.press("4", "agree").await;
    h.front
        .wait_until("album after consent", |f| !f.albums("4").is_empty())
        .await;
    // Once agreed, no more consent questions.
    h.photo("4", selfie(91)).await;
    assert!(h.front.texts("4").last().unwrap().starts_with("Queued"));
    h.shutdown().await;
}

#[tokio::test]
async fn declining_consent_deletes_the_pending_selfie() {
    let h = Harness::start(config(true), fast()).await;
    h.photo("5", selfie(90)).await;
    h.press("5", "decline").await;
    assert!(h.front.texts("5").last().unwrap().contains("deleted"));
    let job = &h.service.store().jobs_of(&user("5")).unwrap()[0];
    assert_eq!(job.state, JobState::Cancelled);
    assert!(
        h.service
            .store()
            .selfie(&user("5"), &job.selfies[0])
            .unwrap()
            .is_none()
    );
    h.shutdown().await;
}

#[tokio::test]
async fn bad_photos_get_a_specific_reason_and_no_generator_time() {
    let generator = fast();
    let h = Harness::start(config(false), generator.clone()).await;
    h.photo("6", faceless()).await;
    h.photo("6", b"GIF89a broken".to_vec()).await;
    h.photo("6", b"plain text".to_vec()).await;
    h.photo("6", Vec::new()).await;
    let texts = h.front.texts("6");
    assert!(texts[0].contains("couldn't find a face"), "{texts:?}");
    assert!(texts[1].contains("damaged"), "{texts:?}");
    assert!(texts[2].contains("JPEG, PNG or WebP"), "{texts:?}");
    assert!(texts[3].contains("empty"), "{texts:?}");
    assert_eq!(generator.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(h.service.store().jobs_of(&user("6")).unwrap().is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_nothing_is_delivered() {
    let h = Harness::start(config(false), FakeGenerator::new(50, Duration::from_millis(20))).await;
    h.photo("8", selfie(90)).await;
    h.front
        .wait_until("running", |f| {
            f.edits("8").iter().any(|(_, t)| t.contains("render"))
        })
        .await;
    h.command("8", "/cancel").await;
    assert_eq!(h.front.texts("8").last().unwrap(), "Cancelled your job.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.front.albums("8").is_empty());
    let job = &h.service.store().jobs_of(&user("8")).unwrap()[0];
    assert_eq!(job.state, JobState::Cancelled);
    h.command("8", "/cancel").await;
    assert!(h.front.texts("8").last().unwrap().contains("no job"));
    h.shutdown().await;
}

#[tokio::test]
async fn reroll_and_redo_make_the_next_variants_from_the_same_selfie() {
    let h = Harness::start(config(false), fast()).await;
    h.photo("9", selfie(90)).await;
    h.front
        .wait_until("first album", |f| f.albums("9").len() == 1)
        .await;
    let reroll = h
        .front
        .buttons("9")
        .into_iter()
        .find(|b| b.data.starts_with("reroll:"))
        .unwrap();
    h.press("9", &reroll.data).await;
    h.front
        .wait_until("second album", |f| f.albums("9").len() == 2)
        .await;
    assert_eq!(h.front.albums("9")[1].1[0].name, "me0-corporate-4x5-v2.png");
    h.command("9", "/redo executive").await;
    h.front
        .wait_until("third album", |f| f.albums("9").len() == 3)
        .await;
    assert_eq!(h.front.albums("9")[2].1[0].name, "me0-executive-4x5.png");
    let square = h
        .front
        .buttons("9")
        .into_iter()
        .find(|b| b.data.starts_with("square:"))
        .unwrap();
    let before = h.front.files("9").len();
    h.press("9", &square.data).await;
    h.front
        .wait_until("square files", |f| f.files("9").len() == before + 1)
        .await;
    assert!(h.front.files("9").last().unwrap().name.contains("1x1"));
    h.shutdown().await;
}

#[tokio::test]
async fn redo_without_a_previous_selfie_says_so() {
    let h = Harness::start(config(false), fast()).await;
    h.command("10", "/redo").await;
    assert!(h.front.texts("10")[0].contains("no earlier selfie"));
    h.command("10", "/status").await;
    assert!(h.front.texts("10")[1].contains("Nothing in progress"));
    h.command("10", "/quota").await;
    assert!(h.front.texts("10")[2].contains("0 of 50"));
    h.shutdown().await;
}

#[tokio::test]
async fn forget_asks_first_then_leaves_no_key_of_the_user() {
    let h = Harness::start(config(false), fast()).await;
    h.photo("11", selfie(90)).await;
    h.photo("12", selfie(90)).await;
    h.front
        .wait_until("albums", |f| {
            !f.albums("11").is_empty() && !f.albums("12").is_empty()
        })
        .await;
    h.command("11", "/forget").await;
    assert!(h.front.buttons("11").iter().any(|b| b.data == "forget:yes"));
    h.press("11", "forget:no").await;
    assert!(h.service.store().count_user_keys(&user("11")) > 0);
    h.press("11", "forget:yes").await;
    assert!(h.front.texts("11").last().unwrap().contains("deleted everything"));
    assert_eq!(h.service.store().count_user_keys(&user("11")), 0);
    assert!(
        h.service.store().count_user_keys(&user("12")) >= 4,
        "other users keep their data"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn allow_list_refuses_politely_and_admins_control_intake() {
    let mut c = config(false);
    c.access.users = vec![user("20")];
    c.access.admins = vec![user("99")];
    let h = Harness::start(c, fast()).await;
    h.photo("21", selfie(90)).await;
    assert!(
        h.front.texts("21")[0].contains("private"),
        "{:?}",
        h.front.texts("21")
    );
    h.command("20", "/stats").await;
    assert!(h.front.texts("20")[0].contains("operators"));
    h.command("99", "/pause upgrading").await;
    h.photo("20", selfie(90)).await;
    assert!(h.front.texts("20")[1].contains("upgrading"));
    h.command("99", "/resume").await;
    h.command("99", "/ban telegram:20").await;
    h.photo("20", selfie(90)).await;
    assert!(h.front.texts("20")[2].contains("private"));
    h.command("99", "/unban telegram:20").await;
    h.photo("20", selfie(90)).await;
    assert!(h.front.texts("20")[3].starts_with("Queued"));
    h.command("99", "/stats").await;
    assert!(
        h.front.texts("99").last().unwrap().contains("jobs 1"),
        "{:?}",
        h.front.texts("99")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_ends_delivery_without_retrying() {
    let h = Harness::start(config(false), fast()).await;
    h.photo("13", selfie(90)).await;
    h.front.blocked.lock().unwrap().push("13".into());
    h.front
        .wait_until("failed state", |_| {
            h.service.store().jobs_of(&user("13")).unwrap()[0].state == JobState::Failed
        })
        .await;
    let job = &h.service.store().jobs_of(&user("13")).unwrap()[0];
    assert!(job.failure.as_deref().unwrap().contains("blocked"));
    assert_eq!(h.service.store().stats().unwrap().outbox, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn transient_failures_during_delivery_are_retried_until_everything_arrives() {
    let h = Harness::start(config(false), fast()).await;
    h.photo("14", selfie(90)).await;
    h.front.fail_next(
        5,
        SendError::Transient {
            retry_after: Some(Duration::from_millis(30)),
            detail: "429".into(),
        },
    );
    h.front
        .wait_until("album and files", |f| {
            !f.albums("14").is_empty() && f.files("14").len() == 2
        })
        .await;
    h.front
        .wait_until("buttons", |f| {
            f.buttons("14").iter().any(|b| b.data.starts_with("reroll"))
        })
        .await;
    let albums = h
        .front
        .records()
        .iter()
        .filter(|r| {
            matches!(
                r,
                Record::Sent {
                    message: Outbound::Album { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(albums, 1, "a retried delivery resumes, it does not resend");
    h.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_photo_message_makes_no_second_job() {
    let h = Harness::start(config(false), fast()).await;
    h.photo_message("15", selfie(90), "same").await;
    h.photo_message("15", selfie(90), "same").await;
    assert_eq!(h.service.store().jobs_of(&user("15")).unwrap().len(), 1);
    assert_eq!(h.front.texts("15").len(), 1, "one acknowledgement");
    h.shutdown().await;
}

#[tokio::test]
async fn photos_over_the_platform_photo_limits_are_sent_as_files() {
    let h = Harness::start(config(false), fast()).await;
    h.front.limits.lock().unwrap().photo_bytes = 100;
    h.photo("16", selfie(90)).await;
    h.front
        .wait_until("buttons", |f| {
            f.buttons("16").iter().any(|b| b.data.starts_with("reroll:"))
        })
        .await;
    assert!(h.front.albums("16").is_empty(), "nothing fits as a photo");
    assert_eq!(h.front.files("16").len(), 2, "both images arrive as files");
    assert!(
        h.front.texts("16").iter().any(|t| t.contains("Corporate")),
        "the caption still arrives"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn platforms_that_keep_photos_as_sent_get_no_duplicate_files() {
    let h = Harness::start(config(false), fast()).await;
    h.photo("18", selfie(90)).await;
    h.front
        .wait_until("buttons", |f| {
            f.buttons("18").iter().any(|b| b.data.starts_with("reroll:"))
        })
        .await;
    assert_eq!(
        h.front.files("18").len(),
        2,
        "Telegram recompresses photos: files follow"
    );
    h.front.limits.lock().unwrap().photos_are_originals = true;
    h.photo("19", selfie(90)).await;
    h.front
        .wait_until("buttons", |f| {
            f.buttons("19").iter().any(|b| b.data.starts_with("reroll:"))
        })
        .await;
    assert_eq!(h.front.albums("19").len(), 1);
    assert!(
        h.front.files("19").is_empty(),
        "the album already holds the originals"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_group_member_can_have_results_delivered_privately() {
    let h = Harness::start(config(false), fast()).await;
    let in_group = |event| headshot::Inbound {
        user: user("17"),
        chat: headshot::ChatRef {
            is_group: true,
            ..headshot::ChatRef::private(headshot::Platform::Telegram, "group-1")
        },
        event,
    };
    h.service
        .handle(in_group(Event::Command(headshot::Command::from_parts(
            "delivery", "private",
        ))))
        .await;
    assert!(h.front.texts("group-1")[0].contains("private chat"));
    let upload = headshot::Upload {
        bytes: selfie(90),
        file_name: None,
        message_id: Some("g1".into()),
    };
    h.service
        .handle(in_group(Event::Photos {
            uploads: vec![upload],
            caption: None,
        }))
        .await;
    h.front
        .wait_until("private album", |f| !f.albums("17").is_empty())
        .await;
    assert!(
        h.front.albums("group-1").is_empty(),
        "nothing is posted in the group"
    );
    assert!(
        h.front.texts("group-1").iter().any(|t| t.starts_with("Queued")),
        "the status stays in the group"
    );
    h.shutdown().await;
}
