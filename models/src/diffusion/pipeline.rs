//! The pipeline: seeded noise, UNet passes, the denoising loop with guidance, progress and
//! cancellation, inpainting and img2img painting, and blending the kept pixels back.

use super::*;

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
    crate::device::best()
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
