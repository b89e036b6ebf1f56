//! The inpainting pipeline on a tiny configuration with weights the test generates: it runs on
//! CPU in seconds, keeps the kept pixels, is deterministic per seed, reports every step and
//! stops when cancelled.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::clip::text_model::ClipTextTransformer;
use candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use headshot_models::diffusion::config::{ClipJson, UnetJson, VaeJson};
use headshot_models::diffusion::{self, DiffusionError, Inpaint, Model};
use image::{GrayImage, Luma, Rgb, RgbImage};

const UNET: &str = r#"{"in_channels": 9, "out_channels": 4, "block_out_channels": [32, 64],
  "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "layers_per_block": 1,
  "cross_attention_dim": 32, "attention_head_dim": 8, "norm_num_groups": 32}"#;
const VAE: &str = r#"{"block_out_channels": [32, 64], "layers_per_block": 1, "latent_channels": 4,
  "norm_num_groups": 32, "scaling_factor": 0.18215}"#;
const CLIP: &str = r#"{"vocab_size": 1000, "hidden_size": 32, "intermediate_size": 37,
  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
  "hidden_act": "quick_gelu", "projection_dim": 32, "bos_token_id": 998, "eos_token_id": 999}"#;
const SCHEDULER: &str = r#"{"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
  "steps_offset": 1, "prediction_type": "epsilon", "num_train_timesteps": 1000}"#;

/// Writes a diffusers-layout directory with random weights for the tiny configuration.
fn tiny_weights(dir: &Path) {
    let dev = Device::Cpu;
    for (sub, json) in [
        ("unet", UNET),
        ("vae", VAE),
        ("text_encoder", CLIP),
        ("scheduler", SCHEDULER),
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        let name = if sub == "scheduler" {
            "scheduler_config.json"
        } else {
            "config.json"
        };
        std::fs::write(dir.join(sub).join(name), json).unwrap();
    }
    let unet: UnetJson = serde_json::from_str(UNET).unwrap();
    let map = VarMap::new();
    UNet2DConditionModel::new(
        VarBuilder::from_varmap(&map, DType::F32, &dev),
        9,
        4,
        false,
        unet.to_candle(None).unwrap(),
    )
    .unwrap();
    map.save(dir.join("unet/diffusion_pytorch_model.safetensors"))
        .unwrap();
    let vae: VaeJson = serde_json::from_str(VAE).unwrap();
    let map = VarMap::new();
    AutoEncoderKL::new(
        VarBuilder::from_varmap(&map, DType::F32, &dev),
        3,
        3,
        vae.to_candle(),
    )
    .unwrap();
    map.save(dir.join("vae/diffusion_pytorch_model.safetensors"))
        .unwrap();
    let clip: ClipJson = serde_json::from_str(CLIP).unwrap();
    let map = VarMap::new();
    ClipTextTransformer::new(
        VarBuilder::from_varmap(&map, DType::F32, &dev).pp("text_model"),
        &clip.to_candle().unwrap(),
    )
    .unwrap();
    map.save(dir.join("text_encoder/model.safetensors")).unwrap();
}

fn picture() -> (RgbImage, GrayImage) {
    let image = RgbImage::from_fn(32, 48, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 200]));
    // Keep a face-like block in the middle, feathered by one pixel.
    let keep = GrayImage::from_fn(32, 48, |x, y| {
        let inside = (10..22).contains(&x) && (12..30).contains(&y);
        let edge = (9..23).contains(&x) && (11..31).contains(&y);
        Luma([if inside {
            255
        } else if edge {
            128
        } else {
            0
        }])
    });
    (image, keep)
}

fn load() -> (tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().unwrap();
    tiny_weights(dir.path());
    let model = Model::load(dir.path(), &Device::Cpu).unwrap();
    (dir, model)
}

#[test]
fn diffusion_tiny_pipeline_keeps_the_face_and_is_deterministic() {
    let (_dir, model) = load();
    assert_eq!(model.factor, 2);
    let (image, keep) = picture();
    let job = Inpaint {
        image: &image,
        keep: &keep,
        prompt: &[5, 6, 7],
        negative: &[],
        steps: 4,
        guidance: 7.5,
        strength: 1.0,
        seed: 42,
    };
    let mut steps = Vec::new();
    let never = AtomicBool::new(false);
    let a = diffusion::inpaint(&model, &job, &mut |k, n| steps.push((k, n)), &never).unwrap();
    assert_eq!(a.dimensions(), (32, 48));
    assert_eq!(
        steps,
        [(1, 4), (2, 4), (3, 4), (4, 4)],
        "one progress call per step"
    );
    for (x, y, k) in keep.enumerate_pixels() {
        if k.0[0] == 255 {
            assert_eq!(
                a.get_pixel(x, y),
                image.get_pixel(x, y),
                "kept pixel ({x},{y}) is the input's"
            );
        }
    }
    let changed = keep
        .enumerate_pixels()
        .filter(|(x, y, k)| k.0[0] == 0 && a.get_pixel(*x, *y) != image.get_pixel(*x, *y))
        .count();
    assert!(changed > 500, "the rest is repainted ({changed} pixels changed)");
    let b = diffusion::inpaint(&model, &job, &mut |_, _| {}, &never).unwrap();
    assert_eq!(a.as_raw(), b.as_raw(), "same seed, same pixels");
    let other = Inpaint { seed: 43, ..job };
    let c = diffusion::inpaint(&model, &other, &mut |_, _| {}, &never).unwrap();
    assert_ne!(a.as_raw(), c.as_raw(), "another seed, another picture");
}

#[test]
fn diffusion_cancellation_stops_within_a_step() {
    let (_dir, model) = load();
    let (image, keep) = picture();
    let job = Inpaint {
        image: &image,
        keep: &keep,
        prompt: &[5],
        negative: &[],
        steps: 10,
        guidance: 5.0,
        strength: 1.0,
        seed: 1,
    };
    let cancel = AtomicBool::new(false);
    let mut seen = 0;
    let result = diffusion::inpaint(
        &model,
        &job,
        &mut |k, _| {
            seen = k;
            if k == 3 {
                cancel.store(true, Ordering::SeqCst);
            }
        },
        &cancel,
    );
    assert!(matches!(result, Err(DiffusionError::Cancelled)));
    assert_eq!(seen, 3, "no step ran after the flag rose");
}

#[test]
fn diffusion_refuses_bad_sizes_and_incomplete_weights() {
    let (_dir, model) = load();
    let image = RgbImage::new(30, 48);
    let keep = GrayImage::new(30, 48);
    let job = Inpaint {
        image: &image,
        keep: &keep,
        prompt: &[],
        negative: &[],
        steps: 1,
        guidance: 1.0,
        strength: 1.0,
        seed: 0,
    };
    let err = diffusion::inpaint(&model, &job, &mut |_, _| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(err.to_string().contains("multiple of 16"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = Model::load(empty.path(), &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("headshot models fetch"), "{err}");
}

#[test]
fn diffusion_noise_is_seeded_standard_normal() {
    let a = diffusion::noise(7, &[4, 64, 64], &Device::Cpu).unwrap();
    let b = diffusion::noise(7, &[4, 64, 64], &Device::Cpu).unwrap();
    let va: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let vb: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(va, vb);
    let n = va.len() as f32;
    let mean = va.iter().sum::<f32>() / n;
    let var = va.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    assert!(
        mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
        "mean {mean} var {var}"
    );
}

#[test]
fn diffusion_tiled_decoding_matches_the_whole_decode() {
    let (_dir, model) = load();
    let latents = diffusion::noise(7, &[1, 4, 24, 20], &Device::Cpu).unwrap();
    let whole = model.vae.decode(&(&latents / model.scaling).unwrap()).unwrap();
    // A tile as large as the latents is the whole decode.
    let one = model.decode_tiled(&latents, 24, 4).unwrap();
    let same = (&one - &whole)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(same < 1e-5, "{same}");
    // Four overlapping tiles: the right shape, close to the whole decode (group norms see one
    // tile at a time), and no seam: neighbouring rows across a tile border differ no more than
    // elsewhere.
    let tiled = model.decode_tiled(&latents, 14, 4).unwrap();
    assert_eq!(tiled.dims(), whole.dims());
    let diff = (&tiled - &whole)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let spread = whole
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff < 0.25 * spread,
        "tiled vs whole: {diff} (mean magnitude {spread})"
    );
    let rows: Vec<Vec<f32>> = tiled.squeeze(0).unwrap().get(0).unwrap().to_vec2().unwrap();
    let step = |y: usize| {
        rows[y]
            .iter()
            .zip(&rows[y + 1])
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
    };
    let typical = (1..rows.len() - 1).map(step).sum::<f32>() / (rows.len() - 2) as f32;
    let worst = (1..rows.len() - 1).map(step).fold(0f32, f32::max);
    assert!(
        worst < 4.0 * typical,
        "a seam: worst row step {worst}, typical {typical}"
    );
}

#[test]
fn diffusion_unet_passes_of_one_give_the_guided_batch() {
    let (_dir, mut model) = load();
    let (image, keep) = picture();
    let job = Inpaint {
        image: &image,
        keep: &keep,
        prompt: &[5, 6, 7],
        negative: &[],
        steps: 3,
        guidance: 7.5,
        strength: 1.0,
        seed: 11,
    };
    let together = diffusion::inpaint(&model, &job, &mut |_, _| {}, &AtomicBool::new(false)).unwrap();
    // The cond and uncond halves in separate passes (what a CPU short of memory does).
    model.unet_batch = 1;
    let apart = diffusion::inpaint(&model, &job, &mut |_, _| {}, &AtomicBool::new(false)).unwrap();
    let worst = together
        .as_raw()
        .iter()
        .zip(apart.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "passes of one differ from the batch by {worst} levels"
    );
}

#[test]
fn diffusion_strength_runs_its_share_of_the_steps_and_never_none() {
    assert_eq!(diffusion::steps_at(20, 1.0), 20);
    assert_eq!(diffusion::steps_at(20, 0.75), 15);
    assert_eq!(diffusion::steps_at(20, 0.0), 0, "strength 0 is off");
    assert_eq!(diffusion::steps_at(1, 0.5), 1, "a repaint always takes a step");
    assert_eq!(diffusion::steps_at(3, 0.2), 1);
}
