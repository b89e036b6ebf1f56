//! The delivery task: sends outbox entries, resumes after the parts already sent, retries
//! transient failures with capped exponential backoff (or the platform's `retry_after`), and
//! stops at permanent ones.
//!
//! Duplicate window: a part the platform accepted is recorded in the entry right after the send
//! returns. If the process dies between the platform accepting a part and that record reaching
//! disk (at most `service::FLUSH_EVERY`, 200 ms), the part is sent again after restart. Nothing
//! else is ever sent twice, and nothing acknowledged is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use headshot_models::Framing;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Core;
use crate::chat::{Attachment, Button, ChatAction, ChatRef, Limits, Outbound, SendError};
use crate::command::Action;
use crate::job::{Delivery, Job, JobState, OutboxEntry};
use crate::metrics::ErrorKind;
use crate::store::{StoreError, outbox_key};
use crate::text;

/// Deliveries in flight at once.
const PARALLEL_DELIVERIES: usize = 16;

/// The outbox's wake-up and addressing; the entries themselves live in the store, written in
/// the same transaction as the job state they belong to.
#[derive(Default)]
pub(crate) struct Outbox {
    ready: Notify,
}

impl Outbox {
    /// Something new may be deliverable (an entry written, a front end attached).
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// A new outbox entry for a job, addressed where the job's answers go.
    pub fn entry_for(&self, job: &Job, what: Delivery, now: u64) -> OutboxEntry {
        OutboxEntry {
            user: job.user.clone(),
            job: job.id.clone(),
            what,
            chat: delivery_chat(job),
            sent_parts: 0,
            attempts: 0,
            next_try_ms: now,
            created_ms: now,
        }
    }
}

/// Where a job's answers go: its chat, or the user's private chat when they chose so.
fn delivery_chat(job: &Job) -> ChatRef {
    if job.settings.private_delivery && job.chat.is_group {
        ChatRef::private(job.user.platform, job.user.id.clone())
    } else {
        job.chat.clone()
    }
}

/// Sends due outbox entries, up to [`PARALLEL_DELIVERIES`] at once, each on `tasks`.
pub(crate) async fn deliver_loop(core: Arc<Core>, stop: CancellationToken, tasks: TaskTracker) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(PARALLEL_DELIVERIES));
    loop {
        let notified = core.outbox.ready.notified();
        let now = core.clock.now_ms();
        let mut wake_in = Duration::from_millis(500);
        match core.store.outbox() {
            Ok(entries) => {
                for entry in entries {
                    let key = outbox_key(&entry);
                    if in_flight.lock().contains(&key) {
                        continue;
                    }
                    if entry.next_try_ms > now {
                        wake_in = wake_in.min(Duration::from_millis(entry.next_try_ms - now));
                        continue;
                    }
                    if core.frontends.get(entry.chat.platform).is_none() {
                        continue;
                    }
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        break;
                    };
                    in_flight.lock().insert(key.clone());
                    let core = core.clone();
                    let in_flight = in_flight.clone();
                    tasks.spawn(async move {
                        if let Err(e) = deliver_one(&core, entry).await {
                            tracing::error!(error = %e, "delivery bookkeeping failed");
                        }
                        in_flight.lock().remove(&key);
                        drop(permit);
                        core.outbox.wake();
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

async fn deliver_one(core: &Core, mut entry: OutboxEntry) -> Result<(), StoreError> {
    let Some(frontend) = core.frontends.get(entry.chat.platform) else {
        return Ok(());
    };
    let job = core.store.job(&entry.user, &entry.job)?;
    let parts = match (&entry.what, &job) {
        (Delivery::Notice(text), _) => vec![Outbound::Text {
            text: text.clone(),
            buttons: Vec::new(),
        }],
        (_, None) => {
            // The user forgot everything meanwhile: nothing left to send.
            return core.store.finish_entry(&entry, None);
        }
        (what, Some(job)) => result_parts(core, job, what, &frontend.limits())?,
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
                core.store.update_entry(&entry)?;
            }
            Err(SendError::Transient { retry_after, detail }) => {
                let kind = match retry_after {
                    Some(_) => ErrorKind::RateLimited,
                    None => ErrorKind::Transient,
                };
                core.metrics.platform_error(platform, kind);
                let now = core.clock.now_ms();
                entry.attempts += 1;
                if now.saturating_sub(entry.created_ms)
                    > core.config.delivery.give_up_after.as_millis() as u64
                {
                    tracing::warn!(job = %entry.job, %detail, "delivery abandoned after retrying too long");
                    return abandon(core, entry, job, "delivery kept failing".into());
                }
                let wait = retry_after.unwrap_or_else(|| backoff(&core.config.delivery, entry.attempts));
                entry.next_try_ms = now + wait.as_millis() as u64;
                tracing::info!(job = %entry.job, %detail, wait_ms = wait.as_millis() as u64, "delivery will retry");
                return core.store.update_entry(&entry);
            }
            Err(SendError::Permanent(reason)) => {
                core.metrics.platform_error(platform, ErrorKind::Permanent);
                tracing::info!(job = %entry.job, %reason, "delivery impossible; not retrying");
                return abandon(core, entry, job, reason);
            }
        }
    }
    if entry.what == Delivery::Results {
        core.metrics.delivery.observe(sending.elapsed());
    }
    let finished = job.filter(|_| entry.what == Delivery::Results).map(|mut job| {
        job.state = JobState::Delivered;
        job.updated_ms = core.clock.now_ms();
        job
    });
    core.store.finish_entry(&entry, finished.as_ref())
}

fn abandon(core: &Core, entry: OutboxEntry, job: Option<Job>, reason: String) -> Result<(), StoreError> {
    let failed = job.filter(|_| entry.what == Delivery::Results).map(|mut job| {
        job.state = JobState::Failed;
        job.failure = Some(format!("not delivered: {reason}"));
        job
    });
    core.store.finish_entry(&entry, failed.as_ref())
}

/// Capped exponential backoff: base * 2^(attempts-1), at most the configured maximum.
fn backoff(d: &crate::config::DeliveryConfig, attempts: u32) -> Duration {
    d.backoff_base
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(d.backoff_max)
}

/// The messages that deliver a job's results, within the platform's limits. Deterministic,
/// so a retry resumes exactly after the parts already sent.
fn result_parts(
    core: &Core,
    job: &Job,
    what: &Delivery,
    limits: &Limits,
) -> Result<Vec<Outbound>, StoreError> {
    let outputs = core.store.results(&job.user, &job.id)?;
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
    let style = job.settings.style(&core.catalog);
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
    if (core.config.delivery.send_documents && !limits.photos_are_originals) || too_big_for_photo {
        push_files(&mut parts, all, limits, None);
    }
    parts.push(Outbound::Text {
        text: text::more_options(),
        buttons: vec![vec![
            Button::new(text::REROLL_BUTTON, &Action::Reroll(job.id.clone())),
            Button::new(text::OTHER_STYLE_BUTTON, &Action::Styles),
            Button::new(text::SQUARE_BUTTON, &Action::Square(job.id.clone())),
        ]],
    });
    Ok(parts)
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
