//! The local web chat: a third front end of the same core, plus the operator page,
//! `/healthz` and `/metrics`, on one axum server.
//!
//! # Routes
//! - `GET /` the chat page; `GET /assets/{app.js,app.css}` its assets, embedded at build time.
//! - `GET /api/catalog` styles and commands for the style bar.
//! - `GET /api/events` Server-Sent Events: `reset`, then the transcript as `message`s, then live
//!   `message`, `edit` (status updates) and `action` events.
//! - `POST /api/send` `{"text"}` a command or text; `POST /api/button` `{"data"}` a button press;
//!   `POST /api/upload` multipart `photo` fields (one or more) and an optional `caption`.
//! - `GET /files/{message}/{index}/{name}` an image of the browser's own transcript
//!   (`?download=1` to save it).
//! - `GET /admin` the operator page; `GET /admin/api/state`, `POST /admin/api/pause`
//!   `{"reason"}`, `POST /admin/api/resume` with `Authorization: Bearer HEADSHOT_ADMIN_TOKEN`.
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//!
//! # Identity
//! A random browser id in an HttpOnly, SameSite=Strict cookie is the user (platform `web`), so
//! `/forget` and retention work as in the bots. When the chat listens beyond loopback, a browser
//! must first open `/?access=TOKEN` (`HEADSHOT_WEB_TOKEN`).

mod access;
mod admin;
mod chat;
mod hub;
mod listen;

use access::{identify, same_secret};
pub use chat::parse_line;
use chat::{button, catalog, events, file, index, send, upload};

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use futures_util::Stream;
use headshot::{ChatRef, Config, Event, Inbound, Platform, Service, Upload, UserKey};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use hub::{Bounds, FileView, Frame, From, Hub, Message, WebFront};
pub use listen::{Counters, Limits};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ADMIN_HTML: &str = include_str!("assets/admin.html");

const BROWSER_COOKIE: &str = "headshot_browser";
const ACCESS_COOKIE: &str = "headshot_access";
/// Longest text a browser may send.
pub const TEXT_MAX: usize = 4000;
/// The largest body of the JSON routes (a line of text, a button press, a pause reason).
const JSON_BODY_MAX: usize = 64 * 1024;
/// How long a shutdown waits for open requests.
const DRAIN: Duration = Duration::from_secs(10);

/// Settings of the web server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Required once per browser (`?access=`) when set.
    pub access_token: Option<String>,
    /// Opens the operator page and its API when set.
    pub admin_token: Option<String>,
    /// What the hub keeps per browser.
    pub bounds: Bounds,
    /// Listening on loopback only (then `/metrics` needs no token).
    pub loopback: bool,
    /// Connections, header and body deadlines.
    pub limits: Limits,
}

impl Options {
    /// The options of a configuration.
    pub fn from_config(config: &Config) -> Options {
        Options {
            access_token: config.web.access_token.clone(),
            admin_token: config.web.admin_token.clone(),
            bounds: Bounds {
                history: 200,
                bytes: 200 * 1024 * 1024,
                keep: config.retention.results,
            },
            loopback: config.web.bind.ip().is_loopback(),
            limits: Limits {
                max_connections: config.web.max_connections,
                header_timeout: config.web.header_timeout,
                body_timeout: config.web.body_timeout,
            },
        }
    }
}

#[derive(Clone)]
struct App {
    service: Service,
    hub: Arc<Hub>,
    options: Arc<Options>,
    stop: CancellationToken,
    connections: Arc<Counters>,
}

/// The browser making a request.
#[derive(Debug, Clone)]
struct Browser(String);

impl Browser {
    fn user(&self) -> UserKey {
        UserKey::new(Platform::Web, self.0.clone())
    }

    fn chat(&self) -> ChatRef {
        ChatRef {
            platform: Platform::Web,
            chat_id: self.0.clone(),
            thread_id: None,
            reply_to: None,
            server_id: None,
            is_group: false,
            extra: None,
        }
    }
}

/// Serves the web chat on `listener` until `shutdown` completes; attaches its front end to
/// `service` first, so deliveries flow into the transcripts.
pub async fn serve(
    service: Service,
    listener: tokio::net::TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::with_store(options.bounds, service.store().clone()));
    service.attach(Arc::new(WebFront::new(hub.clone())));
    let stop = CancellationToken::new();
    let limits = options.limits;
    let connections = Arc::new(Counters::default());
    let app = App {
        service,
        hub: hub.clone(),
        options: Arc::new(options),
        stop: stop.clone(),
        connections: connections.clone(),
    };
    let sweeper = {
        let (hub, stop) = (hub, stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => { hub.sweep(); }
                    _ = stop.cancelled() => return,
                }
            }
        })
    };
    let graceful = {
        let stop = stop.clone();
        async move {
            shutdown.await;
            // Ends the event streams, which would otherwise hold the graceful shutdown open.
            stop.cancel();
        }
    };
    let result = listen::serve(listener, router(app), limits, connections, graceful, DRAIN).await;
    stop.cancel();
    let _ = sweeper.await;
    result.map_err(|e| anyhow::anyhow!("web server: {e}"))
}

fn router(app: App) -> Router {
    let upload_limit = {
        let intake = &app.service.config().intake;
        (intake.max_bytes.saturating_mul(intake.album_max + 1)).min(512 * 1024 * 1024) + (1 << 20)
    };
    let chat = Router::new()
        .route("/", get(index))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/api/catalog", get(catalog))
        .route("/api/events", get(events))
        .route("/api/send", post(send))
        .route("/api/button", post(button))
        .route(
            "/api/upload",
            post(upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/files/{message}/{index}/{name}", get(file))
        .layer(middleware::from_fn_with_state(app.clone(), identify));
    Router::new()
        .merge(chat)
        .route("/admin", get(admin::page))
        .route("/admin/api/state", get(admin::state))
        .route("/admin/api/pause", post(admin::pause))
        .route("/admin/api/resume", post(admin::resume))
        .route("/healthz", get(admin::healthz))
        .route("/metrics", get(admin::metrics))
        .layer(DefaultBodyLimit::max(JSON_BODY_MAX))
        .layer(middleware::from_fn_with_state(upload_limit, declared_length))
        .with_state(app)
}

/// Refuses a body whose declared length is over its route's limit before reading any of it
/// (the body limits themselves cover bodies sent without a length).
async fn declared_length(State(upload_limit): State<usize>, request: Request, next: Next) -> Response {
    let limit = if request.uri().path() == "/api/upload" {
        upload_limit
    } else {
        JSON_BODY_MAX
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "This request is too large.");
    }
    next.run(request).await
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The browser id the web fuzz target's requests carry.
#[doc(hidden)]
pub const FUZZ_BROWSER: &str = "fuzzbrowser0000000000001";

/// Fuzz entry (`fuzz/`, replayed by `cargo test`): one request built from `data` to a web chat
/// served at `addr`, as a browser of ours would send it (same origin, a browser cookie). The
/// first byte picks the route: a line of text, a button press, an upload with a fixed multipart
/// boundary, or an upload whose first line is the content type. Returns the status answered,
/// 0 when the connection closed without an answer (a panic in a handler does that).
#[doc(hidden)]
pub async fn fuzz_request(addr: std::net::SocketAddr, data: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (route, rest) = data.split_first().map(|(a, b)| (*a, b)).unwrap_or((0, &[]));
    let (path, content_type, body): (&str, String, &[u8]) = match route % 4 {
        0 => ("/api/send", "application/json".into(), rest),
        1 => ("/api/button", "application/json".into(), rest),
        2 => (
            "/api/upload",
            "multipart/form-data; boundary=fuzzboundary".into(),
            rest,
        ),
        _ => {
            let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let kind: String = String::from_utf8_lossy(&rest[..cut])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            ("/api/upload", kind, rest.get(cut + 1..).unwrap_or_default())
        }
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {BROWSER_COOKIE}={FUZZ_BROWSER}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    // The server may answer (413, 400) before reading the body and close.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let line = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    line.strip_prefix("HTTP/1.1 ")
        .and_then(|l| l.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::access::same_origin;
    use super::*;

    #[test]
    fn lines_become_commands_or_text() {
        assert_eq!(
            parse_line("/Style  creative"),
            Event::Command(headshot::Command::from_parts("style", "creative"))
        );
        assert_eq!(
            parse_line("/status@headshot"),
            Event::Command(headshot::Command::Status)
        );
        assert_eq!(parse_line("hello"), Event::Text("hello".into()));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcdefgh", "abcdefgh"));
        assert!(!same_secret("abcdefgh", "abcdefgi"));
        assert!(!same_secret("abc", "abcdefgh"));
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
    }
}
