//! The real core and the Discord front end (serenity) against the fake Discord.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use headshot::{Config, Limits, Service, Store};
use headshot_bots::discord::{self, Options};
use tokio_util::sync::CancellationToken;

use super::discord_fake::DiscordFake;
use super::{FakeGenerator, Running};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct DiscordBot {
    pub fake: Arc<DiscordFake>,
    pub service: Service,
    pub generator: Arc<FakeGenerator>,
    stop: CancellationToken,
    core: Running,
    front: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn options(fake: &DiscordFake) -> Options {
    Options {
        api_url: Some(fake.api_base()),
        guild: None,
        max_download: 1024 * 1024,
        limits: Limits {
            edit_interval: Duration::from_millis(20),
            ..Limits::DISCORD
        },
    }
}

impl DiscordBot {
    pub async fn start(consent: bool) -> DiscordBot {
        let fake = Arc::new(DiscordFake::start().await);
        DiscordBot::start_with(fake, Store::temporary().unwrap(), super::config(consent), 3).await
    }

    pub async fn start_in(fake: Arc<DiscordFake>, dir: &Path, steps: u32) -> DiscordBot {
        DiscordBot::start_with(fake, Store::open(dir).unwrap(), super::config(false), steps).await
    }

    pub async fn start_with(fake: Arc<DiscordFake>, store: Store, config: Config, steps: u32) -> DiscordBot {
        let generator = FakeGenerator::new(steps, Duration::from_millis(60));
        let core = Running::start(config, generator.clone(), store);
        let service = core.service.clone();
        let stop = core.stop_token();
        let identifies = fake.gateway().identifies;
        let front = tokio::spawn(discord::run(
            service.clone(),
            super::discord_fake::TOKEN.to_string(),
            options(&fake),
            stop.clone().cancelled_owned(),
        ));
        fake.wait_ready(identifies + 1, WAIT).await;
        // Commands are registered on READY.
        fake.wait_for(WAIT, |r| {
            r.iter()
                .any(|q| q.is("PUT", "/applications/*/commands") && q.ok())
        })
        .await;
        DiscordBot {
            fake,
            service,
            generator,
            stop,
            core,
            front,
        }
    }

    pub async fn stop(self) -> Arc<DiscordFake> {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.front).await;
        self.core.stop().await;
        self.fake
    }

    pub fn generated(&self) -> usize {
        self.generator.generated()
    }
}
