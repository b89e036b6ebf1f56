//! The chat's routes: the page and catalog, the event stream, typed lines, buttons, uploads
//! and result files.

use super::*;

pub(super) async fn index() -> Response {
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

pub(super) async fn catalog(State(app): State<App>) -> Response {
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

pub(super) fn sse_message(event: &str, message: &Message) -> SseEvent {
    SseEvent::default()
        .event(event)
        .json_data(message)
        .unwrap_or_else(|_| SseEvent::default().event(event))
}

pub(super) async fn events(
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
pub(super) struct SendBody {
    text: String,
}

pub(super) async fn send(
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
pub(super) struct ButtonBody {
    data: String,
}

pub(super) async fn button(
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

pub(super) async fn upload(
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
pub(super) struct FileQuery {
    download: Option<String>,
}

pub(super) async fn file(
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
