//! What the tests of every crate share: a fake generator that is honest about its inputs,
//! test images, the test configuration, a service running in-process, the platform fakes
//! ([`telegram`]: the Bot API; [`discord`]: REST and gateway) and a WebDriver client for the
//! browser test. Harnesses that start our own adapters stay with the front-end tests.

pub mod discord;
pub mod telegram;
pub mod webdriver;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use headshot::models::decode::{self, DecodeLimits};
use headshot::models::generator::output_name;
use headshot::models::{
    Catalog, Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress,
    Request,
};
use headshot::{Config, Service, Store, SystemClock};
use tokio_util::sync::CancellationToken;

/// The generator port faked: real decoding, a "face" rule the tests control (an image whose
/// centre pixel is pure black has no face, the red channel of the top-left pixel is the intake
/// score), resized copies of the real pixels as outputs, progress per step and cancellation
/// between steps.
pub struct FakeGenerator {
    /// Progress steps per generation.
    pub steps: u32,
    /// Time each step sleeps.
    pub step_time: Duration,
    /// Generations started.
    pub calls: AtomicUsize,
    /// Intake checks run.
    pub intakes: AtomicUsize,
    /// When set, every generation ends as a diffusion engine's safety refusal.
    pub flag_unsafe: AtomicBool,
}

impl FakeGenerator {
    /// A generator of `steps` steps of `step_time` each.
    pub fn new(steps: u32, step_time: Duration) -> Arc<FakeGenerator> {
        Arc::new(FakeGenerator {
            steps,
            step_time,
            calls: AtomicUsize::new(0),
            intakes: AtomicUsize::new(0),
            flag_unsafe: AtomicBool::new(false),
        })
    }

    /// Generations started so far.
    pub fn generated(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Generator for FakeGenerator {
    fn name(&self) -> &str {
        "fake"
    }

    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        self.intakes.fetch_add(1, Ordering::SeqCst);
        let decoded = decode::decode(upload, &DecodeLimits::default())?;
        let (w, h) = decoded.image.dimensions();
        if decoded.image.get_pixel(w / 2, h / 2).0 == [0, 0, 0] {
            return Err(IntakeError::NoFace);
        }
        Ok(IntakeReport {
            width: w,
            height: h,
            score: f32::from(decoded.image.get_pixel(0, 0).0[0]) / 255.0,
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
        if self.flag_unsafe.load(Ordering::SeqCst) {
            return Err(GenerateError::Unsafe("flagged 3 times".into()));
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

/// A selfie-like PNG: a gradient whose top-left red channel sets the fake's intake score.
pub fn selfie(score: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        if x == 0 && y == 0 {
            image::Rgb([score, 100, 100])
        } else {
            image::Rgb([(x * 3) as u8, (y * 3) as u8, 120])
        }
    });
    decode::encode_png(&img)
}

/// An image the fake generator finds no face in.
pub fn faceless() -> Vec<u8> {
    decode::encode_png(&image::RgbImage::new(64, 64))
}

/// The test configuration: consent only when asked for, fast delivery backoff.
pub fn config(consent: bool) -> Config {
    let mut c = Config::default_for_laptop();
    c.require_consent = consent;
    c.delivery.backoff_base = Duration::from_millis(10);
    c.delivery.backoff_max = Duration::from_millis(50);
    c
}

/// A service running in-process on a tokio task until [`Running::stop`].
pub struct Running {
    /// The service, to attach front ends and hand events to.
    pub service: Service,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts the built-in catalog with `generator` over `store`.
    pub fn start(config: Config, generator: Arc<dyn Generator>, store: Store) -> Running {
        let service = Service::new(
            config,
            Catalog::builtin(),
            generator,
            store,
            Arc::new(SystemClock),
        );
        let stop = CancellationToken::new();
        let (runner, token) = (service.clone(), stop.clone());
        let task = tokio::spawn(async move { runner.run(token.cancelled_owned()).await.unwrap() });
        Running { service, stop, task }
    }

    /// The token that stops the service (front ends started beside it share it).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}
