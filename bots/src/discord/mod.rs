//! The Discord front end on serenity: slash commands (`/headshot selfie:<file>` and the rest of
//! the menu), buttons and select menus, selfies in DMs or in messages that mention the bot, and
//! the [`DiscordFront`] that delivers into threads, DMs or interaction follow-ups.
//!
//! Every interaction is deferred at once (within Discord's 3 s), the original response then
//! carries the live status, and results go to a thread created for the job (private by
//! default, public or a DM by the user's `/settings delivery`), falling back to a DM and then
//! to ephemeral follow-ups when a thread cannot be made. Intents are minimal: none for
//! interactions, `DIRECT_MESSAGES` and `GUILD_MESSAGES` for selfies sent as messages (no
//! privileged message-content intent: DMs and mentions carry their attachments anyway).

mod bounded;
mod commands;
mod error;
mod extra;
mod followup;
mod front;
mod handler;
mod ids;
mod render;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use headshot::{Limits, Service};
use serenity::all::{ClientBuilder, GatewayIntents, HttpBuilder};

pub use commands::commands;
pub use error::classify;
pub use front::{DiscordFront, Extra};
pub use ids::{Component, CustomId, Sent};
pub use render::{components, fit};

/// Tunables of the adapter.
#[derive(Debug, Clone)]
pub struct Options {
    /// REST base other than Discord's (`HEADSHOT_DISCORD_API_URL`): tests and self-hosted
    /// gateways. serenity's rate limiter ignores a proxy, so it is turned off then and 429s
    /// are handled by the core's delivery retries.
    pub api_url: Option<String>,
    /// Register the commands in this guild only (development), else globally.
    pub guild: Option<u64>,
    /// Largest selfie downloaded.
    pub max_download: u64,
    /// Limits announced to the core.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            api_url: None,
            guild: None,
            max_download: 20 * 1024 * 1024,
            limits: Limits::DISCORD,
        }
    }
}

/// The gateway intents the bot asks for.
pub fn intents() -> GatewayIntents {
    GatewayIntents::DIRECT_MESSAGES | GatewayIntents::GUILD_MESSAGES
}

/// Runs the Discord front end until `shutdown` completes.
pub async fn run(
    service: Service,
    token: String,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut http = HttpBuilder::new(&token);
    if let Some(url) = &options.api_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("bad Discord API URL `{url}`: write http(s)://host:port");
        }
        http = http.proxy(url.trim_end_matches('/')).ratelimiter_disabled(true);
    }
    let front_cell: Arc<OnceLock<Arc<DiscordFront>>> = Arc::default();
    let handler = Arc::new(handler::Handler {
        service: service.clone(),
        front: front_cell.clone(),
        guild: options.guild,
        max_download: options.max_download,
        me: OnceLock::new(),
        downloads: reqwest::Client::builder()
            .timeout(handler::DOWNLOAD_TIMEOUT)
            .build()?,
    });
    let mut client = ClientBuilder::new_with_http(http.build(), intents())
        .event_handler_arc(handler)
        .await
        .map_err(|e| anyhow::anyhow!("Discord client: {e}"))?;
    // The front shares the client's HTTP client: its application id arrives with READY.
    let front =
        Arc::new(DiscordFront::new(client.http.clone(), options.limits).with_store(service.store().clone()));
    let _ = front_cell.set(front.clone());
    service.attach(front);
    drive(&mut client, shutdown).await
}

async fn drive(
    client: &mut serenity::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        shutdown.await;
        shards.shutdown_all().await;
    });
    client
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("Discord gateway: {e} (check DISCORD_TOKEN)"))
}

/// Fuzz entry (`fuzz/`, replayed by `cargo test`): an interaction as the gateway delivers it,
/// read as the adapter reads it before any download: a slash command's options, a component's
/// custom id, and the conversation data kept with the chat.
#[doc(hidden)]
pub fn fuzz_interaction(data: &[u8]) {
    use serenity::all::Interaction;
    let Ok(interaction) = serde_json::from_slice::<Interaction>(data) else {
        return;
    };
    match interaction {
        Interaction::Command(cmd) | Interaction::Autocomplete(cmd) => {
            let options = cmd.data.options();
            let _ = handler::read_command(&cmd.data.name, &options);
        }
        Interaction::Component(c) => {
            let id = CustomId::parse(&c.data.custom_id);
            if let Component::Core(data) = &id.component {
                let _ = headshot::Action::decode(data);
            }
        }
        _ => {}
    }
}
