//! The newcomer's path in a real browser: `headshot serve` (the real binary, the real studio
//! generator, no tokens) and headless Debian chromium driven over WebDriver. Opens the page,
//! picks a style, uploads astronaut.png, agrees, waits for the two headshots, checks their
//! sizes, presses Reroll, and saves screenshots under the test's output directory.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::webdriver::Driver;

const ADMIN_TOKEN: &str = "browser-test-admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_browser_selfie_to_headshots_and_reroll() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) =
        support::web::serve_web(dir.path(), &[], &[("HEADSHOT_ADMIN_TOKEN", ADMIN_TOKEN.as_ref())]);

    let driver = Driver::start(&dir.path().join("profile")).await;
    driver.goto(&url).await;
    driver
        .wait_for("#conn[data-state=connected]", 1, Duration::from_secs(20))
        .await;
    let styles = driver.wait_for("button.style", 12, Duration::from_secs(20)).await;
    assert!(styles.len() >= 12, "a button per catalog style");
    driver.screenshot(&out.join("before.png")).await;

    let corporate = driver.find_all("button.style[data-style=corporate]").await;
    driver.click(&corporate[0]).await;
    driver
        .wait_for("article.msg.bot", 1, Duration::from_secs(20))
        .await;
    let astronaut = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/astronaut.png");
    let file = driver.find_all("#file").await;
    driver
        .send_keys(&file[0], astronaut.canonicalize().unwrap().to_str().unwrap())
        .await;
    let agree = driver
        .wait_for("button.action[data-data=agree]", 1, Duration::from_secs(30))
        .await;
    driver.click(&agree[0]).await;

    let sizes = loaded_results(&driver, 2).await;
    let (master, square) = (sizes[0], sizes[1]);
    assert_eq!(master.0 * 5, master.1 * 4, "the master is 4:5: {master:?}");
    assert_eq!(square.0, square.1, "the avatar is square: {square:?}");
    assert!(master.1 >= 512, "a usable headshot: {master:?}");
    let caption = driver
        .script(
            "return [...document.querySelectorAll('article.msg.bot')].map(a => a.innerText).join('\\n')",
            json!([]),
        )
        .await;
    assert!(caption.as_str().unwrap().contains("Corporate"), "{caption}");
    driver.screenshot(&out.join("after.png")).await;

    let reroll = driver
        .wait_for("button.action[data-data^='reroll:']", 1, Duration::from_secs(10))
        .await;
    driver.click(&reroll[0]).await;
    let sizes = loaded_results(&driver, 4).await;
    assert_eq!(
        sizes.len(),
        4,
        "two images per take, no duplicate files: {sizes:?}"
    );
    assert_eq!(sizes[2], master, "the reroll has the same framing");
    let albums = driver.find_all("article.msg.bot[data-kind=album]").await;
    assert_eq!(albums.len(), 2, "one album per take");
    driver.screenshot(&out.join("after-reroll.png")).await;

    // The operator page: sign in, see the finished jobs, pause with a reason.
    driver.goto(&format!("{url}admin")).await;
    let token = driver
        .wait_for("#login:not([hidden]) #token", 1, Duration::from_secs(10))
        .await;
    driver.send_keys(&token[0], ADMIN_TOKEN).await;
    driver
        .click(&driver.find_all("#login button[type=submit]").await[0])
        .await;
    driver
        .wait_for("#dash:not([hidden])", 1, Duration::from_secs(10))
        .await;
    let login_shown = driver
        .script(
            "return document.querySelector('#login').offsetParent !== null",
            json!([]),
        )
        .await;
    assert_eq!(login_shown, json!(false), "the sign-in form goes away");
    let reason = driver.find_all("#pause-reason").await;
    driver.send_keys(&reason[0], "new lamps").await;
    driver.click(&driver.find_all("#pause").await[0]).await;
    driver
        .wait_for("#paused-banner[data-paused=true]", 1, Duration::from_secs(10))
        .await;
    let banner = driver
        .script(
            "return document.querySelector('#paused-banner').innerText",
            json!([]),
        )
        .await;
    assert!(banner.as_str().unwrap().contains("new lamps"), "{banner}");
    let states = driver
        .script("return document.querySelector('#states').innerText", json!([]))
        .await;
    assert!(states.as_str().unwrap().contains("delivered"), "{states}");
    driver.screenshot(&out.join("admin.png")).await;
    driver.quit().await;

    for shot in ["before.png", "after.png", "after-reroll.png"] {
        let img = image::open(out.join(shot)).unwrap();
        assert!(img.width() >= 800, "{shot} is a real screenshot");
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "serve shuts down cleanly on SIGTERM: {status:?}"
    );
    eprintln!("screenshots in {}", out.display());
}

/// Waits until `n` result images have loaded; returns their natural sizes in page order.
async fn loaded_results(driver: &Driver, n: usize) -> Vec<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let v = driver
            .script(
                "return [...document.querySelectorAll('img.result')]\
                 .filter(i => i.complete && i.naturalWidth > 0)\
                 .map(i => [i.naturalWidth, i.naturalHeight])",
                json!([]),
            )
            .await;
        let sizes: Vec<(u64, u64)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
            .collect();
        if sizes.len() >= n {
            return sizes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {n} result images; page:\n{}",
            driver.script("return document.body.innerText", json!([])).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
