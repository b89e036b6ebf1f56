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
    /// Run the service: the job engine and every front end that has what it needs.
    Serve,
    /// Make headshots from selfie files with the studio pipeline, without any chat.
    Generate(GenerateArgs),
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
    /// Diffusion weights: list what is present, fetch a model.
    Models {
        /// What to do.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// The compute device: which one the generators use, and a check of it.
    Device {
        /// What to do.
        #[command(subcommand)]
        command: DeviceCommand,
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

/// `headshot generate ...`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Selfie files (JPEG, PNG, WebP).
    #[arg(required = true)]
    pub selfies: Vec<PathBuf>,
    /// Style name (see `headshot styles`).
    #[arg(long)]
    pub style: Option<String>,
    /// headshot or portrait (picks the mode's first style when --style is not given).
    #[arg(long)]
    pub mode: Option<headshot::models::Mode>,
    /// 4:5, 1:1 or both (default: the style's).
    #[arg(long)]
    pub crop: Option<headshot::models::Crop>,
    /// Variants per selfie (1-4).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
    pub variants: u32,
    /// Output directory.
    #[arg(long, default_value = "headshots")]
    pub out: PathBuf,
    /// jpeg or png.
    #[arg(long, default_value = "jpeg", value_parser = ["jpeg", "png"])]
    pub format: String,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write one PNG with every style on the given selfies (with --hard-cases: every
    /// hard case).
    #[arg(long)]
    pub contact_sheet: Option<PathBuf>,
    /// Build the hard cases of each selfie (over busy, dark, saturated and hair-coloured
    /// backgrounds, with a second person behind, cut at the chin, neck, chest and crown),
    /// generate each and print its checklist and matte error against the ground truth.
    #[arg(long)]
    pub hard_cases: bool,
    /// studio (default) or diffusion (needs weights: `headshot models fetch sd15-inpaint`).
    #[arg(long, default_value = "studio", value_parser = ["studio", "diffusion"])]
    pub engine: String,
    /// Denoising steps of the diffusion engine.
    #[arg(long)]
    pub steps: Option<usize>,
}

impl GenerateArgs {
    /// The command's options.
    pub fn into_options(self) -> crate::generate::Options {
        crate::generate::Options {
            selfies: self.selfies,
            style: self.style,
            mode: self.mode,
            crop: self.crop,
            variants: self.variants,
            out: self.out,
            png: self.format == "png",
            json: self.json,
            contact_sheet: self.contact_sheet,
            hard_cases: self.hard_cases,
            engine: self.engine,
            steps: self.steps,
        }
    }
}

/// `headshot models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Which diffusion weights are present and where.
    List,
    /// Download a model into the Hugging Face cache (`sd15-inpaint`, `sdxl-inpaint`).
    Fetch {
        /// The model.
        name: String,
    },
}

/// `headshot device ...`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Which device the generators use: the first CUDA GPU when this build has CUDA
    /// (`--features cuda`) and one is present, else the CPU.
    Show {
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check the device: the diffusion networks against a tiny model's reference outputs
    /// (`--parity`), and their speed at SD 1.5 inpainting's real shapes (`--speed`).
    Check(DeviceCheckArgs),
}

/// `headshot device check ...`.
#[derive(Debug, clap::Args)]
pub struct DeviceCheckArgs {
    /// A tiny diffusers model with its reference outputs in `fixtures.safetensors`, such as
    /// the repository's `models/tests/fixtures/diffusion`.
    #[arg(long)]
    pub parity: Option<PathBuf>,
    /// Time one UNet pass (batch 2, a guided step) and one VAE decode for a 512x640 picture,
    /// random weights.
    #[arg(long)]
    pub speed: bool,
    /// f32, f16 or both.
    #[arg(long, default_value = "f32", value_parser = ["f32", "f16", "both"])]
    pub dtype: String,
    /// Timed runs after the warm-up run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Use the CPU even when a GPU is present.
    #[arg(long)]
    pub cpu: bool,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
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
