//! Hard cases built from any single-person photo, with a ground-truth alpha, for measuring
//! the matte and the framing where real selfies go wrong: the person composited over a busy
//! texture, a dark, a saturated and a hair-coloured background, with a second, smaller,
//! blurred person behind; and the photo cropped at the chin, the neck, mid-chest and through
//! the crown.
//!
//! The ground truth is the photo's own matte made definite (soft values pushed to 0 or 1
//! except in a thin edge): the composite `I = a F + (1 - a) B` is then exactly consistent with
//! it, so every difference the pipeline makes on a composite comes from the new background.
//! Errors are reported as the alpha-matting benchmarks do: the sum of absolute differences
//! (SAD, in thousands), the mean squared error, and the gradient error (squared differences of
//! Gaussian-derivative magnitudes, sigma 1.4, in thousands).

use image::{Rgb, RgbImage};

use super::geometry::Align;
use super::matte::{Matting, Scene, smoothstep};
use super::resample::Plane;
use super::{PersonMask, Studio};
use crate::generator::{Framing, GenerateError};
use crate::vision::{Mask, Point, guided, shrink_to_fit};

/// What a hard case tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The person over a new background: the matte is measured.
    Background,
    /// The photo cut close: the framing is measured (the matte too).
    Crop,
}

/// One hard case: a photo and the subject's true alpha over it.
#[derive(Debug, Clone)]
pub struct HardCase {
    pub name: String,
    pub kind: Kind,
    pub image: RgbImage,
    /// Ground-truth alpha at the image's size.
    pub alpha: Plane,
}

/// Matte error against the ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatteError {
    /// Sum of absolute differences, in thousands.
    pub sad: f32,
    /// Mean squared error.
    pub mse: f32,
    /// Gradient error, in thousands.
    pub gradient: f32,
}

/// The hard cases of `photo` (a single-person photo the studio accepts).
pub fn build(studio: &Studio, photo: &RgbImage) -> Result<Vec<HardCase>, GenerateError> {
    let subject = studio.inspect(photo)?;
    let person = PersonMask::segment(&studio.vision().segmenter, photo)
        .map_err(|e| GenerateError::Failed(e.to_string()))?
        .isolate(&subject.face, &subject.faces[1..]);
    let (w, h) = photo.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    // The reference matte: the subject's mask refined against the photo, made definite.
    let plane = person.plane();
    let coarse =
        Mask::from_vec(plane.width as u32, plane.height as u32, plane.data.clone()).expect("plane size");
    let radius = ((w.max(h) as f32 / plane.width.max(plane.height) as f32) * 2.0).ceil() as u32;
    let refined = guided::refine(
        photo,
        &coarse,
        radius.max(2),
        studio.vision().segmenter.config().epsilon,
    );
    let alpha = Plane {
        width: wu,
        height: hu,
        data: refined
            .values()
            .iter()
            .map(|&a| smoothstep(0.15, 0.85, a))
            .collect(),
    };
    let face = subject.face.bbox;
    let mut cases = Vec::new();
    let mut over = |name: &str, back: RgbImage| {
        cases.push(HardCase {
            name: name.into(),
            kind: Kind::Background,
            image: composite(photo, &alpha, &back),
            alpha: alpha.clone(),
        });
    };
    over("busy", busy(w, h));
    over("dark", flat(w, h, [14, 14, 18], 4));
    over("saturated", flat(w, h, [205, 25, 35], 6));
    over(
        "hair-coloured",
        flat(w, h, hair_colour(photo, &alpha, face.y, face.height), 6),
    );
    over(
        "second person",
        second_person(photo, &alpha, face.center(), face.width),
    );
    // Crops: the photo itself cut close.
    let chin = face.bottom();
    let eyes = subject.align.origin;
    let hair_top = eyes.y + person.hair_top(&subject.align, &subject.geometry);
    let crops = [
        ("cut at the chin", 0.0, chin + 0.05 * face.height),
        ("cut at the neck", 0.0, chin + 0.45 * face.height),
        ("cut mid-chest", 0.0, chin + 1.4 * face.height),
        (
            "cut through the crown",
            hair_top + 0.35 * (eyes.y - hair_top),
            h as f32,
        ),
    ];
    for (name, top, bottom) in crops {
        let (y0, y1) = (top.max(0.0) as u32, (bottom.min(h as f32) as u32).max(1));
        if y1 <= y0 + 8 {
            continue;
        }
        let image = image::imageops::crop_imm(photo, 0, y0, w, y1 - y0).to_image();
        let data = alpha.data[y0 as usize * wu..y1 as usize * wu].to_vec();
        cases.push(HardCase {
            name: name.into(),
            kind: Kind::Crop,
            image,
            alpha: Plane {
                width: wu,
                height: (y1 - y0) as usize,
                data,
            },
        });
    }
    Ok(cases)
}

/// `I = a F + (1 - a) B`.
fn composite(front: &RgbImage, alpha: &Plane, back: &RgbImage) -> RgbImage {
    RgbImage::from_fn(front.width(), front.height(), |x, y| {
        let a = alpha.data[y as usize * alpha.width + x as usize];
        let (f, b) = (front.get_pixel(x, y), back.get_pixel(x, y));
        Rgb([0, 1, 2].map(|c| (a * f32::from(f[c]) + (1.0 - a) * f32::from(b[c])).round() as u8))
    })
}

/// A deterministic hash of a cell to 0..1.
fn hash(x: u32, y: u32, salt: u32) -> f32 {
    let mut v = x.wrapping_mul(0x9E37_79B9) ^ y.wrapping_mul(0x85EB_CA6B) ^ salt.wrapping_mul(0xC2B2_AE35);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    (v & 0xFFFF) as f32 / 65535.0
}

/// Colourful blocks at three scales with thin stripes: the busiest background there is.
fn busy(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let mut rgb = [0f32; 3];
        for (k, cell) in [(0u32, 61u32), (1, 17), (2, 5)] {
            for (c, v) in rgb.iter_mut().enumerate() {
                *v += hash(x / cell, y / cell, k * 3 + c as u32) * 255.0 / 3.0;
            }
        }
        if (x + 2 * y) % 23 < 3 {
            rgb = [250.0, 250.0, 240.0];
        }
        Rgb(rgb.map(|v| v.clamp(0.0, 255.0) as u8))
    })
}

/// A flat colour with a little noise.
fn flat(w: u32, h: u32, colour: [u8; 3], noise: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = (hash(x, y, 99) - 0.5) * 2.0 * f32::from(noise);
        Rgb(colour.map(|c| (f32::from(c) + n).clamp(0.0, 255.0) as u8))
    })
}

/// The mean colour of the hair: sure-person pixels above the face box.
fn hair_colour(photo: &RgbImage, alpha: &Plane, face_top: f32, face_height: f32) -> [u8; 3] {
    let (mut sum, mut n) = ([0f64; 3], 0f64);
    let top = (face_top - 0.3 * face_height).max(0.0) as u32;
    let bottom = (face_top + 0.1 * face_height).max(0.0) as u32;
    for y in top..bottom.min(photo.height()) {
        for x in 0..photo.width() {
            if alpha.data[y as usize * alpha.width + x as usize] > 0.95 {
                let p = photo.get_pixel(x, y);
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
                n += 1.0;
            }
        }
    }
    if n == 0.0 {
        return [60, 45, 35];
    }
    sum.map(|s| (s / n).round() as u8)
}

/// Light grey with a smaller, mirrored, blurred copy of the person beside and behind the
/// subject (its face small enough to be a background face).
fn second_person(photo: &RgbImage, alpha: &Plane, face: Point, face_width: f32) -> RgbImage {
    const SCALE: f32 = 0.55;
    let (w, h) = photo.dimensions();
    let (sw, sh) = (
        ((w as f32 * SCALE) as u32).max(1),
        ((h as f32 * SCALE) as u32).max(1),
    );
    let small = image::imageops::resize(photo, sw, sh, image::imageops::FilterType::Triangle);
    let small = image::imageops::blur(&small, 2.0);
    let small_alpha = alpha.resized(sw as usize, sh as usize);
    // Its face lands 1.3 face widths beside the subject's, on the roomier side, a little higher.
    let side = if face.x > w as f32 / 2.0 { -1.0 } else { 1.0 };
    let target = Point::new(face.x + side * 1.3 * face_width, face.y - 0.2 * face_width);
    let (dx, dy) = (target.x - face.x * SCALE, target.y - face.y * SCALE);
    RgbImage::from_fn(w, h, |x, y| {
        let grey = [205f32, 205.0, 208.0];
        // Mirrored about the small copy's face.
        let u = x as f32 - dx;
        let u = 2.0 * face.x * SCALE - u;
        let v = y as f32 - dy;
        if u < 0.0 || v < 0.0 || u >= sw as f32 || v >= sh as f32 {
            return Rgb(grey.map(|c| c as u8));
        }
        let (ui, vi) = (u as u32, v as u32);
        let a = small_alpha.data[vi as usize * sw as usize + ui as usize];
        let p = small.get_pixel(ui, vi);
        Rgb([0, 1, 2].map(|c| (a * f32::from(p[c]) + (1.0 - a) * grey[c]).round() as u8))
    })
}

/// The ground truth seen through `scene`'s framing (0 past the photo's borders).
pub fn truth_in(scene: &Scene, truth: &Plane, align: &Align) -> Plane {
    let map = scene.frame.to_source(align);
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let mut out = truth.warped(&map, w, h);
    for (i, v) in out.data.iter_mut().enumerate() {
        let (x, y) = map.apply((i % w) as f32, (i / w) as f32);
        let inside =
            x >= -0.5 && y >= -0.5 && x <= truth.width as f32 - 0.5 && y <= truth.height as f32 - 0.5;
        if !inside {
            *v = 0.0;
        }
    }
    out
}

/// The matte error of `alpha` against `truth` (same size).
pub fn matte_error(alpha: &Plane, truth: &Plane) -> MatteError {
    assert_eq!((alpha.width, alpha.height), (truth.width, truth.height));
    let n = alpha.data.len().max(1) as f32;
    let (mut sad, mut sse) = (0f64, 0f64);
    for (a, t) in alpha.data.iter().zip(&truth.data) {
        let d = f64::from(a - t);
        sad += d.abs();
        sse += d * d;
    }
    let (ga, gt) = (gradient_magnitude(alpha), gradient_magnitude(truth));
    let gradient: f64 = ga.iter().zip(&gt).map(|(a, b)| f64::from(a - b).powi(2)).sum();
    MatteError {
        sad: (sad / 1000.0) as f32,
        mse: (sse / f64::from(n)) as f32,
        gradient: (gradient / 1000.0) as f32,
    }
}

/// Magnitude of the Gaussian derivative (sigma about 1.4: three box passes of radius 1).
fn gradient_magnitude(p: &Plane) -> Vec<f32> {
    let mut s = p.clone();
    s.box_blur(1, 3);
    let (w, h) = (s.width, s.height);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let at = |x: usize, y: usize| s.data[y * w + x];
            let gx = (at((x + 1).min(w - 1), y) - at(x.saturating_sub(1), y)) / 2.0;
            let gy = (at(x, (y + 1).min(h - 1)) - at(x, y.saturating_sub(1))) / 2.0;
            gx.hypot(gy)
        })
        .collect()
}

/// What the studio made of one hard case.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// The master's scene and matte error, or why the selfie was refused.
    pub result: Result<(Scene, MatteError), GenerateError>,
}

/// Which matte to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The pipeline's matte with this matting choice.
    Studio(Matting),
    /// The matte before the subject isolation and trimap were built (for the record): the
    /// network's whole-photo mask warped into the same frame and refined by the guided filter
    /// at up to 512 pixels, as the pipeline did before.
    Baseline,
}

/// Runs the studio's detection, segmentation and framing on `case` (master framing) and
/// measures the matte `method` gives there.
pub fn evaluate(studio: &Studio, case: &HardCase, method: Method) -> Outcome {
    let result = (|| {
        let subject = studio.inspect(&case.image)?;
        let person = studio.segment(&case.image, &subject)?;
        let matting = match method {
            Method::Studio(m) => m,
            Method::Baseline => Matting::Guided,
        };
        let mut scene = studio
            .scenes_with(&case.image, &subject, &person, &[Framing::Master], matting)?
            .into_iter()
            .next()
            .ok_or_else(|| GenerateError::Failed("no scene".into()))?;
        if method == Method::Baseline {
            scene.alpha = baseline(studio, case, &scene, &subject.align)?;
        }
        let truth = truth_in(&scene, &case.alpha, &subject.align);
        let error = matte_error(&scene.alpha, &truth);
        Ok((scene, error))
    })();
    Outcome {
        name: case.name.clone(),
        result,
    }
}

/// The matte of [`Method::Baseline`] in `scene`'s frame.
fn baseline(studio: &Studio, case: &HardCase, scene: &Scene, align: &Align) -> Result<Plane, GenerateError> {
    let person = PersonMask::segment(&studio.vision().segmenter, &case.image)
        .map_err(|e| GenerateError::Failed(e.to_string()))?;
    let map = scene.frame.to_source(align);
    let (w, h) = (scene.width(), scene.height());
    let (mw, mh) = shrink_to_fit(w, h, 512);
    let (sx, sy) = (w as f32 / mw as f32, h as f32 / mh as f32);
    let small_map = map.coarsened(sx, sy);
    let coarse = person.warped(&small_map, mw as usize, mh as usize);
    let coarse = Mask::from_vec(mw, mh, coarse.data).expect("sized by warped");
    let footprint = (case.image.width() as f32 / person.plane().width as f32).max(1.0);
    let radius = ((2.0 * footprint * scene.frame.scale).ceil() as u32).max(2);
    let epsilon = studio.vision().segmenter.config().epsilon;
    let refined = guided::refine(&scene.photo, &coarse, radius, epsilon);
    let mut alpha = Plane {
        width: w as usize,
        height: h as usize,
        data: refined.values().to_vec(),
    };
    // Zero past the photo, as the pipeline does.
    let truth_extent = Plane::filled(case.alpha.width, case.alpha.height, 1.0);
    let inside = truth_in(scene, &truth_extent, align);
    for (a, c) in alpha.data.iter_mut().zip(&inside.data) {
        *a *= c;
    }
    Ok(alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_matte_has_no_error_and_a_ghost_has_some() {
        let truth = Plane {
            width: 20,
            height: 10,
            data: (0..200).map(|i| if i % 20 < 10 { 1.0 } else { 0.0 }).collect(),
        };
        let e = matte_error(&truth, &truth);
        assert_eq!((e.sad, e.mse, e.gradient), (0.0, 0.0, 0.0));
        let mut ghost = truth.clone();
        for y in 2..6 {
            for x in 14..18 {
                ghost.data[y * 20 + x] = 0.5;
            }
        }
        let e = matte_error(&ghost, &truth);
        assert!((e.sad - 0.008).abs() < 1e-6 && e.gradient > 0.0, "{e:?}");
    }

    #[test]
    fn backgrounds_are_deterministic_and_busy_is_busy() {
        assert_eq!(busy(40, 30), busy(40, 30));
        let b = busy(64, 64);
        let distinct: std::collections::HashSet<[u8; 3]> = b.pixels().map(|p| p.0).collect();
        assert!(distinct.len() > 20);
        let f = flat(8, 8, [14, 14, 18], 4);
        assert!(f.pixels().all(|p| p[0] <= 18 && p[2] >= 14));
    }
}
