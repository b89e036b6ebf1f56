//! Stable Diffusion inpainting on candle: keeps the face and hair, regenerates attire and
//! background from the style's prompt.
//!
//! The networks (CLIP text encoder, 9-channel inpainting UNet, VAE) and the DDIM scheduler are
//! candle-transformers'; the configuration (read from the diffusers `config.json` files), the
//! pipeline (prompt embeddings with classifier-free guidance, mask and masked-image latents,
//! seeded noise, the denoising loop with progress and cancellation, decoding, blending the kept
//! pixels back) and the noise generator are ours.
//!
//! # Weights
//! A diffusers-layout directory: `unet/`, `vae/`, `text_encoder/` (each `config.json` plus
//! safetensors), `scheduler/scheduler_config.json`, and `tokenizer/` (`vocab.json`,
//! `merges.txt`) for prompts as text.
//!
//! # Determinism
//! All noise comes from [`noise`] (ChaCha8 seeded with the request's seed, Box-Muller), never
//! from candle's unseeded CPU generator; the VAE's encoder distribution is read at its mean.

pub mod check;
pub mod config;
mod decode;
pub mod engine;
pub mod harmonise;
mod model;
mod pipeline;
pub mod safety;
pub mod tokenizer;

pub use decode::*;
pub use model::*;
pub use pipeline::*;

pub use engine::{DiffusionEngine, Parts, Settings};
pub use safety::{SafetyChecker, Verdict};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::text_model::ClipTextTransformer;
use candle_transformers::models::stable_diffusion::ddim::DDIMSchedulerConfig;
use candle_transformers::models::stable_diffusion::schedulers::SchedulerConfig;
use candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use image::{GrayImage, RgbImage};
use rand::SeedableRng;
use rand::distributions::Distribution;

use config::{ClipJson, SchedulerJson, UnetJson, VaeJson};

/// Why diffusion could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// A weights or config file is missing.
    #[error(
        "diffusion weights incomplete: {0} (run `headshot models fetch sd15-inpaint` or set `diffusion.weights_dir`)"
    )]
    Missing(String),
    /// A configuration the pipeline cannot use.
    #[error("diffusion config: {0}")]
    Config(String),
    /// The device cannot hold the model.
    #[error("not enough memory for diffusion: {0}")]
    Memory(String),
    /// candle failed.
    #[error("diffusion: {0}")]
    Candle(#[from] candle_core::Error),
    /// The cancel flag was raised.
    #[error("cancelled")]
    Cancelled,
}

/// Which family a weights directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Stable Diffusion 1.x inpainting: one text encoder; what the engine paints with.
    Sd15,
    /// SDXL inpainting: two text encoders. It loads, but candle's UNet lacks SDXL's size and
    /// crop conditioning (`add_embedding`), so the engine does not paint with it.
    Sdxl,
}

/// SDXL's second text encoder (CLIPTextModelWithProjection).
pub enum SecondEncoder {
    /// quick_gelu encoders of any size (test configurations).
    Small(ClipTextTransformer),
    /// OpenCLIP ViT-bigG (gelu), through candle's SDXL preset.
    BigG(candle_transformers::models::stable_diffusion::clip::ClipTextTransformer),
}

/// SDXL's second encoder and its pooled-output projection.
pub struct SecondText {
    pub encoder: SecondEncoder,
    /// `text_projection` (no bias).
    pub projection: candle_nn::Linear,
}
