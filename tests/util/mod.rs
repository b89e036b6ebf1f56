//! Test harness: a recording front end, an honest fake generator and a service started
//! in-process on a temporary sled store.
#![allow(dead_code, missing_docs)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use headshot::models::decode::{self, DecodeLimits};
use headshot::models::generator::output_name;
use headshot::models::{
    Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress, Request,
};
use headshot::{
    Button, ChatRef, Config, Event, FrontEnd, Inbound, Limits, MessageId, Outbound, Platform, SendError,
    Service, Store, SystemClock, Upload, UserKey,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A fake for the generator port: real decoding, a "face" rule the tests control (an image whose
/// centre pixel is pure black has no face), crops of the real pixels as outputs, progress per
/// step and cancellation between steps.
pub struct FakeGenerator {
    pub steps: u32,
    pub step_time: Duration,
    pub calls: AtomicUsize,
    pub intakes: AtomicUsize,
    /// When set, every generation ends as a diffusion engine's safety refusal.
    pub flag_unsafe: std::sync::atomic::AtomicBool,
}

impl FakeGenerator {
    pub fn new(steps: u32, step_time: Duration) -> Arc<FakeGenerator> {
        Arc::new(FakeGenerator {
            steps,
            step_time,
            calls: AtomicUsize::new(0),
            intakes: AtomicUsize::new(0),
            flag_unsafe: std::sync::atomic::AtomicBool::new(false),
        })
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
        let score = decoded.image.get_pixel(0, 0).0[0] as f32 / 255.0;
        Ok(IntakeReport {
            width: w,
            height: h,
            score,
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
            for framing in [Framing::Master, Framing::Square] {
                let (w, h) = match framing {
                    Framing::Master => (40, 50),
                    Framing::Square => (40, 40),
                };
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

/// What the recording front end saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sent {
        id: MessageId,
        chat: ChatRef,
        message: Outbound,
    },
    Edited {
        id: MessageId,
        chat: ChatRef,
        text: String,
    },
}

/// A front end that records every send and edit, and fails on demand.
pub struct Recorder {
    pub platform: Platform,
    pub limits: Mutex<Limits>,
    pub records: Mutex<Vec<Record>>,
    pub failures: Mutex<VecDeque<SendError>>,
    pub blocked: Mutex<Vec<String>>,
    next_id: AtomicUsize,
    changed: Notify,
}

impl Recorder {
    pub fn new(platform: Platform) -> Arc<Recorder> {
        Arc::new(Recorder {
            platform,
            limits: Mutex::new(Limits {
                edit_interval: Duration::from_millis(10),
                ..Limits::TELEGRAM
            }),
            records: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            blocked: Mutex::new(Vec::new()),
            next_id: AtomicUsize::new(1),
            changed: Notify::new(),
        })
    }

    /// The next `n` sends fail with `error`.
    pub fn fail_next(&self, n: usize, error: SendError) {
        let mut f = self.failures.lock().unwrap();
        for _ in 0..n {
            f.push_back(error.clone());
        }
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// Texts sent to a chat, in order.
    pub fn texts(&self, chat: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Sent {
                    chat: c,
                    message: Outbound::Text { text, .. },
                    ..
                } if c.chat_id == chat => Some(text),
                _ => None,
            })
            .collect()
    }

    /// Buttons of every text sent to a chat.
    pub fn buttons(&self, chat: &str) -> Vec<Button> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Sent {
                    chat: c,
                    message: Outbound::Text { buttons, .. },
                    ..
                } if c.chat_id == chat => Some(buttons.into_iter().flatten().collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Albums sent to a chat.
    pub fn albums(&self, chat: &str) -> Vec<(ChatRef, Vec<headshot::Attachment>, String)> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Sent {
                    chat: c,
                    message: Outbound::Album { photos, caption },
                    ..
                } if c.chat_id == chat => Some((c, photos, caption)),
                _ => None,
            })
            .collect()
    }

    /// Files sent to a chat.
    pub fn files(&self, chat: &str) -> Vec<headshot::Attachment> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Sent {
                    chat: c,
                    message: Outbound::Files { files, .. },
                    ..
                } if c.chat_id == chat => Some(files),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Edits of a chat's messages, in order.
    pub fn edits(&self, chat: &str) -> Vec<(MessageId, String)> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Edited { chat: c, id, text } if c.chat_id == chat => Some((id, text)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `check` holds (or panics after 20 s with `what`).
    pub async fn wait_until(&self, what: &str, check: impl Fn(&Recorder) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.changed.notified();
            if check(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() && !check(self) {
                panic!("timed out waiting for: {what}\nrecords: {:#?}", self.summary());
            }
        }
    }

    /// A short description of every record, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.records()
            .iter()
            .map(|r| match r {
                Record::Sent { id, chat, message } => {
                    format!("send #{id} to {}: {}", chat.chat_id, describe(message))
                }
                Record::Edited { id, chat, text } => format!("edit #{id} in {}: {text}", chat.chat_id),
            })
            .collect()
    }
}

fn describe(m: &Outbound) -> String {
    match m {
        Outbound::Text { text, buttons } => {
            format!("text {text:?} buttons {}", buttons.iter().flatten().count())
        }
        Outbound::Album { photos, caption } => format!("album of {} {caption:?}", photos.len()),
        Outbound::Files { files, .. } => format!("files {}", files.len()),
        Outbound::Action(a) => format!("action {a:?}"),
    }
}

#[async_trait]
impl FrontEnd for Recorder {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn limits(&self) -> Limits {
        *self.limits.lock().unwrap()
    }

    async fn send(&self, chat: &ChatRef, message: Outbound) -> Result<Option<MessageId>, SendError> {
        if self.blocked.lock().unwrap().contains(&chat.chat_id) {
            return Err(SendError::Permanent(
                "Forbidden: bot was blocked by the user".into(),
            ));
        }
        if !matches!(message, Outbound::Action(_))
            && let Some(err) = self.failures.lock().unwrap().pop_front()
        {
            return Err(err);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst).to_string();
        self.records.lock().unwrap().push(Record::Sent {
            id: id.clone(),
            chat: chat.clone(),
            message,
        });
        self.changed.notify_waiters();
        Ok(Some(id))
    }

    async fn edit(
        &self,
        chat: &ChatRef,
        message: &MessageId,
        text: &str,
        _buttons: Vec<Vec<Button>>,
    ) -> Result<(), SendError> {
        self.records.lock().unwrap().push(Record::Edited {
            id: message.clone(),
            chat: chat.clone(),
            text: text.to_string(),
        });
        self.changed.notify_waiters();
        Ok(())
    }
}

/// A running service with a recording front end.
pub struct Harness {
    pub service: Service,
    pub front: Arc<Recorder>,
    pub generator: Arc<FakeGenerator>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// Test config: no consent unless asked, fast backoff.
pub fn config(consent: bool) -> Config {
    let mut c = Config::default_for_laptop();
    c.require_consent = consent;
    c.delivery.backoff_base = Duration::from_millis(10);
    c.delivery.backoff_max = Duration::from_millis(50);
    c
}

impl Harness {
    pub async fn start(config: Config, generator: Arc<FakeGenerator>) -> Harness {
        Harness::start_with(config, generator, Store::temporary().unwrap()).await
    }

    pub async fn start_with(config: Config, generator: Arc<FakeGenerator>, store: Store) -> Harness {
        let service = Service::new(
            config,
            headshot::models::Catalog::builtin(),
            generator.clone(),
            store,
            Arc::new(SystemClock),
        );
        let front = Recorder::new(Platform::Telegram);
        service.attach(front.clone());
        let stop = CancellationToken::new();
        let runner = service.clone();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            runner.run(token.cancelled_owned()).await.unwrap();
        });
        Harness {
            service,
            front,
            generator,
            stop,
            task,
        }
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }

    pub async fn command(&self, user: &str, line: &str) {
        let line = line.trim_start_matches('/');
        let (name, args) = line.split_once(' ').unwrap_or((line, ""));
        self.send(
            user,
            Event::Command {
                name: name.into(),
                args: args.into(),
            },
        )
        .await;
    }

    pub async fn photo(&self, user: &str, bytes: Vec<u8>) {
        self.photos(user, vec![bytes], None).await;
    }

    /// Sends a photo as platform message `message_id` (to test redelivered updates).
    pub async fn photo_message(&self, user: &str, bytes: Vec<u8>, message_id: &str) {
        let upload = Upload {
            bytes,
            file_name: None,
            message_id: Some(message_id.into()),
        };
        self.send(
            user,
            Event::Photos {
                uploads: vec![upload],
                caption: None,
            },
        )
        .await;
    }

    /// Sends photos as one message (an album); each call is a new platform message with ids
    /// `m<N>`, numbered across the whole test binary.
    pub async fn photos(&self, user: &str, images: Vec<Vec<u8>>, caption: Option<&str>) {
        static NEXT_MESSAGE: AtomicUsize = AtomicUsize::new(0);
        let uploads = images
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| Upload {
                bytes,
                file_name: Some(format!("me{i}.png")),
                message_id: Some(format!("m{}", NEXT_MESSAGE.fetch_add(1, Ordering::SeqCst))),
            })
            .collect();
        self.send(
            user,
            Event::Photos {
                uploads,
                caption: caption.map(String::from),
            },
        )
        .await;
    }

    pub async fn press(&self, user: &str, data: &str) {
        self.send(user, Event::Button { data: data.into() }).await;
    }

    pub async fn send(&self, user: &str, event: Event) {
        self.service.handle(inbound(user, event)).await;
    }
}

pub fn inbound(user: &str, event: Event) -> Inbound {
    Inbound {
        user: UserKey::new(Platform::Telegram, user),
        chat: ChatRef {
            thread_id: Some("topic-7".into()),
            ..ChatRef::private(Platform::Telegram, user)
        },
        event,
    }
}

pub fn user(id: &str) -> UserKey {
    UserKey::new(Platform::Telegram, id)
}

/// A selfie-like PNG: a gradient whose top-left red channel sets the intake score.
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
