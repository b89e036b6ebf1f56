//! The Telegram front end on teloxide: long polling, per-chat ordered intake, album gathering
//! and the [`TelegramFront`] that delivers the core's messages.
//!
//! Updates are read with `getUpdates`; each chat has a worker task so a slow chat never holds up
//! the others while one chat's messages are handled in order. Photos of an album
//! (`media_group_id`) arrive as separate updates and are gathered for [`Options::album_window`]
//! into one job.

mod error;
mod front;
mod intake;
mod poll;
mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use headshot::{Limits, Service};
use teloxide::adaptors::throttle::Limits as RateLimits;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, BotCommand};

pub use error::classify;
pub use front::TelegramFront;
/// The command menu registered with `setMyCommands` (shared by every front end).
pub use headshot::text::COMMANDS;

/// Telegram's getFile limit: bots cannot download larger files.
pub const GET_FILE_MAX: u64 = 20 * 1024 * 1024;

/// Tunables of the adapter; [`Options::default`] is right for production, tests and benches
/// shorten the waits and raise the rate limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// `timeout` of each `getUpdates` long poll (Telegram allows up to 50 s; teloxide's HTTP
    /// client gives up after 17 s, so stay below that).
    pub poll_timeout: Duration,
    /// How long to wait for further photos of an album after its first one.
    pub album_window: Duration,
    /// Largest download; at most [`GET_FILE_MAX`].
    pub max_download: u64,
    /// Client-side rate limits (teloxide's `Throttle` adaptor).
    pub rate: RateLimits,
    /// Limits announced to the core (edit interval, caption length, album size...).
    pub limits: Limits,
    /// How long an idle chat worker lives.
    pub chat_idle: Duration,
    /// Receive updates by webhook instead of long polling.
    pub webhook: Option<Webhook>,
}

/// Webhook mode: Telegram posts updates to `public_url`, which reaches this process at `bind`
/// (usually through a TLS-terminating reverse proxy). Every request must carry `secret` in the
/// `X-Telegram-Bot-Api-Secret-Token` header; others are answered 401.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Address to listen on.
    pub bind: std::net::SocketAddr,
    /// The URL registered with `setWebhook`; its path is the route served.
    pub public_url: url::Url,
    /// The secret token registered with `setWebhook`.
    pub secret: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            poll_timeout: Duration::from_secs(10),
            album_window: Duration::from_secs(1),
            max_download: GET_FILE_MAX,
            rate: RateLimits::default(),
            limits: Limits::TELEGRAM,
            chat_idle: Duration::from_secs(60),
            webhook: None,
        }
    }
}

/// Runs the Telegram front end with default [`Options`] until `shutdown` completes.
///
/// `api_url` points teloxide at another Bot API server (a local one, or a fake in tests).
pub async fn run(
    service: Service,
    token: String,
    api_url: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(service, token, api_url, Options::default(), shutdown).await
}

/// [`run`] with explicit [`Options`].
pub async fn run_with(
    service: Service,
    token: String,
    api_url: Option<String>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut bot = Bot::new(token);
    if let Some(url) = api_url {
        let mut url =
            url::Url::parse(&url).map_err(|e| anyhow::anyhow!("bad Telegram API URL `{url}`: {e}"))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        bot = bot.set_api_url(url);
    }
    let me = bot
        .get_me()
        .await
        .map_err(|e| anyhow::anyhow!("Telegram getMe failed (check TELEGRAM_BOT_TOKEN): {e}"))?;
    let me = intake::Me {
        id: me.id,
        username: me.username.clone().unwrap_or_default(),
    };
    tracing::info!(username = %me.username, "telegram bot connected");
    start_up(&bot, options.webhook.is_none()).await;
    if let Some(hook) = &options.webhook {
        bot.set_webhook(hook.public_url.clone())
            .secret_token(hook.secret.clone())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .await
            .map_err(|e| anyhow::anyhow!("Telegram setWebhook failed for {}: {e}", hook.public_url))?;
    }
    let throttled = bot.clone().throttle(options.rate);
    let front: Arc<dyn headshot::FrontEnd> = Arc::new(TelegramFront::new(throttled, options.limits));
    service.attach(front.clone());
    let intake = Arc::new(intake::Intake {
        bot: bot.clone(),
        me,
        service,
        front,
        max_download: options.max_download.min(GET_FILE_MAX),
    });
    let webhook = options.webhook.clone();
    let poller = Arc::new(poll::Poller::new(bot, intake, options));
    match webhook {
        Some(hook) => webhook::serve(poller, hook, shutdown).await,
        None => {
            poller.run(shutdown).await;
            Ok(())
        }
    }
}

/// Optional start-up calls: drop a webhook left over from webhook mode and register the command
/// menu. A server that does not know a method (a self-hosted or test server) is tolerated.
async fn start_up(bot: &Bot, polling: bool) {
    if polling && let Err(e) = bot.delete_webhook().await {
        tracing::warn!(error = %e, "deleteWebhook failed; going on");
    }
    let commands = COMMANDS.iter().map(|(name, what)| BotCommand::new(*name, *what));
    if let Err(e) = bot.set_my_commands(commands).await {
        tracing::warn!(error = %e, "setMyCommands failed; going on without a command menu");
    }
}

/// Deepest nesting of objects and arrays accepted in an update. Real updates nest about ten
/// levels (update, message, the message it replies to, its entities and their users, a keyboard); serde
/// accepts 128, and deserialising teloxide's message types that deep overflows a 2 MiB thread
/// stack in a debug build (found by the `telegram_update` fuzz target).
pub const MAX_UPDATE_DEPTH: usize = 16;

/// The deepest nesting of objects and arrays in a JSON text (strings skipped).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A webhook body as an update: refused when nested deeper than [`MAX_UPDATE_DEPTH`] or not an
/// update.
pub fn parse_update(body: &[u8]) -> Result<teloxide::types::Update, String> {
    let depth = json_depth(body);
    if depth > MAX_UPDATE_DEPTH {
        return Err(format!(
            "nested {depth} levels deep, more than {MAX_UPDATE_DEPTH}"
        ));
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Fuzz entry (`fuzz/`, replayed by `cargo test`): a webhook body or a polled update, read as
/// the adapter reads it before any download: the routing key, group addressing, commands,
/// mentions, pictures and button presses.
#[doc(hidden)]
pub fn fuzz_update(data: &[u8]) {
    use teloxide::types::UpdateKind;
    let Ok(update) = parse_update(data) else {
        return;
    };
    let _ = update.chat().map(|c| c.id.0);
    let me = intake::Me {
        id: teloxide::types::UserId(7_000_000_001),
        username: "headshot_bot".into(),
    };
    match update.kind {
        UpdateKind::Message(m) | UpdateKind::EditedMessage(m) => {
            let _ = intake::read(&me, std::slice::from_ref(&m));
            let _ = intake::read(&me, &[m.clone(), m]);
        }
        UpdateKind::CallbackQuery(q) => {
            let _ = intake::read_callback(&q);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_updates_are_refused_before_deserialising() {
        assert_eq!(json_depth(br#"{"a": [1, {"b": "[[[{{"}], "c": "\"{"}"#), 3);
        let deep = format!("{}{}", r#"{"update_id":1,"message":"#.repeat(60), "}".repeat(60));
        let refused = parse_update(deep.as_bytes()).unwrap_err();
        assert!(refused.contains("60 levels"), "{refused}");
        let fine = r#"{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}"#;
        assert!(parse_update(fine.as_bytes()).is_ok());
    }
}
