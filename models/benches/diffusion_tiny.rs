//! Criterion timings of the diffusion pipeline on the tiny parity configuration
//! (`tests/fixtures/diffusion`): one guided UNet step (batch 2, 16x16 latents), a VAE decode,
//! and a whole 4-step inpainting of a 32x48 picture. The real SD 1.5 shapes are in the
//! `diffusion_sd15` harness.
//!
//! Run with `cargo bench -p headshot-models --bench diffusion_tiny`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use headshot_models::diffusion::{self, Inpaint, Model};
use image::{GrayImage, Luma, Rgb, RgbImage};

fn bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion");
    let model = Model::load(&dir, &Device::Cpu).expect("tiny weights");
    let dev = Device::Cpu;
    let sample = Tensor::randn(0f32, 1., (2, 9, 16, 16), &dev).unwrap();
    let context = Tensor::randn(0f32, 1., (2, 77, 32), &dev).unwrap();
    let latents = Tensor::randn(0f32, 1., (1, 4, 16, 16), &dev).unwrap();
    let mut group = c.benchmark_group("diffusion_tiny");
    group.bench_function("unet_step_batch2", |b| {
        b.iter(|| model.unet.forward(&sample, 500., &context).unwrap())
    });
    group.bench_function("vae_decode_32x32", |b| b.iter(|| model.decode(&latents).unwrap()));
    let image = RgbImage::from_fn(32, 48, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 200]));
    let keep = GrayImage::from_fn(32, 48, |x, y| {
        Luma([if (10..22).contains(&x) && (12..30).contains(&y) {
            255
        } else {
            0
        }])
    });
    let job = Inpaint {
        image: &image,
        keep: &keep,
        prompt: &[20, 21, 22],
        negative: &[],
        steps: 4,
        guidance: 7.5,
        strength: 1.0,
        seed: 1,
    };
    group.bench_function("inpaint_4_steps_32x48", |b| {
        b.iter(|| diffusion::inpaint(&model, &job, &mut |_, _| {}, &AtomicBool::new(false)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
