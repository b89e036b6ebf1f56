//! The running service's components, each owning its state behind a small interface:
//!
//! - [`queue`]: waiting jobs, handed out fairly (a trait: sled or in memory).
//! - `frontends`: the platform adapters and immediate replies.
//! - `gate`: pause, shutdown and the intake check slots.
//! - `delivery`: the durable outbox and the task that sends it.
//! - `workers`: generation slots, cancel flags, progress edits.
//! - [`retention`]: deletion of what is older than its retention time.
//!
//! [`Core`] composes them for the conversation and the background tasks; every task is
//! spawned on the service's tracker and stops with its cancellation token.

mod delivery;
mod frontends;
mod gate;
pub mod queue;
pub mod retention;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use headshot_models::{Catalog, Generator};

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

pub(crate) use delivery::Outbox;
pub(crate) use frontends::FrontEnds;
pub(crate) use gate::Gate;
pub(crate) use workers::Runs;

pub(crate) use delivery::deliver_loop;
pub(crate) use retention::retention_loop;
pub(crate) use workers::dispatch;

/// The components of one running service.
pub(crate) struct Core {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub generator: Arc<dyn Generator>,
    pub clock: Arc<dyn Clock>,
    pub frontends: FrontEnds,
    pub queue: queue::SharedQueue,
    pub gate: Gate,
    pub outbox: Outbox,
    pub runs: Runs,
    pub metrics: Metrics,
}

impl Core {
    /// A new time-ordered id from the service clock.
    pub fn new_id(&self) -> String {
        ulid::Ulid::from_parts(self.clock.now_ms(), rand::random()).to_string()
    }

    /// ETA of a job at queue `position` (1-based), from recent generation times.
    pub fn eta_for_position(&self, position: usize) -> Option<Duration> {
        let mean = self.metrics.mean_generation()?;
        let rounds = position.div_ceil(self.config.jobs.workers.get()) as u32;
        Some(mean * rounds)
    }
}

/// How often writes that were not flushed on the spot (progress, delivery bookkeeping) are made
/// durable; this bounds the duplicate window of a crash.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

pub(crate) async fn flush_loop(core: Arc<Core>, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = core.store.flush().await {
            tracing::error!(error = %e, "periodic flush failed");
        }
    }
}
