//! `headshot serve` as an operator runs it for Discord: the real binary, the real studio
//! generator and serenity against the fake Discord; `/headshot` with a real selfie comes back
//! as a 4:5 + 1:1 pair in a thread, and SIGTERM shuts the service down cleanly.

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::discord_fake::{DiscordFake, GUILD_ID, TOKEN, opt_attachment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_serve_turns_a_real_selfie_into_headshots() {
    let fake = DiscordFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headshot.toml"), "require_consent = false\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(["--config", "headshot.toml", "serve"])
        .current_dir(dir.path())
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env("DISCORD_TOKEN", TOKEN)
        .env("HEADSHOT_DISCORD_API_URL", fake.api_base())
        .env("HEADSHOT_WEB_ENABLED", "0")
        .env("HEADSHOT_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fake.wait_ready(1, Duration::from_secs(30)).await;
    fake.wait_for(Duration::from_secs(30), |r| {
        r.iter()
            .any(|q| q.is("PUT", "/applications/*/commands") && q.ok())
    })
    .await;
    let astronaut = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures/astronaut.png"
    ))
    .unwrap();
    fake.register_attachment("astronaut.png", astronaut, "image/png");
    fake.slash_command(
        1_300_000_000_000_000_001,
        1_300_000_000_000_000_010,
        Some(GUILD_ID),
        "headshot",
        json!([opt_attachment("selfie", "astronaut.png")]),
    );
    let reqs = fake
        .wait_for(Duration::from_secs(90), |r| {
            r.iter()
                .any(|q| q.is("POST", "/channels/*/messages") && q.ok() && q.files.len() == 2)
        })
        .await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    let album = reqs
        .iter()
        .find(|q| q.is("POST", "/channels/*/messages") && q.files.len() == 2)
        .unwrap();
    assert_eq!(
        album.file_names(),
        ["astronaut-corporate-4x5.jpg", "astronaut-corporate-1x1.jpg"]
    );
    let master = image::load_from_memory(&album.files[0].bytes).unwrap();
    assert_eq!(master.width() * 5, master.height() * 4);
    assert!(
        album.body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("Checklist")
    );
    assert_eq!(fake.threads().len(), 1, "delivered in a thread");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status:?}");
}
