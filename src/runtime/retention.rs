//! Retention: selfies, results, job records and the front ends' conversation records are
//! deleted after their configured times.

use std::collections::HashSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Core;
use crate::config::RetentionConfig;
use crate::store::{Store, StoreError};

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    /// Selfies deleted.
    pub selfies: usize,
    /// Result images deleted.
    pub results: usize,
    /// Job records deleted.
    pub jobs: usize,
    /// Front ends' conversation records deleted (transcripts, threads).
    pub chats: usize,
}

/// Sweeps every `retention.sweep_every` until `stop`.
pub(crate) async fn retention_loop(core: Arc<Core>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(core.config.retention.sweep_every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let core = core.clone();
        let sweep = move || sweep(&core.store, &core.config.retention, core.clock.now_ms());
        match tokio::task::spawn_blocking(sweep).await {
            Ok(Ok(swept)) if swept != Swept::default() => tracing::info!(?swept, "retention sweep"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention sweep failed"),
            Err(e) => tracing::error!(error = %e, "retention sweep panicked"),
        }
    }
}

/// Deletes what is older than its retention time at `now`. Selfies of jobs still waiting or
/// running are kept until those jobs end.
pub(crate) fn sweep(store: &Store, r: &RetentionConfig, now: u64) -> Result<Swept, StoreError> {
    let older = |at: u64, ttl: std::time::Duration| now.saturating_sub(at) > ttl.as_millis() as u64;
    let mut swept = Swept::default();
    let mut in_use = HashSet::new();
    for job in store.all_jobs()? {
        if job.state.is_active() || job.state == crate::job::JobState::Generated {
            for s in &job.selfies {
                in_use.insert(format!("{}{s}", job.user.prefix()));
            }
            continue;
        }
        if older(job.created_ms, r.jobs) {
            swept.results += store.remove_results(&job.user, &job.id)?;
            store.remove_job(&job.user, &job.id)?;
            swept.jobs += 1;
        } else if job.results > 0 && older(job.finished_ms.unwrap_or(job.updated_ms), r.results) {
            swept.results += store.remove_results(&job.user, &job.id)?;
            store.update_job(&job.user, &job.id, |j| {
                j.results = 0;
                true
            })?;
        }
    }
    for key in store.selfie_keys()? {
        let text = String::from_utf8_lossy(&key);
        if in_use.contains(text.as_ref()) {
            continue;
        }
        let id = text.rsplit(':').next().unwrap_or_default();
        let Ok(ulid) = ulid::Ulid::from_string(id) else {
            continue;
        };
        if older(ulid.timestamp_ms(), r.selfies) {
            store.remove_selfie_key(&key)?;
            swept.selfies += 1;
        }
    }
    // What the front ends keep of a conversation shows results: it lives as long as they do.
    swept.chats += store.sweep_chats(now.saturating_sub(r.results.as_millis() as u64))?;
    Ok(swept)
}
