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

mod admin;
mod hub;

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

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ADMIN_HTML: &str = include_str!("assets/admin.html");

const BROWSER_COOKIE: &str = "headshot_browser";
const ACCESS_COOKIE: &str = "headshot_access";
/// Longest text a browser may send.
pub const TEXT_MAX: usize = 4000;

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
        }
    }
}

#[derive(Clone)]
struct App {
    service: Service,
    hub: Arc<Hub>,
    options: Arc<Options>,
    stop: CancellationToken,
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
    let hub = Arc::new(Hub::new(options.bounds));
    service.attach(Arc::new(WebFront::new(hub.clone())));
    let stop = CancellationToken::new();
    let app = App {
        service,
        hub: hub.clone(),
        options: Arc::new(options),
        stop: stop.clone(),
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
    let result = axum::serve(listener, router(app))
        .with_graceful_shutdown(graceful)
        .await;
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
        .with_state(app)
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

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

fn valid_browser_id(id: &str) -> bool {
    (16..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Access check, same-origin check for writes, and the browser id (set when missing).
async fn identify(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let mut set_cookies: Vec<String> = Vec::new();
    if let Some(token) = &app.options.access_token {
        let query_token = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access")
                .map(|(_, v)| v.into_owned())
        });
        if query_token.as_deref().is_some_and(|t| same_secret(t, token)) {
            let mut response = Redirect::to(request.uri().path()).into_response();
            append_cookie(
                &mut response,
                &format!("{ACCESS_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"),
            );
            return response;
        }
        if !cookie(&headers, ACCESS_COOKIE).is_some_and(|c| same_secret(&c, token)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This headshot chat needs an access link: open it with ?access=TOKEN as the operator \
                 gave it to you.",
            )
                .into_response();
        }
    }
    if request.method() != axum::http::Method::GET && !same_origin(&headers) {
        return error(StatusCode::FORBIDDEN, "Requests from other sites are refused.");
    }
    let id = match cookie(&headers, BROWSER_COOKIE).filter(|c| valid_browser_id(c)) {
        Some(id) => id,
        None => {
            let id: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            set_cookies.push(format!(
                "{BROWSER_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
            ));
            id
        }
    };
    request.extensions_mut().insert(Browser(id));
    let mut response = next.run(request).await;
    for c in set_cookies {
        append_cookie(&mut response, &c);
    }
    response
}

fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Browsers send `Origin` on cross-site writes; it must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn catalog(State(app): State<App>) -> Response {
    let styles: Vec<_> = app
        .service
        .catalog()
        .styles()
        .iter()
        .map(|s| json!({"name": s.name, "title": s.title, "mode": s.mode.to_string(), "description": s.description}))
        .collect();
    let commands: Vec<_> = headshot::text::COMMANDS
        .iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect();
    Json(json!({ "styles": styles, "commands": commands })).into_response()
}

fn sse_message(event: &str, message: &Message) -> SseEvent {
    SseEvent::default()
        .event(event)
        .json_data(message)
        .unwrap_or_else(|_| SseEvent::default().event(event))
}

async fn events(
    State(app): State<App>,
    Extension(browser): Extension<Browser>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    if app.hub.last_id(&browser.0).is_none() {
        // A first visit: greet, as /start does in the bots.
        let welcome = headshot::text::welcome();
        app.hub
            .push(&browser.0, From::Bot, "text", welcome, Vec::new(), Vec::new());
    }
    let (past, rx) = app.hub.subscribe(&browser.0);
    let mut queue = std::collections::VecDeque::new();
    queue.push_back(SseEvent::default().event("reset").data("{}"));
    queue.extend(past.iter().map(|m| sse_message("message", m)));
    let state = (queue, rx, app, browser.0);
    let stream = futures_util::stream::unfold(state, |(mut queue, mut rx, app, id)| async move {
        loop {
            if let Some(event) = queue.pop_front() {
                return Some((Ok(event), (queue, rx, app, id)));
            }
            let frame = tokio::select! {
                f = rx.recv() => f,
                _ = app.stop.cancelled() => return None,
            };
            match frame {
                Ok(Frame::Message(m)) => queue.push_back(sse_message("message", &m)),
                Ok(Frame::Edit(m)) => queue.push_back(sse_message("edit", &m)),
                Ok(Frame::Action(kind)) => queue.push_back(
                    SseEvent::default()
                        .event("action")
                        .data(json!({ "kind": kind }).to_string()),
                ),
                Ok(Frame::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    queue.push_back(SseEvent::default().event("reset").data("{}"));
                    queue.extend(app.hub.snapshot(&id).iter().map(|m| sse_message("message", m)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A line typed in the composer, in the core's terms.
pub fn parse_line(text: &str) -> Event {
    match headshot::Command::parse(text) {
        Some(command) => Event::Command(command),
        None => Event::Text(text.to_string()),
    }
}

#[derive(Deserialize)]
struct SendBody {
    text: String,
}

async fn send(
    State(app): State<App>,
    Extension(browser): Extension<Browser>,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "Send JSON like {\"text\": \"/help\"}.");
    };
    let text = body.text.trim();
    if text.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Type a message or a command such as /help.",
        );
    }
    if text.chars().count() > TEXT_MAX {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("That message is too long (at most {TEXT_MAX} characters)."),
        );
    }
    let order = app.hub.order(&browser.0);
    let _turn = order.lock().await;
    app.hub.push(
        &browser.0,
        From::User,
        "text",
        text.to_string(),
        Vec::new(),
        Vec::new(),
    );
    app.service
        .handle(Inbound {
            user: browser.user(),
            chat: browser.chat(),
            event: parse_line(text),
        })
        .await;
    (StatusCode::ACCEPTED, Json(json!({"ok": true}))).into_response()
}

#[derive(Deserialize)]
struct ButtonBody {
    data: String,
}

async fn button(
    State(app): State<App>,
    Extension(browser): Extension<Browser>,
    body: Result<Json<ButtonBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "Send JSON like {\"data\": \"style:corporate\"}.",
        );
    };
    if body.data.is_empty() || body.data.len() > 64 {
        return error(StatusCode::BAD_REQUEST, "That button is not one of mine.");
    }
    let order = app.hub.order(&browser.0);
    let _turn = order.lock().await;
    let forget = headshot::Action::decode(&body.data) == Some(headshot::Action::Forget { confirmed: true });
    let before = app.hub.last_id(&browser.0);
    let user = browser.user();
    app.service
        .handle(Inbound {
            user: user.clone(),
            chat: browser.chat(),
            event: Event::Button { data: body.data },
        })
        .await;
    if forget && app.service.store().count_user_keys(&user) == 0 {
        // The core deleted everything; the transcript (selfies shown back, results) goes too,
        // leaving only the confirmation.
        app.hub.forget_through(&browser.0, before.as_deref());
    }
    (StatusCode::ACCEPTED, Json(json!({"ok": true}))).into_response()
}

async fn upload(
    State(app): State<App>,
    Extension(browser): Extension<Browser>,
    mut form: Multipart,
) -> Response {
    let intake = app.service.config().intake.clone();
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            headshot::text::intake_refusal(&headshot::models::IntakeError::Decode(
                headshot::models::DecodeError::TooLarge {
                    bytes: intake.max_bytes + 1,
                    max: intake.max_bytes,
                },
            )),
        )
    };
    let mut uploads: Vec<Upload> = Vec::new();
    let mut shown: Vec<headshot::Attachment> = Vec::new();
    let mut caption: Option<String> = None;
    let mut other: Option<String> = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("That upload was broken: {}", e.body_text()),
                );
            }
        };
        match field.name() {
            Some("caption") => {
                let text = field.text().await.unwrap_or_default();
                let text = text.trim();
                if !text.is_empty() {
                    caption = Some(text.chars().take(TEXT_MAX).collect());
                }
            }
            Some("photo") => {
                let name = field.file_name().map(hub::safe_name);
                let mime = field.content_type().unwrap_or("").to_string();
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if bytes.len() + chunk.len() > intake.max_bytes {
                                return too_large();
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
                        Err(e) => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                format!("That upload was broken: {}", e.body_text()),
                            );
                        }
                    }
                }
                if bytes.is_empty() && name.is_none() {
                    continue; // an empty file input
                }
                let sniffed = image::guess_format(&bytes).is_ok();
                if !sniffed && !mime.is_empty() && !mime.starts_with("image/") {
                    other = Some(headshot::text::describe_mime(&mime).to_string());
                    continue;
                }
                if uploads.len() >= intake.album_max {
                    continue; // the core uses the first album_max photos
                }
                let (width, height) = image::ImageReader::new(std::io::Cursor::new(&bytes))
                    .with_guessed_format()
                    .ok()
                    .and_then(|r| r.into_dimensions().ok())
                    .unwrap_or((0, 0));
                shown.push(headshot::Attachment {
                    name: name.clone().unwrap_or_else(|| "selfie".into()),
                    mime: if mime.starts_with("image/") {
                        mime
                    } else {
                        "application/octet-stream".into()
                    },
                    bytes: bytes.clone(),
                    width,
                    height,
                });
                uploads.push(Upload {
                    bytes,
                    file_name: name,
                    message_id: Some(ulid::Ulid::new().to_string()),
                });
            }
            _ => {}
        }
    }
    let event = match (uploads.is_empty(), other) {
        (true, Some(what)) => Event::Other(what),
        (true, None) => return error(StatusCode::BAD_REQUEST, "Choose a photo to upload."),
        (false, _) => Event::Photos {
            uploads,
            caption: caption.clone(),
        },
    };
    let order = app.hub.order(&browser.0);
    let _turn = order.lock().await;
    let kind = if shown.is_empty() { "text" } else { "album" };
    let echo = match (&event, &caption) {
        (Event::Other(what), _) => format!("({what})"),
        (_, Some(c)) => c.clone(),
        _ => String::new(),
    };
    app.hub
        .push(&browser.0, From::User, kind, echo, Vec::new(), shown);
    app.service
        .handle(Inbound {
            user: browser.user(),
            chat: browser.chat(),
            event,
        })
        .await;
    (StatusCode::ACCEPTED, Json(json!({"ok": true}))).into_response()
}

#[derive(Deserialize)]
struct FileQuery {
    download: Option<String>,
}

async fn file(
    State(app): State<App>,
    Extension(browser): Extension<Browser>,
    Path((message, index, _name)): Path<(String, usize, String)>,
    Query(query): Query<FileQuery>,
) -> Response {
    let Some((view, bytes)) = app.hub.file(&browser.0, &message, index) else {
        return (StatusCode::NOT_FOUND, "That file is no longer kept.").into_response();
    };
    let disposition = if query.download.is_some() {
        format!("attachment; filename=\"{}\"", hub::safe_name(&view.name))
    } else {
        "inline".to_string()
    };
    let mime = if view.mime.starts_with("image/") {
        view.mime.clone()
    } else {
        "application/octet-stream".into()
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, max-age=86400".into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        bytes.as_ref().clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
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
