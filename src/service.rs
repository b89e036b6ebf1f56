//! The service: the shared state of one running headshot, and its lifecycle.
//!
//! Front ends call [`Service::handle`] with neutral events; [`Service::run`] drives the
//! dispatcher, the delivery task and the retention sweep until the shutdown future completes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use headshot_models::{Catalog, Generator};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::{ChatRef, FrontEnd, MessageId, Outbound, Platform, SendError};
use crate::clock::Clock;
use crate::config::Config;
use crate::job::{JobId, JobState};
use crate::scheduler::Scheduler;
use crate::store::{Store, StoreError};

/// How long a graceful shutdown waits for running generations before persisting them as queued.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A running headshot service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) inner: Arc<Inner>,
}

/// Queue figures for `/status`, admin pages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Jobs waiting for a worker.
    pub queued: usize,
    /// Jobs generating now.
    pub running: usize,
}

pub(crate) struct Inner {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub generator: Arc<dyn Generator>,
    pub clock: Arc<dyn Clock>,
    pub frontends: RwLock<HashMap<Platform, Arc<dyn FrontEnd>>>,
    pub sched: Mutex<Scheduler>,
    pub work: Notify,
    pub deliver: Notify,
    pub intake: Semaphore,
    pub cancels: Mutex<HashMap<JobId, Arc<AtomicBool>>>,
    pub paused: Mutex<Option<String>>,
    pub durations: Mutex<VecDeque<u64>>,
    pub accepting: AtomicBool,
    pub shutting_down: AtomicBool,
    pub metrics: crate::metrics::Metrics,
}

impl Service {
    /// Builds a service over an opened store. Nothing runs until [`Service::run`].
    pub fn new(
        config: Config,
        catalog: Catalog,
        generator: Arc<dyn Generator>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Service {
        let intake = config.jobs.intake_workers.get();
        Service {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                catalog: Arc::new(catalog),
                store,
                generator,
                clock,
                frontends: RwLock::new(HashMap::new()),
                sched: Mutex::new(Scheduler::default()),
                work: Notify::new(),
                deliver: Notify::new(),
                intake: Semaphore::new(intake),
                cancels: Mutex::new(HashMap::new()),
                paused: Mutex::new(None),
                durations: Mutex::new(VecDeque::new()),
                accepting: AtomicBool::new(true),
                shutting_down: AtomicBool::new(false),
                metrics: crate::metrics::Metrics::default(),
            }),
        }
    }

    /// Registers a platform adapter; deliveries for its platform start flowing.
    pub fn attach(&self, frontend: Arc<dyn FrontEnd>) {
        let platform = frontend.platform();
        self.inner
            .frontends
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(platform, frontend);
        self.inner.deliver.notify_one();
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The style catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Jobs queued and running now.
    pub fn queue_stats(&self) -> QueueStats {
        let s = self.inner.sched.lock().unwrap_or_else(|e| e.into_inner());
        QueueStats {
            queued: s.queued(),
            running: s.running(),
        }
    }

    /// Stops taking new photos; users are told `reason`.
    pub fn pause(&self, reason: &str) {
        *self.inner.paused.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
    }

    /// Takes photos again.
    pub fn resume(&self) {
        *self.inner.paused.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The operator's snapshot: queue, running jobs, durations, jobs by platform and state,
    /// recent failures. Scans the job records, so it costs O(jobs held).
    pub fn overview(&self) -> Result<crate::metrics::Overview, StoreError> {
        use crate::metrics::{DurationSummary, Failure, GeneratorInfo, Overview, RECENT, RECENT_FAILURES};
        let jobs = self.inner.store.all_jobs()?;
        let mut platforms = std::collections::BTreeMap::new();
        let mut states = std::collections::BTreeMap::new();
        for p in [Platform::Telegram, Platform::Discord, Platform::Web] {
            platforms.insert(crate::metrics::platform_name(p), 0);
        }
        for state in [
            "pending",
            "queued",
            "running",
            "generated",
            "delivered",
            "failed",
            "cancelled",
        ] {
            states.insert(state.to_string(), 0);
        }
        let mut finished: Vec<(u64, u64)> = Vec::new();
        let mut failures = Vec::new();
        for job in &jobs {
            *platforms
                .entry(crate::metrics::platform_name(job.chat.platform))
                .or_default() += 1;
            let state = serde_json::to_value(job.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *states.entry(state).or_default() += 1;
            if let (Some(ms), Some(at)) = (job.generation_ms, job.finished_ms) {
                finished.push((at, ms));
            }
            if job.state == JobState::Failed {
                failures.push(Failure {
                    job: job.id.clone(),
                    user: job.user.to_string(),
                    platform: job.chat.platform,
                    reason: job.failure.clone().unwrap_or_default(),
                    at_ms: job.finished_ms.unwrap_or(job.updated_ms),
                });
            }
        }
        finished.sort_unstable_by(|a, b| b.cmp(a));
        failures.sort_by_key(|f| std::cmp::Reverse(f.at_ms));
        failures.truncate(RECENT_FAILURES);
        Ok(Overview {
            paused: self
                .inner
                .paused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            queue: self.queue_stats(),
            running: self.inner.metrics.running(),
            durations: DurationSummary::of(finished.iter().take(RECENT).map(|(_, ms)| *ms).collect()),
            platforms,
            states,
            failures,
            generator: GeneratorInfo {
                loaded: true,
                name: self.inner.generator.name().to_string(),
            },
            now_ms: self.inner.clock.now_ms(),
        })
    }

    /// The counters and gauges in Prometheus text format (for `/metrics`).
    pub fn prometheus(&self) -> Result<String, StoreError> {
        use std::fmt::Write as _;
        let overview = self.overview()?;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP headshot_jobs Jobs held in the store, by state.\n# TYPE headshot_jobs gauge"
        );
        for (state, n) in &overview.states {
            let _ = writeln!(out, "headshot_jobs{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP headshot_queue_depth Jobs waiting for a generation slot.\n# TYPE headshot_queue_depth gauge\n\
             headshot_queue_depth {}\n\
             # HELP headshot_running_jobs Jobs generating now.\n# TYPE headshot_running_jobs gauge\n\
             headshot_running_jobs {}\n\
             # HELP headshot_intake_paused 1 while intake is paused.\n# TYPE headshot_intake_paused gauge\n\
             headshot_intake_paused {}",
            overview.queue.queued,
            overview.queue.running,
            u8::from(overview.paused.is_some())
        );
        self.inner.metrics.render(&mut out);
        Ok(out)
    }

    /// The generator's name (`studio`, `diffusion`, ...).
    pub fn generator_name(&self) -> &str {
        self.inner.generator.name()
    }

    /// The in-memory counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// The pause reason, while intake is paused.
    pub fn paused(&self) -> Option<String> {
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs the engine until `shutdown` completes, then shuts down gracefully: intake stops,
    /// running generations get [`SHUTDOWN_GRACE`] to finish and are otherwise persisted as
    /// queued, and the store is flushed.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        self.inner.recover()?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let jobs = TaskTracker::new();
        tasks.spawn(self.inner.clone().dispatch(stop.clone(), jobs.clone()));
        tasks.spawn(self.inner.clone().delivery_loop(stop.clone()));
        tasks.spawn(self.inner.clone().retention_loop(stop.clone()));
        tasks.spawn(self.inner.clone().flush_loop(stop.clone()));
        shutdown.await;
        tracing::info!("shutting down: intake stopped");
        self.inner.accepting.store(false, Ordering::SeqCst);
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        stop.cancel();
        tasks.close();
        tasks.wait().await;
        jobs.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, jobs.wait()).await.is_err() {
            tracing::warn!("running generations did not finish in time; they will run again on restart");
            for flag in self
                .inner
                .cancels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
            {
                flag.store(true, Ordering::SeqCst);
            }
            jobs.wait().await;
        }
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Runs the retention sweep once now (it also runs periodically inside [`Service::run`]).
    pub fn sweep_retention(&self) -> Result<crate::retention::Swept, StoreError> {
        self.inner.sweep()
    }
}

/// How often writes that were not flushed on the spot (progress, delivery bookkeeping) are made
/// durable; this bounds the duplicate window of a crash.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

impl Inner {
    async fn flush_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = stop.cancelled() => return,
            }
            if let Err(e) = self.store.flush().await {
                tracing::error!(error = %e, "periodic flush failed");
            }
        }
    }

    pub fn frontend(&self, platform: Platform) -> Option<Arc<dyn FrontEnd>> {
        self.frontends
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&platform)
            .cloned()
    }

    /// Sends an immediate (non-durable) message, retrying transient failures a few times.
    pub async fn send(&self, chat: &ChatRef, message: Outbound) -> Option<MessageId> {
        let frontend = self.frontend(chat.platform)?;
        for attempt in 0..3u32 {
            match frontend.send(chat, message.clone()).await {
                Ok(id) => return id,
                Err(SendError::Transient { retry_after, detail }) => {
                    tracing::debug!(%detail, attempt, "reply failed, retrying");
                    let wait = retry_after.unwrap_or(Duration::from_millis(200 << attempt));
                    tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                }
                Err(SendError::Permanent(reason)) => {
                    tracing::info!(%reason, "reply not possible");
                    return None;
                }
            }
        }
        None
    }

    /// Sends a plain text reply.
    pub async fn say(&self, chat: &ChatRef, text: String) -> Option<MessageId> {
        self.send(
            chat,
            Outbound::Text {
                text,
                buttons: Vec::new(),
            },
        )
        .await
    }

    /// Puts the queued and running jobs of the store back in the scheduler (start-up).
    fn recover(&self) -> Result<(), StoreError> {
        let mut requeued = 0;
        let mut sched = self.sched.lock().unwrap_or_else(|e| e.into_inner());
        let mut jobs: Vec<_> = self
            .store
            .all_jobs()?
            .into_iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Running))
            .collect();
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        for mut job in jobs {
            if job.state == JobState::Running {
                job.state = JobState::Queued;
                self.store.put_job(&job)?;
            }
            sched.push(&job.user, job.id.clone());
            requeued += 1;
        }
        if requeued > 0 {
            tracing::info!(requeued, "recovered jobs from the store");
        }
        drop(sched);
        self.work.notify_one();
        self.deliver.notify_one();
        Ok(())
    }

    /// Records a generation time for ETAs (last 20).
    pub fn record_duration(&self, ms: u64) {
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        if d.len() == 20 {
            d.pop_front();
        }
        d.push_back(ms);
    }

    /// Mean recent generation time, if any was measured.
    pub fn mean_duration(&self) -> Option<Duration> {
        let d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        (!d.is_empty()).then(|| Duration::from_millis(d.iter().sum::<u64>() / d.len() as u64))
    }

    /// ETA of a job at queue `position` (1-based).
    pub fn eta_for_position(&self, position: usize) -> Option<Duration> {
        let mean = self.mean_duration()?;
        let rounds = position.div_ceil(self.config.jobs.workers.get()) as u32;
        Some(mean * rounds)
    }

    /// A new time-ordered id from the service clock.
    pub fn new_id(&self) -> String {
        ulid::Ulid::from_parts(self.clock.now_ms(), rand::random()).to_string()
    }
}
