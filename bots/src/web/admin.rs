//! The operator page and its API, `/healthz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ADMIN_HTML, App, error, same_secret};

/// Shown by `/admin` and its API while no admin token is configured.
pub const OFF: &str = "The operator page is off. Set HEADSHOT_ADMIN_TOKEN (16 or more characters) in the \
                       environment of `headshot serve`, restart it, and sign in with that token.";

/// The refusal of a request without `Authorization: Bearer <HEADSHOT_ADMIN_TOKEN>`, if it has none.
fn refuse(app: &App, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &app.options.admin_token else {
        return Some(error(StatusCode::FORBIDDEN, OFF));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_secret(given.trim(), token) {
        None
    } else {
        let mut response = error(StatusCode::UNAUTHORIZED, "wrong or missing admin token");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        Some(response)
    }
}

pub(super) async fn page(State(app): State<App>) -> Response {
    if app.options.admin_token.is_none() {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            OFF,
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; \
                 connect-src 'self'; frame-ancestors 'none'",
            ),
        ],
        ADMIN_HTML,
    )
        .into_response()
}

pub(super) async fn state(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse(&app, &headers) {
        return refused;
    }
    match app.service.overview() {
        Ok(overview) => Json(overview).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct PauseBody {
    #[serde(default)]
    reason: String,
}

pub(super) async fn pause(
    State(app): State<App>,
    headers: HeaderMap,
    body: Option<Json<PauseBody>>,
) -> Response {
    if let Some(refused) = refuse(&app, &headers) {
        return refused;
    }
    let reason = body.map(|b| b.0.reason).unwrap_or_default();
    let reason = reason.trim();
    let reason = if reason.is_empty() {
        "maintenance".to_string()
    } else {
        reason.chars().take(300).collect()
    };
    tracing::info!(%reason, "intake paused from the operator page");
    app.service.pause(&reason);
    Json(json!({"ok": true, "paused": app.service.paused()})).into_response()
}

pub(super) async fn resume(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse(&app, &headers) {
        return refused;
    }
    tracing::info!("intake resumed from the operator page");
    app.service.resume();
    Json(json!({"ok": true, "paused": app.service.paused()})).into_response()
}

pub(super) async fn healthz(State(app): State<App>) -> Response {
    Json(json!({
        "status": "ok",
        "generator": {"loaded": true, "name": app.service.generator_name()},
        "paused": app.service.paused().is_some(),
        "queue": app.service.queue_stats(),
    }))
    .into_response()
}

pub(super) async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.options.loopback
        && let Some(refused) = refuse(&app, &headers)
    {
        return refused;
    }
    match app.service.prometheus() {
        Ok(mut text) => {
            let c = &app.connections;
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            text.push_str(&format!(
                "# HELP headshot_web_connections_open Open connections to the web port.\n\
                 # TYPE headshot_web_connections_open gauge\n\
                 headshot_web_connections_open {}\n\
                 # HELP headshot_web_connections_accepted_total Connections accepted by the web port.\n\
                 # TYPE headshot_web_connections_accepted_total counter\n\
                 headshot_web_connections_accepted_total {}\n\
                 # HELP headshot_web_connections_refused_total Connections answered 503 because web.max_connections were open.\n\
                 # TYPE headshot_web_connections_refused_total counter\n\
                 headshot_web_connections_refused_total {}\n",
                load(&c.open),
                load(&c.accepted),
                load(&c.refused)
            ));
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                text,
            )
                .into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")),
    }
}
