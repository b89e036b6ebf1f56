//! Colour and tone harmonisation across the seam between the kept face and hair and the
//! repainted attire and background.
//!
//! The model repaints around the kept region and the decoder also reproduces the kept region,
//! never exactly: a slight colour cast or exposure shift along the seam shows as a halo once
//! the original face is blended back. The difference between the original and the generated
//! picture is measured on the kept side of the seam, spread outwards smoothly (a normalised box
//! filter: each generated pixel gets the average difference of the measured pixels near it),
//! and added to the generated picture with a weight that fades to nothing a radius away from
//! the seam. Far from the face the generated picture is untouched; at the seam both sides meet
//! in tone before the feathered blend.

use image::{GrayImage, RgbImage};

/// Mean filter of `plane` (`w` x `h`) over a (2r+1)^2 box, clipped at the borders, through a
/// summed-area table.
fn box_sum(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut table = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += plane[y * w + x] as f64;
            table[(y + 1) * (w + 1) + x + 1] = table[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let at = |yy: usize, xx: usize| table[yy * (w + 1) + xx];
            out[y * w + x] = (at(y1, x1) - at(y0, x1) - at(y1, x0) + at(y0, x0)) as f32;
        }
    }
    out
}

/// The radius (pixels) over which the seam is harmonised for a picture `width` wide.
pub fn radius(width: u32) -> usize {
    ((width as f32 * 0.04).round() as usize).max(3)
}

/// `generated` with its tone near the seam pulled towards `original`. `keep` is the feathered
/// keep-mask (255 kept). Measures on kept pixels (keep >= 50%) within `radius` of a repainted
/// one, spreads over `radius`, fades out at `2 * radius` from the measured band.
pub fn harmonise(original: &RgbImage, generated: &RgbImage, keep: &GrayImage, radius: usize) -> RgbImage {
    let (w, h) = (generated.width() as usize, generated.height() as usize);
    assert_eq!(original.dimensions(), generated.dimensions());
    assert_eq!(keep.dimensions(), generated.dimensions());
    let r = radius.max(1);
    // The seam's kept side: kept pixels that have a repainted pixel within r.
    let repainted: Vec<f32> = keep.as_raw().iter().map(|&k| f32::from(k < 128)).collect();
    let near_repaint = box_sum(&repainted, w, h, r);
    let measured: Vec<f32> = keep
        .as_raw()
        .iter()
        .zip(&near_repaint)
        .map(|(&k, &n)| f32::from(k >= 128 && n > 0.0))
        .collect();
    if measured.iter().all(|&m| m == 0.0) {
        return generated.clone();
    }
    let weight = box_sum(&measured, w, h, r);
    let reach = box_sum(&measured, w, h, 2 * r);
    let full = (2 * r + 1) as f32;
    let mut out = generated.clone();
    let (o, g) = (original.as_raw(), generated.as_raw());
    for c in 0..3 {
        let diff: Vec<f32> = (0..w * h)
            .map(|i| measured[i] * (o[i * 3 + c] as f32 - g[i * 3 + c] as f32))
            .collect();
        let spread = box_sum(&diff, w, h, r);
        // Wider support for the fade so pixels between r and 2r still get the nearest offset.
        let spread_far = box_sum(&diff, w, h, 2 * r);
        let data: &mut [u8] = &mut out;
        for i in 0..w * h {
            let offset = if weight[i] > 0.0 {
                spread[i] / weight[i]
            } else if reach[i] > 0.0 {
                spread_far[i] / reach[i]
            } else {
                continue;
            };
            // 1 on the seam, fading to 0 where the band covers no part of the wide window.
            let fade = (reach[i] / (full * r as f32)).min(1.0);
            let v = g[i * 3 + c] as f32 + offset * fade;
            data[i * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    fn scene(shift: [i32; 3]) -> (RgbImage, RgbImage, GrayImage) {
        let (w, h) = (120u32, 150u32);
        let original = RgbImage::from_fn(w, h, |x, y| Rgb([(60 + x) as u8, (40 + y) as u8, 120]));
        let generated = RgbImage::from_fn(w, h, |x, y| {
            let p = original.get_pixel(x, y).0;
            Rgb(std::array::from_fn(|c| {
                (p[c] as i32 + shift[c]).clamp(0, 255) as u8
            }))
        });
        let keep = GrayImage::from_fn(w, h, |x, y| {
            let d = ((x as f32 - 60.0).powi(2) + (y as f32 - 55.0).powi(2)).sqrt();
            Luma([((32.0 - d) / 4.0 * 255.0).clamp(0.0, 255.0) as u8])
        });
        (original, generated, keep)
    }

    fn mean_error(a: &RgbImage, b: &RgbImage, pick: impl Fn(u32, u32) -> bool) -> f32 {
        let (mut sum, mut n) = (0f32, 0);
        for (x, y, p) in a.enumerate_pixels() {
            if pick(x, y) {
                let q = b.get_pixel(x, y).0;
                sum += (0..3).map(|c| (p.0[c] as f32 - q[c] as f32).abs()).sum::<f32>();
                n += 3;
            }
        }
        sum / n as f32
    }

    #[test]
    fn a_colour_cast_at_the_seam_is_pulled_to_the_original() {
        let (original, generated, keep) = scene([24, -18, 12]);
        let out = harmonise(&original, &generated, &keep, 6);
        let dist = |x: u32, y: u32| ((x as f32 - 60.0).powi(2) + (y as f32 - 55.0).powi(2)).sqrt();
        let seam = |x: u32, y: u32| (32.0..38.0).contains(&dist(x, y));
        let before = mean_error(&generated, &original, seam);
        let after = mean_error(&out, &original, seam);
        assert!(before > 17.0, "{before}");
        assert!(after < before * 0.3, "seam error {before} -> {after}");
        // Far from the seam the generated picture is untouched.
        let far = |x: u32, y: u32| dist(x, y) > 32.0 + 3.0 * 6.0;
        assert_eq!(mean_error(&out, &generated, far), 0.0);
    }

    #[test]
    fn nothing_changes_when_the_tones_already_agree_or_nothing_is_kept() {
        let (original, generated, keep) = scene([0, 0, 0]);
        assert_eq!(harmonise(&original, &generated, &keep, 6), generated);
        let (original, generated, _) = scene([20, 20, 20]);
        let none = GrayImage::new(original.width(), original.height());
        assert_eq!(harmonise(&original, &generated, &none, 6), generated);
    }
}
