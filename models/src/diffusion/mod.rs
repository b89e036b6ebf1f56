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

pub mod config;
pub mod engine;
pub mod tokenizer;

pub use engine::{DiffusionEngine, Settings};

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

/// The loaded model: networks, scheduler configuration and their shapes.
pub struct Model {
    /// Text encoder.
    pub text: ClipTextTransformer,
    /// Inpainting UNet (9 input channels).
    pub unet: UNet2DConditionModel,
    /// Autoencoder.
    pub vae: AutoEncoderKL,
    /// DDIM settings.
    pub scheduler: DDIMSchedulerConfig,
    /// Latent scale of the VAE.
    pub scaling: f64,
    /// Pixels per latent cell.
    pub factor: usize,
    /// Latent channels.
    pub latent_channels: usize,
    /// Tokens per prompt.
    pub max_tokens: usize,
    /// Start and end tokens.
    pub bos_eos: (u32, u32),
    /// Where it runs.
    pub device: Device,
    /// f32 on CPU, f16 on CUDA.
    pub dtype: DType,
    /// Parameters, for memory estimates.
    pub parameters: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("factor", &self.factor)
            .field("parameters", &self.parameters)
            .field("dtype", &self.dtype)
            .finish()
    }
}

/// The tensors of one safetensors file.
fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, DiffusionError> {
    if !path.exists() {
        return Err(DiffusionError::Missing(path.display().to_string()));
    }
    Ok(candle_core::safetensors::load(path, device)?)
}

fn first_existing(dir: &Path, names: &[&str]) -> PathBuf {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join(names[0]))
}

/// Sets the encoder's log-variance to -1e4 so its distribution's sample is its mean (candle
/// draws the sample with its own unseeded generator).
fn deterministic_encoder(tensors: &mut HashMap<String, Tensor>, latent: usize) -> Result<(), DiffusionError> {
    let (Some(w), Some(b)) = (tensors.get("quant_conv.weight"), tensors.get("quant_conv.bias")) else {
        return Err(DiffusionError::Config(
            "vae: no quant_conv (needed for a deterministic encoder)".into(),
        ));
    };
    let w = Tensor::cat(
        &[
            w.narrow(0, 0, latent)?,
            w.narrow(0, latent, latent)?.zeros_like()?,
        ],
        0,
    )?;
    let b = Tensor::cat(
        &[
            b.narrow(0, 0, latent)?,
            (b.narrow(0, latent, latent)?.zeros_like()? - 1e4)?,
        ],
        0,
    )?;
    tensors.insert("quant_conv.weight".into(), w);
    tensors.insert("quant_conv.bias".into(), b);
    Ok(())
}

impl Model {
    /// Loads a diffusers-layout directory onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Model, DiffusionError> {
        let dtype = if device.is_cuda() { DType::F16 } else { DType::F32 };
        let unet_json: UnetJson = config::read(&dir.join("unet/config.json"))?;
        let vae_json: VaeJson = config::read(&dir.join("vae/config.json"))?;
        let clip_json: ClipJson = config::read(&dir.join("text_encoder/config.json"))?;
        let sched_json: SchedulerJson = config::read(&dir.join("scheduler/scheduler_config.json"))?;
        if unet_json.in_channels != 2 * vae_json.latent_channels + 1 {
            return Err(DiffusionError::Config(format!(
                "unet has {} input channels; an inpainting UNet has {}",
                unet_json.in_channels,
                2 * vae_json.latent_channels + 1
            )));
        }
        let unet_file = first_existing(
            &dir.join("unet"),
            &[
                "diffusion_pytorch_model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors",
            ],
        );
        let vae_file = first_existing(
            &dir.join("vae"),
            &[
                "diffusion_pytorch_model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors",
            ],
        );
        let text_file = first_existing(
            &dir.join("text_encoder"),
            &["model.safetensors", "model.fp16.safetensors"],
        );
        let mut parameters = 0;
        let mut vb = |mut t: HashMap<String, Tensor>| -> Result<VarBuilder<'static>, DiffusionError> {
            for v in t.values_mut() {
                parameters += v.elem_count();
                if v.dtype() != dtype {
                    *v = v.to_dtype(dtype)?;
                }
            }
            Ok(VarBuilder::from_tensors(t, dtype, device))
        };
        let text = ClipTextTransformer::new(
            vb(load_tensors(&text_file, device)?)?.pp("text_model"),
            &clip_json.to_candle()?,
        )?;
        let unet = UNet2DConditionModel::new(
            vb(load_tensors(&unet_file, device)?)?,
            unet_json.in_channels,
            unet_json.out_channels,
            false,
            // candle 0.11.1's sliced attention fails with a rank error, so full attention it is
            // (at 512x640 on CPU that needs more than 22 GB: see the README's benchmarks).
            unet_json.to_candle(None)?,
        )?;
        let mut vae_tensors = load_tensors(&vae_file, device)?;
        deterministic_encoder(&mut vae_tensors, vae_json.latent_channels)?;
        let vae = AutoEncoderKL::new(vb(vae_tensors)?, 3, 3, vae_json.to_candle())?;
        Ok(Model {
            text,
            unet,
            vae,
            scheduler: sched_json.to_ddim()?,
            scaling: vae_json.scaling_factor,
            factor: vae_json.factor(),
            latent_channels: vae_json.latent_channels,
            max_tokens: clip_json.max_position_embeddings,
            bos_eos: (clip_json.bos_token_id, clip_json.eos_token_id),
            device: device.clone(),
            dtype,
            parameters,
        })
    }

    /// Token ids padded (with the end token) or cut to the encoder's length.
    pub fn pad(&self, ids: &[u32]) -> Vec<u32> {
        let (bos, eos) = self.bos_eos;
        let mut out = vec![bos];
        out.extend(ids.iter().copied().take(self.max_tokens - 2));
        out.push(eos);
        out.resize(self.max_tokens, eos);
        out
    }

    /// Text embeddings of `[uncond, cond]` (already padded ids), shape (2, tokens, width).
    pub fn embed(&self, uncond: &[u32], cond: &[u32]) -> Result<Tensor, DiffusionError> {
        let n = self.max_tokens;
        let ids: Vec<u32> = uncond.iter().chain(cond).copied().collect();
        let ids = Tensor::from_vec(ids, (2, n), &self.device)?;
        Ok(self.text.forward_with_mask(&ids, usize::MAX)?)
    }

    /// Image (1,3,H,W) in [-1,1] -> scaled latents (the distribution's mean).
    pub fn encode(&self, image: &Tensor) -> Result<Tensor, DiffusionError> {
        Ok((self.vae.encode(image)?.sample()? * self.scaling)?)
    }

    /// Scaled latents -> image (1,3,H,W) in about [-1,1].
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor, DiffusionError> {
        Ok(self.vae.decode(&(latents / self.scaling)?)?)
    }

    /// Rough bytes needed to run: weights plus activations of a `width`x`height` image with a
    /// batch of 2 (guidance), for the dtype in use.
    pub fn memory_estimate(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        let weights = self.parameters * bytes;
        // The widest activations: attention over (h/f * w/f)^2 per head at the first level, and
        // the VAE decoder's full-resolution feature maps.
        let cells = (width / self.factor) * (height / self.factor);
        let attention = 2 * 8 * cells * cells * bytes;
        let vae = 3 * 128 * width * height * bytes;
        weights + attention.max(vae)
    }
}

/// Seeded standard normal noise (ChaCha8 + Box-Muller).
pub fn noise(seed: u64, shape: &[usize], device: &Device) -> Result<Tensor, DiffusionError> {
    let n: usize = shape.iter().product();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let uniform = rand::distributions::Uniform::new(f32::EPSILON, 1.0f32);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (uniform.sample(&mut rng), uniform.sample(&mut rng));
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f32::consts::TAU * u2;
        out.push(r * theta.cos());
        out.push(r * theta.sin());
    }
    out.truncate(n);
    Ok(Tensor::from_vec(out, shape, device)?)
}

/// What one inpainting run needs.
#[derive(Debug, Clone)]
pub struct Inpaint<'a> {
    /// The framed picture; width and height multiples of 8x the VAE factor.
    pub image: &'a RgbImage,
    /// 255 where the original pixels stay (face, hair), 0 where new content is painted,
    /// feathered in between.
    pub keep: &'a GrayImage,
    /// Prompt tokens (without start/end tokens).
    pub prompt: &'a [u32],
    /// Negative prompt tokens.
    pub negative: &'a [u32],
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub guidance: f64,
    /// Noise seed.
    pub seed: u64,
}

/// Tensor of an RGB image, (1,3,H,W) in [-1,1].
pub fn image_tensor(image: &RgbImage, device: &Device) -> Result<Tensor, DiffusionError> {
    let (w, h) = image.dimensions();
    let data: Vec<f32> = image.as_raw().iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    Ok(Tensor::from_vec(data, (h as usize, w as usize, 3), device)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?)
}

/// The RGB image of a (1,3,H,W) tensor in [-1,1].
pub fn tensor_image(t: &Tensor) -> Result<RgbImage, DiffusionError> {
    let (_, _, h, w) = t.dims4()?;
    let t = ((t.i(0)?.to_dtype(DType::F32)?.clamp(-1f32, 1f32)? + 1.0)? * 127.5)?;
    let data: Vec<f32> = t.permute((1, 2, 0))?.flatten_all()?.to_vec1()?;
    let bytes = data.iter().map(|v| v.round() as u8).collect();
    RgbImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| DiffusionError::Config("decoded image has the wrong size".into()))
}

/// Runs the inpainting loop. `progress(k, n)` after each denoising step; returns
/// [`DiffusionError::Cancelled`] within one step of `cancel` rising. The result has the kept
/// pixels of the input blended back through the feathered mask.
pub fn inpaint(
    model: &Model,
    job: &Inpaint<'_>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<RgbImage, DiffusionError> {
    let (w, h) = job.image.dimensions();
    let cell = model.factor * 8;
    if !(w as usize).is_multiple_of(cell)
        || !(h as usize).is_multiple_of(cell)
        || job.keep.dimensions() != (w, h)
    {
        return Err(DiffusionError::Config(format!(
            "image {w}x{h} must be a multiple of {cell} with a mask of the same size"
        )));
    }
    let device = &model.device;
    let (lh, lw) = (h as usize / model.factor, w as usize / model.factor);
    let context = model
        .embed(&model.pad(job.negative), &model.pad(job.prompt))?
        .to_dtype(model.dtype)?;
    // Repaint mask: 1 where new content goes.
    let repaint: Vec<f32> = job
        .keep
        .as_raw()
        .iter()
        .map(|&k| 1.0 - k as f32 / 255.0)
        .collect();
    let repaint = Tensor::from_vec(repaint, (1, 1, h as usize, w as usize), device)?;
    let image = image_tensor(job.image, device)?;
    // The masked image keeps only what is surely kept (as diffusers: pixels under mask >= 0.5 go).
    let keep_binary = repaint.lt(0.5f32)?.to_dtype(DType::F32)?;
    let masked = image.broadcast_mul(&keep_binary)?;
    let masked_latents = model.encode(&masked.to_dtype(model.dtype)?)?;
    let mask_latent = repaint
        .ge(0.5f32)?
        .to_dtype(DType::F32)?
        .interpolate2d(lh, lw)?
        .to_dtype(model.dtype)?;
    let latents = noise(job.seed, &[1, model.latent_channels, lh, lw], device)?.to_dtype(model.dtype)?;
    let latents = denoise(
        model,
        Denoise {
            noise: latents,
            mask: &mask_latent,
            masked_latents: &masked_latents,
            context: &context,
            steps: job.steps,
            guidance: job.guidance,
        },
        progress,
        cancel,
    )?;
    let decoded = tensor_image(&model.decode(&latents)?)?;
    Ok(blend(job.image, &decoded, job.keep))
}

/// The denoising loop's inputs, in latent space.
#[derive(Debug)]
pub struct Denoise<'a> {
    /// Standard normal noise (1, C, h, w); scaled by the scheduler's initial sigma here.
    pub noise: Tensor,
    /// Repaint mask at latent size (1, 1, h, w), 1 where new content goes.
    pub mask: &'a Tensor,
    /// Scaled latents of the masked image (1, C, h, w).
    pub masked_latents: &'a Tensor,
    /// Text embeddings, `[uncond, cond]` (2, tokens, width).
    pub context: &'a Tensor,
    /// Steps.
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub guidance: f64,
}

/// The DDIM loop with classifier-free guidance over the 9-channel inpainting UNet input
/// (latents, mask, masked-image latents). Checks `cancel` before each step.
pub fn denoise(
    model: &Model,
    d: Denoise<'_>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<Tensor, DiffusionError> {
    let mut scheduler = model.scheduler.build(d.steps)?;
    let mut latents = (d.noise * scheduler.init_noise_sigma())?;
    let conditioning = Tensor::cat(
        &[
            Tensor::cat(&[d.mask, d.mask], 0)?,
            Tensor::cat(&[d.masked_latents, d.masked_latents], 0)?,
        ],
        1,
    )?;
    let timesteps = scheduler.timesteps().to_vec();
    let n = timesteps.len();
    for (k, &t) in timesteps.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            return Err(DiffusionError::Cancelled);
        }
        let input = scheduler.scale_model_input(Tensor::cat(&[&latents, &latents], 0)?, t)?;
        let input = Tensor::cat(&[&input, &conditioning], 1)?;
        let eps = model.unet.forward(&input, t as f64, d.context)?;
        let (uncond, cond) = (eps.i(0..1)?, eps.i(1..2)?);
        let guided = (&uncond + ((cond - &uncond)? * d.guidance)?)?;
        latents = scheduler.step(&guided, t, &latents)?;
        progress(k + 1, n);
    }
    Ok(latents)
}

/// The timesteps DDIM visits in `steps` steps.
pub fn timesteps(model: &Model, steps: usize) -> Result<Vec<usize>, DiffusionError> {
    Ok(model.scheduler.build(steps)?.timesteps().to_vec())
}

/// `keep`-weighted mix of the original and the generated picture.
pub fn blend(original: &RgbImage, generated: &RgbImage, keep: &GrayImage) -> RgbImage {
    let mut out = generated.clone();
    for ((px, kept), k) in out.pixels_mut().zip(original.pixels()).zip(keep.pixels()) {
        let a = k.0[0] as f32 / 255.0;
        for c in 0..3 {
            px.0[c] = (a * kept.0[c] as f32 + (1.0 - a) * px.0[c] as f32).round() as u8;
        }
    }
    out
}
