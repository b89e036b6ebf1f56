//! `headshot serve` with diffusion enabled (the tiny test weights of the parity fixtures):
//! headshot styles are repainted by diffusion, portrait styles stay with the studio, and the
//! result caption says which engine made them.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use support::web::{Browser, text_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diffusion_serve_routes_headshot_styles_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("headshot.toml"),
        "require_consent = false\n[diffusion]\nenabled = true\nwidth = 64\nsteps = 2\n",
    )
    .unwrap();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/diffusion");
    let mut child = Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(["--config", "headshot.toml", "serve"])
        .current_dir(dir.path())
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_TOKEN")
        .env("HEADSHOT_WEB_ENABLED", "1")
        .env("HEADSHOT_WEB_BIND", "127.0.0.1:0")
        .env("HEADSHOT_DIFFUSION_WEIGHTS", &weights)
        .env("HEADSHOT_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve prints the chat URL").unwrap();
        if let Some(url) = line.strip_prefix("headshot: web chat at ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let b = Browser::at(&url);
    let health = b.get("/healthz").await.json();
    assert_eq!(health["generator"]["name"], "studio+diffusion");
    b.listen().await;
    let astronaut =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/astronaut.png"))
            .unwrap();
    b.upload(vec![("astronaut.png", "image/png", astronaut.clone())], None)
        .await;
    let album = b.wait_bot("the diffusion album", |m| m["kind"] == "album").await;
    assert!(
        text_of(&album).starts_with("Corporate (headshot, diffusion)"),
        "{}",
        text_of(&album)
    );
    b.say("/style dramatic").await;
    b.wait_bot("style set", |m| text_of(m).starts_with("Style set to Dramatic"))
        .await;
    b.upload(vec![("astronaut.png", "image/png", astronaut)], None)
        .await;
    let studio = b
        .wait_bot("the studio album", |m| {
            m["kind"] == "album" && text_of(m).contains("portrait")
        })
        .await;
    assert!(
        text_of(&studio).contains("(portrait, studio)"),
        "{}",
        text_of(&studio)
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
}
