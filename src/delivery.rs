//! The delivery task: sends outbox entries, resumes after the parts already sent, retries
//! transient failures with capped exponential backoff (or the platform's `retry_after`), and
//! stops at permanent ones.
//!
//! Duplicate window: a part the platform accepted is recorded in the entry right after the send
//! returns. If the process dies between the platform accepting a part and that record reaching
//! disk (at most `service::FLUSH_EVERY`, 200 ms), the part is sent again after restart. Nothing
//! else is ever sent twice, and nothing acknowledged is lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headshot_models::Framing;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::chat::{Attachment, Button, ChatAction, ChatRef, Limits, Outbound, SendError};
use crate::job::{Delivery, Job, JobState, OutboxEntry};
use crate::metrics::ErrorKind;
use crate::service::Inner;
use crate::store::{StoreError, outbox_key};
use crate::text;

/// Deliveries in flight at once.
const PARALLEL_DELIVERIES: usize = 16;

impl Inner {
    pub(crate) async fn delivery_loop(self: Arc<Self>, stop: CancellationToken) {
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let slots = Arc::new(Semaphore::new(PARALLEL_DELIVERIES));
        loop {
            let notified = self.deliver.notified();
            let now = self.clock.now_ms();
            let mut wake_in = Duration::from_millis(500);
            match self.store.outbox() {
                Ok(entries) => {
                    for entry in entries {
                        let key = outbox_key(&entry);
                        if in_flight.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
                            continue;
                        }
                        if entry.next_try_ms > now {
                            wake_in = wake_in.min(Duration::from_millis(entry.next_try_ms - now));
                            continue;
                        }
                        if self.frontend(entry.chat.platform).is_none() {
                            continue;
                        }
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        in_flight
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.clone());
                        let inner = self.clone();
                        let in_flight = in_flight.clone();
                        tokio::spawn(async move {
                            if let Err(e) = inner.deliver_one(entry).await {
                                tracing::error!(error = %e, "delivery bookkeeping failed");
                            }
                            in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                            drop(permit);
                            inner.deliver.notify_one();
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wake_in.max(Duration::from_millis(5))) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn deliver_one(&self, mut entry: OutboxEntry) -> Result<(), StoreError> {
        let Some(frontend) = self.frontend(entry.chat.platform) else {
            return Ok(());
        };
        let job = self.store.job(&entry.user, &entry.job)?;
        let parts = match (&entry.what, &job) {
            (Delivery::Notice(text), _) => vec![Outbound::Text {
                text: text.clone(),
                buttons: Vec::new(),
            }],
            (_, None) => {
                // The user forgot everything meanwhile: nothing left to send.
                return self.store.finish_entry(&entry, None);
            }
            (what, Some(job)) => self.result_parts(job, what, &frontend.limits())?,
        };
        if entry.sent_parts == 0
            && entry.what == Delivery::Results
            && let (Some(job), Some(message)) = (&job, job.as_ref().and_then(|j| j.status_message.clone()))
        {
            let _ = frontend
                .edit(&job.chat, &message, &text::done(), Vec::new())
                .await;
            let _ = frontend
                .send(&entry.chat, Outbound::Action(ChatAction::UploadPhoto))
                .await;
        }
        let platform = entry.chat.platform;
        let sending = std::time::Instant::now();
        for (index, part) in parts.into_iter().enumerate().skip(entry.sent_parts as usize) {
            match frontend.send(&entry.chat, part).await {
                Ok(_) => {
                    entry.sent_parts = index as u32 + 1;
                    self.store.update_entry(&entry)?;
                }
                Err(SendError::Transient { retry_after, detail }) => {
                    let kind = match retry_after {
                        Some(_) => ErrorKind::RateLimited,
                        None => ErrorKind::Transient,
                    };
                    self.metrics.platform_error(platform, kind);
                    let now = self.clock.now_ms();
                    entry.attempts += 1;
                    if now.saturating_sub(entry.created_ms)
                        > self.config.delivery.give_up_after.as_millis() as u64
                    {
                        tracing::warn!(job = %entry.job, %detail, "delivery abandoned after retrying too long");
                        return self.abandon(entry, job, "delivery kept failing".into());
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(entry.attempts));
                    entry.next_try_ms = now + wait.as_millis() as u64;
                    tracing::info!(job = %entry.job, %detail, wait_ms = wait.as_millis() as u64, "delivery will retry");
                    return self.store.update_entry(&entry);
                }
                Err(SendError::Permanent(reason)) => {
                    self.metrics.platform_error(platform, ErrorKind::Permanent);
                    tracing::info!(job = %entry.job, %reason, "delivery impossible; not retrying");
                    return self.abandon(entry, job, reason);
                }
            }
        }
        if entry.what == Delivery::Results {
            self.metrics.delivery.observe(sending.elapsed());
        }
        let finished = job.filter(|_| entry.what == Delivery::Results).map(|mut job| {
            job.state = JobState::Delivered;
            job.updated_ms = self.clock.now_ms();
            job
        });
        self.store.finish_entry(&entry, finished.as_ref())
    }

    fn abandon(&self, entry: OutboxEntry, job: Option<Job>, reason: String) -> Result<(), StoreError> {
        let failed = job.filter(|_| entry.what == Delivery::Results).map(|mut job| {
            job.state = JobState::Failed;
            job.failure = Some(format!("not delivered: {reason}"));
            job
        });
        self.store.finish_entry(&entry, failed.as_ref())
    }

    /// Capped exponential backoff: base * 2^(attempts-1), at most the configured maximum.
    fn backoff(&self, attempts: u32) -> Duration {
        let d = &self.config.delivery;
        d.backoff_base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(d.backoff_max)
    }

    /// The messages that deliver a job's results, within the platform's limits. Deterministic,
    /// so a retry resumes exactly after the parts already sent.
    fn result_parts(&self, job: &Job, what: &Delivery, limits: &Limits) -> Result<Vec<Outbound>, StoreError> {
        let outputs = self.store.results(&job.user, &job.id)?;
        if outputs.is_empty() {
            return Ok(vec![Outbound::Text {
                text: text::nothing_to_redo(),
                buttons: Vec::new(),
            }]);
        }
        let attachments: Vec<(Framing, Attachment)> = outputs
            .into_iter()
            .map(|o| {
                let a = Attachment {
                    name: o.file_name,
                    mime: o.mime,
                    bytes: o.bytes,
                    width: o.width,
                    height: o.height,
                };
                (o.framing, a)
            })
            .collect();
        let mut parts = Vec::new();
        if *what == Delivery::Squares {
            let squares: Vec<Attachment> = attachments
                .into_iter()
                .filter(|(f, _)| *f == Framing::Square)
                .map(|(_, a)| a)
                .collect();
            push_files(&mut parts, squares, limits, None);
            return Ok(parts);
        }
        let style = self.style_of(&job.settings);
        let caption = text::result_caption(
            style,
            job.engine.as_deref().unwrap_or("studio"),
            job.checklist.as_deref().unwrap_or(""),
            None,
        );
        let (caption, overflow) = split_caption(&caption, limits.caption_max);
        let all: Vec<Attachment> = attachments.into_iter().map(|(_, a)| a).collect();
        let photos: Vec<Attachment> = all
            .iter()
            .filter(|a| a.bytes.len() <= limits.photo_bytes && a.width + a.height <= limits.photo_dimensions)
            .cloned()
            .collect();
        let too_big_for_photo = photos.len() < all.len();
        for (i, chunk) in photos.chunks(limits.album_max.max(1)).enumerate() {
            parts.push(Outbound::Album {
                photos: chunk.to_vec(),
                caption: if i == 0 { caption.clone() } else { String::new() },
            });
        }
        if photos.is_empty() {
            parts.push(Outbound::Text {
                text: caption,
                buttons: Vec::new(),
            });
        }
        if let Some(rest) = overflow {
            parts.push(Outbound::Text {
                text: rest,
                buttons: Vec::new(),
            });
        }
        if (self.config.delivery.send_documents && !limits.photos_are_originals) || too_big_for_photo {
            push_files(&mut parts, all, limits, None);
        }
        parts.push(Outbound::Text {
            text: text::more_options(),
            buttons: vec![vec![
                Button {
                    label: text::REROLL_BUTTON.into(),
                    data: format!("reroll:{}", job.id),
                },
                Button {
                    label: text::OTHER_STYLE_BUTTON.into(),
                    data: "styles".into(),
                },
                Button {
                    label: text::SQUARE_BUTTON.into(),
                    data: format!("square:{}", job.id),
                },
            ]],
        });
        Ok(parts)
    }

    /// Where a job's answers go: its chat, or the user's private chat when they chose so.
    pub(crate) fn delivery_chat(&self, job: &Job) -> ChatRef {
        if job.settings.private_delivery && job.chat.is_group {
            ChatRef::private(job.user.platform, job.user.id.clone())
        } else {
            job.chat.clone()
        }
    }
}

fn push_files(parts: &mut Vec<Outbound>, files: Vec<Attachment>, limits: &Limits, caption: Option<String>) {
    let files: Vec<Attachment> = files
        .into_iter()
        .filter(|f| f.bytes.len() <= limits.file_bytes)
        .collect();
    for chunk in files.chunks(limits.album_max.max(1)) {
        parts.push(Outbound::Files {
            files: chunk.to_vec(),
            caption: caption.clone(),
        });
    }
}

/// Splits a caption at the platform limit (on a line break when possible); the rest is sent as
/// a message of its own.
fn split_caption(caption: &str, max: usize) -> (String, Option<String>) {
    if caption.chars().count() <= max {
        return (caption.to_string(), None);
    }
    let cut: String = caption.chars().take(max).collect();
    let at = cut.rfind('\n').filter(|&i| i > 0).unwrap_or(cut.len());
    (
        caption[..at].to_string(),
        Some(caption[at..].trim_start().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::split_caption;

    #[test]
    fn long_captions_overflow_into_a_message() {
        assert_eq!(split_caption("short", 10), ("short".into(), None));
        let (head, rest) = split_caption("line one\nline two is long", 12);
        assert_eq!(head, "line one");
        assert_eq!(rest.as_deref(), Some("line two is long"));
        let (head, rest) = split_caption("éééééé", 3);
        assert_eq!(head, "ééé");
        assert_eq!(rest.as_deref(), Some("ééé"));
    }
}
