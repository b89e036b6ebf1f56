//! One function per section: file values, environment on top, validated with the key and the
//! fix in every error.

use std::time::Duration;

use super::raw::{RawAccess, RawConfig, RawDelivery, RawDiffusion, RawIntake, RawJobs, RawRetention, RawWeb};
use super::{
    AccessConfig, ConfigError, DeliveryConfig, DiffusionConfig, Env, IntakeConfig, JobsConfig, LogFormat,
    PlatformConfig, RetentionConfig, WebConfig, invalid, nonzero, parse_users,
};

pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);

pub(super) fn log_format(file: Option<LogFormat>, env: &Env) -> Result<LogFormat, ConfigError> {
    Ok(match env.str("HEADSHOT_LOG_FORMAT").as_deref() {
        Some("json") => LogFormat::Json,
        Some("human") => LogFormat::Human,
        Some(other) => {
            return Err(invalid(
                "HEADSHOT_LOG_FORMAT",
                &format!("`{other}` is not a log format"),
                "use `human` or `json`",
            ));
        }
        None => file.unwrap_or(LogFormat::Human),
    })
}

pub(super) fn jobs(raw: &RawJobs, env: &Env) -> Result<JobsConfig, ConfigError> {
    let workers = env.number("HEADSHOT_WORKERS")?.or(raw.workers);
    let jobs = JobsConfig {
        workers: nonzero("jobs.workers", workers.unwrap_or(1))?,
        intake_workers: nonzero("jobs.intake_workers", raw.intake_workers.unwrap_or(2))?,
        max_running_per_user: nonzero("jobs.max_running_per_user", raw.max_running_per_user.unwrap_or(1))?,
        max_queued_per_user: nonzero("jobs.max_queued_per_user", raw.max_queued_per_user.unwrap_or(3))?,
        max_queue: nonzero("jobs.max_queue", raw.max_queue.unwrap_or(100))?,
        daily_per_user: nonzero("jobs.daily_per_user", raw.daily_per_user.unwrap_or(50))?,
        max_variants: raw.max_variants.unwrap_or(4),
    };
    if !(1..=4).contains(&jobs.max_variants) {
        return Err(invalid(
            "jobs.max_variants",
            "must be 1 to 4",
            "set a number from 1 to 4",
        ));
    }
    Ok(jobs)
}

pub(super) fn retention(raw: &RawRetention) -> Result<RetentionConfig, ConfigError> {
    let retention = RetentionConfig {
        selfies: raw.selfies.unwrap_or(7 * DAY),
        results: raw.results.unwrap_or(7 * DAY),
        jobs: raw.jobs.unwrap_or(30 * DAY),
        sweep_every: raw.sweep_every.unwrap_or(Duration::from_secs(600)),
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
    Ok(retention)
}

pub(super) fn delivery(raw: &RawDelivery) -> Result<DeliveryConfig, ConfigError> {
    let delivery = DeliveryConfig {
        send_documents: raw.send_documents.unwrap_or(true),
        backoff_base: raw.backoff_base.unwrap_or(Duration::from_secs(1)),
        backoff_max: raw.backoff_max.unwrap_or(Duration::from_secs(300)),
        give_up_after: raw.give_up_after.unwrap_or(DAY),
    };
    if delivery.backoff_base > delivery.backoff_max {
        return Err(invalid(
            "delivery.backoff_base",
            "is longer than delivery.backoff_max",
            "make backoff_base at most backoff_max",
        ));
    }
    Ok(delivery)
}

pub(super) fn intake(raw: &RawIntake) -> Result<IntakeConfig, ConfigError> {
    let intake = IntakeConfig {
        max_bytes: raw.max_bytes.unwrap_or(20 * 1024 * 1024),
        max_side: raw.max_side.unwrap_or(12_000),
        max_pixels: raw.max_pixels.unwrap_or(50_000_000),
        album_max: raw.album_max.unwrap_or(10),
        min_free_disk: raw.min_free_disk.unwrap_or(256 * 1024 * 1024),
    };
    if intake.max_bytes == 0 || intake.max_side < 64 || intake.max_pixels < 4096 || intake.album_max == 0 {
        return Err(invalid(
            "intake",
            "a limit is too small to accept any selfie",
            "raise max_bytes, max_side (>= 64), max_pixels (>= 4096) or album_max (>= 1)",
        ));
    }
    if intake.min_free_disk != 0 && intake.min_free_disk < intake.max_bytes as u64 {
        return Err(invalid(
            "intake.min_free_disk",
            "is smaller than one upload (intake.max_bytes)",
            "set it to at least max_bytes (the default is 268435456, 256 MiB), or 0 to turn the check off",
        ));
    }
    Ok(intake)
}

pub(super) fn access(raw: &RawAccess) -> Result<AccessConfig, ConfigError> {
    Ok(AccessConfig {
        users: parse_users("access.users", &raw.users)?,
        chats: raw.chats.clone(),
        servers: raw.servers.clone(),
        admins: parse_users("access.admins", &raw.admins)?,
    })
}

/// Telegram and Discord: tokens only from the environment.
pub(super) fn platforms(raw: &RawConfig, env: &Env) -> Result<(PlatformConfig, PlatformConfig), ConfigError> {
    for (section, platform) in [("telegram", &raw.telegram), ("discord", &raw.discord)] {
        if platform.token.is_some() {
            return Err(invalid(
                &format!("{section}.token"),
                "tokens are never read from the config file",
                "remove it and set TELEGRAM_BOT_TOKEN or DISCORD_TOKEN in the environment",
            ));
        }
    }
    let webhook_bind_text = raw
        .telegram
        .webhook_bind
        .clone()
        .unwrap_or_else(|| "127.0.0.1:8443".into());
    let webhook_bind = webhook_bind_text.parse().map_err(|_| {
        invalid(
            "telegram.webhook_bind",
            &format!("`{webhook_bind_text}` is not an address"),
            "write host:port, e.g. 127.0.0.1:8443",
        )
    })?;
    let telegram = PlatformConfig {
        token: env.str("TELEGRAM_BOT_TOKEN"),
        api_url: env
            .str("HEADSHOT_TELEGRAM_API_URL")
            .or(raw.telegram.api_url.clone()),
        webhook_url: env
            .str("HEADSHOT_TELEGRAM_WEBHOOK_URL")
            .or(raw.telegram.webhook_url.clone()),
        webhook_bind,
        webhook_secret: env.str("HEADSHOT_TELEGRAM_WEBHOOK_SECRET"),
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
        token: env.str("DISCORD_TOKEN"),
        api_url: env
            .str("HEADSHOT_DISCORD_API_URL")
            .or(raw.discord.api_url.clone()),
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
    Ok((telegram, discord))
}

pub(super) fn web(raw: &RawWeb, env: &Env) -> Result<WebConfig, ConfigError> {
    let bind_text = env
        .str("HEADSHOT_WEB_BIND")
        .or(raw.bind.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let bind = bind_text.parse().map_err(|_| {
        invalid(
            "web.bind",
            &format!("`{bind_text}` is not an address"),
            "write host:port, e.g. 127.0.0.1:8080",
        )
    })?;
    let web = WebConfig {
        enabled: env.flag("HEADSHOT_WEB_ENABLED")?.or(raw.enabled).unwrap_or(true),
        bind,
        allow_remote: raw.allow_remote.unwrap_or(false),
        access_token: env.str("HEADSHOT_WEB_TOKEN"),
        admin_token: env.str("HEADSHOT_ADMIN_TOKEN"),
        max_connections: raw.max_connections.unwrap_or(512),
        header_timeout: raw.header_timeout.unwrap_or(Duration::from_secs(10)),
        body_timeout: raw.body_timeout.unwrap_or(Duration::from_secs(30)),
    };
    if web.max_connections < 4 {
        return Err(invalid(
            "web.max_connections",
            &format!(
                "{} leaves no room for a browser's event stream and its requests",
                web.max_connections
            ),
            "allow at least 4 (the default is 512)",
        ));
    }
    for (key, value) in [
        ("web.header_timeout", web.header_timeout),
        ("web.body_timeout", web.body_timeout),
    ] {
        if value < Duration::from_millis(100) {
            return Err(invalid(key, "shorter than 100ms", "use seconds, e.g. 10s"));
        }
    }
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
    Ok(web)
}

pub(super) fn diffusion(raw: &RawDiffusion, env: &Env) -> Result<DiffusionConfig, ConfigError> {
    let diffusion = DiffusionConfig {
        enabled: env.flag("HEADSHOT_DIFFUSION")?.or(raw.enabled).unwrap_or(false),
        weights_dir: env
            .str("HEADSHOT_DIFFUSION_WEIGHTS")
            .map(Into::into)
            .or(raw.weights_dir.clone()),
        steps: raw.steps.unwrap_or(20),
        guidance: raw.guidance.unwrap_or(7.5),
        width: raw.width.unwrap_or(512),
        strength: raw.strength.unwrap_or(1.0),
        harmonise: raw.harmonise.unwrap_or(0.0),
        batch: raw.batch.unwrap_or(0),
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
    Ok(diffusion)
}
