//! Test harness for the Telegram front end: the fake Bot API, an honest fake generator and
//! the real core on sled, wired together in-process.
#![allow(dead_code, missing_docs)]

pub mod discord;
pub mod discord_fake;
pub mod fake;
pub mod web;
pub mod webdriver;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use headshot::models::decode::{self, DecodeLimits};
use headshot::models::generator::output_name;
use headshot::models::{
    Catalog, Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress,
    Request,
};
use headshot::{Config, Limits, Service, Store, SystemClock};
use headshot_bots::telegram::{self, Options};
use teloxide::adaptors::throttle::Limits as RateLimits;
use tokio_util::sync::CancellationToken;

#[allow(unused_imports)]
pub use fake::{Failure, Fake, Peer};

/// Generator fake: real decoding; an image with a pure black centre has no face; outputs are
/// resized copies of the selfie; progress per step; cancellable between steps.
pub struct FakeGenerator {
    pub steps: u32,
    pub step_time: Duration,
    pub calls: AtomicUsize,
}

impl Generator for FakeGenerator {
    fn name(&self) -> &str {
        "fake"
    }

    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        let decoded = decode::decode(upload, &DecodeLimits::default())?;
        let (w, h) = decoded.image.dimensions();
        if decoded.image.get_pixel(w / 2, h / 2).0 == [0, 0, 0] {
            return Err(IntakeError::NoFace);
        }
        Ok(IntakeReport {
            width: w,
            height: h,
            score: 0.5,
            clean: decode::encode_png(&decoded.image),
        })
    }

    fn generate(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        for step in 1..=self.steps {
            if cancel.load(Ordering::SeqCst) {
                return Err(GenerateError::Cancelled);
            }
            std::thread::sleep(self.step_time);
            progress(Progress {
                stage: "render".into(),
                step,
                steps: self.steps,
            });
        }
        let image = decode::decode(&request.selfies[request.primary], &DecodeLimits::default())
            .map_err(|e| GenerateError::Failed(e.to_string()))?
            .image;
        let mut outputs = Vec::new();
        for v in request.first_variant..request.first_variant + request.variants {
            for (framing, (w, h)) in [(Framing::Master, (40, 50)), (Framing::Square, (40, 40))] {
                let out = image::imageops::resize(&image, w, h, image::imageops::FilterType::Triangle);
                outputs.push(Output {
                    file_name: output_name(&request.stem, &request.style.name, framing, v, "png"),
                    mime: "image/png".into(),
                    bytes: decode::encode_png(&out),
                    framing,
                    variant: v,
                    width: w,
                    height: h,
                    checks: Vec::new(),
                });
            }
        }
        Ok(Generated {
            outputs,
            checklist: "face ok".into(),
            engine: "fake".into(),
        })
    }
}

/// The core's test configuration.
pub fn config(consent: bool) -> Config {
    let mut c = Config::default_for_laptop();
    c.require_consent = consent;
    c.delivery.backoff_base = Duration::from_millis(10);
    c.delivery.backoff_max = Duration::from_millis(50);
    c
}

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
    stop: CancellationToken,
    core: tokio::task::JoinHandle<()>,
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
        let generator = Arc::new(FakeGenerator {
            steps,
            step_time: Duration::from_millis(60),
            calls: AtomicUsize::new(0),
        });
        let service = Service::new(
            config,
            Catalog::builtin(),
            generator.clone(),
            store,
            Arc::new(SystemClock),
        );
        let stop = CancellationToken::new();
        let runner = service.clone();
        let token = stop.clone();
        let core = tokio::spawn(async move { runner.run(token.cancelled_owned()).await.unwrap() });
        let front = tokio::spawn(telegram::run_with(
            service.clone(),
            fake.token.clone(),
            Some(fake.url.clone()),
            options(),
            stop.clone().cancelled_owned(),
        ));
        Bot {
            fake,
            service,
            generator,
            stop,
            core,
            front,
        }
    }

    /// Stops the front end and the core; returns the fake for a restart.
    pub async fn stop(self) -> Fake {
        self.stop.cancel();
        self.front.await.unwrap().unwrap();
        self.core.await.unwrap();
        self.fake
    }

    pub fn generated(&self) -> usize {
        self.generator.calls.load(Ordering::SeqCst)
    }
}

/// A selfie-like PNG.
pub fn selfie() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 3) as u8, (y * 3) as u8, 120]));
    decode::encode_png(&img)
}

/// An image the fake generator finds no face in.
pub fn faceless() -> Vec<u8> {
    decode::encode_png(&image::RgbImage::new(64, 64))
}
