//! `headshot models list|fetch`: the diffusion weights, in a configured directory or the
//! Hugging Face cache, fetched with the hf-hub crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use headshot::Config;

/// A diffusion model the service knows.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub name: &'static str,
    /// The Hugging Face repository.
    pub repo: &'static str,
    /// What it is, for `list`.
    pub about: &'static str,
    /// Whether this build runs it.
    pub runs: bool,
}

/// The models `fetch` knows.
pub const KNOWN: [Known; 2] = [
    Known {
        name: "sd15-inpaint",
        repo: "stable-diffusion-v1-5/stable-diffusion-inpainting",
        about: "Stable Diffusion 1.5 inpainting, CreativeML OpenRAIL-M (see README for its use restrictions)",
        runs: true,
    },
    Known {
        name: "sdxl-inpaint",
        repo: "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
        about: "SDXL 1.0 inpainting, CreativeML OpenRAIL++-M; fetched and checked, not run (candle's SDXL lacks size/crop conditioning)",
        runs: false,
    },
];

/// The files a diffusers inpainting directory needs.
pub const FILES: [&str; 12] = [
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "safety_checker/config.json",
    "safety_checker/model.safetensors",
    "feature_extractor/preprocessor_config.json",
];

/// The Hugging Face cache root (`HF_HOME/hub`, else `~/.cache/huggingface/hub`).
pub fn cache_root() -> PathBuf {
    if let Ok(home) = std::env::var("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/huggingface/hub")
}

/// The newest snapshot of `repo` in the cache, if any.
pub fn cached(repo: &str) -> Option<PathBuf> {
    let dir = cache_root().join(format!("models--{}", repo.replace('/', "--")));
    let reference = std::fs::read_to_string(dir.join("refs/main")).ok()?;
    Some(dir.join("snapshots").join(reference.trim()))
}

/// The files of [`FILES`] missing under `dir`.
pub fn missing(dir: &Path) -> Vec<&'static str> {
    FILES.iter().copied().filter(|f| !dir.join(f).exists()).collect()
}

/// Where the service looks for SD 1.5 inpainting weights: the configured directory, else the
/// cache.
pub fn diffusion_dir(config: &Config) -> Option<PathBuf> {
    config
        .diffusion
        .weights_dir
        .clone()
        .or_else(|| cached(KNOWN[0].repo))
}

/// `headshot models list`.
pub fn list(config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &config.diffusion.weights_dir {
        let gone = missing(dir);
        println!(
            "configured (diffusion.weights_dir) {}: {}",
            dir.display(),
            if gone.is_empty() {
                "complete".to_string()
            } else {
                format!("missing {}", gone.join(", "))
            }
        );
    }
    for k in KNOWN {
        let state = match cached(k.repo) {
            Some(dir) if missing(&dir).is_empty() => format!("present in {}", dir.display()),
            Some(dir) => format!(
                "incomplete in {} (missing {})",
                dir.display(),
                missing(&dir).join(", ")
            ),
            None => "not fetched".to_string(),
        };
        println!("{:<13} {state}\n              {} ({})", k.name, k.about, k.repo);
    }
    println!(
        "diffusion in `serve`: {}",
        if config.diffusion.enabled {
            "enabled (diffusion.enabled)"
        } else {
            "off (set diffusion.enabled = true; on a CPU a 20-step image takes many minutes)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `headshot models fetch NAME`.
pub async fn fetch(name: &str) -> anyhow::Result<ExitCode> {
    let Some(known) = KNOWN.iter().find(|k| k.name == name) else {
        let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
        anyhow::bail!("unknown model `{name}`; known: {}", names.join(", "));
    };
    let api = hf_hub::api::tokio::ApiBuilder::new()
        .with_cache_dir(cache_root())
        .with_progress(true)
        .build()?;
    let repo = api.model(known.repo.to_string());
    let files: Vec<String> = if known.runs {
        FILES.iter().map(|f| f.to_string()).collect()
    } else {
        FILES
            .iter()
            .map(|f| f.to_string())
            .chain([
                "text_encoder_2/model.safetensors".to_string(),
                "text_encoder_2/config.json".to_string(),
            ])
            .collect()
    };
    for file in &files {
        eprintln!("fetching {}/{file}", known.repo);
        if let Err(e) = repo.get(file).await {
            anyhow::bail!(
                "could not fetch {file} of {}: {e}. This machine may be offline or unable to reach the \
                 Hugging Face hub; download the diffusers-layout files elsewhere and point \
                 diffusion.weights_dir (or HEADSHOT_DIFFUSION_WEIGHTS) at the directory",
                known.repo
            );
        }
    }
    let dir = cached(known.repo).unwrap_or_else(cache_root);
    println!("{} fetched into {}", known.name, dir.display());
    Ok(ExitCode::SUCCESS)
}
