//! Numeric parity with diffusers/transformers (torch, CPU, f32) on a tiny configuration whose
//! weights and reference outputs `models/tools/diffusion_reference.py` wrote to
//! `tests/fixtures/diffusion/`: text encoder, UNet, VAE encode and decode each within 1e-4
//! (relative to the largest reference value), the whole 3-step inpainting loop within 1e-3.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, IndexOp, Tensor};
use headshot_models::diffusion::{self, Denoise, Model};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion")
}

fn fixtures() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir().join("fixtures.safetensors"), &Device::Cpu).unwrap()
}

/// max |a - b| / max |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let diff: f32 = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    let scale: f32 = b.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    diff / scale.max(1e-12)
}

fn model() -> Model {
    Model::load(&dir(), &Device::Cpu).unwrap()
}

#[test]
fn parity_text_encoder() {
    let (m, f) = (model(), fixtures());
    let ids = f["text.input_ids"].to_dtype(DType::U32).unwrap();
    let hidden = m.text.forward_with_mask(&ids, usize::MAX).unwrap();
    let e = rel_err(&hidden, &f["text.hidden"]);
    eprintln!("text encoder relative error {e:e}");
    assert!(e <= 1e-4, "text encoder relative error {e}");
}

#[test]
fn parity_unet() {
    let (m, f) = (model(), fixtures());
    let t: Vec<f32> = f["unet.timestep"].to_vec1().unwrap();
    let out = m
        .unet
        .forward(&f["unet.sample"], t[0] as f64, &f["unet.context"])
        .unwrap();
    let e = rel_err(&out, &f["unet.out"]);
    eprintln!("UNet relative error {e:e}");
    assert!(e <= 1e-4, "UNet relative error {e}");
}

#[test]
fn parity_vae_encode_and_decode() {
    let (m, f) = (model(), fixtures());
    let mean = (m.encode(&f["vae.image"]).unwrap() / m.scaling).unwrap();
    let e = rel_err(&mean, &f["vae.mean"]);
    eprintln!("VAE encoder relative error {e:e}");
    assert!(e <= 1e-4, "VAE encoder mean relative error {e}");
    let decoded = m.decode(&(&f["vae.latents"] * m.scaling).unwrap()).unwrap();
    let e = rel_err(&decoded, &f["vae.decoded"]);
    eprintln!("VAE decoder relative error {e:e}");
    assert!(e <= 1e-4, "VAE decoder relative error {e}");
}

#[test]
fn parity_inpainting_loop() {
    let (m, f) = (model(), fixtures());
    let expected: Vec<f32> = f["loop.timesteps"].to_vec1().unwrap();
    let ours: Vec<f32> = diffusion::timesteps(&m, 3)
        .unwrap()
        .iter()
        .map(|&t| t as f32)
        .collect();
    assert_eq!(ours, expected, "same DDIM timesteps");
    // The fixture's context is [cond, uncond]; the pipeline takes [uncond, cond].
    let ctx = &f["loop.context"];
    let context = Tensor::cat(&[ctx.i(1..2).unwrap(), ctx.i(0..1).unwrap()], 0).unwrap();
    let mut steps = 0;
    let latents = diffusion::denoise(
        &m,
        Denoise {
            noise: f["loop.latents0"].clone(),
            init: None,
            strength: 1.0,
            mask: &f["loop.mask"],
            masked_latents: &f["loop.masked_latents"],
            context: &context,
            steps: 3,
            guidance: 7.5,
        },
        &mut |k, _| steps = k,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(steps, 3);
    let e = rel_err(&latents, &f["loop.latents"]);
    eprintln!("3-step loop relative error {e:e}");
    assert!(e <= 1e-3, "3-step loop relative error {e}");
}
