//! The alpha matte of the subject: a trimap from the isolated person mask (sure person, sure
//! background and an unknown band sized from the face), the guided filter's estimate inside
//! the band, and closed-form matting (Levin, Lischinski and Weiss, 2008) solved on the band.
//!
//! Closed-form matting assumes that in every small window the alpha is an affine function of
//! the colour, `a = w . I + b`; eliminating `w` and `b` leaves the quadratic form `a^T L a`
//! with the "matting Laplacian" `L`. The matte minimises it with the trimap's values fixed.
//! `L` is never built: its product with a vector is a handful of box filters (He, Sun and Tang,
//! "Fast matting using large kernel matting Laplacian matrices", 2010), and conjugate
//! gradients, started from the guided filter's estimate, solve the band in a few dozen steps
//! at a reduced resolution.

use image::RgbImage;
use rayon::prelude::*;

use super::region::Region;
use super::resample::Plane;
use crate::vision::guided::box_mean;

/// Trimap states.
pub const BACKGROUND: u8 = 0;
pub const UNKNOWN: u8 = 1;
pub const FOREGROUND: u8 = 2;

/// Regulariser of the window colour covariance (larger: smoother mattes).
const EPSILON: f32 = 1e-4;

/// The trimap of a soft mask: sure person deeper than `band(x, y)` cells inside the region
/// where the mask is at least one half, sure background farther than that outside it,
/// unknown in between; `outside` cells (past the photo) are background whatever the mask.
pub fn trimap(mask: &Plane, band: impl Fn(usize, usize) -> f32 + Sync, outside: &[bool]) -> Vec<u8> {
    let (w, h) = (mask.width, mask.height);
    let region = Region::at_least(&mask.data, w, h, 0.5);
    let (inside, beyond) = (region.distance_inside(), region.distance_outside());
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let b = band(i % w, i / w);
            if outside.get(i).copied().unwrap_or(false) || beyond[i] > b {
                BACKGROUND
            } else if inside[i] > b {
                FOREGROUND
            } else {
                UNKNOWN
            }
        })
        .collect()
}

/// `estimate` with the trimap's sure values imposed.
pub fn clamp(estimate: &mut Plane, trimap: &[u8]) {
    for (a, t) in estimate.data.iter_mut().zip(trimap) {
        match *t {
            BACKGROUND => *a = 0.0,
            FOREGROUND => *a = 1.0,
            _ => {}
        }
    }
}

/// The guide's colour statistics per 3x3 window, reused by every product with `L`.
struct Windows {
    width: usize,
    height: usize,
    /// The guide, three planes in 0..1.
    rgb: [Vec<f32>; 3],
    /// Window means of the guide.
    mean: [Vec<f32>; 3],
    /// The inverse of each window's regularised covariance (xx, xy, xz, yy, yz, zz).
    inverse: [Vec<f32>; 6],
}

impl Windows {
    fn new(guide: &RgbImage) -> Windows {
        let (w, h) = (guide.width() as usize, guide.height() as usize);
        let rgb: [Vec<f32>; 3] = [0, 1, 2].map(|c| guide.pixels().map(|p| f32::from(p[c]) / 255.0).collect());
        let mean = [0, 1, 2].map(|c| box_mean(&rgb[c], w, h, 1));
        let pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
        let second: Vec<Vec<f32>> = pairs
            .par_iter()
            .map(|&(a, b)| {
                let prod: Vec<f32> = rgb[a].iter().zip(&rgb[b]).map(|(x, y)| x * y).collect();
                box_mean(&prod, w, h, 1)
            })
            .collect();
        let mut inverse: [Vec<f32>; 6] = Default::default();
        for v in inverse.iter_mut() {
            *v = vec![0.0; w * h];
        }
        let e = EPSILON / 9.0;
        for i in 0..w * h {
            let m = [mean[0][i], mean[1][i], mean[2][i]];
            let c = |k: usize, a: usize, b: usize| second[k][i] - m[a] * m[b];
            let (xx, xy, xz, yy, yz, zz) = (
                c(0, 0, 0) + e,
                c(1, 0, 1),
                c(2, 0, 2),
                c(3, 1, 1) + e,
                c(4, 1, 2),
                c(5, 2, 2) + e,
            );
            let (ixx, ixy, ixz) = (yy * zz - yz * yz, xz * yz - xy * zz, xy * yz - xz * yy);
            let det = xx * ixx + xy * ixy + xz * ixz;
            let inv = 1.0 / det;
            let values = [
                ixx * inv,
                ixy * inv,
                ixz * inv,
                (xx * zz - xz * xz) * inv,
                (xy * xz - xx * yz) * inv,
                (xx * yy - xy * xy) * inv,
            ];
            for (k, v) in values.into_iter().enumerate() {
                inverse[k][i] = v;
            }
        }
        Windows {
            width: w,
            height: h,
            rgb,
            mean,
            inverse,
        }
    }

    /// `L p` (up to the constant window size).
    fn apply(&self, p: &[f32]) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        let inputs: Vec<Vec<f32>> = (0..4)
            .into_par_iter()
            .map(|c| {
                if c == 3 {
                    box_mean(p, w, h, 1)
                } else {
                    let prod: Vec<f32> = self.rgb[c].iter().zip(p).map(|(x, y)| x * y).collect();
                    box_mean(&prod, w, h, 1)
                }
            })
            .collect();
        let pm = &inputs[3];
        let mut coefficients = [
            vec![0f32; w * h],
            vec![0f32; w * h],
            vec![0f32; w * h],
            vec![0f32; w * h],
        ];
        {
            let [a0, a1, a2, b] = &mut coefficients;
            for i in 0..w * h {
                let m = [self.mean[0][i], self.mean[1][i], self.mean[2][i]];
                let cov = [0, 1, 2].map(|c| inputs[c][i] - m[c] * pm[i]);
                let s = |k: usize| self.inverse[k][i];
                let a = [
                    s(0) * cov[0] + s(1) * cov[1] + s(2) * cov[2],
                    s(1) * cov[0] + s(3) * cov[1] + s(4) * cov[2],
                    s(2) * cov[0] + s(4) * cov[1] + s(5) * cov[2],
                ];
                a0[i] = a[0];
                a1[i] = a[1];
                a2[i] = a[2];
                b[i] = pm[i] - a[0] * m[0] - a[1] * m[1] - a[2] * m[2];
            }
        }
        let means: Vec<Vec<f32>> = coefficients.par_iter().map(|v| box_mean(v, w, h, 1)).collect();
        (0..w * h)
            .map(|i| {
                p[i] - (means[0][i] * self.rgb[0][i]
                    + means[1][i] * self.rgb[1][i]
                    + means[2][i] * self.rgb[2][i]
                    + means[3][i])
            })
            .collect()
    }
}

/// Closed-form matting of `guide` on the unknown cells of `trimap`, starting from `estimate`
/// (which must already hold the trimap's sure values); at most `iterations` conjugate-gradient
/// steps.
pub fn closed_form(guide: &RgbImage, estimate: &Plane, trimap: &[u8], iterations: usize) -> Plane {
    let n = estimate.data.len();
    assert_eq!(n, (guide.width() * guide.height()) as usize);
    let unknown: Vec<bool> = trimap.iter().map(|&t| t == UNKNOWN).collect();
    if !unknown.iter().any(|&u| u) {
        return estimate.clone();
    }
    let windows = Windows::new(guide);
    let mask = |v: &mut Vec<f32>| {
        for (x, &u) in v.iter_mut().zip(&unknown) {
            if !u {
                *x = 0.0;
            }
        }
    };
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>();
    let mut x = estimate.data.clone();
    let mut r: Vec<f32> = windows.apply(&x).into_iter().map(|v| -v).collect();
    mask(&mut r);
    let mut p = r.clone();
    let mut rs = dot(&r, &r);
    let start = rs;
    for _ in 0..iterations {
        if rs <= start * 1e-6 || rs == 0.0 {
            break;
        }
        let mut q = windows.apply(&p);
        mask(&mut q);
        let pq = dot(&p, &q);
        if pq <= 0.0 {
            break;
        }
        let step = (rs / pq) as f32;
        for i in 0..n {
            x[i] += step * p[i];
            r[i] -= step * q[i];
        }
        let next = dot(&r, &r);
        let beta = (next / rs) as f32;
        rs = next;
        for i in 0..n {
            p[i] = r[i] + beta * p[i];
        }
    }
    Plane {
        width: estimate.width,
        height: estimate.height,
        data: x.into_iter().map(|v| v.clamp(0.0, 1.0)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trimap_has_a_band_of_the_given_width() {
        let mask = Plane {
            width: 40,
            height: 1,
            data: (0..40).map(|x| if x < 20 { 1.0 } else { 0.0 }).collect(),
        };
        let t = trimap(&mask, |_, _| 3.0, &[]);
        assert_eq!(t[10], FOREGROUND);
        assert_eq!(t[19], UNKNOWN);
        assert_eq!(t[22], UNKNOWN);
        assert_eq!(t[30], BACKGROUND);
        let past = vec![true; 40];
        assert!(trimap(&mask, |_, _| 3.0, &past).iter().all(|&s| s == BACKGROUND));
    }

    #[test]
    fn closed_form_matting_recovers_a_soft_edge_from_colour() {
        // Person red on the left, background blue on the right, a soft edge at x 28..36; the
        // trimap only knows the far sides, the estimate starts flat at one half.
        let (w, h) = (64u32, 24u32);
        let truth = |x: u32| ((36.0 - x as f32) / 8.0).clamp(0.0, 1.0);
        let guide = RgbImage::from_fn(w, h, |x, y| {
            let a = truth(x);
            let n = ((x * 7 + y * 13) % 5) as f32;
            image::Rgb([
                (a * 200.0 + (1.0 - a) * 20.0 + n) as u8,
                (30.0 + n) as u8,
                (a * 30.0 + (1.0 - a) * 210.0) as u8,
            ])
        });
        let trimap: Vec<u8> = (0..w * h)
            .map(|i| match i % w {
                0..16 => FOREGROUND,
                48.. => BACKGROUND,
                _ => UNKNOWN,
            })
            .collect();
        let mut estimate = Plane::filled(w as usize, h as usize, 0.5);
        clamp(&mut estimate, &trimap);
        let matte = closed_form(&guide, &estimate, &trimap, 400);
        for x in [20, 30, 32, 34, 40] {
            let a = matte.data[(12 * w + x) as usize];
            assert!((a - truth(x)).abs() < 0.12, "x {x}: {a} vs {}", truth(x));
        }
    }
}
