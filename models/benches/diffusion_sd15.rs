//! Speed of the candle pipeline's networks at the real SD 1.5 inpainting shapes with random
//! weights (no download): one UNet step at batch 2 (guidance) for a 512x640 picture and one VAE
//! decode, plus a criterion-free timing of the tiny test configuration's step. A harness with a
//! few iterations (about a minute per UNet step here), not criterion's samples. Compare with
//! `models/tools/bench_torch_sd.py` run right before or after on the same machine.
//!
//! Run: `cargo bench -p headshot-models --bench diffusion_sd15 -- [unet|unet1|vae|tiled] [runs]`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use headshot_models::diffusion::{self, check};

fn peak_mb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        .unwrap_or_default()
}

fn time(label: &str, runs: usize, mut f: impl FnMut()) {
    let t = Instant::now();
    f();
    let warm = t.elapsed();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "{label}: warm-up {warm:.1?}, runs {times:.2?} s, mean {mean:.2} s; peak RSS so far {}",
        peak_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2);
    // `unet`, `unet1`, `guided`, `vae` or `tiled` runs only those (the whole VAE decode at this
    // size needs a lot of memory): `unet` is the guided batch of 2 in one pass, `unet1` one
    // input, `guided` the guided step as two passes of one (what the pipeline does when the
    // batch of 2 does not fit), `noattn` one input through the same UNet without its
    // transformer blocks (to see what attention costs), `tiled` the VAE decode in our
    // overlapping tiles.
    let modes = ["unet", "unet1", "guided", "noattn", "vae", "tiled"];
    let only =
        |what: &str| !args.iter().any(|a| modes.contains(&a.as_str())) || args.iter().any(|a| a == what);
    let dev = Device::Cpu;
    println!("candle threads: {}", candle_core::utils::get_num_threads());
    if only("vae") || only("tiled") {
        vae_decode(&dev, runs, only("vae"), only("tiled"));
    }
    if only("unet") || only("unet1") || only("guided") {
        unet_step(&dev, runs, [only("unet"), only("unet1"), only("guided")], true);
    }
    if only("noattn") {
        unet_step(&dev, runs, [false, true, false], false);
    }
}

fn vae_decode(dev: &Device, runs: usize, whole: bool, tiled: bool) {
    // VAE decode (1,4,80,64) -> (1,3,640,512).
    let map = VarMap::new();
    let vae = check::sd15_vae(VarBuilder::from_varmap(&map, DType::F32, dev)).unwrap();
    let latents = Tensor::randn(0f32, 1., (1, 4, 80, 64), dev).unwrap();
    if tiled {
        let (tile, overlap) = (diffusion::TILE, diffusion::OVERLAP);
        time(
            &format!("VAE decode 512x640 in tiles ({tile}/{overlap})"),
            runs,
            || {
                diffusion::decode_tiles(&vae, &latents, 8, tile, overlap).unwrap();
            },
        );
    }
    if whole {
        time("VAE decode 512x640 whole", runs, || {
            vae.decode(&latents).unwrap();
        });
    }
}

fn unet_step(dev: &Device, runs: usize, [batch2, single, split]: [bool; 3], attention: bool) {
    // UNet step, batch 2.
    let map = VarMap::new();
    let unet = check::sd15_inpaint_unet(VarBuilder::from_varmap(&map, DType::F32, dev), attention).unwrap();
    let sample = Tensor::randn(0f32, 1., (2, 9, 80, 64), dev).unwrap();
    let context = Tensor::randn(0f32, 1., (2, 77, 768), dev).unwrap();
    if single {
        let (one, ctx) = (sample.narrow(0, 0, 1).unwrap(), context.narrow(0, 0, 1).unwrap());
        let label = if attention {
            "UNet pass 512x640 batch 1"
        } else {
            "UNet pass 512x640 batch 1 without transformer blocks"
        };
        time(label, runs, || {
            unet.forward(&one, 500., &ctx).unwrap();
        });
    }
    if split {
        time("UNet guided step 512x640 as two passes of 1", runs, || {
            for i in 0..2 {
                let (one, ctx) = (sample.narrow(0, i, 1).unwrap(), context.narrow(0, i, 1).unwrap());
                unet.forward(&one, 500., &ctx).unwrap();
            }
        });
    }
    if batch2 {
        time("UNet step 512x640 batch 2", runs, || {
            unet.forward(&sample, 500., &context).unwrap();
        });
    }
}
