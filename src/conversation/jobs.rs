//! `/status`, `/cancel`, `/redo`, `/quota`, the Reroll and Square only buttons, and queueing
//! a durable job with its acknowledgement.

use super::{settings, user_record};
use crate::chat::{ChatRef, Outbound, UserKey};
use crate::command::Setting;
use crate::job::{Delivery, Job, JobState};
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

pub(super) async fn status(core: &Core, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
    let jobs: Vec<Job> = core
        .store
        .jobs_of(user)?
        .into_iter()
        .filter(|j| j.state.is_active())
        .collect();
    if jobs.is_empty() {
        core.frontends.say(chat, text::status_idle()).await;
        return Ok(());
    }
    let lines: Vec<String> = jobs
        .iter()
        .map(|j| match j.state {
            JobState::Queued => {
                let pos = core.queue.position(user, &j.id);
                text::queued(pos.unwrap_or(1), pos.and_then(|p| core.eta_for_position(p)))
            }
            JobState::Running => text::running("generating", 0, 1, core.metrics.mean_generation()),
            _ => text::consent(&core.config),
        })
        .collect();
    core.frontends.say(chat, lines.join("\n")).await;
    Ok(())
}

/// Cancels every waiting or running job of the user; returns how many.
pub(super) fn cancel_all(core: &Core, user: &UserKey) -> Result<usize, StoreError> {
    let mut count = 0;
    for job in core.store.jobs_of(user)? {
        if !job.state.is_active() {
            continue;
        }
        let now = core.clock.now_ms();
        let cancelled = core.store.update_job(user, &job.id, |j| {
            if !j.state.is_active() {
                return false;
            }
            j.state = JobState::Cancelled;
            j.updated_ms = now;
            j.finished_ms = Some(now);
            true
        })?;
        if cancelled.is_some_and(|j| j.state == JobState::Cancelled) {
            core.queue.remove(user, &job.id);
            core.runs.cancel(&job.id);
            count += 1;
        }
    }
    Ok(count)
}

/// Jobs started in the last 24 hours, and those of them waiting now (a range scan over
/// time-ordered ids, so a long history costs nothing).
pub(super) fn usage(core: &Core, user: &UserKey) -> Result<(usize, usize), StoreError> {
    let day_ago = core.clock.now_ms().saturating_sub(24 * 3600 * 1000);
    let jobs = core.store.jobs_since(user, day_ago)?;
    let waiting = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Pending | JobState::Queued))
        .count();
    Ok((jobs.len(), waiting))
}

/// Refusal text if the user or the service is at a cap.
pub(super) fn over_caps(core: &Core, user: &UserKey) -> Result<Option<String>, StoreError> {
    let j = &core.config.jobs;
    let (used, waiting) = usage(core, user)?;
    if used >= j.daily_per_user.get() {
        return Ok(Some(text::quota_exceeded(j.daily_per_user.get())));
    }
    if waiting >= j.max_queued_per_user.get() {
        return Ok(Some(text::too_many_waiting(j.max_queued_per_user.get())));
    }
    if core.queue.stats().queued >= j.max_queue.get() {
        return Ok(Some(text::busy()));
    }
    Ok(None)
}

/// The Square only button: the job's square results again, as files.
pub(super) async fn squares(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    job: &str,
) -> Result<(), StoreError> {
    match core.store.job(user, job)? {
        Some(job) if job.results > 0 => {
            let entry = core
                .outbox
                .entry_for(&job, Delivery::Squares, core.clock.now_ms());
            core.store.put_job_with_entry(&job, &entry)?;
            core.outbox.wake();
        }
        _ => drop(core.frontends.say(chat, text::stale_button()).await),
    }
    Ok(())
}

/// A durable queued job: acknowledge with the status message, then schedule it.
pub(super) async fn enqueue(core: &Core, job: Job, note: Option<String>) -> Result<(), StoreError> {
    let position = core.queue.position_if_pushed(&job.user);
    let mut status = text::queued(position, core.eta_for_position(position));
    if let Some(note) = note {
        status = format!("{note}\n{status}");
    }
    let ack = Outbound::Text {
        text: status,
        buttons: Vec::new(),
    };
    let message = core.frontends.send(&job.chat, ack).await;
    if message.is_some() {
        core.store.update_job(&job.user, &job.id, |j| {
            j.status_message = message.clone();
            true
        })?;
    }
    let still_queued = core
        .store
        .job(&job.user, &job.id)?
        .is_some_and(|j| j.state == JobState::Queued);
    if still_queued {
        core.queue.push(&job.user, &job.id);
    }
    Ok(())
}

/// `/redo` and Reroll: the same selfies again, next variants or another style.
pub(super) async fn redo(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    job_id: Option<&str>,
    style: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(name) = style {
        let setting = Setting::Style(name.split_whitespace().next().unwrap_or("").to_lowercase());
        let reply = settings::apply(core, user, setting)?;
        if core.catalog.get(name).is_none() {
            core.frontends.say(chat, reply).await;
            return Ok(());
        }
    }
    let jobs = core.store.jobs_of(user)?;
    let previous = match job_id {
        Some(id) => jobs.into_iter().find(|j| j.id == id),
        None => jobs.into_iter().rev().find(|j| !j.selfies.is_empty()),
    };
    let Some(previous) = previous else {
        core.frontends.say(chat, text::nothing_to_redo()).await;
        return Ok(());
    };
    let selfies: Vec<(String, Vec<u8>)> = previous
        .selfies
        .iter()
        .filter_map(|s| core.store.selfie(user, s).ok().flatten().map(|b| (s.clone(), b)))
        .collect();
    if selfies.len() != previous.selfies.len() || selfies.is_empty() {
        core.frontends.say(chat, text::nothing_to_redo()).await;
        return Ok(());
    }
    if let Some(refusal) = over_caps(core, user)? {
        core.frontends.say(chat, refusal).await;
        return Ok(());
    }
    let settings = user_record(core, user)?.settings;
    let same_style = settings.style == previous.settings.style;
    let now = core.clock.now_ms();
    let mut job_chat = chat.clone();
    job_chat.reply_to = previous.chat.reply_to.clone();
    let first_variant = if same_style {
        previous.first_variant + previous.settings.variants
    } else {
        1
    };
    let job = Job {
        selfies: previous.selfies,
        primary: previous.primary,
        stem: previous.stem,
        first_variant,
        ..Job::new(
            core.new_id(),
            previous.user,
            job_chat,
            JobState::Queued,
            now,
            settings,
        )
    };
    core.store.create_job(&job, &[])?;
    core.store.flush().await?;
    enqueue(core, job, None).await
}
