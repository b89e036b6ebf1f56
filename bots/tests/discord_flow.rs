//! The Discord bot end to end: the real serenity client (REST and gateway) against the fake
//! Discord, the real core on sled, a fast fake generator.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::discord::{DiscordBot, WAIT};
use support::discord_fake::{DiscordFake, EPHEMERAL, GUILD_ID, Injected, Req, opt_attachment, opt_string};
use support::{faceless, selfie};

const USER: u64 = 1_300_000_000_000_000_001;
const OTHER: u64 = 1_300_000_000_000_000_002;
const CHANNEL: u64 = 1_300_000_000_000_000_010;
const DM: u64 = 1_300_000_000_000_000_020;

fn headshot_in(fake: &DiscordFake, user: u64, channel: u64, guild: Option<u64>, file: &str) -> String {
    fake.slash_command(
        user,
        channel,
        guild,
        "headshot",
        json!([opt_attachment("selfie", file)]),
    )
    .1
}

/// A successful message post with `n` files into `channel`.
fn album_into(r: &Req, channel: u64) -> bool {
    r.is("POST", &format!("/channels/{channel}/messages")) && r.ok() && r.files.len() == 2
}

fn albums(fake: &DiscordFake) -> Vec<Req> {
    fake.requests()
        .into_iter()
        .filter(|r| r.is("POST", "/channels/*/messages") && r.ok() && !r.files.is_empty())
        .collect()
}

fn thread_id(fake: &DiscordFake) -> u64 {
    let threads = fake.threads();
    assert_eq!(threads.len(), 1, "one thread for the job: {threads:?}");
    threads[0]["id"].as_str().unwrap().parse().unwrap()
}

fn original_text(fake: &DiscordFake, token: &str) -> String {
    fake.original(token)
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

async fn wait_original(fake: &DiscordFake, token: &str, what: &str, pred: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !pred(&original_text(fake, token)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting for {what}; original is {:?}; requests:\n{}",
            original_text(fake, token),
            fake.requests()
                .iter()
                .map(Req::summary)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Text posted anywhere by the bot (follow-ups, channel messages, original edits).
async fn wait_text(fake: &DiscordFake, what: &str, pred: impl Fn(&str) -> bool) -> Req {
    let reqs = fake
        .wait_for(WAIT, |r| {
            r.iter().any(|q| q.ok() && q.content().is_some_and(&pred))
        })
        .await;
    let _ = what;
    reqs.into_iter()
        .find(|q| q.ok() && q.content().is_some_and(&pred))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_thread_headshot_in_a_server() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    let commands = f.commands(None);
    let names: Vec<&str> = commands.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in [
        "headshot", "style", "settings", "status", "cancel", "redo", "forget", "privacy", "help",
    ] {
        assert!(names.contains(&n), "{n} registered: {names:?}");
    }
    let headshot = commands.iter().find(|c| c["name"] == "headshot").unwrap();
    assert_eq!(
        headshot["options"][0]["type"], 11,
        "selfie is an attachment option"
    );
    let gw = f.gateway();
    assert_eq!(
        gw.intents.unwrap() & (1 << 15),
        0,
        "no privileged message-content intent"
    );

    f.register_attachment("me.png", selfie(), "image/png");
    let (_, token) = f.slash_command(
        USER,
        CHANNEL,
        Some(GUILD_ID),
        "headshot",
        json!([opt_attachment("selfie", "me.png"), opt_string("style", "tech")]),
    );
    f.wait_for(WAIT, |r| r.iter().any(|q| q.callback_type() == Some(5) && q.ok()))
        .await;
    f.wait_for(WAIT, |r| {
        r.iter().any(|q| q.path.starts_with("/attachments/") && q.ok())
    })
    .await;
    wait_original(f, &token, "the status to end", |t| t.starts_with("Done")).await;
    let thread = {
        f.wait_for(WAIT, |r| {
            r.iter().any(|q| q.is("POST", "/channels/*/threads") && q.ok())
        })
        .await;
        thread_id(f)
    };
    let t = f.channel(thread).unwrap();
    assert_eq!(t["type"], 12, "a private thread by default");
    assert!(t["name"].as_str().unwrap().contains("Tech"), "{t}");
    let reqs = f
        .wait_for(WAIT, |r| r.iter().any(|q| album_into(q, thread)))
        .await;
    let edits: Vec<&Req> = reqs
        .iter()
        .filter(|q| q.is("PATCH", "/webhooks/*/*/messages/@original"))
        .collect();
    assert!(
        edits
            .iter()
            .any(|q| q.content().is_some_and(|c| c.starts_with("Working"))),
        "progress edits the original response"
    );
    let album = reqs.iter().find(|q| album_into(q, thread)).unwrap();
    let embed = &album.body["embeds"][0];
    assert_eq!(
        embed["title"], "Tech (headshot, fake)",
        "the embed names the style"
    );
    assert!(
        embed["description"].as_str().unwrap().contains("face ok"),
        "and the checklist"
    );
    let names = album.file_names();
    assert!(names[0].contains("4x5") && names[1].contains("1x1"), "{names:?}");
    let (_, custom) = {
        f.wait_for(WAIT, |_| {
            f.find_component(thread, &format!("{USER}|del:")).is_some()
        })
        .await;
        f.find_component(thread, &format!("{USER}|reroll:")).unwrap()
    };
    assert!(custom.starts_with(&format!("{USER}|reroll:")));
    assert_eq!(albums(f).len(), 1, "one album, no duplicate files");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_dm_headshot_comes_back_in_the_dm() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    f.register_attachment("me.png", selfie(), "image/png");
    let token = headshot_in(f, USER, DM, None, "me.png");
    wait_original(f, &token, "the status to end", |t| t.starts_with("Done")).await;
    let dm = f.dm_channel(USER).unwrap();
    f.wait_for(WAIT, |r| r.iter().any(|q| album_into(q, dm))).await;
    assert!(f.threads().is_empty(), "no threads in DMs");
    // A selfie sent as a plain DM works too (no message-content intent needed).
    f.register_attachment("again.png", selfie(), "image/png");
    f.dm_message(USER, dm, "", &["again.png"]);
    f.wait_for(WAIT, |_| {
        albums(f).iter().filter(|q| album_into(q, dm)).count() == 2
    })
    .await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_style_menu_reroll_and_delete() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    let (_, token) = f.slash_command(USER, CHANNEL, Some(GUILD_ID), "style", json!([]));
    wait_original(f, &token, "the style menu", |t| t.contains("Pick a style")).await;
    let menu = f.original(&token).unwrap();
    assert_eq!(menu["components"][0]["components"][0]["type"], 3, "a select menu");
    assert_eq!(
        menu["flags"].as_u64().unwrap_or(0) & EPHEMERAL,
        EPHEMERAL,
        "only for the asker"
    );
    let menu_id: u64 = menu["id"].as_str().unwrap().parse().unwrap();
    let (_, picked) = f.select(
        USER,
        CHANNEL,
        Some(GUILD_ID),
        menu_id,
        &format!("{USER}|pick"),
        &["style:tech"],
    );
    wait_original(f, &picked, "the style reply", |t| {
        t.starts_with("Style set to Tech")
    })
    .await;

    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    f.wait_for(WAIT, |r| {
        r.iter().any(|q| q.is("POST", "/channels/*/threads") && q.ok())
    })
    .await;
    let thread = thread_id(f);
    f.wait_for(WAIT, |_| {
        f.find_component(thread, &format!("{USER}|reroll:")).is_some()
    })
    .await;
    let (buttons_msg, reroll) = f.find_component(thread, &format!("{USER}|reroll:")).unwrap();
    assert!(
        albums(f)[0].body["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Tech")
    );

    // Someone else cannot press them.
    f.button(OTHER, thread, Some(GUILD_ID), buttons_msg, &reroll);
    let refusal = wait_text(f, "the refusal", |c| c.contains("Only the person who asked")).await;
    assert_eq!(refusal.callback_type(), Some(4));
    assert_eq!(refusal.flags() & EPHEMERAL, EPHEMERAL);
    assert_eq!(bot.generated(), 1);

    // The requester rerolls: a second album in the same thread.
    f.button(USER, thread, Some(GUILD_ID), buttons_msg, &reroll);
    f.wait_for(WAIT, |_| {
        albums(f).iter().filter(|q| album_into(q, thread)).count() == 2
    })
    .await;
    assert_eq!(f.threads().len(), 1, "the reroll stays in the thread");

    // Delete removes the first take's messages.
    let (_, delete) = f
        .messages_in(thread)
        .iter()
        .find_map(|m| {
            let id: u64 = m["id"].as_str()?.parse().ok()?;
            (id == buttons_msg).then_some(())?;
            Some((id, ()))
        })
        .map(|_| f.find_component(thread, &format!("{USER}|del:")).unwrap())
        .unwrap();
    let del_msg = f
        .messages_in(thread)
        .iter()
        .filter(|m| m["components"].to_string().contains(&delete))
        .map(|m| m["id"].as_str().unwrap().parse::<u64>().unwrap())
        .next()
        .unwrap();
    f.button(USER, thread, Some(GUILD_ID), del_msg, &delete);
    f.wait_for(WAIT, |r| {
        r.iter()
            .filter(|q| q.is("DELETE", "/channels/*/messages/*") && q.ok())
            .count()
            >= 2
    })
    .await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_cancel_and_forget() {
    let fake = std::sync::Arc::new(DiscordFake::start().await);
    let dir = tempfile::tempdir().unwrap();
    let bot = DiscordBot::start_in(fake, dir.path(), 60).await;
    let f = &bot.fake;
    f.register_attachment("me.png", selfie(), "image/png");
    let token = headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    wait_original(f, &token, "work to start", |t| t.starts_with("Working")).await;
    let (_, cancel) = f.slash_command(USER, CHANNEL, Some(GUILD_ID), "cancel", json!([]));
    wait_original(f, &cancel, "the cancel reply", |t| {
        t.starts_with("Cancelled your job")
    })
    .await;
    let (_, forget) = f.slash_command(USER, CHANNEL, Some(GUILD_ID), "forget", json!([]));
    wait_original(f, &forget, "the confirmation", |t| !t.is_empty()).await;
    let confirm = f.original(&forget).unwrap();
    let confirm_id: u64 = confirm["id"].as_str().unwrap().parse().unwrap();
    f.button(
        USER,
        CHANNEL,
        Some(GUILD_ID),
        confirm_id,
        &format!("{USER}|forget:yes"),
    );
    let user = headshot::UserKey::new(headshot::Platform::Discord, USER.to_string());
    let deadline = tokio::time::Instant::now() + WAIT;
    while bot.service.store().count_user_keys(&user) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "forget deletes every key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(albums(f).is_empty(), "a cancelled job delivers nothing");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_oversized_non_image_and_no_face() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    f.register_attachment("big.png", selfie(), "image/png");
    f.declare_attachment_size("big.png", 5 * 1024 * 1024);
    let token = headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "big.png");
    wait_original(f, &token, "too large", |t| t.contains("too large")).await;
    assert!(
        !f.requests().iter().any(|q| q.path.ends_with("/big.png")),
        "an oversized selfie is never downloaded"
    );
    f.register_attachment("cv.txt", b"hello".to_vec(), "text/plain");
    let token = headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "cv.txt");
    wait_original(f, &token, "not an image", |t| {
        t.contains("I can't use a text file")
    })
    .await;
    f.register_attachment("dark.png", faceless(), "image/png");
    let token = headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "dark.png");
    wait_original(f, &token, "no face", |t| t.contains("couldn't find a face")).await;
    assert_eq!(bot.generated(), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_thread_refused_falls_back_to_dm() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    f.forbid_threads(true);
    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    let note = wait_text(f, "the fallback note", |c| c.contains("couldn't open a thread")).await;
    assert!(note.content().unwrap().contains("by DM"));
    let reqs = f
        .wait_for(WAIT, |_| {
            f.dm_channel(USER)
                .is_some_and(|dm| albums(f).iter().any(|q| album_into(q, dm)))
        })
        .await;
    assert!(
        reqs.iter()
            .any(|q| q.is("POST", "/channels/*/threads") && q.status == 403)
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_429_during_delivery_is_retried_once() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    f.inject_failure("POST", "/channels/*/messages", Injected::rate_limited(0.3), 2);
    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    f.wait_for(WAIT, |r| r.iter().any(|q| q.status == 429)).await;
    f.wait_for(WAIT, |_| albums(f).len() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(albums(f).len(), 1, "the album arrives once");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_restart_mid_job_delivers_once() {
    let fake = std::sync::Arc::new(DiscordFake::start().await);
    let dir = tempfile::tempdir().unwrap();
    let bot = DiscordBot::start_in(fake, dir.path(), 20).await;
    bot.fake.register_attachment("me.png", selfie(), "image/png");
    let token = headshot_in(&bot.fake, USER, CHANNEL, Some(GUILD_ID), "me.png");
    wait_original(&bot.fake, &token, "work to start", |t| t.starts_with("Working")).await;
    let fake = bot.stop().await;
    assert!(albums(&fake).is_empty());
    let bot = DiscordBot::start_in(fake, dir.path(), 2).await;
    bot.fake.wait_for(WAIT, |_| albums(&bot.fake).len() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(albums(&bot.fake).len(), 1, "exactly one album after the restart");
    bot.stop().await;
}

/// Which thread a conversation's results go to and which messages Delete removes are kept in
/// the store: a delivery retried after a restart goes into the thread opened before it (not a
/// second one), and Delete after another restart still removes the album.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_threads_and_delete_survive_restarts() {
    let fake = std::sync::Arc::new(DiscordFake::start().await);
    let dir = tempfile::tempdir().unwrap();
    let store = || support::open_when_free(dir.path());
    let mut config = support::config(false);
    // Long enough for the bot to stop before the album's first retry.
    config.delivery.backoff_base = Duration::from_secs(3);
    let bot = DiscordBot::start_with(fake, store(), config, 2).await;
    let f = &bot.fake;
    f.inject_failure(
        "POST",
        "/channels/*/messages",
        support::discord_fake::Injected::discord(500, 0, "Internal Server Error"),
        1,
    );
    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    f.wait_for(WAIT, |r| {
        r.iter()
            .any(|q| q.is("POST", "/channels/*/messages") && q.status == 500)
    })
    .await;
    let thread = thread_id(f);
    let fake = bot.stop().await;
    assert!(albums(&fake).is_empty(), "the album waits for its retry");

    let bot = DiscordBot::start_with(fake, store(), support::config(false), 2).await;
    let f = &bot.fake;
    f.wait_for(WAIT, |_| albums(f).len() == 1).await;
    assert!(
        album_into(&albums(f)[0], thread),
        "the retry goes into the job's thread"
    );
    assert_eq!(f.threads().len(), 1, "no second thread after the restart");
    f.wait_for(WAIT, |_| {
        f.find_component(thread, &format!("{USER}|del:")).is_some()
    })
    .await;
    let (del_msg, delete) = f.find_component(thread, &format!("{USER}|del:")).unwrap();
    let fake = bot.stop().await;

    let bot = DiscordBot::start_with(fake, store(), support::config(false), 2).await;
    let f = &bot.fake;
    let album_id = f
        .messages_in(thread)
        .iter()
        .find(|m| m["attachments"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|m| m["id"].as_str().unwrap().to_string())
        .expect("the album in the thread");
    f.button(USER, thread, Some(GUILD_ID), del_msg, &delete);
    f.wait_for(WAIT, |r| {
        r.iter()
            .any(|q| q.is("DELETE", &format!("/channels/{thread}/messages/{album_id}")) && q.ok())
    })
    .await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_expired_token_falls_back_to_channel_messages() {
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    f.inject_failure(
        "PATCH",
        "/webhooks/*/*/messages/@original",
        Injected::invalid_webhook_token(),
        usize::MAX,
    );
    f.inject_failure(
        "POST",
        "/webhooks/*/*",
        Injected::invalid_webhook_token(),
        usize::MAX,
    );
    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    let queued = f
        .wait_for(WAIT, |r| {
            r.iter().any(|q| {
                q.is("POST", &format!("/channels/{CHANNEL}/messages"))
                    && q.ok()
                    && q.content().is_some_and(|c| c.starts_with("Queued"))
            })
        })
        .await;
    assert!(
        queued.iter().any(|q| q.status == 401),
        "the token was refused first"
    );
    f.wait_for(WAIT, |_| albums(f).len() == 1).await;
    bot.stop().await;
}

#[allow(dead_code)]
fn _types(_: Value) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_consent_button_then_public_thread_and_mention() {
    let bot = DiscordBot::start(true).await;
    let f = &bot.fake;
    let (_, settings) = f.slash_command(
        USER,
        CHANNEL,
        Some(GUILD_ID),
        "settings",
        json!([opt_string("delivery", "public")]),
    );
    wait_original(f, &settings, "the delivery setting", |t| {
        t.contains("public thread")
    })
    .await;
    f.register_attachment("me.png", selfie(), "image/png");
    let token = headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    wait_original(f, &token, "the consent request", |t| {
        t.contains("only photos of yourself")
    })
    .await;
    let ask = f.original(&token).unwrap();
    let ids: Vec<String> = support::discord_fake::custom_ids(&ask["components"]);
    assert!(ids.contains(&format!("{USER}|agree")), "{ids:?}");
    assert_eq!(bot.generated(), 0, "nothing runs before consent");
    let ask_id: u64 = ask["id"].as_str().unwrap().parse().unwrap();
    f.button(USER, CHANNEL, Some(GUILD_ID), ask_id, &format!("{USER}|agree"));
    f.wait_for(WAIT, |_| albums(f).len() == 1).await;
    let thread = thread_id(f);
    assert_eq!(
        f.channel(thread).unwrap()["type"],
        11,
        "a public thread, as chosen"
    );
    // A selfie in a message that mentions the bot starts a job without the content intent.
    f.register_attachment("again.png", selfie(), "image/png");
    f.guild_message(
        USER,
        CHANNEL,
        GUILD_ID,
        &format!("<@{}> here", support::discord_fake::BOT_ID),
        &["again.png"],
    );
    f.wait_for(WAIT, |_| albums(f).len() == 2).await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_server_admin_restricts_delivery_to_dm() {
    const ADMIN: u64 = 1_300_000_000_000_000_003;
    let bot = DiscordBot::start(false).await;
    let f = &bot.fake;
    let server = f.commands(None);
    let server = server.iter().find(|c| c["name"] == "server").unwrap();
    assert_eq!(
        server["default_member_permissions"], "32",
        "shown to Manage Server only"
    );
    let (_, refused) = f.slash_command(
        USER,
        CHANNEL,
        Some(GUILD_ID),
        "server",
        json!([opt_string("delivery", "dm")]),
    );
    wait_original(f, &refused, "the refusal", |t| {
        t.starts_with("Only server admins")
    })
    .await;
    f.grant_admin(ADMIN);
    let (_, set) = f.slash_command(
        ADMIN,
        CHANNEL,
        Some(GUILD_ID),
        "server",
        json!([opt_string("delivery", "dm")]),
    );
    wait_original(f, &set, "the policy", |t| t.contains("direct messages only")).await;
    f.register_attachment("me.png", selfie(), "image/png");
    headshot_in(f, USER, CHANNEL, Some(GUILD_ID), "me.png");
    f.wait_for(WAIT, |_| {
        f.dm_channel(USER)
            .is_some_and(|dm| albums(f).iter().any(|q| album_into(q, dm)))
    })
    .await;
    assert!(f.threads().is_empty(), "no thread when the server says DM");
    bot.stop().await;
}
