//! Face chips and their similarity: a face cut to a 64x64 grey chip through its five
//! landmarks, and structural similarity between chips, registered over small nudges. The
//! studio tests use them to check that the face in every output is the input face.

use headshot_models::vision::{Face, Point};
use image::GrayImage;
use image::RgbImage;
use image::imageops::{self, FilterType};

/// A small change of the similarity that cuts a chip: offset in chip pixels, scale, angle.
#[derive(Clone, Copy)]
pub struct Nudge {
    pub dx: f32,
    pub dy: f32,
    pub scale: f32,
    pub degrees: f32,
}

pub const NO_NUDGE: Nudge = Nudge {
    dx: 0.0,
    dy: 0.0,
    scale: 1.0,
    degrees: 0.0,
};

/// `image` in grey, shrunk (with a proper filter) so that the face's eyes are about 24 pixels
/// apart as on the chips, and the face scaled with it: chips then sample without aliasing.
pub fn prepared(image: &RgbImage, face: &Face) -> (GrayImage, Face) {
    let grey = imageops::grayscale(image);
    let l = face.landmarks;
    let f = 24.0 / l.left_eye.distance(l.right_eye);
    if f >= 1.0 {
        return (grey, *face);
    }
    let (w, h) = (
        (grey.width() as f32 * f).round() as u32,
        (grey.height() as f32 * f).round() as u32,
    );
    let small = imageops::resize(&grey, w, h, FilterType::Triangle);
    let (sx, sy) = (w as f32 / grey.width() as f32, h as f32 / grey.height() as f32);
    (small, face.scaled(sx, sy))
}

/// Where the five landmarks go on a 64x64 chip (eyes, nose tip, mouth corners).
pub const TEMPLATE: [(f32, f32); 5] = [
    (20.0, 26.0),
    (44.0, 26.0),
    (32.0, 38.0),
    (23.0, 48.0),
    (41.0, 48.0),
];

/// A 64x64 grey chip of a face, sampled bilinearly from `grey` through the similarity that
/// best maps its five landmarks onto [`TEMPLATE`] (least squares, so one landmark's error is
/// shared out), moved by `nudge`.
pub fn face_chip(grey: &GrayImage, face: &Face, nudge: Nudge) -> Vec<f32> {
    const SIDE: usize = 64;
    let points = face.landmarks.to_array();
    let n = points.len() as f32;
    let (px, py) = (
        points.iter().map(|p| p.x).sum::<f32>() / n,
        points.iter().map(|p| p.y).sum::<f32>() / n,
    );
    let (tx, ty) = (
        TEMPLATE.iter().map(|t| t.0).sum::<f32>() / n,
        TEMPLATE.iter().map(|t| t.1).sum::<f32>() / n,
    );
    // Chip -> photo as complex numbers: p = a (t - tc) + pc, a fitted by least squares.
    let (mut re, mut im, mut norm) = (0.0, 0.0, 0.0);
    for (p, t) in points.iter().zip(TEMPLATE) {
        let (wx, wy) = (t.0 - tx, t.1 - ty);
        let (zx, zy) = (p.x - px, p.y - py);
        re += wx * zx + wy * zy;
        im += wx * zy - wy * zx;
        norm += wx * wx + wy * wy;
    }
    let (scale, angle) = (
        (re.hypot(im) / norm) * nudge.scale,
        im.atan2(re) + nudge.degrees.to_radians(),
    );
    let (c, s) = (scale * angle.cos(), scale * angle.sin());
    let mut chip = Vec::with_capacity(SIDE * SIDE);
    for v in 0..SIDE {
        for u in 0..SIDE {
            let (a, b) = (u as f32 + 0.5 - tx + nudge.dx, v as f32 + 0.5 - ty + nudge.dy);
            let p = Point::new(px + c * a - s * b, py + s * a + c * b);
            chip.push(bilinear(grey, p.x - 0.5, p.y - 0.5));
        }
    }
    chip
}

/// The best SSIM of `target` against chips of `face` in `grey` over small nudges: two
/// detections of one face place the eyes a pixel or two apart, so the chips are registered
/// before they are compared (translation first, then scale and angle).
pub fn registered_ssim(grey: &GrayImage, face: &Face, target: &[f32]) -> f32 {
    let score = |n: Nudge| ssim(&face_chip(grey, face, n), target);
    let mut best = (NO_NUDGE, score(NO_NUDGE));
    let consider = |n: Nudge, best: &mut (Nudge, f32)| {
        let s = score(n);
        if s > best.1 {
            *best = (n, s);
        }
    };
    for dy in -3..=3 {
        for dx in -3..=3 {
            let n = Nudge {
                dx: dx as f32,
                dy: dy as f32,
                ..NO_NUDGE
            };
            consider(n, &mut best);
        }
    }
    let base = best.0;
    for i in -2..=2 {
        for degrees in [-3.0, 0.0, 3.0] {
            let scale = 1.0 + 0.03 * i as f32;
            consider(
                Nudge {
                    scale,
                    degrees,
                    ..base
                },
                &mut best,
            );
        }
    }
    let base = best.0;
    for dy in -1..=1 {
        for dx in -1..=1 {
            let n = Nudge {
                dx: base.dx + 0.5 * dx as f32,
                dy: base.dy + 0.5 * dy as f32,
                ..base
            };
            consider(n, &mut best);
        }
    }
    best.1
}

pub fn bilinear(grey: &GrayImage, x: f32, y: f32) -> f32 {
    let (w, h) = (grey.width() as f32, grey.height() as f32);
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(grey.width() - 1), (y0 + 1).min(grey.height() - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| f32::from(grey.get_pixel(x, y)[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Mean SSIM over 8x8 windows (stride 4) of two 64x64 chips, each first normalised to the
/// same mean and contrast: the studio relights the face on purpose, the structure must stay.
pub fn ssim(a: &[f32], b: &[f32]) -> f32 {
    let norm = |v: &[f32]| {
        let n = v.len() as f32;
        let mean = v.iter().sum::<f32>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n)
            .sqrt()
            .max(1e-3);
        v.iter()
            .map(|x| 0.5 + 0.15 * (x - mean) / std)
            .collect::<Vec<f32>>()
    };
    let (a, b) = (norm(a), norm(b));
    let (c1, c2) = (0.01f32.powi(2), 0.03f32.powi(2));
    let mut total = 0.0;
    let mut windows = 0;
    for y in (0..=56).step_by(4) {
        for x in (0..=56).step_by(4) {
            let idx = |i: usize| (y + i / 8) * 64 + x + i % 8;
            let (mut ma, mut mb) = (0.0, 0.0);
            for i in 0..64 {
                ma += a[idx(i)];
                mb += b[idx(i)];
            }
            ma /= 64.0;
            mb /= 64.0;
            let (mut va, mut vb, mut cov) = (0.0, 0.0, 0.0);
            for i in 0..64 {
                let (da, db) = (a[idx(i)] - ma, b[idx(i)] - mb);
                va += da * da;
                vb += db * db;
                cov += da * db;
            }
            let (va, vb, cov) = (va / 63.0, vb / 63.0, cov / 63.0);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    total / windows as f32
}
