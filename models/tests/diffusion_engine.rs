//! The diffusion generator end to end on a real selfie: the studio's framing and checklist with
//! the tiny inpainting model of the parity fixtures repainting around the kept face.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use headshot_models::diffusion::{DiffusionEngine, Settings, engine::keep_mask};
use headshot_models::studio::Studio;
use headshot_models::{Catalog, Crop, DecodeLimits, Framing, GenerateError, Generator, Request};

fn engine() -> DiffusionEngine {
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion");
    let settings = Settings {
        steps: 3,
        guidance: 7.5,
        width: 64,
    };
    DiffusionEngine::load(studio, &dir, &Device::Cpu, settings).unwrap()
}

fn request(seed: u64) -> Request {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/astronaut.png"
    ))
    .unwrap();
    Request {
        selfies: vec![bytes],
        primary: 0,
        stem: "astronaut".into(),
        style: Catalog::builtin().get("corporate").unwrap().clone(),
        crop: Crop::Both,
        variants: 1,
        first_variant: 1,
        seed,
    }
}

#[test]
fn diffusion_engine_repaints_around_the_face_with_the_studio_checklist() {
    let engine = engine();
    let mut stages = Vec::new();
    let out = engine
        .generate(
            &request(9),
            &mut |p| stages.push((p.stage, p.step, p.steps)),
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(out.engine, "diffusion");
    assert_eq!(out.outputs.len(), 2);
    let master = out.outputs.iter().find(|o| o.framing == Framing::Master).unwrap();
    assert_eq!(master.width * 5, master.height * 4);
    let denoise: Vec<_> = stages.iter().filter(|s| s.0 == "denoise").collect();
    assert_eq!(denoise.len(), 6, "3 steps for each of the 2 framings: {stages:?}");
    assert!(
        !out.checklist.is_empty(),
        "the headshot checklist ran on the result"
    );
    // The same request gives the same bytes; the studio alone gives other ones.
    let again = engine
        .generate(&request(9), &mut |_| {}, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(again.outputs[0].bytes, master.bytes);
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let plain = studio
        .generate(&request(9), &mut |_| {}, &AtomicBool::new(false))
        .unwrap();
    assert_ne!(
        plain.outputs[0].bytes, master.bytes,
        "the repaint changed the picture"
    );
}

#[test]
fn diffusion_engine_keep_mask_is_the_head() {
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let image = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/astronaut.png"
    ))
    .unwrap()
    .to_rgb8();
    let subject = studio.inspect(&image).unwrap();
    let person = studio.segment(&image).unwrap();
    let scenes = studio.scenes(&image, &subject, &person, &[Framing::Master]);
    let keep = keep_mask(&scenes[0]);
    let eyes = scenes[0].eyes();
    assert_eq!(
        keep.get_pixel(eyes.x as u32, eyes.y as u32).0[0],
        255,
        "the face is kept"
    );
    let (w, h) = keep.dimensions();
    assert_eq!(keep.get_pixel(w / 2, h - 2).0[0], 0, "the torso is repainted");
    assert_eq!(keep.get_pixel(2, 2).0[0], 0, "the background is repainted");
}

#[test]
fn diffusion_engine_cancels() {
    let engine = engine();
    let cancel = AtomicBool::new(false);
    let result = engine.generate(
        &request(1),
        &mut |p| {
            if p.stage == "denoise" {
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        },
        &cancel,
    );
    assert_eq!(result.unwrap_err(), GenerateError::Cancelled);
}
