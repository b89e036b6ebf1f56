//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Self-hosted professional headshots in Telegram, Discord and a local web chat.
#[derive(Debug, Parser)]
#[command(name = "headshot", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables override it.
    #[arg(long, short, global = true, env = "HEADSHOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the style catalog.
    Styles {
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Configuration commands.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Operate on the stored data (through the running service when there is one).
    Data {
        /// What to do with the data.
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Detect faces and the person mask in a photo; JSON on stdout.
    Inspect {
        /// The photo.
        image: PathBuf,
        /// Write an overlay PNG (boxes, landmarks, mask) here.
        #[arg(long)]
        overlay: Option<PathBuf>,
    },
}

/// `headshot config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and list the front ends that would start.
    Check,
}

/// `headshot data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Counts per tree and disk size (JSON).
    Stats,
    /// Everything kept about one user (JSON).
    Export {
        /// `platform:user-id`, e.g. `telegram:12345`.
        user: String,
    },
    /// Delete everything kept about one user.
    Forget {
        /// `platform:user-id`.
        user: String,
    },
    /// Write a consistent copy of the store (works while the service runs).
    Backup {
        /// Destination file.
        path: PathBuf,
    },
    /// Replace the store's content with a backup (the service must be stopped).
    Restore {
        /// The backup file.
        path: PathBuf,
    },
}
