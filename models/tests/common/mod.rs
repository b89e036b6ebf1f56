//! Shared helpers of the vision tests: fixture photos and models.
#![allow(dead_code)]

pub mod chips;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use headshot_models::vision::{DetectorConfig, FaceDetector, Segmenter, SegmenterConfig, Weights};
use image::RgbImage;

/// `models/tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// A fixture photo as RGB.
pub fn photo(name: &str) -> RgbImage {
    image::open(fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8()
}

/// The tensors of a fixture safetensors file.
pub fn tensors(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(name), &Device::Cpu).unwrap()
}

/// A `[H, W, 3]` u8 tensor as an image.
pub fn image_from_tensor(t: &Tensor) -> RgbImage {
    let (h, w, _) = t.dims3().unwrap();
    let bytes = t.flatten_all().unwrap().to_vec1::<u8>().unwrap();
    RgbImage::from_raw(w as u32, h as u32, bytes).unwrap()
}

pub fn weights() -> Weights {
    Weights::load_default().expect("run models/fetch.sh")
}

pub fn detector(config: DetectorConfig) -> FaceDetector {
    FaceDetector::new(&weights(), config, &Device::Cpu).unwrap()
}

pub fn default_detector() -> FaceDetector {
    detector(DetectorConfig::default())
}

pub fn segmenter(config: SegmenterConfig) -> Segmenter {
    Segmenter::new(&weights(), config, &Device::Cpu).unwrap()
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `image` rotated by `degrees` (clockwise on screen) about its centre, same
/// size, bilinear, uncovered corners filled with mid grey.
pub fn rotate(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    RgbImage::from_fn(w, h, |x, y| {
        // Inverse map: rotate the output position back by -degrees.
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let sx = cos * dx + sin * dy + cx - 0.5;
        let sy = -sin * dx + cos * dy + cy - 0.5;
        if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
            return image::Rgb([128, 128, 128]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let mut out = [0u8; 3];
        for (c, v) in out.iter_mut().enumerate() {
            let p = |x, y| f32::from(image.get_pixel(x, y)[c]);
            let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
            let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
            *v = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
        image::Rgb(out)
    })
}

/// Where a point of the original lands after [`rotate`] by `degrees`.
pub fn rotate_point(x: f32, y: f32, w: u32, h: u32, degrees: f32) -> (f32, f32) {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (dx, dy) = (x - cx, y - cy);
    (cos * dx - sin * dy + cx, sin * dx + cos * dy + cy)
}
