//! The service: one running headshot, composed of the [`crate::runtime`] components, and its
//! lifecycle.
//!
//! Front ends call [`Service::handle`] with neutral events; [`Service::run`] drives the
//! dispatcher, the delivery task, the retention sweep and the periodic flush until the
//! shutdown future completes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use headshot_models::{Catalog, Generator};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::{FrontEnd, Inbound, Platform};
use crate::clock::Clock;
use crate::config::Config;
use crate::job::JobState;
use crate::metrics::Metrics;
use crate::runtime::queue::{JobQueue, SledQueue};
use crate::runtime::{self, Core, FrontEnds, Gate, Outbox, Runs};
use crate::scheduler::QueueStats;
use crate::store::{Store, StoreError};

/// How long a graceful shutdown waits for running generations before persisting them as queued.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A running headshot service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    core: Arc<Core>,
}

impl Service {
    /// Builds a service over an opened store, with the store as its job queue. Nothing runs
    /// until [`Service::run`].
    pub fn new(
        config: Config,
        catalog: Catalog,
        generator: Arc<dyn Generator>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Service {
        let queue = Arc::new(SledQueue::new(
            store.clone(),
            config.jobs.max_running_per_user.get(),
        ));
        Service::with_queue(config, catalog, generator, store, clock, queue)
    }

    /// Builds a service whose waiting jobs are held by `queue`.
    pub fn with_queue(
        config: Config,
        catalog: Catalog,
        generator: Arc<dyn Generator>,
        store: Store,
        clock: Arc<dyn Clock>,
        queue: Arc<dyn JobQueue>,
    ) -> Service {
        let gate = Gate::new(config.jobs.intake_workers.get());
        Service {
            core: Arc::new(Core {
                config: Arc::new(config),
                catalog: Arc::new(catalog),
                store,
                generator,
                clock,
                frontends: FrontEnds::default(),
                queue,
                gate,
                outbox: Outbox::default(),
                runs: Runs::default(),
                metrics: Metrics::default(),
            }),
        }
    }

    /// Registers a platform adapter; deliveries for its platform start flowing.
    pub fn attach(&self, frontend: Arc<dyn FrontEnd>) {
        self.core.frontends.attach(frontend);
        self.core.outbox.wake();
    }

    /// Handles one inbound event: replies go to the event's chat through its platform's front
    /// end. Never fails: store errors are logged and answered with a neutral message.
    pub async fn handle(&self, inbound: Inbound) {
        crate::conversation::handle(&self.core, inbound).await;
    }

    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The style catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.core.catalog
    }

    /// Jobs queued and running now.
    pub fn queue_stats(&self) -> QueueStats {
        self.core.queue.stats()
    }

    /// Stops taking new photos; users are told `reason`.
    pub fn pause(&self, reason: &str) {
        self.core.gate.pause(reason);
    }

    /// Takes photos again.
    pub fn resume(&self) {
        self.core.gate.resume();
    }

    /// The pause reason, while intake is paused.
    pub fn paused(&self) -> Option<String> {
        self.core.gate.paused()
    }

    /// The generator's name (`studio`, `diffusion`, ...).
    pub fn generator_name(&self) -> &str {
        self.core.generator.name()
    }

    /// The in-memory counters.
    pub fn metrics(&self) -> &Metrics {
        &self.core.metrics
    }

    /// Runs the retention sweep once now (it also runs periodically inside [`Service::run`]).
    pub fn sweep_retention(&self) -> Result<crate::runtime::retention::Swept, StoreError> {
        let core = &self.core;
        runtime::retention::sweep(&core.store, &core.config.retention, core.clock.now_ms())
    }

    /// Runs the engine until `shutdown` completes, then shuts down gracefully: intake stops,
    /// running generations get [`SHUTDOWN_GRACE`] to finish and are otherwise persisted as
    /// queued, and the store is flushed.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        let requeued = self.core.queue.recover()?;
        if requeued > 0 {
            tracing::info!(requeued, "recovered jobs from the store");
        }
        self.core.outbox.wake();
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let jobs = TaskTracker::new();
        let core = &self.core;
        tasks.spawn(runtime::dispatch(core.clone(), stop.clone(), jobs.clone()));
        tasks.spawn(runtime::deliver_loop(core.clone(), stop.clone(), tasks.clone()));
        tasks.spawn(runtime::retention_loop(core.clone(), stop.clone()));
        tasks.spawn(runtime::flush_loop(core.clone(), stop.clone()));
        shutdown.await;
        tracing::info!("shutting down: intake stopped");
        core.gate.close();
        stop.cancel();
        tasks.close();
        tasks.wait().await;
        jobs.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, jobs.wait()).await.is_err() {
            tracing::warn!("running generations did not finish in time; they will run again on restart");
            core.runs.cancel_all();
            jobs.wait().await;
        }
        core.store.flush().await?;
        Ok(())
    }

    /// The operator's snapshot: queue, running jobs, durations, jobs by platform and state,
    /// recent failures. Scans the job records, so it costs O(jobs held).
    pub fn overview(&self) -> Result<crate::metrics::Overview, StoreError> {
        use crate::metrics::{DurationSummary, Failure, GeneratorInfo, Overview, RECENT, RECENT_FAILURES};
        let jobs = self.core.store.all_jobs()?;
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
            paused: self.paused(),
            queue: self.queue_stats(),
            running: self.core.metrics.running(),
            durations: DurationSummary::of(finished.iter().take(RECENT).map(|(_, ms)| *ms).collect()),
            platforms,
            states,
            failures,
            generator: GeneratorInfo {
                loaded: true,
                name: self.core.generator.name().to_string(),
            },
            now_ms: self.core.clock.now_ms(),
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
        self.core.metrics.render(&mut out);
        Ok(out)
    }
}
