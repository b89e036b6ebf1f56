//! Webhook mode: an axum endpoint that checks Telegram's secret-token header and routes each
//! update to the same per-chat workers as long polling.
//!
//! teloxide's own axum webhook listener is not used: it compares the secret in variable time,
//! answers 200 to a body that is not an update, and queues updates without bound; this endpoint
//! compares in constant time, answers 400 to what is not an update, and waits for the chat's
//! bounded queue (back-pressure on Telegram's retries instead of memory).

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::Webhook;
use super::poll::Poller;

/// The header Telegram sends the registered secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Clone)]
struct Hook {
    poller: Arc<Poller>,
    secret: Arc<str>,
}

/// Serves the webhook until `shutdown`, then lets the chat workers drain.
pub async fn serve(
    poller: Arc<Poller>,
    hook: Webhook,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(hook.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for the Telegram webhook on {}: {e}", hook.bind))?;
    tracing::info!(bind = %hook.bind, url = %hook.public_url, "telegram webhook listening");
    let state = Hook {
        poller: poller.clone(),
        secret: hook.secret.into(),
    };
    let app = axum::Router::new()
        .route(hook.public_url.path(), axum::routing::post(receive))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    poller.drain().await;
    Ok(())
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(given, hook.secret.as_bytes())) {
        return StatusCode::UNAUTHORIZED;
    }
    match super::parse_update(&body) {
        Ok(update) => {
            hook.poller.route(update).await;
            StatusCode::OK
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook body is not an update");
            StatusCode::BAD_REQUEST
        }
    }
}
