//! Photos in: the gate, a caption's settings, redelivery, caps, intake checks, the durable
//! job and its acknowledgement.

use headshot_models::{IntakeError, IntakeReport};

use super::{consent, jobs, settings, user_record};
use crate::chat::{ChatRef, Upload, UserKey};
use crate::command::{Command, SettingKind};
use crate::job::{Job, JobState};
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

pub(super) async fn photos(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    mut uploads: Vec<Upload>,
    caption: Option<String>,
) -> Result<(), StoreError> {
    if let Some(refusal) = core.gate.refusal() {
        core.frontends.say(chat, refusal).await;
        return Ok(());
    }
    if disk_low(core) {
        core.frontends.say(chat, text::cannot_store()).await;
        return Ok(());
    }
    if let Some(command) = caption.as_deref().and_then(Command::parse) {
        caption_command(core, user, chat, command).await?;
    }
    if already_taken(core, user, chat, &uploads)? {
        tracing::info!(user = %user, "a photo message arrived again (redelivered update); ignored");
        return Ok(());
    }
    if let Some(refusal) = jobs::over_caps(core, user)? {
        core.frontends.say(chat, refusal).await;
        return Ok(());
    }
    uploads.truncate(core.config.intake.album_max);
    let total = uploads.len();
    let reports = intake(core, &uploads).await;
    let accepted: Vec<(usize, IntakeReport)> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().ok().map(|r| (i, r.clone())))
        .collect();
    if accepted.is_empty() {
        let err = reports
            .into_iter()
            .find_map(Result::err)
            .unwrap_or(IntakeError::NoFace);
        core.frontends.say(chat, text::intake_refusal(&err)).await;
        return Ok(());
    }
    let best = accepted
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.1.score.total_cmp(&b.1.1.score))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let record = user_record(core, user)?;
    let now = core.clock.now_ms();
    let selfies: Vec<(String, Vec<u8>)> = accepted
        .iter()
        .map(|(_, r)| (core.new_id(), r.clean.clone()))
        .collect();
    let primary_upload = &uploads[accepted[best].0];
    let stem = primary_upload
        .file_name
        .as_deref()
        .and_then(|n| std::path::Path::new(n).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "selfie".into());
    let mut job_chat = chat.clone();
    if let Some(message) = &primary_upload.message_id {
        job_chat.reply_to = Some(message.clone());
    }
    let consent_needed = core.config.require_consent && record.consent_ms.is_none();
    let state = if consent_needed {
        JobState::Pending
    } else {
        JobState::Queued
    };
    let job = Job {
        selfies: selfies.iter().map(|(id, _)| id.clone()).collect(),
        primary: best,
        stem,
        ..Job::new(
            core.new_id(),
            user.clone(),
            job_chat,
            state,
            now,
            record.settings.clone(),
        )
    };
    if core.store.user(user)?.is_none() {
        core.store.put_user(user, &record)?;
    }
    if let Err(e) = store_job(core, &job, &selfies).await {
        // Not acknowledged, so not promised: the user sends it again later.
        tracing::error!(error = %e, job = %job.id, "storing a new job failed; the photo is refused");
        core.frontends.say(chat, text::cannot_store()).await;
        return Ok(());
    }
    if consent_needed {
        consent::ask(core, chat).await;
        return Ok(());
    }
    let note = (total > 1).then(|| text::album_choice(accepted[best].0, total, total - accepted.len()));
    jobs::enqueue(core, job, note).await
}

/// A caption may change the picture's settings (`/style creative`); delivery and every other
/// command are not taken from captions.
async fn caption_command(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    command: Command,
) -> Result<(), StoreError> {
    let reply = match command {
        Command::Set(setting) if setting.kind() != SettingKind::Delivery => {
            settings::apply(core, user, setting)?
        }
        Command::BadValue(kind) if kind != SettingKind::Delivery => settings::expected(core, kind),
        _ => return Ok(()),
    };
    core.frontends.say(chat, reply).await;
    Ok(())
}

/// True when a job was already made from this photo message: platforms redeliver updates
/// that a crashed process read but never confirmed, and one selfie must make one job.
fn already_taken(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    uploads: &[Upload],
) -> Result<bool, StoreError> {
    let Some(message) = uploads.iter().find_map(|u| u.message_id.as_deref()) else {
        return Ok(false);
    };
    let day_ago = core.clock.now_ms().saturating_sub(24 * 3600 * 1000);
    Ok(core
        .store
        .jobs_since(user, day_ago)?
        .iter()
        .any(|j| j.chat.chat_id == chat.chat_id && j.chat.reply_to.as_deref() == Some(message)))
}

/// True when the data directory has less free space than `intake.min_free_disk`: sled blocks
/// when its disk fills up, so new work stops well before, while what was acknowledged goes on.
fn disk_low(core: &Core) -> bool {
    let min = core.config.intake.min_free_disk;
    let Some(free) = core.store.free_space().filter(|_| min > 0) else {
        return false;
    };
    if free >= min {
        return false;
    }
    core.metrics
        .disk_refusals
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(
        free,
        min,
        "the data directory is short of space; new photos are refused"
    );
    true
}

/// Writes a new job and its selfies durably; on failure removes what was written.
async fn store_job(core: &Core, job: &Job, selfies: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
    let written = core.store.create_job(job, selfies);
    let result = match written {
        Ok(()) => core.store.flush().await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = core.store.remove_job(&job.user, &job.id);
        for (id, _) in selfies {
            let _ = core
                .store
                .remove_selfie_key(format!("{}{id}", job.user.prefix()).as_bytes());
        }
    }
    result
}

/// Runs the generator's intake checks in one of the gate's check slots.
async fn intake(core: &Core, uploads: &[Upload]) -> Vec<Result<IntakeReport, IntakeError>> {
    let _slot = core.gate.check_slot().await;
    let generator = core.generator.clone();
    let bytes: Vec<Vec<u8>> = uploads.iter().map(|u| u.bytes.clone()).collect();
    tokio::task::spawn_blocking(move || bytes.iter().map(|b| generator.intake(b)).collect())
        .await
        .unwrap_or_else(|_| vec![Err(IntakeError::NoFace); uploads.len()])
}
