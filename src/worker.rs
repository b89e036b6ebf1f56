//! Workers: the dispatcher hands fairly scheduled jobs to generation slots; each job runs the
//! generator on a blocking thread, streams progress into the status message, and stores its
//! results and outbox entry in one transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use headshot_models::{GenerateError, Progress, Request};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::UserKey;
use crate::job::{Delivery, Job, JobId, JobState, OutboxEntry};
use crate::service::Inner;
use crate::text;

impl Inner {
    /// Takes jobs from the scheduler while generation slots are free.
    pub(crate) async fn dispatch(self: Arc<Self>, stop: CancellationToken, jobs: TaskTracker) {
        let slots = Arc::new(Semaphore::new(self.config.jobs.workers.get()));
        let cap = self.config.jobs.max_running_per_user.get();
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("never closed"),
                _ = stop.cancelled() => return,
            };
            let next = loop {
                let notified = self.work.notified();
                if let Some(next) = self.sched.lock().unwrap_or_else(|e| e.into_inner()).next(cap) {
                    break next;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = stop.cancelled() => return,
                }
            };
            let inner = self.clone();
            jobs.spawn(async move { inner.run_job(next.0, next.1, permit).await });
        }
    }

    async fn run_job(self: Arc<Self>, user: UserKey, id: JobId, permit: OwnedSemaphorePermit) {
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), cancel.clone());
        if let Err(e) = self.generate(&user, &id, cancel).await {
            tracing::error!(job = %id, error = %e, "job failed in the store");
        }
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        self.sched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished(&user);
        drop(permit);
        self.work.notify_one();
    }

    async fn generate(
        self: &Arc<Self>,
        user: &UserKey,
        id: &str,
        cancel: Arc<AtomicBool>,
    ) -> Result<(), crate::store::StoreError> {
        let now = self.clock.now_ms();
        let started = self.store.update_job(user, id, |job| {
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
            .filter_map(|s| self.store.selfie(user, s).ok().flatten())
            .collect();
        if selfies.is_empty() {
            return self.fail(job, text::nothing_to_redo());
        }
        let request = Request {
            primary: job.primary.min(selfies.len() - 1),
            selfies,
            stem: job.stem.clone(),
            style: self.effective_style(&job.settings),
            crop: job
                .settings
                .crop
                .unwrap_or(self.style_of(&job.settings).default_crop),
            variants: job.settings.variants,
            first_variant: job.first_variant,
            seed: job.seed,
        };
        self.metrics.started(crate::metrics::RunningJob {
            job: job.id.clone(),
            user: job.user.clone(),
            platform: job.chat.platform,
            stage: "starting".into(),
            step: 0,
            steps: 1,
            started_ms: now,
        });
        let (tx, rx) = mpsc::unbounded_channel::<Progress>();
        let progress = tokio::spawn(self.clone().show_progress(job.clone(), rx));
        let generator = self.generator.clone();
        let flag = cancel.clone();
        let clock = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            generator.generate(&request, &mut |p| drop(tx.send(p)), &flag)
        })
        .await
        .unwrap_or_else(|panic| Err(GenerateError::Failed(format!("generator panicked: {panic}"))));
        let _ = progress.await;
        let elapsed = clock.elapsed();
        self.metrics.ended(&job.id);
        match outcome {
            Ok(generated) => {
                self.record_duration(elapsed.as_millis() as u64);
                self.metrics.generation.observe(elapsed);
                let now = self.clock.now_ms();
                let mut done = job.clone();
                done.state = JobState::Generated;
                done.updated_ms = now;
                done.finished_ms = Some(now);
                done.generation_ms = Some(elapsed.as_millis() as u64);
                done.engine = Some(generated.engine.clone());
                done.checklist = Some(generated.checklist.clone());
                done.results = generated.outputs.len() as u32;
                let entry = self.entry_for(&done, Delivery::Results);
                self.store.store_generated(&done, &generated.outputs, &entry)?;
                self.store.flush().await?;
                tracing::info!(job = %done.id, ms = elapsed.as_millis() as u64, outputs = done.results, "generated");
                self.deliver.notify_one();
            }
            Err(GenerateError::Cancelled) => {
                let current = self.store.job(user, id)?;
                if current.as_ref().is_some_and(|j| j.state == JobState::Running) {
                    // Not cancelled by the user: a shutdown interrupted it; it runs again next start.
                    self.store.update_job(user, id, |j| {
                        j.state = JobState::Queued;
                        true
                    })?;
                    self.store.flush().await?;
                }
            }
            Err(GenerateError::Intake(e)) => return self.fail(job, text::intake_refusal(&e)),
            Err(GenerateError::Unsafe(detail)) => {
                tracing::warn!(job = %job.id, %detail, "outputs flagged by the safety checker; nothing kept");
                return self.fail(job, text::generation_unsafe());
            }
            Err(GenerateError::Failed(detail)) => {
                tracing::error!(job = %job.id, %detail, "generation failed");
                return self.fail(job, text::generation_failed());
            }
        }
        Ok(())
    }

    /// Ends a job as failed and queues the reason for durable delivery.
    pub(crate) fn fail(&self, mut job: Job, reason: String) -> Result<(), crate::store::StoreError> {
        let now = self.clock.now_ms();
        job.state = JobState::Failed;
        job.failure = Some(reason.clone());
        job.updated_ms = now;
        job.finished_ms = Some(now);
        let entry = self.entry_for(&job, Delivery::Notice(reason));
        self.store.put_job_with_entry(&job, &entry)?;
        self.deliver.notify_one();
        Ok(())
    }

    /// A new outbox entry for a job, addressed where the job's answers go.
    pub(crate) fn entry_for(&self, job: &Job, what: Delivery) -> OutboxEntry {
        let now = self.clock.now_ms();
        OutboxEntry {
            user: job.user.clone(),
            job: job.id.clone(),
            what,
            chat: self.delivery_chat(job),
            sent_parts: 0,
            attempts: 0,
            next_try_ms: now,
            created_ms: now,
        }
    }

    /// Edits the status message with the latest progress, at most once per the platform's edit
    /// interval; edits are best effort (a failed edit is skipped, the next one goes on).
    async fn show_progress(self: Arc<Self>, job: Job, mut rx: mpsc::UnboundedReceiver<Progress>) {
        let (Some(frontend), Some(message)) = (self.frontend(job.chat.platform), job.status_message.clone())
        else {
            while let Some(p) = rx.recv().await {
                self.metrics.progressed(&job.id, &p.stage, p.step, p.steps);
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
                        self.metrics.progressed(&job.id, &p.stage, p.step, p.steps);
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
                    let eta = measured.or_else(|| self.mean_duration().map(|m| m.saturating_sub(started.elapsed())));
                    let line = text::running(&p.stage, p.step, p.steps, eta);
                    if let Err(e) = frontend.edit(&job.chat, &message, &line, Vec::new()).await {
                        tracing::debug!(error = %e, "progress edit skipped");
                    }
                    last_edit = Some(Instant::now());
                }
            }
        }
    }

    /// Cancels a running job's generation (the user's cancel or `/forget`).
    pub(crate) fn raise_cancel(&self, id: &str) {
        if let Some(flag) = self.cancels.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            flag.store(true, Ordering::SeqCst);
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
