//! A check of the diffusion networks on a device, for `headshot device check` and the GPU check
//! script: numeric parity with reference outputs of a tiny model (diffusers', written by
//! `models/tools/diffusion_reference.py`), and the speed of SD 1.5 inpainting's real networks at
//! 512x640 with random weights (speed does not depend on the weights' values).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::unet_2d::{
    BlockConfig, UNet2DConditionModel, UNet2DConditionModelConfig,
};
use candle_transformers::models::stable_diffusion::vae::{AutoEncoderKL, AutoEncoderKLConfig};

use super::{Denoise, DiffusionError, Model, denoise, timesteps};

/// The picture the speed check times: SD 1.5 inpainting at 512 wide, 640 high.
pub const SPEED_SIZE: (usize, usize) = (512, 640);

/// One network's output against the reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Parity {
    /// What ran: "text encoder", "UNet", "VAE encoder", "VAE decoder", "3-step loop".
    pub name: &'static str,
    /// max |ours - reference| / max |reference|.
    pub error: f32,
    /// The largest error accepted for this dtype and device.
    pub tolerance: f32,
}

impl Parity {
    /// Within tolerance.
    pub fn ok(&self) -> bool {
        self.error.is_finite() && self.error <= self.tolerance
    }
}

/// The tolerance for a single network and for the 3-step loop (which compounds three UNet
/// passes and the scheduler). f32 on the CPU is the parity tests' own bound; on a GPU, cuBLAS
/// and cuDNN may use TF32 tensor cores for f32 (10-bit mantissa); f16 carries 11 bits.
pub fn tolerances(device: &Device, dtype: DType) -> (f32, f32) {
    match (dtype, device.is_cuda()) {
        (DType::F32, false) => (1e-4, 1e-3),
        (DType::F32, true) => (3e-3, 1e-2),
        _ => (3e-2, 6e-2),
    }
}

/// max |a - b| / max |b|, both taken to f32 on the CPU.
fn rel_err(a: &Tensor, b: &Tensor) -> Result<f32, DiffusionError> {
    let a = a.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let b = b.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    if a.dims() != b.dims() {
        return Err(DiffusionError::Config(format!(
            "output shape {:?}, reference {:?}",
            a.dims(),
            b.dims()
        )));
    }
    let diff: f32 = (&a - &b)?.abs()?.max_all()?.to_scalar()?;
    let scale: f32 = b.abs()?.max_all()?.to_scalar()?;
    Ok(diff / scale.max(1e-12))
}

/// Runs the tiny model in `dir` (a diffusers layout plus `fixtures.safetensors` with the
/// reference inputs and outputs) on `device` in `dtype` and compares each network with the
/// reference: text encoder, UNet, VAE encoder and decoder, and a 3-step inpainting loop.
pub fn parity(dir: &Path, device: &Device, dtype: DType) -> Result<Vec<Parity>, DiffusionError> {
    let file = dir.join("fixtures.safetensors");
    if !file.exists() {
        return Err(DiffusionError::Missing(file.display().to_string()));
    }
    let f: HashMap<String, Tensor> = candle_core::safetensors::load(&file, &Device::Cpu)?;
    let raw = |name: &str| -> Result<&Tensor, DiffusionError> {
        f.get(name)
            .ok_or_else(|| DiffusionError::Missing(format!("{name} in {}", file.display())))
    };
    let get =
        |name: &str| -> Result<Tensor, DiffusionError> { Ok(raw(name)?.to_device(device)?.to_dtype(dtype)?) };
    let m = Model::load_as(dir, device, dtype)?;
    let (single, looped) = tolerances(device, dtype);
    let mut out = Vec::new();
    let mut push = |name, error, tolerance| {
        out.push(Parity {
            name,
            error,
            tolerance,
        })
    };

    let ids = raw("text.input_ids")?.to_dtype(DType::U32)?.to_device(device)?;
    let hidden = m.text.forward_with_mask(&ids, usize::MAX)?;
    push("text encoder", rel_err(&hidden, &get("text.hidden")?)?, single);

    let t: Vec<f32> = raw("unet.timestep")?.to_vec1()?;
    let eps = m
        .unet
        .forward(&get("unet.sample")?, t[0] as f64, &get("unet.context")?)?;
    push("UNet", rel_err(&eps, &get("unet.out")?)?, single);

    let mean = (m.encode(&get("vae.image")?)? / m.scaling)?;
    push("VAE encoder", rel_err(&mean, &get("vae.mean")?)?, single);
    let decoded = m.decode(&(get("vae.latents")? * m.scaling)?)?;
    push("VAE decoder", rel_err(&decoded, &get("vae.decoded")?)?, single);

    let expected: Vec<f32> = raw("loop.timesteps")?.to_vec1()?;
    let ours: Vec<f32> = timesteps(&m, 3)?.iter().map(|&t| t as f32).collect();
    if ours != expected {
        return Err(DiffusionError::Config(format!(
            "DDIM timesteps {ours:?}, reference {expected:?}"
        )));
    }
    // The reference context is [cond, uncond]; the pipeline takes [uncond, cond].
    let ctx = get("loop.context")?;
    let context = Tensor::cat(&[ctx.i(1..2)?, ctx.i(0..1)?], 0)?;
    let latents = denoise(
        &m,
        Denoise {
            noise: get("loop.latents0")?,
            init: None,
            strength: 1.0,
            mask: &get("loop.mask")?,
            masked_latents: &get("loop.masked_latents")?,
            context: &context,
            steps: 3,
            guidance: 7.5,
        },
        &mut |_, _| {},
        &AtomicBool::new(false),
    )?;
    push("3-step loop", rel_err(&latents, &get("loop.latents")?)?, looped);
    Ok(out)
}

/// SD 1.5 inpainting's UNet (9 input channels, blocks 320/640/1280/1280, cross-attention 768)
/// with the weights `vb` gives; without its transformer blocks when `attention` is false.
pub fn sd15_inpaint_unet(vb: VarBuilder, attention: bool) -> Result<UNet2DConditionModel, DiffusionError> {
    let block = |c, attn: Option<usize>| BlockConfig {
        out_channels: c,
        use_cross_attn: attn.filter(|_| attention),
        attention_head_dim: 8,
    };
    let config = UNet2DConditionModelConfig {
        blocks: vec![
            block(320, Some(1)),
            block(640, Some(1)),
            block(1280, Some(1)),
            block(1280, None),
        ],
        cross_attention_dim: 768,
        layers_per_block: 2,
        ..UNet2DConditionModelConfig::default()
    };
    let flash = cfg!(feature = "flash-attn") && vb.device().is_cuda();
    Ok(UNet2DConditionModel::new(vb, 9, 4, flash, config)?)
}

/// SD 1.5's VAE (blocks 128/256/512/512, 4 latent channels) with the weights `vb` gives.
pub fn sd15_vae(vb: VarBuilder) -> Result<AutoEncoderKL, DiffusionError> {
    Ok(AutoEncoderKL::new(
        vb,
        3,
        3,
        AutoEncoderKLConfig {
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            use_quant_conv: true,
            use_post_quant_conv: true,
        },
    )?)
}

/// How long one network took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    /// "UNet pass batch 2" or "VAE decode".
    pub name: &'static str,
    /// The first run (loading kernels, autotuning, allocating).
    pub warm_up_s: f64,
    /// The timed runs after it.
    pub runs_s: Vec<f64>,
}

impl Timing {
    /// The mean of the timed runs.
    pub fn mean_s(&self) -> f64 {
        self.runs_s.iter().sum::<f64>() / self.runs_s.len().max(1) as f64
    }
}

/// Times `f` once to warm up and `runs` more times; each run ends when the device is idle.
fn time(
    name: &'static str,
    device: &Device,
    runs: usize,
    mut f: impl FnMut() -> Result<(), DiffusionError>,
) -> Result<Timing, DiffusionError> {
    let mut once = || -> Result<f64, DiffusionError> {
        let t = Instant::now();
        f()?;
        device.synchronize()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let warm_up_s = once()?;
    let runs_s = (0..runs).map(|_| once()).collect::<Result<_, _>>()?;
    Ok(Timing {
        name,
        warm_up_s,
        runs_s,
    })
}

/// Times SD 1.5 inpainting's networks for a [`SPEED_SIZE`] picture on `device` in `dtype`,
/// random weights: one UNet pass at batch 2 (a guided step: sample (2,9,80,64), context
/// (2,77,768)), and one whole VAE decode (1,4,80,64) -> (1,3,640,512). The same shapes as
/// `models/tools/bench_torch_sd.py`.
pub fn speed(device: &Device, dtype: DType, runs: usize) -> Result<Vec<Timing>, DiffusionError> {
    let (w, h) = SPEED_SIZE;
    let (lh, lw) = (h / 8, w / 8);
    let randn = |shape: &[usize]| -> Result<Tensor, DiffusionError> {
        Ok(Tensor::randn(0f32, 1., shape, device)?.to_dtype(dtype)?)
    };
    let mut out = Vec::new();
    {
        let map = VarMap::new();
        let unet = sd15_inpaint_unet(VarBuilder::from_varmap(&map, dtype, device), true)?;
        let (sample, context) = (randn(&[2, 9, lh, lw])?, randn(&[2, 77, 768])?);
        out.push(time("UNet pass batch 2", device, runs, || {
            unet.forward(&sample, 500., &context)?;
            Ok(())
        })?);
    }
    {
        let map = VarMap::new();
        let vae = sd15_vae(VarBuilder::from_varmap(&map, dtype, device))?;
        let latents = randn(&[1, 4, lh, lw])?;
        out.push(time("VAE decode", device, runs, || {
            vae.decode(&latents)?;
            Ok(())
        })?);
    }
    Ok(out)
}
