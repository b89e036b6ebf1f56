//! Configuration: a TOML file plus environment overrides, validated once into typed settings.
//! The library never reads the environment itself: the binary passes it in.
//!
//! - `raw`: the file as written.
//! - `sections`: one validating function per section, file values under environment ones.

mod raw;
mod sections;

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
    /// New photos are refused ("can't take photos right now") while the data directory's file
    /// system has less free space than this, in bytes; queued jobs and deliveries go on. 0
    /// turns the check off. (sled blocks, rather than failing, when its disk is full.)
    pub min_free_disk: u64,
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
    /// Open connections at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The time a client has to send a request's head (from connecting, or between
    /// keep-alive requests); idle and slow clients are closed after it.
    pub header_timeout: std::time::Duration,
    /// The longest pause inside a request body.
    pub body_timeout: std::time::Duration,
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

impl Config {
    /// Defaults for a laptop, with no file and no environment.
    pub fn default_for_laptop() -> Config {
        Config::load(None, &HashMap::new()).expect("defaults are valid")
    }

    /// Parses `file` (TOML text, if any) and applies `env` overrides, section by section.
    pub fn load(file: Option<&str>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = match file {
            Some(text) => toml::from_str(text)?,
            None => raw::RawConfig::default(),
        };
        let env = Env(env);
        let (telegram, discord) = sections::platforms(&raw, &env)?;
        Ok(Config {
            data_dir: env
                .str("HEADSHOT_DATA_DIR")
                .map(PathBuf::from)
                .or(raw.data_dir)
                .unwrap_or_else(|| PathBuf::from("headshot-data")),
            jobs: sections::jobs(&raw.jobs, &env)?,
            retention: sections::retention(&raw.retention)?,
            delivery: sections::delivery(&raw.delivery)?,
            intake: sections::intake(&raw.intake)?,
            require_consent: raw.require_consent.unwrap_or(true),
            access: sections::access(&raw.access)?,
            telegram,
            discord,
            web: sections::web(&raw.web, &env)?,
            diffusion: sections::diffusion(&raw.diffusion, &env)?,
            log_format: sections::log_format(raw.log_format, &env)?,
            weights_dir: env
                .str("HEADSHOT_WEIGHTS_DIR")
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

/// The environment as given, with one reading of each kind of value.
struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    /// A set, non-blank variable.
    fn str(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// A yes/no variable: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case);
    /// anything else is refused rather than guessed.
    fn flag(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some(v) = self.str(key) else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(invalid(
                key,
                &format!("`{v}` is neither on nor off"),
                "set it to true or false (1/0, yes/no, on/off)",
            )),
        }
    }

    /// A whole-number variable.
    fn number(&self, key: &str) -> Result<Option<usize>, ConfigError> {
        self.str(key)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| invalid(key, &format!("`{v}` is not a number"), "set a whole number >= 1"))
            })
            .transpose()
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
    use super::sections::DAY;
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
        let err = Config::load(Some("[web]\nmax_connections = 2\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("web.max_connections"), "{err}");
        let err = Config::load(Some("[web]\nheader_timeout = \"5ms\"\n"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("web.header_timeout"), "{err}");
    }

    #[test]
    fn web_port_limits_default_and_read_from_the_file() {
        let c = Config::default_for_laptop();
        assert_eq!(
            (c.web.max_connections, c.web.header_timeout, c.web.body_timeout),
            (512, Duration::from_secs(10), Duration::from_secs(30))
        );
        let file = "[web]\nmax_connections = 64\nheader_timeout = \"3s\"\nbody_timeout = \"1m\"\n";
        let c = Config::load(Some(file), &HashMap::new()).unwrap();
        assert_eq!(
            (c.web.max_connections, c.web.header_timeout, c.web.body_timeout),
            (64, Duration::from_secs(3), Duration::from_secs(60))
        );
    }

    #[test]
    fn yes_no_variables_are_read_one_way_and_refused_otherwise() {
        for (value, on) in [
            ("1", true),
            ("TRUE", true),
            ("yes", true),
            ("off", false),
            ("0", false),
            ("No", false),
        ] {
            let c = Config::load(
                None,
                &env(&[("HEADSHOT_WEB_ENABLED", value), ("HEADSHOT_DIFFUSION", value)]),
            )
            .unwrap();
            assert_eq!((c.web.enabled, c.diffusion.enabled), (on, on), "{value}");
        }
        for key in ["HEADSHOT_WEB_ENABLED", "HEADSHOT_DIFFUSION"] {
            let err = Config::load(None, &env(&[(key, "maybe")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains("maybe"), "{err}");
        }
    }
}
