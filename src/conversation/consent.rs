//! `/start`, consent (`/agree`, the Agree and Decline buttons) and `/forget`.

use super::{jobs, user_record};
use crate::chat::{Button, ChatRef, Outbound, UserKey};
use crate::command::Action;
use crate::job::{Job, JobState};
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

pub(super) async fn start(core: &Core, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
    core.frontends.say(chat, text::welcome()).await;
    if core.config.require_consent && user_record(core, user)?.consent_ms.is_none() {
        ask(core, chat).await;
    }
    Ok(())
}

/// The consent question with its two buttons.
pub(super) async fn ask(core: &Core, chat: &ChatRef) {
    let buttons = vec![vec![
        Button::new(text::AGREE_BUTTON, &Action::Agree),
        Button::new(text::DECLINE_BUTTON, &Action::Decline),
    ]];
    let text = text::consent(&core.config);
    core.frontends.send(chat, Outbound::Text { text, buttons }).await;
}

/// Consent given: recorded, and the jobs that waited for it are queued.
pub(super) async fn agree(core: &Core, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
    let mut record = user_record(core, user)?;
    if record.consent_ms.is_none() {
        record.consent_ms = Some(core.clock.now_ms());
        core.store.put_user(user, &record)?;
    }
    let pending: Vec<Job> = core
        .store
        .jobs_of(user)?
        .into_iter()
        .filter(|j| j.state == JobState::Pending)
        .collect();
    core.frontends.say(chat, text::agreed(pending.len())).await;
    for job in pending {
        let queued = core.store.update_job(user, &job.id, |j| {
            if j.state != JobState::Pending {
                return false;
            }
            j.state = JobState::Queued;
            true
        })?;
        if let Some(job) = queued.filter(|j| j.state == JobState::Queued) {
            core.store.flush().await?;
            jobs::enqueue(core, job, None).await?;
        }
    }
    Ok(())
}

/// Consent refused: the jobs that waited for it end and their selfies are deleted.
pub(super) async fn decline(core: &Core, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
    let pending = core
        .store
        .jobs_of(user)?
        .into_iter()
        .filter(|j| j.state == JobState::Pending);
    for job in pending {
        core.store.update_job(user, &job.id, |j| {
            j.state = JobState::Cancelled;
            true
        })?;
        for s in &job.selfies {
            core.store
                .remove_selfie_key(format!("{}{s}", user.prefix()).as_bytes())?;
        }
    }
    core.frontends.say(chat, text::declined()).await;
    Ok(())
}

pub(super) async fn ask_forget(core: &Core, chat: &ChatRef) {
    let buttons = vec![vec![
        Button::new(text::FORGET_YES_BUTTON, &Action::Forget { confirmed: true }),
        Button::new(text::FORGET_NO_BUTTON, &Action::Forget { confirmed: false }),
    ]];
    let text = text::forget_confirm();
    core.frontends.send(chat, Outbound::Text { text, buttons }).await;
}

pub(super) async fn forget(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    confirmed: bool,
) -> Result<(), StoreError> {
    if !confirmed {
        core.frontends.say(chat, text::forget_kept()).await;
        return Ok(());
    }
    jobs::cancel_all(core, user)?;
    core.store.forget(user)?;
    core.frontends.say(chat, text::forgotten()).await;
    Ok(())
}
