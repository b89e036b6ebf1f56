//! The colour guided filter (He, Sun and Tang, 2010): smooths a mask while
//! snapping its edges to the colour edges of a guide photo, so a mask
//! upsampled from 256x256 follows the hair and shoulder outlines of the
//! full-resolution photo instead of showing the network's blocks.
//!
//! Locally the output is an affine function of the guide's RGB,
//! `q = a . I + b`, with `a` and `b` fitted by least squares in each
//! `(2r + 1)^2` window and regularised by `eps` (bigger: smoother, fewer edges
//! taken from the photo). A colour guide separates skin from a backdrop of the
//! same brightness, which a grey guide cannot. Every window mean is a
//! running-sum box filter, so the cost is linear in the number of pixels; for
//! big photos [`refine`] fits `a` and `b` on a smaller copy and applies them
//! at full resolution (the "fast guided filter", He and Sun, 2015).

use image::RgbImage;
use rayon::prelude::*;

use super::mask::Mask;
use super::picture::resized;

/// Longest side at which [`refine`] fits the coefficients.
const WORK_SIDE: u32 = 512;

/// A photo as three planes of values in 0..1.
struct Planes {
    width: usize,
    height: usize,
    rgb: [Vec<f32>; 3],
}

impl Planes {
    fn new(image: &RgbImage) -> Self {
        let mut rgb = [Vec::new(), Vec::new(), Vec::new()];
        for (c, plane) in rgb.iter_mut().enumerate() {
            *plane = image.pixels().map(|p| f32::from(p[c]) / 255.0).collect();
        }
        let (width, height) = (image.width() as usize, image.height() as usize);
        Self { width, height, rgb }
    }
}

/// `mask` (any resolution) refined against `photo`, at the photo's size.
/// `radius` is in photo pixels.
pub fn refine(photo: &RgbImage, mask: &Mask, radius: u32, eps: f32) -> Mask {
    let (width, height) = photo.dimensions();
    let long = width.max(height);
    let (ww, wh, work_radius) = if long > WORK_SIDE {
        let s = f64::from(WORK_SIDE) / f64::from(long);
        let side = |n: u32| ((f64::from(n) * s).round() as u32).max(1);
        (
            side(width),
            side(height),
            ((f64::from(radius) * s).round() as u32).max(1),
        )
    } else {
        (width, height, radius)
    };
    let small = Planes::new(&resized(photo, ww, wh));
    let coefficients = fit(&small, mask.resized(ww, wh).values(), work_radius as usize, eps);
    // Apply the (smooth) coefficients to the full-resolution photo.
    let planes: Vec<Mask> = coefficients
        .into_par_iter()
        .map(|v| {
            Mask::from_vec(ww, wh, v)
                .expect("work size")
                .resized(width, height)
        })
        .collect();
    let [ar, ag, ab, b] = [0, 1, 2, 3].map(|i| planes[i].values());
    let values = photo
        .as_raw()
        .par_chunks_exact(3)
        .enumerate()
        .map(|(k, p)| {
            let rgb = [0, 1, 2].map(|c| f32::from(p[c]) / 255.0);
            (ar[k] * rgb[0] + ag[k] * rgb[1] + ab[k] * rgb[2] + b[k]).clamp(0.0, 1.0)
        })
        .collect();
    Mask::from_vec(width, height, values).expect("photo size")
}

/// The window-averaged coefficients `[a_r, a_g, a_b, b]` of the filter of
/// `input` guided by `guide`.
fn fit(guide: &Planes, input: &[f32], radius: usize, eps: f32) -> [Vec<f32>; 4] {
    let (w, h) = (guide.width, guide.height);
    let means = |planes: Vec<Vec<f32>>| -> Vec<Vec<f32>> {
        planes.par_iter().map(|v| box_mean(v, w, h, radius)).collect()
    };
    let product = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).collect::<Vec<f32>>();
    let [r, g, b] = &guide.rgb;
    let planes = vec![
        r.clone(),
        g.clone(),
        b.clone(),
        input.to_vec(),
        product(r, input),
        product(g, input),
        product(b, input),
        product(r, r),
        product(r, g),
        product(r, b),
        product(g, g),
        product(g, b),
        product(b, b),
    ];
    let m = means(planes);
    let coefficients: Vec<[f32; 4]> = (0..w * h)
        .into_par_iter()
        .map(|k| {
            let v = |i: usize| m[i][k];
            let (mr, mg, mb, mp) = (v(0), v(1), v(2), v(3));
            // Covariance of the guide in the window (plus eps on the diagonal)...
            let s = [
                [v(7) - mr * mr + eps, v(8) - mr * mg, v(9) - mr * mb],
                [v(8) - mr * mg, v(10) - mg * mg + eps, v(11) - mg * mb],
                [v(9) - mr * mb, v(11) - mg * mb, v(12) - mb * mb + eps],
            ];
            // ...and its covariance with the mask.
            let c = [v(4) - mr * mp, v(5) - mg * mp, v(6) - mb * mp];
            let a = solve3(s, c);
            [a[0], a[1], a[2], mp - a[0] * mr - a[1] * mg - a[2] * mb]
        })
        .collect();
    let planes = (0..4)
        .map(|i| coefficients.iter().map(|c| c[i]).collect())
        .collect();
    let mut averaged = means(planes).into_iter();
    [(); 4].map(|_| averaged.next().expect("four planes"))
}

/// Solves `s x = c` for a symmetric positive definite 3x3 `s` (Cramer's rule).
fn solve3(s: [[f32; 3]; 3], c: [f32; 3]) -> [f32; 3] {
    let det3 = |m: [[f32; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let det = det3(s);
    let column = |i: usize| {
        let mut m = s;
        for (row, value) in m.iter_mut().zip(c) {
            row[i] = value;
        }
        det3(m) / det
    };
    [column(0), column(1), column(2)]
}

/// Mean over the `(2r + 1)^2` window around each pixel of a row-major
/// `width` x `height` plane, the window cut at the borders (the mean is over
/// the pixels that exist).
pub fn box_mean(v: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    assert_eq!(v.len(), width * height);
    // Horizontal pass: window sums along each row.
    let mut rows = vec![0f64; v.len()];
    for (src, dst) in v.chunks_exact(width).zip(rows.chunks_exact_mut(width)) {
        let mut sum: f64 = src[..width.min(radius + 1)].iter().map(|&x| f64::from(x)).sum();
        for (i, out) in dst.iter_mut().enumerate() {
            *out = sum;
            if i + radius + 1 < width {
                sum += f64::from(src[i + radius + 1]);
            }
            if i >= radius {
                sum -= f64::from(src[i - radius]);
            }
        }
    }
    // Vertical pass over whole rows at a time (cache friendly), then divide by
    // the window's pixel count.
    let count = |i: usize, len: usize| ((i + radius).min(len - 1) - i.saturating_sub(radius) + 1) as f64;
    let row = |y: usize| &rows[y * width..(y + 1) * width];
    let mut acc = vec![0f64; width];
    for y in 0..height.min(radius + 1) {
        acc.iter_mut().zip(row(y)).for_each(|(a, r)| *a += r);
    }
    let mut out = vec![0f32; v.len()];
    for y in 0..height {
        let ny = count(y, height);
        for (x, (o, a)) in out[y * width..(y + 1) * width].iter_mut().zip(&acc).enumerate() {
            *o = (a / (ny * count(x, width))) as f32;
        }
        if y + radius + 1 < height {
            acc.iter_mut().zip(row(y + radius + 1)).for_each(|(a, r)| *a += r);
        }
        if y >= radius {
            acc.iter_mut().zip(row(y - radius)).for_each(|(a, r)| *a -= r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_matches_brute_force() {
        let (w, h, r) = (7, 5, 2);
        let v: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
        let fast = box_mean(&v, w, h, r);
        for y in 0..h {
            for x in 0..w {
                let (mut s, mut n) = (0.0, 0.0);
                for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                    for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                        s += v[yy * w + xx];
                        n += 1.0;
                    }
                }
                assert!((fast[y * w + x] - s / n).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn solve3_inverts() {
        let s = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let x = solve3(s, [1.0, 2.0, 3.0]);
        for (row, c) in s.iter().zip([1.0, 2.0, 3.0]) {
            let y: f32 = row.iter().zip(x).map(|(a, b)| a * b).sum();
            assert!((y - c).abs() < 1e-5);
        }
    }

    #[test]
    fn a_colour_edge_sharpens_a_blurred_mask() {
        // Same brightness, different hue: only a colour guide sees this edge.
        let (w, h) = (40u32, 6u32);
        let photo = RgbImage::from_fn(w, h, |x, _| {
            if x < 20 {
                image::Rgb([200, 60, 60])
            } else {
                image::Rgb([60, 120, 200])
            }
        });
        let blurred: Vec<f32> = (0..w * h)
            .map(|i| ((i % w) as f32 - 12.0).clamp(0.0, 16.0) / 16.0)
            .collect();
        let mask = Mask::from_vec(w, h, blurred).unwrap();
        let q = refine(&photo, &mask, 6, 1e-4);
        let row: Vec<f32> = (0..w).map(|x| q.get(x, 3)).collect();
        assert!(row[16] < 0.25 && row[23] > 0.75, "{row:?}");
    }
}
