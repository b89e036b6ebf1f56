//! Operational figures for the operator page and `/metrics`: duration histograms, platform
//! errors by kind, and what each generation slot is doing now.
//!
//! Everything here is in memory and counts since start, the way Prometheus expects; job counts
//! by state come from the store when asked ([`crate::Service::overview`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::chat::{Platform, UserKey};
use crate::job::JobId;

/// Upper bounds (seconds) of the duration buckets: from a fast studio render to a CPU diffusion run.
pub const BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// A cumulative histogram of durations with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes the histogram in Prometheus text format under `name`.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

/// A kind of platform error, as the delivery loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The platform said to wait (429 with a retry time).
    RateLimited,
    /// Any other failure worth retrying (5xx, timeout, connection).
    Transient,
    /// Retrying cannot help (blocked, forbidden, chat gone).
    Permanent,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        }
    }
}

/// A job a generation slot is working on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningJob {
    pub job: JobId,
    /// Its owner.
    pub user: UserKey,
    /// The platform it came from.
    pub platform: Platform,
    /// The latest stage reported by the generator.
    pub stage: String,
    /// Step within the stages.
    pub step: u32,
    /// Number of steps.
    pub steps: u32,
    /// When generation started (service clock, ms).
    pub started_ms: u64,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Generation time per job.
    pub generation: Histogram,
    /// Time to deliver a job's results, from the first send to the last part.
    pub delivery: Histogram,
    errors: Mutex<BTreeMap<(Platform, ErrorKind), u64>>,
    running: Mutex<BTreeMap<JobId, RunningJob>>,
    recent_ms: Mutex<std::collections::VecDeque<u64>>,
    /// Photo messages refused because the disk was short of space.
    pub disk_refusals: std::sync::atomic::AtomicU64,
}

/// Generation times kept for ETAs.
const RECENT_FOR_ETA: usize = 20;

impl Metrics {
    /// A job generated in `took`: the histogram and the recent times behind ETAs.
    pub(crate) fn generated(&self, took: Duration) {
        self.generation.observe(took);
        let mut recent = self.recent_ms.lock();
        if recent.len() == RECENT_FOR_ETA {
            recent.pop_front();
        }
        recent.push_back(took.as_millis() as u64);
    }

    /// Mean of the recent generation times, once one was measured.
    pub fn mean_generation(&self) -> Option<Duration> {
        let d = self.recent_ms.lock();
        (!d.is_empty()).then(|| Duration::from_millis(d.iter().sum::<u64>() / d.len() as u64))
    }

    /// Counts a platform error.
    pub fn platform_error(&self, platform: Platform, kind: ErrorKind) {
        *self.errors.lock().entry((platform, kind)).or_default() += 1;
    }

    /// Platform errors so far.
    pub fn platform_errors(&self) -> Vec<(Platform, ErrorKind, u64)> {
        let errors = self.errors.lock();
        errors.iter().map(|((p, k), n)| (*p, *k, *n)).collect()
    }

    pub(crate) fn started(&self, job: RunningJob) {
        self.running.lock().insert(job.job.clone(), job);
    }

    pub(crate) fn progressed(&self, job: &str, stage: &str, step: u32, steps: u32) {
        if let Some(r) = self.running.lock().get_mut(job) {
            r.stage = stage.to_string();
            r.step = step;
            r.steps = steps;
        }
    }

    pub(crate) fn ended(&self, job: &str) {
        self.running.lock().remove(job);
    }

    /// Jobs generating now, oldest first.
    pub fn running(&self) -> Vec<RunningJob> {
        let mut list: Vec<RunningJob> = self.running.lock().values().cloned().collect();
        list.sort_by_key(|r| r.started_ms);
        list
    }

    /// The histograms and error counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        self.generation.render(
            out,
            "headshot_generation_seconds",
            "Time to generate one job's images.",
        );
        self.delivery.render(
            out,
            "headshot_delivery_seconds",
            "Time to send one job's results to the chat.",
        );
        let _ = writeln!(
            out,
            "# HELP headshot_intake_refused_disk_total Photo messages refused because the data directory was short of space.\n\
             # TYPE headshot_intake_refused_disk_total counter\n\
             headshot_intake_refused_disk_total {}",
            self.disk_refusals.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP headshot_platform_errors_total Failed sends to a chat platform, by kind.\n\
             # TYPE headshot_platform_errors_total counter"
        );
        for (platform, kind, n) in self.platform_errors() {
            let _ = writeln!(
                out,
                "headshot_platform_errors_total{{platform=\"{}\",kind=\"{}\"}} {n}",
                platform_name(platform),
                kind.as_str()
            );
        }
    }
}

/// The lowercase name used in labels and JSON.
pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Telegram => "telegram",
        Platform::Discord => "discord",
        Platform::Web => "web",
    }
}

/// Durations summarised for the operator page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DurationSummary {
    /// Jobs measured.
    pub count: usize,
    /// Median generation time.
    pub p50_ms: Option<u64>,
    /// 95th percentile.
    pub p95_ms: Option<u64>,
}

impl DurationSummary {
    /// Nearest-rank percentiles of `values`.
    pub fn of(mut values: Vec<u64>) -> DurationSummary {
        values.sort_unstable();
        let rank = |p: f64| -> Option<u64> {
            if values.is_empty() {
                return None;
            }
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            Some(values[i])
        };
        DurationSummary {
            count: values.len(),
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
        }
    }
}

/// A failed job for the operator page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub job: JobId,
    /// Its owner, `platform:id`.
    pub user: String,
    pub platform: Platform,
    /// What the user was told.
    pub reason: String,
    /// When it failed (ms).
    pub at_ms: u64,
}

/// The generator, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratorInfo {
    /// Loaded and taking jobs.
    pub loaded: bool,
    /// Its name (`studio`, `diffusion`).
    pub name: String,
}

/// Everything the operator page shows, in one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    /// The pause reason, while intake is paused.
    pub paused: Option<String>,
    /// Scheduler counts.
    pub queue: crate::scheduler::QueueStats,
    /// Generating now.
    pub running: Vec<RunningJob>,
    /// Generation times of the most recent finished jobs (at most [`RECENT`]).
    pub durations: DurationSummary,
    /// Jobs held, by platform.
    pub platforms: BTreeMap<&'static str, usize>,
    /// Jobs held, by state.
    pub states: BTreeMap<String, usize>,
    /// The most recent failures, newest first (at most [`RECENT_FAILURES`]).
    pub failures: Vec<Failure>,
    pub generator: GeneratorInfo,
    /// Service clock at the snapshot.
    pub now_ms: u64,
}

/// How many recent jobs the duration summary uses.
pub const RECENT: usize = 100;
/// How many failures the operator page lists.
pub const RECENT_FAILURES: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_millis(700));
        h.observe(Duration::from_secs(4000));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.05\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.5\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1800\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("x_sum 4000.73\n"), "{out}");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s = DurationSummary::of((1..=100).rev().collect());
        assert_eq!((s.count, s.p50_ms, s.p95_ms), (100, Some(50), Some(95)));
        let one = DurationSummary::of(vec![7]);
        assert_eq!((one.p50_ms, one.p95_ms), (Some(7), Some(7)));
        assert_eq!(DurationSummary::of(Vec::new()).p50_ms, None);
    }

    #[test]
    fn errors_are_counted_per_platform_and_kind() {
        let m = Metrics::default();
        m.platform_error(Platform::Telegram, ErrorKind::RateLimited);
        m.platform_error(Platform::Telegram, ErrorKind::RateLimited);
        m.platform_error(Platform::Web, ErrorKind::Permanent);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("headshot_platform_errors_total{platform=\"telegram\",kind=\"rate_limited\"} 2")
        );
        assert!(out.contains("headshot_platform_errors_total{platform=\"web\",kind=\"permanent\"} 1"));
    }
}
