//! `headshot inspect IMAGE`: faces, landmarks and person mask as JSON, plus an optional overlay.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use headshot::Config;
use headshot::models::decode;
use headshot::models::vision::{Face, Mask, Vision};
use image::{Rgb, RgbImage};

/// Runs the command.
pub fn run(config: &Config, image: &Path, overlay: Option<&Path>) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(image).with_context(|| format!("cannot read {}", image.display()))?;
    let photo = decode::decode(&bytes, &config.decode_limits())
        .with_context(|| format!("{} is not a usable photo", image.display()))?
        .image;
    let vision = Vision::load(Some(&crate::setup::weights_dir(config)))?;
    let faces = vision.detector.detect(&photo)?;
    let mask = vision.segmenter.segment(&photo)?;
    let report = serde_json::json!({
        "width": photo.width(),
        "height": photo.height(),
        "faces": faces,
        "mask_coverage": mask.coverage(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = overlay {
        draw_overlay(&photo, &faces, &mask)
            .save(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(path = %path.display(), "overlay written");
    }
    Ok(ExitCode::SUCCESS)
}

/// The photo with the background dimmed by the mask, face boxes in green and landmarks in red.
fn draw_overlay(photo: &RgbImage, faces: &[Face], mask: &Mask) -> RgbImage {
    let mut out = RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let m = mask.get(x, y);
        let p = photo.get_pixel(x, y).0;
        Rgb(p.map(|c| (c as f32 * (0.35 + 0.65 * m)) as u8))
    });
    let (w, h) = (out.width() as i64, out.height() as i64);
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            out.put_pixel(x as u32, y as u32, Rgb(c));
        }
    };
    for face in faces {
        let b = face.bbox;
        let (x0, y0, x1, y1) = (b.x as i64, b.y as i64, b.right() as i64, b.bottom() as i64);
        for t in 0..2 {
            for x in x0..=x1 {
                put(x, y0 + t, [0, 255, 0]);
                put(x, y1 - t, [0, 255, 0]);
            }
            for y in y0..=y1 {
                put(x0 + t, y, [0, 255, 0]);
                put(x1 - t, y, [0, 255, 0]);
            }
        }
        for p in face.landmarks.to_array() {
            for dy in -2..=2 {
                for dx in -2..=2 {
                    put(p.x as i64 + dx, p.y as i64 + dy, [255, 0, 0]);
                }
            }
        }
    }
    out
}
