//! Checklist items for the defects a matte can leave in a headshot, measured on the output:
//!
//! - `stray_matte`: alpha away from the subject's silhouette (ghosts of other people or
//!   objects of the old background), as a percentage of the silhouette's area.
//! - `holes`: the part of the silhouette's interior that is not solid (grey smears over dark
//!   hair or a saturated dress, holes the network left), in percent.
//! - `halo`: how much the rim just outside the silhouette is pulled toward the old
//!   background, past the mix of the person's and the backdrop's local colours, in luma levels
//!   (only where the old background differs from the backdrop: elsewhere a leak is invisible).
//! - `bottom_body`: the part of the body at the bottom edge that is semi-transparent (a torso
//!   fading into the backdrop), in percent.
//! - `backdrop_uniformity`: the 99th percentile of the backdrop's deviation from its own
//!   smooth version, over the whole backdrop (patches anywhere, not only in the corners), in
//!   luma levels.
//!
//! Everything is measured on a grid of at most [`GRID`] pixels on the long side, distances in
//! face heights, so the values mean the same at every output size.

use image::RgbImage;

use super::matte::Scene;
use super::measure::luma;
use super::region::Region;
use super::resample::{Plane, resize};
use crate::generator::Check;
use crate::vision::guided::box_mean;
use crate::vision::shrink_to_fit;

/// Long side of the measuring grid.
const GRID: u32 = 256;
/// Width of the silhouette's soft edge, in face heights: alpha this close to the silhouette
/// is edge, not stray, and the interior starts this deep inside it.
const EDGE: f32 = 0.1;
/// Enclosed background smaller than this many face areas is a hole in the silhouette; larger
/// enclosed regions are real background (between an arm and the body).
const HOLE_FACES: f32 = 1.0;
/// An old background closer to the backdrop than this (luma levels) cannot leave a visible
/// halo.
const VISIBLE: f32 = 20.0;
/// Interior alpha under this is not solid.
const SOLID: f32 = 0.75;

/// Largest acceptable stray matte, percent of the silhouette.
pub const MAX_STRAY: f32 = 0.5;
/// Largest acceptable non-solid interior, percent.
pub const MAX_HOLES: f32 = 0.5;
/// Largest acceptable rim contrast, luma levels.
pub const MAX_HALO: f32 = 12.0;
/// Largest acceptable semi-transparent body at the bottom edge, percent.
pub const MAX_FADED: f32 = 10.0;
/// Largest acceptable backdrop deviation (99th percentile), luma levels.
pub const MAX_BACKDROP_DEVIATION: f32 = 10.0;

/// The names of the items a different matting choice can fix.
pub const MATTE_ITEMS: [&str; 3] = ["stray_matte", "holes", "halo"];

/// The matte and backdrop items of `image`, the rendered output of `scene`; the halo and the
/// backdrop only for `headshot` styles (portrait styles keep their own background).
pub fn measure(scene: &Scene, image: &RgbImage, headshot: bool) -> Vec<Check> {
    let grid = Grid::new(scene, image);
    let mut checks = vec![
        check("stray_matte", grid.stray(), format!("<= {MAX_STRAY}%"), |v| {
            v <= MAX_STRAY
        }),
        check("holes", grid.holes(), format!("<= {MAX_HOLES}%"), |v| {
            v <= MAX_HOLES
        }),
    ];
    if headshot {
        checks.push(check("halo", grid.halo(), format!("<= {MAX_HALO:.0}"), |v| {
            v <= MAX_HALO
        }));
    }
    checks.push(check(
        "bottom_body",
        faded_bottom(&scene.alpha),
        format!("faded <= {MAX_FADED:.0}%"),
        |v| v <= MAX_FADED,
    ));
    if headshot {
        checks.push(check(
            "backdrop_uniformity",
            grid.backdrop_deviation(),
            format!("p99 <= {MAX_BACKDROP_DEVIATION:.0}"),
            |v| v <= MAX_BACKDROP_DEVIATION,
        ));
    }
    checks
}

fn check(name: &str, value: f32, threshold: String, pass: impl Fn(f32) -> bool) -> Check {
    Check {
        name: name.into(),
        value,
        threshold,
        pass: pass(value),
    }
}

/// The output and its alpha on the measuring grid, with the subject's silhouette.
struct Grid {
    width: usize,
    height: usize,
    alpha: Vec<f32>,
    /// Luma of the output.
    luma: Vec<f32>,
    /// Luma of the framed source photo (the old background around the person).
    old: Vec<f32>,
    /// The silhouette: alpha at least one half, connected to the face.
    silhouette: Region,
    /// Distance outside the silhouette, grid pixels.
    outside: Vec<f32>,
    /// One face height in grid pixels.
    face: f32,
}

impl Grid {
    fn new(scene: &Scene, image: &RgbImage) -> Grid {
        let (w, h) = image.dimensions();
        let (gw, gh) = shrink_to_fit(w, h, GRID);
        let s = gw as f32 / w as f32;
        let small = if (gw, gh) == (w, h) {
            image.clone()
        } else {
            resize(image, gw, gh)
        };
        let (width, height) = (gw as usize, gh as usize);
        let alpha = scene.alpha.resized(width, height).data;
        let lumas = |image: &RgbImage| -> Vec<f32> {
            image
                .pixels()
                .map(|p| luma(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])))
                .collect()
        };
        let luma = lumas(&small);
        let old = if scene.photo.dimensions() == (gw, gh) {
            lumas(&scene.photo)
        } else {
            lumas(&resize(&scene.photo, gw, gh))
        };
        let region = Region::at_least(&alpha, width, height, 0.5);
        let eyes = scene.eyes();
        let seed = |x: f32, y: f32| {
            let (x, y) = ((x * s) as usize, (y * s) as usize);
            (x < width && y < height).then_some(y * width + x)
        };
        let c = scene.faces[0].bbox.center();
        let seeds: Vec<usize> = [seed(eyes.x, eyes.y), seed(c.x, c.y)]
            .into_iter()
            .flatten()
            .collect();
        let mut silhouette = region.keep_containing(&seeds);
        if silhouette.count() == 0 {
            // No confident region at the face: the largest one stands for the subject.
            silhouette = region.largest();
        }
        let outside = silhouette.distance_outside();
        Grid {
            width,
            height,
            alpha,
            luma,
            old,
            silhouette,
            outside,
            face: (scene.geometry.face_height * s).max(1.0),
        }
    }

    fn edge(&self) -> f32 {
        (EDGE * self.face).max(1.5)
    }

    fn stray(&self) -> f32 {
        let area = self.silhouette.count().max(1) as f32;
        let edge = self.edge();
        let stray: f32 = self
            .alpha
            .iter()
            .zip(&self.outside)
            .filter(|&(_, &d)| d > edge)
            .map(|(&a, _)| a)
            .sum();
        100.0 * stray / area
    }

    fn holes(&self) -> f32 {
        let max_hole = (HOLE_FACES * 0.75 * self.face * self.face) as usize;
        let filled = self.silhouette.holes_filled(max_hole);
        let inside = filled.distance_inside();
        let edge = self.edge();
        let (mut interior, mut soft) = (0usize, 0usize);
        for (&d, &a) in inside.iter().zip(&self.alpha) {
            if d > edge {
                interior += 1;
                soft += usize::from(a < SOLID);
            }
        }
        100.0 * soft as f32 / interior.max(1) as f32
    }

    /// Mean of `value` over the cells `weight` selects, within `radius` of each cell.
    fn local_mean(&self, value: &[f32], weight: &[f32], radius: usize) -> (Vec<f32>, Vec<f32>) {
        let product: Vec<f32> = value.iter().zip(weight).map(|(v, w)| v * w).collect();
        let num = box_mean(&product, self.width, self.height, radius);
        let den = box_mean(weight, self.width, self.height, radius);
        let mean = num
            .iter()
            .zip(&den)
            .map(|(n, d)| if *d > 1e-3 { n / d } else { 0.0 })
            .collect();
        (mean, den)
    }

    fn halo(&self) -> f32 {
        let radius = (0.25 * self.face).round().max(2.0) as usize;
        let solid: Vec<f32> = self
            .alpha
            .iter()
            .map(|&a| f32::from(u8::from(a >= 0.95)))
            .collect();
        let clear: Vec<f32> = self
            .alpha
            .iter()
            .map(|&a| f32::from(u8::from(a <= 0.02)))
            .collect();
        let (person, pw) = self.local_mean(&self.luma, &solid, radius);
        let (back, bw) = self.local_mean(&self.luma, &clear, radius);
        let (old, _) = self.local_mean(&self.old, &clear, radius);
        let edge = self.edge();
        let (mut sum, mut n) = (0f32, 0usize);
        for i in 0..self.alpha.len() {
            let a = self.alpha[i];
            // The rim: the soft outer edge, next to the silhouette, with both sides nearby,
            // where the old background differs visibly from the backdrop.
            if !(0.05..0.5).contains(&a) || self.outside[i] > edge || pw[i] < 0.05 || bw[i] < 0.05 {
                continue;
            }
            let toward_old = old[i] - back[i];
            if toward_old.abs() < VISIBLE {
                continue;
            }
            let expected = a * person[i] + (1.0 - a) * back[i];
            sum += (self.luma[i] - expected) * toward_old.signum();
            n += 1;
        }
        if n == 0 { 0.0 } else { (sum / n as f32).max(0.0) }
    }

    fn backdrop_deviation(&self) -> f32 {
        let edge = self.edge();
        // Everything away from the subject's silhouette is backdrop, whatever the matte says
        // there: a ghost in the matte is a patch on the backdrop.
        let clear: Vec<f32> = self
            .outside
            .iter()
            .map(|&d| f32::from(u8::from(d > edge)))
            .collect();
        let radius = (0.5 * self.face).round().max(3.0) as usize;
        let (smooth, _) = self.local_mean(&self.luma, &clear, radius);
        let mut deviations: Vec<f32> = (0..clear.len())
            .filter(|&i| clear[i] > 0.0)
            .map(|i| (self.luma[i] - smooth[i]).abs())
            .collect();
        if deviations.is_empty() {
            return 0.0;
        }
        let k = ((deviations.len() as f32 * 0.99) as usize).min(deviations.len() - 1);
        *deviations.select_nth_unstable_by(k, f32::total_cmp).1
    }
}

/// Percentage of the body along the bottom rows that is semi-transparent.
fn faded_bottom(alpha: &Plane) -> f32 {
    let (w, h) = (alpha.width, alpha.height);
    let rows = (h / 100).max(1);
    let (mut body, mut faded) = (0usize, 0usize);
    for y in h - rows..h {
        for &a in &alpha.data[y * w..(y + 1) * w] {
            if a > 0.05 {
                body += 1;
                faded += usize::from(a < 0.9);
            }
        }
    }
    if body == 0 {
        0.0
    } else {
        100.0 * faded as f32 / body as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fading_torso_is_seen_and_a_solid_one_passes() {
        let (w, h) = (200usize, 100usize);
        let body = |fade: f32| Plane {
            width: w,
            height: h,
            data: (0..w * h)
                .map(|i| {
                    let x = i % w;
                    if (40..160).contains(&x) { 1.0 - fade } else { 0.0 }
                })
                .collect(),
        };
        assert_eq!(faded_bottom(&body(0.0)), 0.0);
        assert_eq!(faded_bottom(&body(0.5)), 100.0);
        assert_eq!(faded_bottom(&Plane::filled(w, h, 0.0)), 0.0);
    }
}
