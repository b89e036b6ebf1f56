//! The model: loading a diffusers directory (SD 1.5 or SDXL inpainting) into candle, with the
//! VAE encoder read at its mean.

use super::*;

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
    /// Loads a diffusers-layout directory onto `device`, in f16 on a GPU and f32 on the CPU.
    pub fn load(dir: &Path, device: &Device) -> Result<Model, DiffusionError> {
        let dtype = if device.is_cuda() { DType::F16 } else { DType::F32 };
        Model::load_as(dir, device, dtype)
    }

    /// Loads a diffusers-layout directory onto `device` with its weights in `dtype`.
    pub fn load_as(dir: &Path, device: &Device, dtype: DType) -> Result<Model, DiffusionError> {
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
