//! `headshot serve` as an operator runs it: the real binary, the real studio generator and the
//! Telegram front end against the fake Bot API; a selfie cropped too tightly is refused with the
//! retake advice, a selfie comes back as headshots, and SIGTERM shuts the service down cleanly.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::fake::Fake;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_serve_turns_a_real_selfie_into_headshots() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headshot.toml"), "require_consent = false\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(["--config", "headshot.toml", "serve"])
        .current_dir(dir.path())
        .env("TELEGRAM_BOT_TOKEN", &fake.token)
        .env("HEADSHOT_TELEGRAM_API_URL", &fake.url)
        .env("HEADSHOT_WEB_ENABLED", "0")
        .env("HEADSHOT_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = fake.private(5);
    let astronaut = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures/astronaut.png"
    ))
    .unwrap();
    // Cut just under the chin: refused at intake with the retake advice, nothing queued.
    let full = image::load_from_memory(&astronaut).unwrap().to_rgb8();
    let tight = image::imageops::crop_imm(&full, 96, 0, 320, 215).to_image();
    let mut png = std::io::Cursor::new(Vec::new());
    tight.write_to(&mut png, image::ImageFormat::Png).unwrap();
    fake.photo(&me, png.into_inner(), None, None);
    let advice = headshot::text::intake_refusal(&headshot::models::IntakeError::TooTight);
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        fake.wait("the too-tight refusal", |f| f.texts(5).contains(&advice)),
    )
    .await;
    assert!(refused.is_ok(), "{:?}", fake.texts(5));
    assert!(
        !fake.texts(5).iter().any(|t| t.starts_with("Queued")),
        "{:?}",
        fake.texts(5)
    );
    fake.photo(&me, astronaut, None, None);
    let waited = tokio::time::timeout(
        Duration::from_secs(90),
        fake.wait("the headshot album", |f| !f.sent("sendmediagroup", 5).is_empty()),
    )
    .await;
    let album = fake.sent("sendmediagroup", 5);
    let texts = fake.texts(5);
    // SIGTERM: graceful shutdown.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(waited.is_ok(), "no album; messages: {texts:?}");
    let media = album[0].media();
    let names: Vec<&str> = media.iter().map(|m| m.1.as_deref().unwrap_or_default()).collect();
    assert_eq!(
        names,
        ["selfie-corporate-4x5.jpg", "selfie-corporate-1x1.jpg"],
        "master and square from the studio"
    );
    let master = image::load_from_memory(&media[0].2).unwrap();
    assert_eq!(master.width() * 5, master.height() * 4);
    assert!(
        media[0].3.as_deref().unwrap_or_default().contains("Checklist"),
        "{:?}",
        media[0].3
    );
    assert!(texts.iter().any(|t| t.starts_with("Queued")), "{texts:?}");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status:?}");
}

fn serve(dir: &Path, fake: &Fake) -> Child {
    Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(["--config", "headshot.toml", "serve"])
        .current_dir(dir)
        .env("TELEGRAM_BOT_TOKEN", &fake.token)
        .env("HEADSHOT_TELEGRAM_API_URL", &fake.url)
        .env("HEADSHOT_WEB_ENABLED", "0")
        .env("HEADSHOT_DATA_DIR", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// kill -9 right after the acknowledgement, mid-job: after a restart the result still arrives,
/// once, although Telegram hands the unconfirmed update to the new process again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_restart_after_kill_9_delivers_the_result_once() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headshot.toml"), "require_consent = false\n").unwrap();
    let me = fake.private(6);
    let grace = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures/grace_hopper.jpg"
    ))
    .unwrap();
    let mut first = serve(dir.path(), &fake);
    fake.photo(&me, grace, None, None);
    let acked = tokio::time::timeout(
        Duration::from_secs(60),
        fake.wait("the acknowledgement", |f| {
            f.texts(6).iter().any(|t| t.starts_with("Queued"))
        }),
    )
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(acked.is_ok(), "acknowledged before the kill");
    let mut second = serve(dir.path(), &fake);
    let delivered = tokio::time::timeout(
        Duration::from_secs(90),
        fake.wait("the album after restart", |f| {
            f.sent("sendmediagroup", 6)
                .iter()
                .any(|c| c.media().iter().all(|m| m.0 == "photo"))
        }),
    )
    .await;
    // Give a duplicate the chance to show up before stopping.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(second.id().to_string())
        .status();
    second.wait().unwrap();
    assert!(delivered.is_ok(), "no album after restart: {:?}", fake.texts(6));
    let albums = fake
        .sent("sendmediagroup", 6)
        .iter()
        .filter(|c| c.media().iter().all(|m| m.0 == "photo"))
        .count();
    assert_eq!(albums, 1, "one selfie, one album");
}

/// The whole flow at trace level (every crate's logging on): the bot token, the web chat's
/// access token and the admin token never appear in what the process writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_logs_even_at_trace_level() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headshot.toml"), "require_consent = false\n").unwrap();
    let log = std::fs::File::create(dir.path().join("log.txt")).unwrap();
    let (web_token, admin_token) = ("web-secret-8f3a91c2", "admin-secret-47be0d19");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(["--config", "headshot.toml", "-vv", "serve"])
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("TELEGRAM_BOT_TOKEN", &fake.token)
        .env("HEADSHOT_TELEGRAM_API_URL", &fake.url)
        .env("HEADSHOT_WEB_BIND", format!("127.0.0.1:{port}"))
        .env("HEADSHOT_WEB_TOKEN", web_token)
        .env("HEADSHOT_ADMIN_TOKEN", admin_token)
        .env("HEADSHOT_DATA_DIR", dir.path().join("data"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let me = fake.private(7);
    let astronaut = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures/astronaut.png"
    ))
    .unwrap();
    fake.photo(&me, astronaut, None, None);
    let waited = tokio::time::timeout(
        Duration::from_secs(90),
        fake.wait("the headshot album", |f| !f.sent("sendmediagroup", 7).is_empty()),
    )
    .await;
    // The operator page and the chat, with right and wrong tokens.
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for auth in [admin_token, "wrong"] {
        let _ = client
            .get(format!("{base}/admin/api/state"))
            .bearer_auth(auth)
            .send()
            .await;
    }
    let _ = client.get(format!("{base}/?access={web_token}")).send().await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().unwrap();
    assert!(waited.is_ok(), "no album");
    let written = std::fs::read_to_string(dir.path().join("log.txt")).unwrap();
    assert!(written.contains("TRACE"), "trace logging was not on");
    for secret in [fake.token.as_str(), web_token, admin_token] {
        let encoded = secret.replace(':', "%3A");
        assert!(
            !written.contains(secret) && !written.contains(&encoded),
            "{secret} is in the output ({} bytes)",
            written.len()
        );
    }
}
