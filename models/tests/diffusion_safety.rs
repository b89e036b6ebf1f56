//! The safety checker against diffusers' `StableDiffusionSafetyChecker` on the tiny random
//! model of `models/tools/safety_reference.py`, and its preprocessing.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use headshot_models::diffusion::{DiffusionError, SafetyChecker};
use image::{Rgb, RgbImage};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion")
}

fn relative_error(got: &Tensor, want: &Tensor) -> f32 {
    let diff = (got - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    diff / scale
}

#[test]
fn diffusion_safety_parity_with_diffusers() {
    let dir = fixtures();
    let checker = SafetyChecker::load_from(
        &dir.join("safety_parity"),
        &dir.join("feature_extractor"),
        &Device::Cpu,
    )
    .unwrap();
    let f = candle_core::safetensors::load(dir.join("safety_fixtures.safetensors"), &Device::Cpu).unwrap();
    let (embeds, cos, special) = checker.similarities(&f["pixels"]).unwrap();
    for (name, got) in [("embeds", &embeds), ("cos", &cos), ("special_cos", &special)] {
        let err = relative_error(got, &f[name]);
        assert!(err <= 1e-4, "{name}: relative error {err}");
    }
    let verdicts = checker.judge(&f["pixels"]).unwrap();
    let flagged: Vec<f32> = f["flagged"].to_vec1().unwrap();
    let special: Vec<f32> = f["special"].to_vec1().unwrap();
    assert_eq!(
        verdicts
            .iter()
            .map(|v| v.flagged as u8 as f32)
            .collect::<Vec<_>>(),
        flagged
    );
    assert_eq!(
        verdicts
            .iter()
            .map(|v| v.special as u8 as f32)
            .collect::<Vec<_>>(),
        special
    );
    assert!(
        flagged.contains(&1.0) && flagged.contains(&0.0),
        "the fixture has both"
    );
    for v in &verdicts {
        assert_eq!(v.flagged, v.worst > 0.0);
    }
}

#[test]
fn diffusion_safety_preprocessing_is_clips() {
    let dir = fixtures();
    let checker = SafetyChecker::load(&dir, &Device::Cpu).unwrap();
    // A flat grey picture normalises to (v/255 - mean) / std everywhere.
    let grey = RgbImage::from_pixel(50, 70, Rgb([128, 128, 128]));
    let pixels = checker.pixels(&[&grey]).unwrap();
    assert_eq!(pixels.dims(), &[1, 3, 32, 32]);
    let values: Vec<f32> = pixels.flatten_all().unwrap().to_vec1().unwrap();
    let red = (128.0 / 255.0 - 0.481_454_66) / 0.268_629_54;
    assert!((values[0] - red).abs() < 1e-4, "{} vs {red}", values[0]);
    // The shortest edge is resized and the centre cropped: a wide picture with red sides and
    // a green middle square shows only green.
    let wide = RgbImage::from_fn(300, 100, |x, _| {
        if (100..200).contains(&x) {
            Rgb([0, 255, 0])
        } else {
            Rgb([255, 0, 0])
        }
    });
    let pixels = checker.pixels(&[&wide]).unwrap();
    let green: Vec<f32> = pixels.flatten_all().unwrap().to_vec1().unwrap();
    let red_channel = &green[..32 * 32];
    let low = (0.0 - 0.481_454_66) / 0.268_629_54;
    // Away from the two seams the resampling filter reaches across, no red at all.
    let inner = red_channel
        .chunks(32)
        .flat_map(|row| &row[3..29])
        .all(|v| (v - low).abs() < 0.05);
    assert!(inner, "no red in the crop");
    // The engine's checker never flags (thresholds above any cosine).
    let verdicts = checker.check(&[&grey, &wide]).unwrap();
    assert!(verdicts.iter().all(|v| !v.flagged), "{verdicts:?}");
}

#[test]
fn diffusion_safety_checker_is_required() {
    let empty = tempfile::tempdir().unwrap();
    let err = SafetyChecker::load(empty.path(), &Device::Cpu).unwrap_err();
    assert!(matches!(err, DiffusionError::Missing(_)), "{err}");
    assert!(err.to_string().contains("safety_checker"), "{err}");
}
