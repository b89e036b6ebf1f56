//! Test harness: a recording front end, an honest fake generator and a service started
//! in-process on a temporary sled store.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use headshot::{
    Button, ChatRef, Config, Event, FrontEnd, Inbound, Limits, MessageId, Outbound, Platform, SendError,
    Service, Store, Upload, UserKey,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

pub use headshot_testkit::{FakeGenerator, Running, config, faceless, selfie};

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
    running: Running,
}

impl Harness {
    pub async fn start(config: Config, generator: Arc<FakeGenerator>) -> Harness {
        Harness::start_with(config, generator, Store::temporary().unwrap()).await
    }

    pub async fn start_with(config: Config, generator: Arc<FakeGenerator>, store: Store) -> Harness {
        let running = Running::start(config, generator.clone(), store);
        let service = running.service.clone();
        let front = Recorder::new(Platform::Telegram);
        service.attach(front.clone());
        Harness {
            service,
            front,
            generator,
            running,
        }
    }

    pub async fn shutdown(self) {
        self.running.stop().await;
    }

    pub async fn command(&self, user: &str, line: &str) {
        let line = line.trim_start_matches('/');
        let (name, args) = line.split_once(' ').unwrap_or((line, ""));
        let command = headshot::Command::from_parts(name, args);
        self.send(user, Event::Command(command)).await;
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
