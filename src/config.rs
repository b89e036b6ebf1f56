//! Configuration: a TOML file plus environment overrides, validated once into typed settings.
//! The library never reads the environment itself: the binary passes it in.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::chat::UserKey;

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where sled keeps its files.
    pub data_dir: PathBuf,
    /// Job engine settings.
    pub jobs: JobsConfig,
    /// Retention periods.
    pub retention: RetentionConfig,
    /// Delivery settings.
    pub delivery: DeliveryConfig,
    /// Upload limits.
    pub intake: IntakeConfig,
    /// Ask for consent before the first job.
    pub require_consent: bool,
    /// Allow-list and admins.
    pub access: AccessConfig,
    /// Telegram front end (token from env only).
    pub telegram: PlatformConfig,
    /// Discord front end (token from env only).
    pub discord: PlatformConfig,
    /// Local web chat.
    pub web: WebConfig,
    /// Log format on stderr.
    pub log_format: LogFormat,
    /// Directory of model weights; `None` means the built-in location.
    pub weights_dir: Option<PathBuf>,
    /// A style catalog file replacing the embedded one.
    pub catalog: Option<PathBuf>,
    /// The diffusion generator.
    pub diffusion: DiffusionConfig,
}

/// The diffusion generator: off unless enabled, and then only with weights present.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionConfig {
    /// Use diffusion for headshot styles (new attire and background) when weights are present.
    pub enabled: bool,
    /// A diffusers-layout directory; `None` looks in the Hugging Face cache.
    pub weights_dir: Option<PathBuf>,
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance.
    pub guidance: f64,
    /// Paint width in pixels (multiple of 64).
    pub width: u32,
    /// img2img strength of the main pass (1.0 paints attire and background from noise).
    pub strength: f64,
    /// Strength of the optional low-strength pass that evens light and colour (0 = off).
    pub harmonise: f64,
    /// Variants painted at once through the UNet (0 or 1 = one at a time).
    pub batch: usize,
}

/// Job engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsConfig {
    /// Generations running at once.
    pub workers: NonZeroUsize,
    /// Intake checks running at once.
    pub intake_workers: NonZeroUsize,
    /// Jobs of one user running at once.
    pub max_running_per_user: NonZeroUsize,
    /// Jobs of one user waiting at once (queued or awaiting consent).
    pub max_queued_per_user: NonZeroUsize,
    /// Jobs waiting in all; past it users are told the service is busy.
    pub max_queue: NonZeroUsize,
    /// Jobs one user may start in 24 hours.
    pub daily_per_user: NonZeroUsize,
    /// Most variants per job.
    pub max_variants: u32,
}

/// Retention periods.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Selfies are deleted after this.
    pub selfies: Duration,
    /// Results are deleted after this.
    pub results: Duration,
    /// Job records are deleted after this.
    pub jobs: Duration,
    /// How often the sweep runs.
    pub sweep_every: Duration,
}

/// Delivery settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Send full-quality files after the photo album.
    pub send_documents: bool,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Give up on a delivery still failing after this long.
    pub give_up_after: Duration,
}

/// Upload limits.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeConfig {
    /// Largest upload.
    pub max_bytes: usize,
    /// Largest width or height.
    pub max_side: u32,
    /// Largest pixel count.
    pub max_pixels: u64,
    /// Most selfies in one album.
    pub album_max: usize,
}

/// Allow-list and admins. Empty lists allow everyone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccessConfig {
    /// Users allowed (`platform:id`).
    pub users: Vec<UserKey>,
    /// Chats allowed (`platform:chat-id`).
    pub chats: Vec<String>,
    /// Discord servers allowed (guild ids).
    pub servers: Vec<String>,
    /// Users who may run admin commands.
    pub admins: Vec<UserKey>,
}

/// A chat platform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformConfig {
    /// Bot token, from the environment only.
    pub token: Option<String>,
    /// API base URL override (tests, self-hosted gateways).
    pub api_url: Option<String>,
    /// Telegram webhook: the public URL registered with Telegram (long polling when unset).
    pub webhook_url: Option<String>,
    /// Telegram webhook: the address the webhook server listens on.
    pub webhook_bind: std::net::SocketAddr,
    /// Telegram webhook: the secret token Telegram must send, from the environment only.
    pub webhook_secret: Option<String>,
}

/// Local web chat settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// Serve it.
    pub enabled: bool,
    /// Address to bind.
    pub bind: std::net::SocketAddr,
    /// Allow a non-loopback `bind` (then [`WebConfig::access_token`] is required).
    pub allow_remote: bool,
    /// Token a browser must present once (`?access=TOKEN`) before using the chat; from
    /// `HEADSHOT_WEB_TOKEN` only. Required when the chat listens beyond loopback.
    pub access_token: Option<String>,
    /// Token of the operator page and its API; from `HEADSHOT_ADMIN_TOKEN` only. Without it
    /// `/admin` answers 403.
    pub admin_token: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// A configuration problem, naming the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or has unknown keys.
    #[error("config file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range or malformed.
    #[error("config `{key}`: {problem}; fix: {fix}")]
    Invalid {
        /// The key, dotted (`jobs.workers`) or the environment variable.
        key: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    require_consent: Option<bool>,
    log_format: Option<LogFormat>,
    weights_dir: Option<PathBuf>,
    catalog: Option<PathBuf>,
    jobs: RawJobs,
    retention: RawRetention,
    delivery: RawDelivery,
    intake: RawIntake,
    access: RawAccess,
    telegram: RawPlatform,
    discord: RawPlatform,
    web: RawWeb,
    diffusion: RawDiffusion,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawJobs {
    workers: Option<usize>,
    intake_workers: Option<usize>,
    max_running_per_user: Option<usize>,
    max_queued_per_user: Option<usize>,
    max_queue: Option<usize>,
    daily_per_user: Option<usize>,
    max_variants: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    #[serde(with = "humantime_serde")]
    selfies: Option<Duration>,
    #[serde(with = "humantime_serde")]
    results: Option<Duration>,
    #[serde(with = "humantime_serde")]
    jobs: Option<Duration>,
    #[serde(with = "humantime_serde")]
    sweep_every: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDelivery {
    send_documents: Option<bool>,
    #[serde(with = "humantime_serde")]
    backoff_base: Option<Duration>,
    #[serde(with = "humantime_serde")]
    backoff_max: Option<Duration>,
    #[serde(with = "humantime_serde")]
    give_up_after: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawIntake {
    max_bytes: Option<usize>,
    max_side: Option<u32>,
    max_pixels: Option<u64>,
    album_max: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAccess {
    users: Vec<String>,
    chats: Vec<String>,
    servers: Vec<String>,
    admins: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPlatform {
    api_url: Option<String>,
    token: Option<toml::Value>,
    webhook_url: Option<String>,
    webhook_bind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDiffusion {
    enabled: Option<bool>,
    weights_dir: Option<PathBuf>,
    steps: Option<usize>,
    guidance: Option<f64>,
    width: Option<u32>,
    strength: Option<f64>,
    harmonise: Option<f64>,
    batch: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWeb {
    enabled: Option<bool>,
    bind: Option<String>,
    allow_remote: Option<bool>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Config {
    /// Defaults for a laptop, with no file and no environment.
    pub fn default_for_laptop() -> Config {
        Config::load(None, &HashMap::new()).expect("defaults are valid")
    }

    /// Parses `file` (TOML text, if any) and applies `env` overrides.
    pub fn load(file: Option<&str>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let raw: RawConfig = match file {
            Some(text) => toml::from_str(text)?,
            None => RawConfig::default(),
        };
        for (section, platform) in [("telegram", &raw.telegram), ("discord", &raw.discord)] {
            if platform.token.is_some() {
                return Err(invalid(
                    &format!("{section}.token"),
                    "tokens are never read from the config file",
                    "remove it and set TELEGRAM_BOT_TOKEN or DISCORD_TOKEN in the environment",
                ));
            }
        }
        let env_str = |key: &str| env.get(key).filter(|v| !v.trim().is_empty()).cloned();
        let data_dir = env_str("HEADSHOT_DATA_DIR")
            .map(PathBuf::from)
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from("headshot-data"));
        let workers = match env_str("HEADSHOT_WORKERS") {
            Some(v) => Some(v.parse::<usize>().map_err(|_| {
                invalid(
                    "HEADSHOT_WORKERS",
                    &format!("`{v}` is not a number"),
                    "set a whole number >= 1",
                )
            })?),
            None => raw.jobs.workers,
        };
        let log_format = match env_str("HEADSHOT_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("human") => LogFormat::Human,
            Some(other) => {
                return Err(invalid(
                    "HEADSHOT_LOG_FORMAT",
                    &format!("`{other}` is not a log format"),
                    "use `human` or `json`",
                ));
            }
            None => raw.log_format.unwrap_or(LogFormat::Human),
        };
        let jobs = JobsConfig {
            workers: nonzero("jobs.workers", workers.unwrap_or(1))?,
            intake_workers: nonzero("jobs.intake_workers", raw.jobs.intake_workers.unwrap_or(2))?,
            max_running_per_user: nonzero(
                "jobs.max_running_per_user",
                raw.jobs.max_running_per_user.unwrap_or(1),
            )?,
            max_queued_per_user: nonzero(
                "jobs.max_queued_per_user",
                raw.jobs.max_queued_per_user.unwrap_or(3),
            )?,
            max_queue: nonzero("jobs.max_queue", raw.jobs.max_queue.unwrap_or(100))?,
            daily_per_user: nonzero("jobs.daily_per_user", raw.jobs.daily_per_user.unwrap_or(50))?,
            max_variants: raw.jobs.max_variants.unwrap_or(4),
        };
        if !(1..=4).contains(&jobs.max_variants) {
            return Err(invalid(
                "jobs.max_variants",
                "must be 1 to 4",
                "set a number from 1 to 4",
            ));
        }
        let retention = RetentionConfig {
            selfies: raw.retention.selfies.unwrap_or(7 * DAY),
            results: raw.retention.results.unwrap_or(7 * DAY),
            jobs: raw.retention.jobs.unwrap_or(30 * DAY),
            sweep_every: raw.retention.sweep_every.unwrap_or(Duration::from_secs(600)),
        };
        for (key, value) in [
            ("retention.selfies", retention.selfies),
            ("retention.results", retention.results),
            ("retention.jobs", retention.jobs),
            ("retention.sweep_every", retention.sweep_every),
        ] {
            if value.is_zero() {
                return Err(invalid(
                    key,
                    "must be longer than zero",
                    "write a duration such as \"7d\" or \"12h\"",
                ));
            }
        }
        let delivery = DeliveryConfig {
            send_documents: raw.delivery.send_documents.unwrap_or(true),
            backoff_base: raw.delivery.backoff_base.unwrap_or(Duration::from_secs(1)),
            backoff_max: raw.delivery.backoff_max.unwrap_or(Duration::from_secs(300)),
            give_up_after: raw.delivery.give_up_after.unwrap_or(DAY),
        };
        if delivery.backoff_base > delivery.backoff_max {
            return Err(invalid(
                "delivery.backoff_base",
                "is longer than delivery.backoff_max",
                "make backoff_base at most backoff_max",
            ));
        }
        let intake = IntakeConfig {
            max_bytes: raw.intake.max_bytes.unwrap_or(20 * 1024 * 1024),
            max_side: raw.intake.max_side.unwrap_or(12_000),
            max_pixels: raw.intake.max_pixels.unwrap_or(50_000_000),
            album_max: raw.intake.album_max.unwrap_or(10),
        };
        if intake.max_bytes == 0 || intake.max_side < 64 || intake.max_pixels < 4096 || intake.album_max == 0
        {
            return Err(invalid(
                "intake",
                "a limit is too small to accept any selfie",
                "raise max_bytes, max_side (>= 64), max_pixels (>= 4096) or album_max (>= 1)",
            ));
        }
        let access = AccessConfig {
            users: parse_users("access.users", &raw.access.users)?,
            chats: raw.access.chats,
            servers: raw.access.servers,
            admins: parse_users("access.admins", &raw.access.admins)?,
        };
        let webhook_bind_text = raw
            .telegram
            .webhook_bind
            .unwrap_or_else(|| "127.0.0.1:8443".into());
        let webhook_bind = webhook_bind_text.parse().map_err(|_| {
            invalid(
                "telegram.webhook_bind",
                &format!("`{webhook_bind_text}` is not an address"),
                "write host:port, e.g. 127.0.0.1:8443",
            )
        })?;
        let telegram = PlatformConfig {
            token: env_str("TELEGRAM_BOT_TOKEN"),
            api_url: env_str("HEADSHOT_TELEGRAM_API_URL").or(raw.telegram.api_url),
            webhook_url: env_str("HEADSHOT_TELEGRAM_WEBHOOK_URL").or(raw.telegram.webhook_url),
            webhook_bind,
            webhook_secret: env_str("HEADSHOT_TELEGRAM_WEBHOOK_SECRET"),
        };
        if telegram.webhook_url.is_some() && telegram.webhook_secret.is_none() {
            return Err(invalid(
                "telegram.webhook_url",
                "webhook mode needs a secret token",
                "set HEADSHOT_TELEGRAM_WEBHOOK_SECRET (1-256 characters A-Z, a-z, 0-9, _ and -)",
            ));
        }
        if raw.discord.webhook_url.is_some() || raw.discord.webhook_bind.is_some() {
            return Err(invalid(
                "discord.webhook_url",
                "Discord has no webhook mode here",
                "remove it",
            ));
        }
        let discord = PlatformConfig {
            token: env_str("DISCORD_TOKEN"),
            api_url: env_str("HEADSHOT_DISCORD_API_URL").or(raw.discord.api_url),
            webhook_url: None,
            webhook_bind,
            webhook_secret: None,
        };
        for (key, url) in [
            ("telegram.api_url", &telegram.api_url),
            ("discord.api_url", &discord.api_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(
                    key,
                    &format!("`{url}` is not an http(s) URL"),
                    "write http://host:port/",
                ));
            }
        }
        let bind_text = env_str("HEADSHOT_WEB_BIND")
            .or(raw.web.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind_text.parse().map_err(|_| {
            invalid(
                "web.bind",
                &format!("`{bind_text}` is not an address"),
                "write host:port, e.g. 127.0.0.1:8080",
            )
        })?;
        let web = WebConfig {
            enabled: env_str("HEADSHOT_WEB_ENABLED")
                .map(|v| !matches!(v.as_str(), "0" | "false" | "no" | "off"))
                .or(raw.web.enabled)
                .unwrap_or(true),
            bind,
            allow_remote: raw.web.allow_remote.unwrap_or(false),
            access_token: env_str("HEADSHOT_WEB_TOKEN"),
            admin_token: env_str("HEADSHOT_ADMIN_TOKEN"),
        };
        if web.enabled && !bind.ip().is_loopback() {
            if !web.allow_remote {
                return Err(invalid(
                    "web.bind",
                    &format!("`{bind}` is reachable from other machines"),
                    "bind 127.0.0.1, or set web.allow_remote = true and HEADSHOT_WEB_TOKEN",
                ));
            }
            if web.access_token.is_none() {
                return Err(invalid(
                    "HEADSHOT_WEB_TOKEN",
                    "web.allow_remote needs an access token",
                    "set HEADSHOT_WEB_TOKEN to a long random string and share the link ?access=TOKEN",
                ));
            }
        }
        for (key, token) in [
            ("HEADSHOT_WEB_TOKEN", &web.access_token),
            ("HEADSHOT_ADMIN_TOKEN", &web.admin_token),
        ] {
            if let Some(t) = token
                && t.len() < 16
            {
                return Err(invalid(
                    key,
                    "shorter than 16 characters",
                    "use a long random string",
                ));
            }
        }
        let diffusion = DiffusionConfig {
            enabled: env_str("HEADSHOT_DIFFUSION")
                .map(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"))
                .or(raw.diffusion.enabled)
                .unwrap_or(false),
            weights_dir: env_str("HEADSHOT_DIFFUSION_WEIGHTS")
                .map(PathBuf::from)
                .or(raw.diffusion.weights_dir),
            steps: raw.diffusion.steps.unwrap_or(20),
            guidance: raw.diffusion.guidance.unwrap_or(7.5),
            width: raw.diffusion.width.unwrap_or(512),
            strength: raw.diffusion.strength.unwrap_or(1.0),
            harmonise: raw.diffusion.harmonise.unwrap_or(0.0),
            batch: raw.diffusion.batch.unwrap_or(0),
        };
        if !(0.05..=1.0).contains(&diffusion.strength) || !(0.0..=0.6).contains(&diffusion.harmonise) {
            return Err(invalid(
                "diffusion.strength",
                "strength must be 0.05-1 and harmonise 0-0.6",
                "use e.g. strength = 1.0, harmonise = 0.25",
            ));
        }
        if !(1..=150).contains(&diffusion.steps) || !(1.0..=30.0).contains(&diffusion.guidance) {
            return Err(invalid(
                "diffusion.steps",
                "steps must be 1-150 and guidance 1-30",
                "use e.g. steps = 20, guidance = 7.5",
            ));
        }
        if diffusion.width < 64 || !diffusion.width.is_multiple_of(64) {
            return Err(invalid(
                "diffusion.width",
                "not a multiple of 64 (>= 64)",
                "use 512",
            ));
        }
        Ok(Config {
            diffusion,
            data_dir,
            jobs,
            retention,
            delivery,
            intake,
            require_consent: raw.require_consent.unwrap_or(true),
            access,
            telegram,
            discord,
            web,
            log_format,
            weights_dir: env_str("HEADSHOT_WEIGHTS_DIR")
                .map(PathBuf::from)
                .or(raw.weights_dir),
            catalog: raw.catalog,
        })
    }

    /// Upload limits in the generator's terms.
    pub fn decode_limits(&self) -> headshot_models::DecodeLimits {
        headshot_models::DecodeLimits {
            max_bytes: self.intake.max_bytes,
            max_side: self.intake.max_side,
            max_pixels: self.intake.max_pixels,
        }
    }
}

fn invalid(key: &str, problem: &str, fix: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn nonzero(key: &str, value: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(value).ok_or_else(|| invalid(key, "must be at least 1", "set a whole number >= 1"))
}

fn parse_users(key: &str, values: &[String]) -> Result<Vec<UserKey>, ConfigError> {
    values
        .iter()
        .map(|v| {
            v.parse()
                .map_err(|e: String| invalid(key, &e, "write entries as \"telegram:12345\""))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default_for_laptop();
        assert_eq!(c.jobs.max_running_per_user.get(), 1);
        assert_eq!(c.jobs.max_queued_per_user.get(), 3);
        assert_eq!(c.retention.selfies, 7 * DAY);
        assert_eq!(c.retention.jobs, 30 * DAY);
        assert!(c.require_consent);
        assert!(c.telegram.token.is_none());
    }

    #[test]
    fn file_and_env_are_layered_env_last() {
        let file = "data_dir = \"/d\"\n[jobs]\nworkers = 2\n[retention]\nselfies = \"1h\"\n";
        let c = Config::load(
            Some(file),
            &env(&[("HEADSHOT_WORKERS", "3"), ("TELEGRAM_BOT_TOKEN", "123:abc")]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.jobs.workers.get(), 3);
        assert_eq!(c.retention.selfies, Duration::from_secs(3600));
        assert_eq!(c.telegram.token.as_deref(), Some("123:abc"));
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let err = Config::load(Some("[jobs]\nworkers = 0\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("jobs.workers") && err.contains("fix"), "{err}");
        let err = Config::load(Some("[telegram]\ntoken = \"x\"\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("TELEGRAM_BOT_TOKEN"), "{err}");
        let err = Config::load(Some("[jobz]\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("jobz"), "{err}");
        let err = Config::load(None, &env(&[("HEADSHOT_WORKERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("HEADSHOT_WORKERS"), "{err}");
        let err = Config::load(Some("[access]\nadmins = [\"bob\"]\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("access.admins"), "{err}");
    }
}
