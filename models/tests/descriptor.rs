//! The face descriptor: parity with face-api's own forward pass (tfjs) on fixture chips, and
//! identity on real photos: the same person through mirroring, rotation, relighting and
//! re-cropping stays within the same-person distance; the two fixture people do not.

use crate::common;

use std::collections::HashMap;

use common::{default_detector, fixture, photo, rotate, weights};
use headshot_models::vision::descriptor::{CHIP, SAME_PERSON};
use headshot_models::vision::{Descriptor, FaceDescriptor};
use image::RgbImage;

fn network() -> FaceDescriptor {
    FaceDescriptor::new(&weights(), &candle_core::Device::Cpu).unwrap()
}

/// Largest difference of one component from face-api's (tfjs, f32): the two sum the same
/// products in different orders.
const PARITY: f32 = 2e-5;

#[test]
fn descriptor_matches_face_api_on_fixture_chips() {
    let dir = fixture("descriptor");
    let reference: HashMap<String, Vec<f32>> =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    assert_eq!(reference.len(), 3);
    let net = network();
    for (name, want) in &reference {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let chip = RgbImage::from_raw(CHIP, CHIP, raw).unwrap();
        let got = net.describe_chip(&chip).unwrap();
        assert_eq!(got.0.len(), 128);
        let worst = got
            .0
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= PARITY, "{name}: off by {worst}");
    }
    // A scaled filter bank would not pass: the comparison sees the network.
    let chip = RgbImage::from_raw(CHIP, CHIP, std::fs::read(dir.join("astronaut.rgb")).unwrap()).unwrap();
    let other = RgbImage::from_raw(CHIP, CHIP, std::fs::read(dir.join("grace_hopper.rgb")).unwrap()).unwrap();
    assert!(
        net.describe_chip(&chip)
            .unwrap()
            .distance(&net.describe_chip(&other).unwrap())
            > 0.1
    );
}

fn describe(net: &FaceDescriptor, image: &RgbImage, what: &str) -> Descriptor {
    let faces = default_detector().detect(image).unwrap();
    let face = faces
        .iter()
        .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
        .unwrap_or_else(|| panic!("{what}: no face"));
    net.describe(image, &face.landmarks).unwrap()
}

fn variants(image: &RgbImage) -> Vec<(&'static str, RgbImage)> {
    let (w, h) = image.dimensions();
    let relit = RgbImage::from_fn(w, h, |x, y| {
        let p = image.get_pixel(x, y).0;
        // Dimmer, warmer, with a left-to-right light falloff.
        let fall = 0.55 + 0.35 * x as f32 / w as f32;
        image::Rgb([
            (f32::from(p[0]) * fall * 1.05).min(255.0) as u8,
            (f32::from(p[1]) * fall).min(255.0) as u8,
            (f32::from(p[2]) * fall * 0.85).min(255.0) as u8,
        ])
    });
    let cropped = image::imageops::crop_imm(image, w / 10, h / 12, w * 7 / 10, h * 3 / 4).to_image();
    let small = image::imageops::resize(image, w / 2, h / 2, image::imageops::FilterType::Triangle);
    vec![
        ("mirrored", image::imageops::flip_horizontal(image)),
        ("rotated 12°", rotate(image, 12.0)),
        ("relit", relit),
        ("re-cropped", cropped),
        ("half size", small),
    ]
}

#[test]
fn the_same_person_stays_close_and_two_people_do_not() {
    let net = network();
    let mut originals = Vec::new();
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let image = photo(name);
        let original = describe(&net, &image, name);
        for (what, variant) in variants(&image) {
            let d = original.distance(&describe(&net, &variant, what));
            assert!(d < SAME_PERSON, "{name} {what}: distance {d}");
        }
        originals.push(original);
    }
    let apart = originals[0].distance(&originals[1]);
    assert!(apart > SAME_PERSON, "two people at distance {apart}");
}
