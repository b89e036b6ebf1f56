//! Test harness for the Telegram front end: the fake Bot API, an honest fake generator and
//! the real core on sled, wired together in-process.
#![allow(dead_code)]

pub mod discord;
pub mod web;

#[allow(unused_imports)]
pub use headshot_testkit::{discord as discord_fake, telegram as fake, webdriver};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use headshot::{Config, Limits, Service, Store};
use headshot_bots::telegram::{self, Options};
use teloxide::adaptors::throttle::Limits as RateLimits;

#[allow(unused_imports)]
pub use fake::{Failure, Fake, Peer};
#[allow(unused_imports)]
pub use headshot_testkit::{FakeGenerator, Running, config, faceless};

/// Adapter options for tests: short waits, generous rate limits.
pub fn options() -> Options {
    Options {
        poll_timeout: Duration::from_secs(2),
        album_window: Duration::from_millis(300),
        rate: RateLimits {
            messages_per_sec_chat: 1000,
            messages_per_min_chat: 100_000,
            messages_per_min_channel_or_supergroup: 100_000,
            messages_per_sec_overall: 10_000,
        },
        limits: Limits {
            edit_interval: Duration::from_millis(20),
            ..Limits::TELEGRAM
        },
        ..Options::default()
    }
}

/// A running core plus the Telegram front end, talking to a fake.
pub struct Bot {
    pub fake: Fake,
    pub service: Service,
    pub generator: Arc<FakeGenerator>,
    core: Running,
    front: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Bot {
    /// Starts on a temporary store with a fresh fake.
    pub async fn start(consent: bool) -> Bot {
        let fake = Fake::start().await;
        Bot::start_with(fake, Store::temporary().unwrap(), config(consent), 3).await
    }

    /// Starts on `dir`'s store (for restarts).
    pub async fn start_in(fake: Fake, dir: &Path, steps: u32) -> Bot {
        Bot::start_with(fake, Store::open(dir).unwrap(), config(false), steps).await
    }

    pub async fn start_with(fake: Fake, store: Store, config: Config, steps: u32) -> Bot {
        let generator = FakeGenerator::new(steps, Duration::from_millis(60));
        let core = Running::start(config, generator.clone(), store);
        let service = core.service.clone();
        let front = tokio::spawn(telegram::run_with(
            service.clone(),
            fake.token.clone(),
            Some(fake.url.clone()),
            options(),
            core.stop_token().cancelled_owned(),
        ));
        Bot {
            fake,
            service,
            generator,
            core,
            front,
        }
    }

    /// Stops the front end and the core; returns the fake for a restart.
    pub async fn stop(self) -> Fake {
        self.core.stop_token().cancel();
        self.front.await.unwrap().unwrap();
        self.core.stop().await;
        self.fake
    }

    pub fn generated(&self) -> usize {
        self.generator.generated()
    }
}

/// A selfie-like PNG.
pub fn selfie() -> Vec<u8> {
    headshot_testkit::selfie(0)
}

/// Opens the store in `dir` once the service stopped before has let go of it: its last tasks
/// (a front end's, the platform client's) end shortly after the stop returns.
pub fn open_when_free(dir: &std::path::Path) -> headshot::Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match headshot::Store::open(dir) {
            Ok(store) => return store,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("the store in {} stays locked: {e}", dir.display()),
        }
    }
}
