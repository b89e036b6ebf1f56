//! Start-up helpers: configuration, logging, and the small commands that need nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use headshot::Config;
use headshot::config::LogFormat;
use headshot::models::Catalog;

/// Reads the file (if any) and the environment into a validated configuration.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let text = match path {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read config file {}", p.display()))?,
        ),
        None => None,
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    Config::load(text.as_deref(), &env).map_err(|e| match path {
        Some(p) => anyhow::anyhow!("{e} (in {})", p.display()),
        None => anyhow::anyhow!("{e}"),
    })
}

/// Logs go to stderr, human or JSON; stdout stays for command output.
pub fn init_logging(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// The style catalog: the configured file, or the embedded one.
pub fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    match &config.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("config `catalog`: cannot read {}", path.display()))?;
            Catalog::from_toml(&text).with_context(|| format!("config `catalog` ({})", path.display()))
        }
        None => Ok(Catalog::builtin()),
    }
}

/// Where the model weights are: the configured directory, a `weights` directory beside the
/// installed binary (or in `../share/headshot/`), else the source tree's `models/weights`.
pub fn weights_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.weights_dir {
        return dir.clone();
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(bin) = exe.parent()
    {
        for candidate in [bin.join("weights"), bin.join("../share/headshot/weights")] {
            if candidate.is_dir() {
                return candidate;
            }
        }
    }
    headshot::models::vision::Weights::default_dir()
}

/// `headshot styles`.
pub fn print_styles(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(config)?;
    if json {
        println!("{}", serde_json::to_string_pretty(catalog.styles())?);
    } else {
        for s in catalog.styles() {
            println!("{:<12} {:<9} {}", s.name, s.mode.to_string(), s.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Front ends this build contains.
pub const IMPLEMENTED: &[&str] = &["telegram", "discord", "web"];

/// Which front ends `serve` would start with this configuration (those configured and built).
pub fn front_ends(config: &Config) -> Vec<&'static str> {
    let mut list = Vec::new();
    if config.telegram.token.is_some() {
        list.push("telegram");
    }
    if config.discord.token.is_some() {
        list.push("discord");
    }
    if config.web.enabled {
        list.push("web");
    }
    list.retain(|f| IMPLEMENTED.contains(f));
    list
}

/// `headshot config check`: exits 0 on a valid configuration, even without tokens.
pub fn config_check(config: &Config) -> anyhow::Result<ExitCode> {
    load_catalog(config)?;
    let fronts = front_ends(config);
    println!("configuration is valid");
    println!("data directory: {}", config.data_dir.display());
    println!("weights directory: {}", weights_dir(config).display());
    println!(
        "front ends that would start: {}",
        if fronts.is_empty() {
            "none".to_string()
        } else {
            fronts.join(", ")
        }
    );
    if config.telegram.token.is_none() {
        println!("  telegram: set TELEGRAM_BOT_TOKEN to enable");
    }
    if config.web.enabled {
        println!("  web: chat at http://{}/", config.web.bind);
        if config.web.admin_token.is_none() {
            println!("  web: operator page off (set HEADSHOT_ADMIN_TOKEN to enable /admin)");
        }
    } else {
        println!("  web: off (web.enabled = false)");
    }
    if config.discord.token.is_none() {
        println!("  discord: set DISCORD_TOKEN to enable");
    }
    Ok(ExitCode::SUCCESS)
}
