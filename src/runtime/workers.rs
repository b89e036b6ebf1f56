//! Workers: the dispatcher hands fairly scheduled jobs to generation slots; each job runs the
//! generator on a blocking thread, streams progress into the status message, and stores its
//! results and outbox entry in one transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use headshot_models::{GenerateError, Progress, Request};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Core;
use crate::chat::UserKey;
use crate::job::{Delivery, Job, JobId, JobState};
use crate::store::StoreError;
use crate::text;

/// The cancel flags of the jobs generating now.
#[derive(Default)]
pub(crate) struct Runs {
    flags: Mutex<HashMap<JobId, Arc<AtomicBool>>>,
}

impl Runs {
    fn start(&self, job: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.flags.lock().insert(job.to_string(), flag.clone());
        flag
    }

    fn end(&self, job: &str) {
        self.flags.lock().remove(job);
    }

    /// Stops a running job's generation (the user's cancel, `/forget`).
    pub fn cancel(&self, job: &str) {
        if let Some(flag) = self.flags.lock().get(job) {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Stops every running generation (a shutdown past its grace time).
    pub fn cancel_all(&self) {
        for flag in self.flags.lock().values() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Takes jobs from the queue while generation slots are free; each runs on `jobs`.
pub(crate) async fn dispatch(core: Arc<Core>, stop: CancellationToken, jobs: TaskTracker) {
    let slots = Arc::new(Semaphore::new(core.config.jobs.workers.get()));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("never closed"),
            _ = stop.cancelled() => return,
        };
        let Some((user, id)) = core.queue.next(&stop).await else {
            return;
        };
        let tracker = jobs.clone();
        jobs.spawn(run_job(core.clone(), user, id, permit, tracker));
    }
}

async fn run_job(
    core: Arc<Core>,
    user: UserKey,
    id: JobId,
    permit: OwnedSemaphorePermit,
    tasks: TaskTracker,
) {
    let cancel = core.runs.start(&id);
    if let Err(e) = generate(&core, &user, &id, cancel, &tasks).await {
        tracing::error!(job = %id, error = %e, "job failed in the store");
    }
    core.runs.end(&id);
    drop(permit);
    core.queue.finished(&user);
}

async fn generate(
    core: &Arc<Core>,
    user: &UserKey,
    id: &str,
    cancel: Arc<AtomicBool>,
    tasks: &TaskTracker,
) -> Result<(), StoreError> {
    let now = core.clock.now_ms();
    let started = core.store.update_job(user, id, |job| {
        if job.state != JobState::Queued {
            return false;
        }
        job.state = JobState::Running;
        job.attempts += 1;
        job.updated_ms = now;
        true
    })?;
    let Some(job) = started.filter(|j| j.state == JobState::Running) else {
        return Ok(());
    };
    tracing::info!(job = %job.id, user = %job.user, style = %job.settings.style, "generation started");
    let selfies: Vec<Vec<u8>> = job
        .selfies
        .iter()
        .filter_map(|s| core.store.selfie(user, s).ok().flatten())
        .collect();
    if selfies.is_empty() {
        return fail(core, job, text::nothing_to_redo());
    }
    let request = Request {
        primary: job.primary.min(selfies.len() - 1),
        selfies,
        stem: job.stem.clone(),
        style: job.settings.effective_style(&core.catalog),
        crop: job
            .settings
            .crop
            .unwrap_or(job.settings.style(&core.catalog).default_crop),
        variants: job.settings.variants,
        first_variant: job.first_variant,
        seed: job.seed,
    };
    core.metrics.started(crate::metrics::RunningJob {
        job: job.id.clone(),
        user: job.user.clone(),
        platform: job.chat.platform,
        stage: "starting".into(),
        step: 0,
        steps: 1,
        started_ms: now,
    });
    let (tx, rx) = mpsc::unbounded_channel::<Progress>();
    let progress = tasks.spawn(show_progress(core.clone(), job.clone(), rx));
    let generator = core.generator.clone();
    let flag = cancel.clone();
    let clock = Instant::now();
    let outcome =
        tokio::task::spawn_blocking(move || generator.generate(&request, &mut |p| drop(tx.send(p)), &flag))
            .await
            .unwrap_or_else(|panic| Err(GenerateError::Failed(format!("generator panicked: {panic}"))));
    let _ = progress.await;
    let elapsed = clock.elapsed();
    core.metrics.ended(&job.id);
    match outcome {
        Ok(generated) => {
            core.metrics.generated(elapsed);
            let now = core.clock.now_ms();
            let mut done = job.clone();
            done.state = JobState::Generated;
            done.updated_ms = now;
            done.finished_ms = Some(now);
            done.generation_ms = Some(elapsed.as_millis() as u64);
            done.engine = Some(generated.engine.clone());
            done.checklist = Some(generated.checklist.clone());
            done.results = generated.outputs.len() as u32;
            let entry = core.outbox.entry_for(&done, Delivery::Results, now);
            core.store.store_generated(&done, &generated.outputs, &entry)?;
            core.store.flush().await?;
            tracing::info!(job = %done.id, ms = elapsed.as_millis() as u64, outputs = done.results, "generated");
            core.outbox.wake();
        }
        Err(GenerateError::Cancelled) => {
            let current = core.store.job(user, id)?;
            if current.as_ref().is_some_and(|j| j.state == JobState::Running) {
                // Not cancelled by the user: a shutdown interrupted it; it runs again next start.
                core.store.update_job(user, id, |j| {
                    j.state = JobState::Queued;
                    true
                })?;
                core.store.flush().await?;
            }
        }
        Err(GenerateError::Intake(e)) => return fail(core, job, text::intake_refusal(&e)),
        Err(GenerateError::Unsafe(detail)) => {
            tracing::warn!(job = %job.id, %detail, "outputs flagged by the safety checker; nothing kept");
            return fail(core, job, text::generation_unsafe());
        }
        Err(GenerateError::Failed(detail)) => {
            tracing::error!(job = %job.id, %detail, "generation failed");
            return fail(core, job, text::generation_failed());
        }
    }
    Ok(())
}

/// Ends a job as failed and queues the reason for durable delivery.
fn fail(core: &Core, mut job: Job, reason: String) -> Result<(), StoreError> {
    let now = core.clock.now_ms();
    job.state = JobState::Failed;
    job.failure = Some(reason.clone());
    job.updated_ms = now;
    job.finished_ms = Some(now);
    let entry = core.outbox.entry_for(&job, Delivery::Notice(reason), now);
    core.store.put_job_with_entry(&job, &entry)?;
    core.outbox.wake();
    Ok(())
}

/// Edits the status message with the latest progress, at most once per the platform's edit
/// interval; edits are best effort (a failed edit is skipped, the next one goes on).
async fn show_progress(core: Arc<Core>, job: Job, mut rx: mpsc::UnboundedReceiver<Progress>) {
    let (Some(frontend), Some(message)) = (core.frontends.get(job.chat.platform), job.status_message.clone())
    else {
        while let Some(p) = rx.recv().await {
            core.metrics.progressed(&job.id, &p.stage, p.step, p.steps);
        }
        return;
    };
    let interval = frontend.limits().edit_interval;
    let started = Instant::now();
    let mut last_edit: Option<Instant> = None;
    let mut pending: Option<Progress> = Some(Progress {
        stage: "starting".into(),
        step: 0,
        steps: 1,
    });
    // The current stage, when its first report came and at which step.
    let mut stage: Option<(String, Instant, u32)> = None;
    loop {
        let wait = match (&pending, last_edit) {
            (Some(_), None) => Duration::ZERO,
            (Some(_), Some(at)) => interval.saturating_sub(at.elapsed()),
            (None, _) => Duration::from_secs(3600),
        };
        tokio::select! {
            p = rx.recv() => match p {
                Some(p) => {
                    core.metrics.progressed(&job.id, &p.stage, p.step, p.steps);
                    if stage.as_ref().is_none_or(|(name, _, _)| *name != p.stage) {
                        stage = Some((p.stage.clone(), Instant::now(), p.step));
                    }
                    pending = Some(p);
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {
                let Some(p) = pending.take() else { continue };
                // A long stage (diffusion's denoising) is timed by its own measured steps;
                // otherwise by the mean of earlier jobs.
                let measured = stage
                    .as_ref()
                    .filter(|(name, _, _)| *name == p.stage)
                    .and_then(|(_, at, from)| stage_eta(at.elapsed(), p.step.saturating_sub(*from), p.steps.saturating_sub(p.step)));
                let eta = measured.or_else(|| core.metrics.mean_generation().map(|m| m.saturating_sub(started.elapsed())));
                let line = text::running(&p.stage, p.step, p.steps, eta);
                if let Err(e) = frontend.edit(&job.chat, &message, &line, Vec::new()).await {
                    tracing::debug!(error = %e, "progress edit skipped");
                }
                last_edit = Some(Instant::now());
            }
        }
    }
}

/// Time left in a stage after `done` steps took `elapsed` and `left` remain; `None` until a
/// step has been timed.
pub(crate) fn stage_eta(elapsed: Duration, done: u32, left: u32) -> Option<Duration> {
    (done > 0).then(|| elapsed / done * left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_timed_by_its_own_steps() {
        // 3 denoise steps took 90 s: 17 steps are left, about 510 s.
        assert_eq!(
            stage_eta(Duration::from_secs(90), 3, 17),
            Some(Duration::from_secs(510))
        );
        assert_eq!(
            stage_eta(Duration::from_secs(5), 0, 20),
            None,
            "nothing timed yet"
        );
        assert_eq!(stage_eta(Duration::from_secs(40), 4, 0), Some(Duration::ZERO));
    }
}
