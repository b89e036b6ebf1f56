//! The file as written: every key optional, unknown keys refused.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::LogFormat;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) data_dir: Option<PathBuf>,
    pub(super) require_consent: Option<bool>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) weights_dir: Option<PathBuf>,
    pub(super) catalog: Option<PathBuf>,
    pub(super) jobs: RawJobs,
    pub(super) retention: RawRetention,
    pub(super) delivery: RawDelivery,
    pub(super) intake: RawIntake,
    pub(super) access: RawAccess,
    pub(super) telegram: RawPlatform,
    pub(super) discord: RawPlatform,
    pub(super) web: RawWeb,
    pub(super) diffusion: RawDiffusion,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawJobs {
    pub(super) workers: Option<usize>,
    pub(super) intake_workers: Option<usize>,
    pub(super) max_running_per_user: Option<usize>,
    pub(super) max_queued_per_user: Option<usize>,
    pub(super) max_queue: Option<usize>,
    pub(super) daily_per_user: Option<usize>,
    pub(super) max_variants: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRetention {
    #[serde(with = "humantime_serde")]
    pub(super) selfies: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) results: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) jobs: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) sweep_every: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDelivery {
    pub(super) send_documents: Option<bool>,
    #[serde(with = "humantime_serde")]
    pub(super) backoff_base: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) backoff_max: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) give_up_after: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawIntake {
    pub(super) max_bytes: Option<usize>,
    pub(super) max_side: Option<u32>,
    pub(super) max_pixels: Option<u64>,
    pub(super) album_max: Option<usize>,
    pub(super) min_free_disk: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAccess {
    pub(super) users: Vec<String>,
    pub(super) chats: Vec<String>,
    pub(super) servers: Vec<String>,
    pub(super) admins: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPlatform {
    pub(super) api_url: Option<String>,
    pub(super) token: Option<toml::Value>,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_bind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDiffusion {
    pub(super) enabled: Option<bool>,
    pub(super) weights_dir: Option<PathBuf>,
    pub(super) steps: Option<usize>,
    pub(super) guidance: Option<f64>,
    pub(super) width: Option<u32>,
    pub(super) strength: Option<f64>,
    pub(super) harmonise: Option<f64>,
    pub(super) batch: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeb {
    pub(super) enabled: Option<bool>,
    pub(super) bind: Option<String>,
    pub(super) allow_remote: Option<bool>,
    pub(super) max_connections: Option<usize>,
    #[serde(with = "humantime_serde")]
    pub(super) header_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub(super) body_timeout: Option<Duration>,
}
