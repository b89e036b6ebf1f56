//! The diffusion generator end to end on a real selfie: the studio's framing and checklist with
//! the tiny inpainting model of the parity fixtures repainting around the kept face.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use headshot_models::diffusion::engine::{keep_mask, transfer};
use headshot_models::diffusion::{DiffusionEngine, Settings};
use headshot_models::studio::Studio;
use headshot_models::{Catalog, Crop, DecodeLimits, Framing, GenerateError, Generator, Request};
use image::{Rgb, RgbImage};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion")
}

fn settings() -> Settings {
    Settings {
        steps: 3,
        guidance: 7.5,
        width: 64,
        ..Settings::default()
    }
}

fn engine_with(dir: &std::path::Path, settings: Settings) -> DiffusionEngine {
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    DiffusionEngine::load(studio, dir, &Device::Cpu, settings).unwrap()
}

fn engine() -> DiffusionEngine {
    engine_with(&fixtures(), settings())
}

/// Denoise progress reports `(step, steps)` of one generation.
fn denoise_steps(
    engine: &DiffusionEngine,
    request: &Request,
) -> (Result<headshot_models::Generated, GenerateError>, Vec<(u32, u32)>) {
    let mut steps = Vec::new();
    let out = engine.generate(
        request,
        &mut |p| {
            if p.stage == "denoise" {
                steps.push((p.step, p.steps))
            }
        },
        &AtomicBool::new(false),
    );
    (out, steps)
}

/// The studio's scenes of the astronaut photo in `framings`.
fn astronaut_scenes(framings: &[Framing]) -> Vec<headshot_models::studio::Scene> {
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let image = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/astronaut.png"
    ))
    .unwrap()
    .to_rgb8();
    let subject = studio.inspect(&image).unwrap();
    let person = studio.segment(&image, &subject).unwrap();
    studio.scenes(&image, &subject, &person, framings).unwrap()
}

fn decoded(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

fn max_difference(a: &RgbImage, b: &RgbImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
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
    // The master takes 3 steps; the square, wider than the master, starts from the painted
    // master at strength 0.75 (2 steps); one count runs across both.
    let steps: Vec<_> = denoise.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(steps, vec![(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)], "{stages:?}");
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
    let scenes = astronaut_scenes(&[Framing::Master]);
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

#[test]
fn diffusion_engine_batches_variants_as_if_painted_one_by_one() {
    let mut request = request(5);
    request.variants = 2;
    request.crop = Crop::Master;
    let one = engine_with(
        &fixtures(),
        Settings {
            batch: 1,
            ..settings()
        },
    );
    let two = engine_with(
        &fixtures(),
        Settings {
            batch: 2,
            ..settings()
        },
    );
    let (a, steps_one) = denoise_steps(&one, &request);
    let (b, steps_two) = denoise_steps(&two, &request);
    assert_eq!(steps_one.len(), 6, "two batches of one: {steps_one:?}");
    assert_eq!(steps_two.len(), 3, "one batch of two: {steps_two:?}");
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.outputs.len(), 2);
    let mut variants: Vec<u32> = b.outputs.iter().map(|o| o.variant).collect();
    variants.sort();
    assert_eq!(variants, vec![1, 2]);
    for v in [1, 2] {
        let pick = |g: &headshot_models::Generated| {
            decoded(&g.outputs.iter().find(|o| o.variant == v).unwrap().bytes)
        };
        let (x, y) = (pick(&a), pick(&b));
        // Float sums in another order, amplified over the steps, then JPEG: a few levels.
        assert!(
            max_difference(&x, &y) <= 16,
            "variant {v}: {}",
            max_difference(&x, &y)
        );
        let mean = x
            .as_raw()
            .iter()
            .zip(y.as_raw())
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / x.as_raw().len() as f64;
        assert!(mean < 0.5, "variant {v}: mean difference {mean}");
    }
    let (p, q) = (decoded(&a.outputs[0].bytes), decoded(&a.outputs[1].bytes));
    assert!(max_difference(&p, &q) > 20, "the two variants differ");
}

#[test]
fn diffusion_engine_uses_the_styles_own_steps_strength_and_the_harmonising_pass() {
    let mut request = request(3);
    request.crop = Crop::Master;
    request.style.diffusion.steps = Some(4);
    let (_, steps) = denoise_steps(&engine(), &request);
    assert_eq!(
        steps.last(),
        Some(&(4, 4)),
        "the style's 4 steps, not the configured 3"
    );
    request.style.diffusion.strength = Some(0.5);
    let (half, steps) = denoise_steps(&engine(), &request);
    assert_eq!(steps.last(), Some(&(2, 2)), "strength 0.5 runs half the steps");
    // A low-strength second pass over the blended picture: 4 + 4 * 0.5 steps.
    request.style.diffusion.strength = None;
    let harmonised = engine_with(
        &fixtures(),
        Settings {
            harmonise: 0.5,
            ..settings()
        },
    );
    let (with, steps) = denoise_steps(&harmonised, &request);
    assert_eq!(steps.last(), Some(&(6, 6)), "{steps:?}");
    let (without, _) = denoise_steps(&engine(), &request);
    let (with, without, half) = (with.unwrap(), without.unwrap(), half.unwrap());
    assert_ne!(with.outputs[0].bytes, without.outputs[0].bytes);
    // Half strength keeps more of the studio picture than a full repaint.
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let plain = decoded(
        &studio
            .generate(&request, &mut |_| {}, &AtomicBool::new(false))
            .unwrap()
            .outputs[0]
            .bytes,
    );
    let distance = |g: &headshot_models::Generated| {
        let img = decoded(&g.outputs[0].bytes);
        img.as_raw()
            .iter()
            .zip(plain.as_raw())
            .map(|(a, b)| a.abs_diff(*b) as u64)
            .sum::<u64>()
    };
    assert!(
        distance(&half) < distance(&without),
        "{} vs {}",
        distance(&half),
        distance(&without)
    );
}

/// A copy of the fixture weights whose safety checker flags everything.
fn flagging_weights() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    for sub in [
        "unet",
        "vae",
        "text_encoder",
        "scheduler",
        "tokenizer",
        "safety_checker",
        "feature_extractor",
    ] {
        copy(&fixtures().join(sub), &dir.path().join(sub));
    }
    let file = dir.path().join("safety_checker/model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let n = tensors["concept_embeds_weights"].dim(0).unwrap();
    tensors.insert(
        "concept_embeds_weights".into(),
        candle_core::Tensor::full(-1f32, n, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &file).unwrap();
    dir
}

#[test]
fn diffusion_engine_paints_flagged_pictures_again_then_refuses() {
    let weights = flagging_weights();
    let engine = engine_with(
        weights.path(),
        Settings {
            retries: 2,
            ..settings()
        },
    );
    let mut request = request(4);
    request.crop = Crop::Master;
    let (out, steps) = denoise_steps(&engine, &request);
    match out {
        Err(GenerateError::Unsafe(detail)) => assert!(detail.contains("3 times"), "{detail}"),
        other => panic!("expected a safety refusal, got {other:?}"),
    }
    // Three attempts of 3 steps; the count grows when a retry starts.
    let expected = vec![
        (1, 3),
        (2, 3),
        (3, 3),
        (3, 6),
        (4, 6),
        (5, 6),
        (6, 6),
        (6, 9),
        (7, 9),
        (8, 9),
        (9, 9),
    ];
    assert_eq!(steps, expected);
}

#[test]
fn diffusion_engine_starts_the_square_from_the_painted_master() {
    let scenes = astronaut_scenes(&[Framing::Master, Framing::Square]);
    let (master, square) = (&scenes[0], &scenes[1]);
    // A picture that encodes its own coordinates, and a plain studio picture.
    let painted = RgbImage::from_fn(master.width(), master.height(), |x, y| {
        Rgb([
            (x * 255 / master.width()) as u8,
            (y * 255 / master.height()) as u8,
            128,
        ])
    });
    let studio_picture = RgbImage::from_pixel(square.width(), square.height(), Rgb([1, 2, 3]));
    let (started, covered) = transfer(square, &studio_picture, master, &painted);
    assert_eq!(started.dimensions(), (square.width(), square.height()));
    assert!(
        (0.6..1.0).contains(&covered),
        "the master covers most of the square: {covered}"
    );
    // The eyes of the square show the master's eyes.
    let (se, me) = (square.eyes(), master.eyes());
    let at_square = started.get_pixel(se.x as u32, se.y as u32).0;
    let at_master = painted.get_pixel(me.x as u32, me.y as u32).0;
    assert!(
        at_square[0].abs_diff(at_master[0]) <= 2 && at_square[1].abs_diff(at_master[1]) <= 2,
        "{at_square:?} vs {at_master:?}"
    );
    // The square is wider than the master: its left and right strips keep the studio picture.
    assert_eq!(started.get_pixel(0, square.height() / 2).0, [1, 2, 3]);
    assert_eq!(
        started.get_pixel(square.width() - 1, square.height() / 2).0,
        [1, 2, 3]
    );
}
