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
pub mod harmonise;
pub mod safety;
pub mod tokenizer;

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
    /// The encoder.
    pub encoder: SecondEncoder,
    /// `text_projection` (no bias).
    pub projection: candle_nn::Linear,
}

/// The loaded model: networks, scheduler configuration and their shapes.
pub struct Model {
    /// Which family.
    pub version: Version,
    /// Text encoder.
    pub text: ClipTextTransformer,
    /// SDXL's second text encoder.
    pub text2: Option<SecondText>,
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
    /// Most UNet inputs (a picture is two with guidance) per forward pass; 0 runs the whole
    /// batch at once. On a CPU the engine sets 1: a guided step at 512x640 runs as two passes
    /// (both together need more than 22 GB in candle).
    pub unet_batch: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.version)
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

/// Latent cells a side above which the VAE decodes in tiles (256 pixels at SD's factor 8).
pub const TILE: usize = 32;
/// Overlap of neighbouring decode tiles, in latent cells.
pub const OVERLAP: usize = 8;

/// Why the engine does not paint with SDXL.
pub const SDXL_UNSUPPORTED: &str = "SDXL inpainting loads, but candle's UNet has no size/crop conditioning \
     (add_embedding), so it would paint off-distribution; use sd15-inpaint";

/// SDXL's `text_encoder_2/`: quick_gelu encoders through our configuration, the real
/// OpenCLIP bigG (gelu) through candle's SDXL preset when its dimensions are the preset's.
fn second_text(
    dir: &Path,
    device: &Device,
    vb: &mut dyn FnMut(HashMap<String, Tensor>) -> Result<VarBuilder<'static>, DiffusionError>,
) -> Result<SecondText, DiffusionError> {
    let json: ClipJson = config::read(&dir.join("text_encoder_2/config.json"))?;
    let file = first_existing(
        &dir.join("text_encoder_2"),
        &["model.safetensors", "model.fp16.safetensors"],
    );
    let vars = vb(load_tensors(&file, device)?)?;
    let projection =
        candle_nn::linear_no_bias(json.hidden_size, json.projection_dim, vars.pp("text_projection"))?;
    let encoder = if json.hidden_act == "quick_gelu" {
        SecondEncoder::Small(ClipTextTransformer::new(
            vars.pp("text_model"),
            &json.to_candle()?,
        )?)
    } else if json.hidden_act == "gelu"
        && (
            json.hidden_size,
            json.num_hidden_layers,
            json.num_attention_heads,
            json.intermediate_size,
        ) == (1280, 32, 20, 5120)
    {
        SecondEncoder::BigG(
            candle_transformers::models::stable_diffusion::clip::ClipTextTransformer::new(
                vars,
                &candle_transformers::models::stable_diffusion::clip::Config::sdxl2(),
            )?,
        )
    } else {
        return Err(DiffusionError::Config(format!(
            "text_encoder_2: activation `{}` at width {} is neither a quick_gelu encoder nor SDXL's bigG",
            json.hidden_act, json.hidden_size
        )));
    };
    Ok(SecondText { encoder, projection })
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
        let text2 = if dir.join("text_encoder_2/config.json").exists() {
            Some(second_text(dir, device, &mut vb)?)
        } else {
            None
        };
        let unet = UNet2DConditionModel::new(
            vb(load_tensors(&unet_file, device)?)?,
            unet_json.in_channels,
            unet_json.out_channels,
            cfg!(feature = "flash-attn") && device.is_cuda(),
            // candle 0.11.1's sliced attention fails with a rank error, so full attention it is
            // (at 512x640 on CPU that needs more than 22 GB: see the README's benchmarks).
            unet_json.to_candle(None)?,
        )?;
        let mut vae_tensors = load_tensors(&vae_file, device)?;
        deterministic_encoder(&mut vae_tensors, vae_json.latent_channels)?;
        let vae = AutoEncoderKL::new(vb(vae_tensors)?, 3, 3, vae_json.to_candle())?;
        let version = if text2.is_some() {
            Version::Sdxl
        } else {
            Version::Sd15
        };
        Ok(Model {
            version,
            text,
            text2,
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
            unet_batch: 0,
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
        if self.version == Version::Sdxl {
            return Err(DiffusionError::Config(SDXL_UNSUPPORTED.into()));
        }
        let n = self.max_tokens;
        let ids: Vec<u32> = uncond.iter().chain(cond).copied().collect();
        let ids = Tensor::from_vec(ids, (2, n), &self.device)?;
        Ok(self.text.forward_with_mask(&ids, usize::MAX)?)
    }

    /// Image (1,3,H,W) in [-1,1] -> scaled latents (the distribution's mean).
    pub fn encode(&self, image: &Tensor) -> Result<Tensor, DiffusionError> {
        Ok((self.vae.encode(image)?.sample()? * self.scaling)?)
    }

    /// Scaled latents -> image (1,3,H,W) in about [-1,1]. Latents larger than
    /// [`TILE`] cells a side are decoded in overlapping tiles (see [`Model::decode_tiled`]).
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor, DiffusionError> {
        let (_, _, h, w) = latents.dims4()?;
        if h > TILE || w > TILE {
            return self.decode_tiled(latents, TILE, OVERLAP);
        }
        Ok(self.vae.decode(&(latents / self.scaling)?)?)
    }

    /// Decodes in tiles of at most `tile` latent cells a side overlapping by `overlap` cells,
    /// blended with linear ramps across the overlaps. The decoder's memory then follows the
    /// tile, not the picture (at 512x640 a whole decode holds 128-256-channel feature maps of
    /// the full picture, with 3x3 convolutions lowered to matrices 9x their size). Group norms
    /// see one tile at a time, as in diffusers' tiled decoding; the overlap hides the seams.
    pub fn decode_tiled(
        &self,
        latents: &Tensor,
        tile: usize,
        overlap: usize,
    ) -> Result<Tensor, DiffusionError> {
        let pixels = decode_tiles(&self.vae, &(latents / self.scaling)?, self.factor, tile, overlap)?;
        Ok(pixels.to_dtype(self.dtype)?)
    }
}

/// [`Model::decode_tiled`] for any VAE and unscaled latents; f32 pixels (1,3,H,W).
pub fn decode_tiles(
    vae: &AutoEncoderKL,
    latents: &Tensor,
    factor: usize,
    tile: usize,
    overlap: usize,
) -> Result<Tensor, DiffusionError> {
    let (batch, _, h, w) = latents.dims4()?;
    if batch != 1 || tile <= overlap {
        return Err(DiffusionError::Config(format!(
            "tiled decoding takes one picture and a tile larger than its overlap (batch {batch}, tile {tile}, overlap {overlap})"
        )));
    }
    let f = factor;
    let spans = |len: usize| -> Vec<(usize, usize)> {
        if len <= tile {
            return vec![(0, len)];
        }
        let n = (len - overlap).div_ceil(tile - overlap);
        let size = (len + (n - 1) * overlap).div_ceil(n);
        (0..n)
            .map(|i| {
                let start = (i * (size - overlap)).min(len - size);
                (start, size)
            })
            .collect()
    };
    let (rows, cols) = (spans(h), spans(w));
    let mut sum = vec![0f32; 3 * h * f * w * f];
    let mut weight = vec![0f32; h * f * w * f];
    let (oh, ow) = (h * f, w * f);
    let ramp = |p: usize, start: usize, size: usize, len: usize| -> f32 {
        // Distance into the tile from each side that borders another tile.
        let o = (overlap * f) as f32;
        let lead = if start > 0 {
            ((p - start * f) as f32 + 0.5) / o
        } else {
            1.0
        };
        let trail = if start + size < len {
            (((start + size) * f - p) as f32 - 0.5) / o
        } else {
            1.0
        };
        lead.min(trail).clamp(0.0, 1.0).max(1e-3)
    };
    for &(y0, th) in &rows {
        for &(x0, tw) in &cols {
            let part = latents.narrow(2, y0, th)?.narrow(3, x0, tw)?;
            let pixels = vae.decode(&part)?;
            let data: Vec<f32> = pixels.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let (ph, pw) = (th * f, tw * f);
            for y in 0..ph {
                let gy = y0 * f + y;
                let wy = ramp(gy, y0, th, h);
                for x in 0..pw {
                    let gx = x0 * f + x;
                    let k = wy * ramp(gx, x0, tw, w);
                    weight[gy * ow + gx] += k;
                    for c in 0..3 {
                        sum[(c * oh + gy) * ow + gx] += k * data[(c * ph + y) * pw + x];
                    }
                }
            }
        }
    }
    for c in 0..3 {
        for (i, wgt) in weight.iter().enumerate() {
            sum[c * oh * ow + i] /= wgt;
        }
    }
    Ok(Tensor::from_vec(sum, (1, 3, oh, ow), latents.device())?)
}

impl Model {
    /// Rough bytes needed to run: weights plus the activations of one UNet input (or of the
    /// tiled VAE decode, if larger) for a `width`x`height` picture, for the dtype in use.
    pub fn memory_estimate(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        self.parameters * bytes + self.activations(width, height, 1)
    }

    /// Rough bytes of the activations when `items` UNet inputs of a `width`x`height` picture run
    /// in one pass, or of the VAE decode, whichever is larger.
    pub fn activations(&self, width: usize, height: usize, items: usize) -> usize {
        (items * self.unet_item_bytes(width, height)).max(self.vae_bytes(width, height))
    }

    /// Peak activations of one UNet input: about 12 first-level attention score matrices
    /// (8 heads x (h/f * w/f)^2), measured on candle 0.11 at 512x640 in f32 (9.6 GB over the
    /// weights for one input; `cargo bench -p headshot-models --bench diffusion_sd15 -- unet1`).
    pub fn unet_item_bytes(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        let cells = (width / self.factor) * (height / self.factor);
        12 * 8 * cells * cells * bytes
    }

    /// Peak activations of the VAE decode, which runs in tiles of at most [`TILE`] +
    /// [`OVERLAP`] cells a side: about 9,000 values per tile pixel (measured 3.6 GB for
    /// 352x288-pixel tiles in f32).
    pub fn vae_bytes(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        let side = (TILE + OVERLAP) * self.factor;
        9_000 * width.min(side) * height.min(side) * bytes
    }
}

/// One UNet evaluation of `input` in passes of at most `model.unet_batch` rows.
fn unet_forward(model: &Model, input: &Tensor, t: f64, context: &Tensor) -> Result<Tensor, DiffusionError> {
    let n = input.dim(0)?;
    let chunk = if model.unet_batch == 0 {
        n
    } else {
        model.unet_batch.min(n)
    };
    if chunk >= n {
        return Ok(model.unet.forward(input, t, context)?);
    }
    let mut parts = Vec::with_capacity(n.div_ceil(chunk));
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        parts.push(
            model
                .unet
                .forward(&input.narrow(0, start, len)?, t, &context.narrow(0, start, len)?)?,
        );
        start += len;
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// The device diffusion runs on: the first CUDA GPU when built with the `cuda` feature and
/// one is present (f16), the CPU otherwise (f32).
pub fn device() -> Device {
    Device::cuda_if_available(0).unwrap_or(Device::Cpu)
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
    /// How much of the picture is re-noised: 1.0 starts from pure noise, lower values start
    /// from the picture itself and run only that fraction of the steps (img2img strength).
    pub strength: f64,
    /// Noise seed.
    pub seed: u64,
}

/// One batched repaint: the same mask and prompt over several pictures, each with its seed.
#[derive(Debug, Clone)]
pub struct Paint<'a> {
    /// The framed pictures; all the same size, multiples of 8x the VAE factor.
    pub images: &'a [&'a RgbImage],
    /// One noise seed per picture.
    pub seeds: &'a [u64],
    /// 255 where the original pixels stay, 0 where new content is painted.
    pub keep: &'a GrayImage,
    /// Prompt tokens (without start/end tokens).
    pub prompt: &'a [u32],
    /// Negative prompt tokens.
    pub negative: &'a [u32],
    /// Denoising steps (of a full-strength run).
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub guidance: f64,
    /// img2img strength, 0..=1 (see [`Inpaint::strength`]).
    pub strength: f64,
}

/// Steps a run of `steps` at `strength` takes (diffusers' rule: the integer part of
/// `steps * strength`).
/// A strength above 0 runs at least one step (diffusers would refuse to run none).
pub fn steps_at(steps: usize, strength: f64) -> usize {
    let least = usize::from(strength > 0.0 && steps > 0);
    ((steps as f64 * strength.clamp(0.0, 1.0)) as usize).clamp(least, steps)
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

/// Runs the inpainting loop on one picture. `progress(k, n)` after each denoising step;
/// returns [`DiffusionError::Cancelled`] within one step of `cancel` rising. The result has the
/// kept pixels of the input blended back through the feathered mask.
pub fn inpaint(
    model: &Model,
    job: &Inpaint<'_>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<RgbImage, DiffusionError> {
    let painted = paint(
        model,
        &Paint {
            images: &[job.image],
            seeds: &[job.seed],
            keep: job.keep,
            prompt: job.prompt,
            negative: job.negative,
            steps: job.steps,
            guidance: job.guidance,
            strength: job.strength,
        },
        progress,
        cancel,
    )?;
    Ok(blend(job.image, &painted[0], job.keep))
}

/// Runs the inpainting loop on a batch of pictures through the UNet at once and decodes each
/// (one at a time, to bound memory). Returns the decoded pictures, not yet blended.
pub fn paint(
    model: &Model,
    job: &Paint<'_>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<RgbImage>, DiffusionError> {
    let Some(first) = job.images.first() else {
        return Ok(Vec::new());
    };
    let (w, h) = first.dimensions();
    let cell = model.factor * 8;
    if !(w as usize).is_multiple_of(cell)
        || !(h as usize).is_multiple_of(cell)
        || job.keep.dimensions() != (w, h)
        || job.images.iter().any(|i| i.dimensions() != (w, h))
        || job.seeds.len() != job.images.len()
    {
        return Err(DiffusionError::Config(format!(
            "images {w}x{h} must be a multiple of {cell}, all the same size, with a mask of that size and one seed each"
        )));
    }
    let device = &model.device;
    let batch = job.images.len();
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
    // The masked image keeps only what is surely kept (as diffusers: pixels under mask >= 0.5 go).
    let keep_binary = repaint.lt(0.5f32)?.to_dtype(DType::F32)?;
    let mask_latent = repaint
        .ge(0.5f32)?
        .to_dtype(DType::F32)?
        .interpolate2d(lh, lw)?
        .to_dtype(model.dtype)?;
    let partial = job.strength < 1.0;
    let mut masked_latents = Vec::with_capacity(batch);
    let mut init_latents = Vec::with_capacity(batch);
    let mut noises = Vec::with_capacity(batch);
    for (image, &seed) in job.images.iter().zip(job.seeds) {
        let image = image_tensor(image, device)?;
        masked_latents.push(model.encode(&image.broadcast_mul(&keep_binary)?.to_dtype(model.dtype)?)?);
        if partial {
            init_latents.push(model.encode(&image.to_dtype(model.dtype)?)?);
        }
        noises.push(noise(seed, &[1, model.latent_channels, lh, lw], device)?.to_dtype(model.dtype)?);
    }
    let init = if partial {
        Some(Tensor::cat(&init_latents, 0)?)
    } else {
        None
    };
    let latents = denoise(
        model,
        Denoise {
            noise: Tensor::cat(&noises, 0)?,
            init: init.as_ref(),
            strength: job.strength,
            mask: &mask_latent,
            masked_latents: &Tensor::cat(&masked_latents, 0)?,
            context: &context,
            steps: job.steps,
            guidance: job.guidance,
        },
        progress,
        cancel,
    )?;
    (0..batch)
        .map(|i| tensor_image(&model.decode(&latents.i(i..i + 1)?)?))
        .collect()
}

/// The denoising loop's inputs, in latent space.
#[derive(Debug)]
pub struct Denoise<'a> {
    /// Standard normal noise (B, C, h, w); scaled by the scheduler's initial sigma here.
    pub noise: Tensor,
    /// Latents of the pictures themselves (B, C, h, w), for a run below full strength.
    pub init: Option<&'a Tensor>,
    /// img2img strength (1.0: start from noise alone).
    pub strength: f64,
    /// Repaint mask at latent size (1, 1, h, w), 1 where new content goes.
    pub mask: &'a Tensor,
    /// Scaled latents of the masked pictures (B, C, h, w).
    pub masked_latents: &'a Tensor,
    /// Text embeddings, `[uncond, cond]` (2, tokens, width).
    pub context: &'a Tensor,
    /// Steps of a full-strength run.
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub guidance: f64,
}

/// The DDIM loop with classifier-free guidance over the 9-channel inpainting UNet input
/// (latents, mask, masked-image latents), for a batch: the UNet sees `[uncond x B, cond x B]`.
/// Below full strength it starts from the pictures' latents noised to the first visited
/// timestep and runs the last [`steps_at`] steps. Checks `cancel` before each step.
pub fn denoise(
    model: &Model,
    d: Denoise<'_>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<Tensor, DiffusionError> {
    let batch = d.noise.dim(0)?;
    let mut scheduler = model.scheduler.build(d.steps)?;
    let all = scheduler.timesteps().to_vec();
    let run = match d.init {
        Some(_) if d.strength < 1.0 => steps_at(all.len(), d.strength),
        _ => all.len(),
    };
    let timesteps = all[all.len() - run..].to_vec();
    let mut latents = match (d.init, timesteps.first()) {
        (Some(init), Some(&t)) if run < all.len() => scheduler.add_noise(init, d.noise, t)?,
        (Some(init), None) => return Ok(init.clone()),
        _ => (d.noise * scheduler.init_noise_sigma())?,
    };
    let mask = d.mask.repeat((batch, 1, 1, 1))?;
    let conditioning = Tensor::cat(
        &[
            Tensor::cat(&[&mask, &mask], 0)?,
            Tensor::cat(&[d.masked_latents, d.masked_latents], 0)?,
        ],
        1,
    )?;
    let context = Tensor::cat(
        &[
            d.context.i(0..1)?.repeat((batch, 1, 1))?,
            d.context.i(1..2)?.repeat((batch, 1, 1))?,
        ],
        0,
    )?;
    let n = timesteps.len();
    for (k, &t) in timesteps.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            return Err(DiffusionError::Cancelled);
        }
        let input = scheduler.scale_model_input(Tensor::cat(&[&latents, &latents], 0)?, t)?;
        let input = Tensor::cat(&[&input, &conditioning], 1)?;
        let eps = unet_forward(model, &input, t as f64, &context)?;
        let (uncond, cond) = (eps.i(0..batch)?, eps.i(batch..2 * batch)?);
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
