//! Long polling (teloxide's [`Polling`]) and per-chat routing: one worker task per active chat
//! keeps each chat's updates in order while chats proceed independently, and gathers the parts
//! of an album into one message (what teloxide's dispatcher lacks).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, Polling, UpdateListener};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::Options;
use super::intake::Intake;

/// How many updates may wait for one chat's worker before polling waits for it.
const CHAT_QUEUE: usize = 64;

/// How long shutdown waits for chat workers to finish what they hold.
const DRAIN: Duration = Duration::from_secs(10);

type Chats = Arc<Mutex<HashMap<i64, mpsc::Sender<Update>>>>;

/// The polling loop and its chat workers.
pub(crate) struct Poller {
    bot: Bot,
    intake: Arc<Intake>,
    options: Options,
    chats: Chats,
    workers: TaskTracker,
}

impl Poller {
    pub fn new(bot: Bot, intake: Arc<Intake>, options: Options) -> Poller {
        Poller {
            bot,
            intake,
            options,
            chats: Arc::default(),
            workers: TaskTracker::new(),
        }
    }

    /// Polls until `shutdown`, then lets the chat workers drain. teloxide's [`Polling`] does
    /// the long polling: offsets, backoff after failures (ours: from 0.5 s, doubling, at most
    /// 30 s; a 429's `retry_after` is honoured), and on stop one last call that confirms what
    /// was read, so a restart does not see it again.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        let mut polling = Polling::builder(self.bot.clone())
            .timeout(self.options.poll_timeout)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .backoff_strategy(|failures| {
                Duration::from_millis(500 << failures.min(6)).min(Duration::from_secs(30))
            })
            .build();
        let stop = polling.stop_token();
        let mut updates = std::pin::pin!(polling.as_stream());
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        loop {
            tokio::select! {
                next = updates.next() => match next {
                    Some(Ok(update)) => self.route(update).await,
                    Some(Err(e)) => tracing::warn!(error = %e, "getUpdates failed; retrying"),
                    None => break,
                },
                () = &mut shutdown, if !stopping => {
                    stopping = true;
                    stop.stop();
                }
            }
        }
        self.drain().await;
    }

    /// Stops routing and lets the chat workers finish what they hold.
    pub async fn drain(&self) {
        self.chats.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.workers.close();
        if tokio::time::timeout(DRAIN, self.workers.wait()).await.is_err() {
            tracing::warn!("telegram chat workers did not finish in time");
        }
    }

    /// Hands an update to its chat's worker, starting one when needed.
    pub async fn route(&self, update: Update) {
        let Some(chat) = update.chat().map(|c| c.id.0) else {
            tracing::debug!("ignoring an update without a chat");
            return;
        };
        let mut update = update;
        loop {
            let sender = {
                let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
                chats
                    .entry(chat)
                    .or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(CHAT_QUEUE);
                        let worker = Worker {
                            chat,
                            intake: self.intake.clone(),
                            chats: self.chats.clone(),
                            window: self.options.album_window,
                            idle: self.options.chat_idle,
                        };
                        self.workers.spawn(worker.run(rx));
                        tx
                    })
                    .clone()
            };
            match sender.send(update).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    // The worker retired between lookup and send: forget it and start anew.
                    let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
                    if chats.get(&chat).is_some_and(|s| s.same_channel(&sender)) {
                        chats.remove(&chat);
                    }
                    update = back;
                }
            }
        }
    }
}

/// One chat's worker: handles its updates in order, gathering albums.
struct Worker {
    chat: i64,
    intake: Arc<Intake>,
    chats: Chats,
    window: Duration,
    idle: Duration,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Update>) {
        let mut held: VecDeque<Update> = VecDeque::new();
        loop {
            let update = match held.pop_front() {
                Some(u) => u,
                None => match tokio::time::timeout(self.idle, rx.recv()).await {
                    Ok(Some(u)) => u,
                    Ok(None) => return,
                    Err(_) => {
                        // Closed: whatever was sent before is still received, then `None`.
                        self.retire(&mut rx);
                        continue;
                    }
                },
            };
            match update.kind {
                UpdateKind::Message(m) => {
                    let parts = self.gather(m, &mut rx, &mut held).await;
                    self.intake.messages(parts).await;
                }
                UpdateKind::CallbackQuery(q) => self.intake.callback(q).await,
                _ => {}
            }
        }
    }

    /// Collects the rest of an album for the window; other updates wait in `held`.
    async fn gather(
        &self,
        first: Message,
        rx: &mut mpsc::Receiver<Update>,
        held: &mut VecDeque<Update>,
    ) -> Vec<Message> {
        let Some(group) = first.media_group_id().cloned() else {
            return vec![first];
        };
        let mut parts = vec![first];
        let mut rest = VecDeque::new();
        for u in held.drain(..) {
            match u.kind {
                UpdateKind::Message(m) if m.media_group_id() == Some(&group) => parts.push(m),
                kind => rest.push_back(Update { kind, ..u }),
            }
        }
        *held = rest;
        let deadline = tokio::time::Instant::now() + self.window;
        while let Ok(Some(u)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            match u.kind {
                UpdateKind::Message(m) if m.media_group_id() == Some(&group) => parts.push(m),
                kind => held.push_back(Update { kind, ..u }),
            }
        }
        parts
    }

    /// Removes this worker from the routing table and closes its queue; senders that race
    /// with this see the closed queue and start a new worker.
    fn retire(&self, rx: &mut mpsc::Receiver<Update>) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.remove(&self.chat);
        rx.close();
    }
}
