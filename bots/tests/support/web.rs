//! A running core with the web front end on 127.0.0.1:0, and a browser-like HTTP client that
//! keeps its cookie and records the Server-Sent Events it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use headshot::{Config, Service, Store};
use headshot_bots::web::{self, Bounds, Options};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{FakeGenerator, Running};

pub struct WebApp {
    pub url: String,
    pub service: Service,
    pub generator: Arc<FakeGenerator>,
    stop: CancellationToken,
    core: Running,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn web_options() -> Options {
    Options {
        access_token: None,
        admin_token: None,
        bounds: Bounds {
            history: 200,
            bytes: 64 << 20,
            keep: Duration::from_secs(3600),
        },
        loopback: true,
        limits: web::Limits::default(),
    }
}

impl WebApp {
    pub async fn start(config: Config, options: Options) -> WebApp {
        WebApp::start_with(config, options, Store::temporary().unwrap()).await
    }

    pub async fn start_with(config: Config, options: Options, store: Store) -> WebApp {
        let generator = FakeGenerator::new(3, Duration::from_millis(60));
        let core = Running::start(config, generator.clone(), store);
        let service = core.service.clone();
        let stop = core.stop_token();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(web::serve(
            service.clone(),
            listener,
            options,
            stop.clone().cancelled_owned(),
        ));
        WebApp {
            url,
            service,
            generator,
            stop,
            core,
            server,
        }
    }

    pub fn browser(&self) -> Browser {
        Browser::at(&self.url)
    }

    /// Stops the server (which must end its event streams) and the core.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("the web server shuts down with streams open")
            .unwrap()
            .unwrap();
        self.core.stop().await;
    }
}

/// Starts the real `headshot serve` binary in `dir` with the web chat on a free loopback port
/// (no chat-platform tokens; `args` before `serve`, `envs` added); returns it and the chat URL
/// it printed.
pub fn serve_web(
    dir: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(args)
        .arg("serve")
        .current_dir(dir)
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_TOKEN")
        .env("HEADSHOT_WEB_ENABLED", "1")
        .env("HEADSHOT_WEB_BIND", "127.0.0.1:0")
        .env("HEADSHOT_DATA_DIR", dir.join("data"))
        .envs(envs.iter().copied())
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
    (child, url)
}

impl Browser {
    /// A browser for a server at `base` (e.g. one the real binary started).
    pub fn at(base: &str) -> Browser {
        Browser {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Arc::new(Mutex::new(Vec::new())),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

/// One browser: its cookies and the events its page received.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: Arc<Mutex<Vec<(String, String)>>>,
    pub events: Arc<Mutex<Vec<(String, Value)>>>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        let c = self.cookies.lock().unwrap();
        c.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, headers: &reqwest::header::HeaderMap) {
        let mut jar = self.cookies.lock().unwrap();
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            jar.retain(|(name, _)| name != k);
            jar.push((k.to_string(), val.to_string()));
        }
    }

    pub async fn request(&self, builder: reqwest::RequestBuilder) -> Reply {
        let response = builder
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(response.headers());
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn say(&self, text: &str) -> Reply {
        self.post("/api/send", serde_json::json!({ "text": text })).await
    }

    pub async fn press(&self, data: &str) -> Reply {
        self.post("/api/button", serde_json::json!({ "data": data }))
            .await
    }

    /// Uploads files as the page does: one `photo` part each, and an optional caption.
    pub async fn upload(&self, files: Vec<(&str, &str, Vec<u8>)>, caption: Option<&str>) -> Reply {
        let mut form = reqwest::multipart::Form::new();
        for (name, mime, bytes) in files {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap();
            form = form.part("photo", part);
        }
        if let Some(c) = caption {
            form = form.text("caption", c.to_string());
        }
        self.request(
            self.http
                .post(format!("{}/api/upload", self.base))
                .multipart(form),
        )
        .await
    }

    /// Opens the event stream (after a first request set the cookie) and records its events.
    pub async fn listen(&self) {
        if self.cookies.lock().unwrap().is_empty() {
            self.get("/").await;
        }
        let response = self
            .http
            .get(format!("{}/api/events", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let mut name = String::from("message");
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            name = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if data.is_empty() {
                        continue; // keep-alive comment
                    }
                    let value = serde_json::from_str(&data).unwrap_or(Value::Null);
                    events.lock().unwrap().push((name, value));
                }
            }
        });
        self.wait_event("the reset that opens the stream", |(name, _)| name == "reset")
            .await;
    }

    /// The transcript as the page would show it: replays after the last reset, edits applied.
    pub fn thread(&self) -> Vec<Value> {
        let events = self.events.lock().unwrap();
        let mut thread: Vec<Value> = Vec::new();
        for (name, v) in events.iter() {
            match name.as_str() {
                "reset" => thread.clear(),
                "message" | "edit" => match thread.iter_mut().find(|m| m["id"] == v["id"]) {
                    Some(m) => *m = v.clone(),
                    None => thread.push(v.clone()),
                },
                _ => {}
            }
        }
        thread
    }

    pub async fn wait_event(&self, what: &str, pred: impl Fn(&(String, Value)) -> bool) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| pred(e)) {
                return e.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; events: {:#?}",
                self.events.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a bot message in the thread satisfies `pred`.
    pub async fn wait_bot(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.thread().into_iter().find(|m| m["from"] == "bot" && pred(m)) {
                return m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; thread: {:#?}",
                self.thread()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn text_of(m: &Value) -> String {
    m["text"].as_str().unwrap_or("").to_string()
}

/// Reads what the server sends on a raw connection until it closes it (or `limit` passes):
/// the bytes, and how long after the call the close came.
pub async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> (Vec<u8>, Option<Duration>) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return (got, None),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}
