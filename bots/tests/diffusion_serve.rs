//! `headshot serve` with diffusion enabled (the tiny test weights of the parity fixtures):
//! headshot styles are repainted by diffusion, portrait styles stay with the studio, and the
//! result caption says which engine made them.

use crate::support;

use std::path::Path;
use std::process::Command;

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
    let (mut child, url) = support::web::serve_web(
        dir.path(),
        &["--config", "headshot.toml"],
        &[("HEADSHOT_DIFFUSION_WEIGHTS", weights.as_os_str())],
    );
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
