//! Writes the face chips of the descriptor parity fixtures (`models/tests/fixtures/descriptor/`):
//! the aligned face of each fixture photo, and a synthetic pattern, as raw 150x150 RGB.
//! `models/tools/descriptor_reference.cjs` then computes face-api's descriptors of them.
//!
//! Run: `cargo run -p headshot-models --example descriptor_chips`.

use std::path::Path;

use headshot_models::vision::descriptor::{CHIP, align};
use headshot_models::vision::{DetectorConfig, FaceDetector, Weights};

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = here.join("descriptor");
    std::fs::create_dir_all(&out).unwrap();
    let weights = Weights::load_default().unwrap();
    let detector = FaceDetector::new(&weights, DetectorConfig::default(), &candle_core::Device::Cpu).unwrap();
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let photo = image::open(here.join(name)).unwrap().to_rgb8();
        let faces = detector.detect(&photo).unwrap();
        let face = faces.first().expect("a face in every fixture photo");
        let chip = align(&photo, &face.landmarks);
        let stem = name.split('.').next().unwrap();
        std::fs::write(out.join(format!("{stem}.rgb")), chip.as_raw()).unwrap();
        chip.save(out.join(format!("{stem}.png"))).unwrap();
        println!("{stem}: face at {:?}", face.bbox);
    }
    let pattern: Vec<u8> = (0..(CHIP * CHIP * 3) as usize)
        .map(|i| ((i * 37) % 256) as u8)
        .collect();
    std::fs::write(out.join("pattern.rgb"), pattern).unwrap();
}
