//! Studio light on the person: white balance, exposure toward a target face brightness, a fill
//! light that lifts the darker side of the face toward the brighter one, and a gentle contrast
//! curve; for portrait styles a low-key directional light or black and white instead.
//!
//! Everything is estimated once per selfie ([`LightPlan::estimate`]) and applied per output in
//! linear light with lookup tables, so both framings and every variant share one look.

use image::RgbImage;
use rayon::prelude::*;

use super::intake::Subject;
use super::matte::{Scene, smoothstep};
use super::measure::{LINEAR, linear_to_srgb, luma, srgb_to_linear};
use super::variant::Variation;
use crate::style::Lighting;

/// Target median face luma (0..255, gamma-encoded): a well-exposed studio face.
const TARGET_FACE: f32 = 150.0;
/// Fraction of the way (in log exposure) toward the target: partial, so darker and lighter
/// skin tones stay themselves.
const EXPOSURE_STRENGTH: f32 = 0.5;
/// Exposure gains allowed (linear light).
const EXPOSURE_RANGE: (f32, f32) = (0.75, 1.6);
/// White balance gains allowed per channel.
const BALANCE_RANGE: (f32, f32) = (0.87, 1.15);
/// Fraction of the left/right face gap (in log light) the fill closes.
const FILL_STRENGTH: f32 = 0.7;
/// Largest fill gain.
const MAX_FILL: f32 = 1.8;
/// Domain of the encoding table, in linear light (gains can push values past 1).
const TABLE_MAX: f32 = 4.0;
/// Entries of the encoding table (indexed by the square root of the value: fine near black).
const TABLE: usize = 4096;

/// How the person is lit, decided once per selfie and style.
#[derive(Debug, Clone, PartialEq)]
pub struct LightPlan {
    /// Per-channel gains in linear light: white balance, warmth and exposure together.
    pub gains: [f32; 3],
    /// Fill light: which side is lifted (-1 the viewer's left, +1 the right) and by how much.
    pub fill: Option<(f32, f32)>,
    /// Low-key directional light from the viewer's left.
    pub low_key: bool,
    /// Render in black and white.
    pub mono: bool,
    /// Strength of the S-shaped contrast curve, 0..1.
    pub contrast: f32,
}

/// Per-style settings: white balance and exposure strengths, fill, contrast, warmth.
struct Recipe {
    balance: f32,
    exposure: f32,
    fill: bool,
    contrast: f32,
    warmth: f32,
    target: f32,
}

fn recipe(lighting: Lighting) -> Recipe {
    let base = Recipe {
        balance: 0.6,
        exposure: EXPOSURE_STRENGTH,
        fill: true,
        contrast: 0.08,
        warmth: 0.0,
        target: TARGET_FACE,
    };
    match lighting {
        Lighting::Even => base,
        Lighting::SoftWarm => Recipe {
            contrast: 0.05,
            warmth: 0.04,
            ..base
        },
        Lighting::Crisp => Recipe {
            contrast: 0.18,
            ..base
        },
        Lighting::Natural => Recipe {
            balance: 0.3,
            exposure: 0.3,
            fill: false,
            contrast: 0.05,
            ..base
        },
        Lighting::LowKey => Recipe {
            balance: 0.3,
            exposure: 0.4,
            fill: false,
            contrast: 0.25,
            target: 135.0,
            ..base
        },
        Lighting::Mono => Recipe {
            balance: 0.0,
            exposure: 0.4,
            fill: false,
            contrast: 0.2,
            ..base
        },
    }
}

impl LightPlan {
    /// The plan for `subject` under `lighting`, varied by `variation`.
    pub fn estimate(subject: &Subject, lighting: Lighting, variation: &Variation) -> LightPlan {
        let r = recipe(lighting);
        let balance = white_balance(&subject.preview)
            .map(|g| g.map(|v| v.powf(r.balance).clamp(BALANCE_RANGE.0, BALANCE_RANGE.1)));
        let face = srgb_to_linear(subject.face_luma / 255.0).max(1e-3);
        let target = srgb_to_linear(r.target / 255.0);
        let exposure = (target / face)
            .powf(r.exposure)
            .clamp(EXPOSURE_RANGE.0, EXPOSURE_RANGE.1);
        let warmth = r.warmth + variation.warmth;
        let wb = balance.unwrap_or([1.0; 3]);
        let gains = [
            wb[0] * exposure * (1.0 + warmth),
            wb[1] * exposure,
            wb[2] * exposure * (1.0 - warmth),
        ];
        let fill = if r.fill { fill(subject.cheeks) } else { None };
        LightPlan {
            gains,
            fill,
            low_key: lighting == Lighting::LowKey,
            mono: lighting == Lighting::Mono,
            contrast: r.contrast,
        }
    }

    /// The encoding table: linear value (square-root indexed) to the output byte, with a soft
    /// shoulder above 0.8 so gains never burn highlights, then the contrast curve.
    fn table(&self) -> Vec<u8> {
        (0..TABLE)
            .map(|i| {
                let t = i as f32 / (TABLE - 1) as f32;
                let lin = t * t * TABLE_MAX;
                let v = if lin <= 0.8 {
                    lin
                } else {
                    0.8 + 0.2 * (1.0 - (-(lin - 0.8) / 0.2).exp())
                };
                let s = linear_to_srgb(v);
                let s = s + self.contrast * (smoothstep(0.0, 1.0, s) - s);
                (s * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// The scene's foreground under this light (pixels outside the person are left as they
    /// are: the backdrop covers them).
    pub fn apply(&self, scene: &Scene) -> RgbImage {
        let table = self.table();
        let lin = &*LINEAR;
        let (w, h) = (scene.width() as usize, scene.height() as usize);
        let eyes = scene.eyes();
        let unit = scene.face.unit.max(1.0);
        let nose = scene.geometry.nose_x / unit;
        let mut out = scene.foreground.clone();
        out.as_mut()
            .par_chunks_mut(w * 3)
            .enumerate()
            .for_each(|(y, line)| {
                let dy = (y as f32 + 0.5 - eyes.y) / unit;
                for x in 0..w {
                    if scene.alpha.data[y * w + x] <= 0.002 {
                        continue;
                    }
                    let dx = (x as f32 + 0.5 - eyes.x) / unit;
                    let g = self.spatial_gain(dx, dy, nose);
                    let px = &mut line[x * 3..x * 3 + 3];
                    let v = [0, 1, 2].map(|c| lin[px[c] as usize] * self.gains[c] * g);
                    let v = if self.mono { [luma(v[0], v[1], v[2]); 3] } else { v };
                    for c in 0..3 {
                        let t = (v[c].max(0.0) / TABLE_MAX).sqrt().min(1.0);
                        px[c] = table[(t * (TABLE - 1) as f32) as usize];
                    }
                }
            });
        debug_assert_eq!(out.len(), w * h * 3);
        out
    }

    /// Light falling on a point at (`dx`, `dy`) eye distances from the eye midpoint.
    fn spatial_gain(&self, dx: f32, dy: f32, nose: f32) -> f32 {
        let mut g = 1.0;
        if let Some((side, gain)) = self.fill {
            let across = smoothstep(-0.6, 0.6, side * (dx - nose));
            let window = (-0.5 * (dx / 2.5).powi(2) - 0.5 * ((dy - 0.7) / 3.5).powi(2)).exp();
            g *= 1.0 + (gain - 1.0) * across * window;
        }
        if self.low_key {
            let key = 1.1 - 0.6 * smoothstep(-0.8, 0.8, dx);
            let body = 1.0 - 0.4 * smoothstep(1.5, 5.0, dy);
            g *= key * body;
        }
        g
    }
}

/// White balance gains from the photo's near-neutral pixels (walls, shirts, greys): they
/// should average to grey. `None` when too few pixels are near neutral to judge.
fn white_balance(preview: &RgbImage) -> Option<[f32; 3]> {
    let lin = &*LINEAR;
    let mut sum = [0f64; 3];
    let mut n = 0usize;
    for p in preview.pixels() {
        let (max, min) = (p.0.iter().max().copied()?, p.0.iter().min().copied()?);
        if max < 235 && min > 25 && f32::from(max - min) < 0.15 * f32::from(max) {
            for c in 0..3 {
                sum[c] += f64::from(lin[p[c] as usize]);
            }
            n += 1;
        }
    }
    let total = (preview.width() * preview.height()) as usize;
    if n * 50 < total || n == 0 {
        return None;
    }
    let mean = sum.map(|s| s / n as f64);
    let grey = (mean[0] + mean[1] + mean[2]) / 3.0;
    Some(mean.map(|m| (grey / m.max(1e-6)) as f32))
}

/// The fill for cheeks of linear luma (`left`, `right`): lift the darker side.
fn fill((left, right): (f32, f32)) -> Option<(f32, f32)> {
    let (dark, bright) = (left.min(right), left.max(right));
    if dark <= 0.0 || dark / bright > 0.97 {
        return None;
    }
    let side = if left < right { -1.0 } else { 1.0 };
    let gain = (bright / dark).powf(FILL_STRENGTH).min(MAX_FILL);
    Some((side, gain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_lifts_the_darker_side_only() {
        assert_eq!(fill((0.2, 0.2)), None);
        let (side, gain) = fill((0.1, 0.2)).unwrap();
        assert_eq!(side, -1.0);
        assert!((gain - 2f32.powf(FILL_STRENGTH)).abs() < 1e-5);
        assert!(fill((0.5, 0.05)).unwrap().1 <= MAX_FILL);
    }

    #[test]
    fn white_balance_neutralises_a_cast() {
        let warm = RgbImage::from_pixel(10, 10, image::Rgb([200, 190, 180]));
        let g = white_balance(&warm).unwrap();
        assert!(g[0] < 1.0 && g[2] > 1.0);
        let colourful = RgbImage::from_pixel(10, 10, image::Rgb([250, 20, 20]));
        assert_eq!(white_balance(&colourful), None);
    }

    #[test]
    fn the_table_is_monotonic_and_spans_the_range() {
        let plan = LightPlan {
            gains: [1.0; 3],
            fill: None,
            low_key: false,
            mono: false,
            contrast: 0.2,
        };
        let t = plan.table();
        assert_eq!(t[0], 0);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert!(t[TABLE - 1] >= 250);
    }
}
