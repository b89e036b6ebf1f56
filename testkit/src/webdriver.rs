//! The browser test's driver: Debian's chromium under chromedriver, driven through the
//! fantoccini WebDriver client. Elements are passed around by their WebDriver ids.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Debian's chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one headless browser session.
pub struct Driver {
    child: Child,
    client: Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver and a headless chromium session with a fresh profile in `profile`.
    /// Panics with the install command when either is missing: this test never skips.
    pub async fn start(profile: &Path) -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's browser with `apt-get install -y chromium chromium-driver` \
                 (.ci/run does this) and run the test again (package {package})"
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1000,1300",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }))
        .expect("capabilities are an object");
        // chromedriver takes a moment to listen: retry the session until it does.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&base)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "chromedriver did not start a session: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Driver { child, client }
    }

    fn element(&self, id: &str) -> Element {
        Element::from_element_id(self.client.clone(), id.to_string().into())
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// Elements matching a CSS selector (ids).
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.client.find_all(Locator::Css(css)).await.expect("a search");
        found.iter().map(|e| e.element_id().to_string()).collect()
    }

    /// Waits for at least `n` elements matching `css`.
    pub async fn wait_for(&self, css: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.find_all(css).await;
            if found.len() >= n {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {n} x `{css}`; page text:\n{}",
                self.script("return document.body.innerText", json!([])).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) {
        self.element(element).click().await.expect("a click");
    }

    /// Types into an element; for `<input type=file>` this attaches the file at that path.
    pub async fn send_keys(&self, element: &str, text: &str) {
        self.element(element).send_keys(text).await.expect("typing");
    }

    /// Runs `script` in the page with `args` (a JSON array; elements as [`Driver::element_arg`]).
    pub async fn script(&self, script: &str, args: Value) -> Value {
        let args = args.as_array().cloned().unwrap_or_default();
        self.client.execute(script, args).await.expect("the script runs")
    }

    /// An element as a script argument.
    pub fn element_arg(id: &str) -> Value {
        json!({ "element-6066-11e4-a52e-4f735466cecf": id })
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session and chromedriver.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}
