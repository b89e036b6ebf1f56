//! Backdrops and compositing: the style's backdrop behind the person (solid colour, studio
//! gradient with a gentle glow behind the head, or for portrait styles the photo's own
//! background lens-blurred or darkened), and the linear-light blend of the lit person over it.

use image::RgbImage;
use rayon::prelude::*;

use super::matte::Scene;
use super::measure::{LINEAR, encode_linear, luma, srgb_to_linear};
use super::resample::{Plane, block_sums};
use super::variant::Variation;
use crate::style::{Backdrop, BackdropKind, Mode};

/// Strength of the studio gradient's glow behind the head (fraction of the way to white).
const GLOW: f32 = 0.12;
/// Light backdrops of headshot styles never darken below this luma (0..255) at the top, so
/// the checklist's brightness rule (>= 170) holds for every variant with room to spare.
const MIN_LIGHT_TOP: f32 = 185.0;
/// Lens blur of the original background, in fractions of the frame's longer side.
const LENS_BLUR: f32 = 0.03;
/// Blur under a darkened original background.
const DARK_BLUR: f32 = 0.012;
/// How far a darkened background moves toward the style's colour.
const DARKEN: f32 = 0.9;
/// 4x4 ordered dither (values 0..15) against banding in smooth gradients.
const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// The backdrop of `scene` for a style's backdrop and mode, varied by `variation`.
pub fn render(backdrop: &Backdrop, mode: Mode, variation: &Variation, scene: &Scene) -> RgbImage {
    let colors: Vec<[f32; 3]> = backdrop
        .rgb()
        .iter()
        .map(|c| c.map(|v| LINEAR[v as usize]))
        .collect();
    let white = [1.0; 3];
    match backdrop.kind {
        BackdropKind::Solid => {
            let c = toned(colors.first().copied().unwrap_or(white), variation.tone, mode);
            gradient(scene, c, c, 0.0)
        }
        BackdropKind::Gradient => {
            let top = colors.first().copied().unwrap_or(white);
            let bottom = colors.get(1).copied().unwrap_or(top);
            let factor = tone_factor(top, variation.tone, mode);
            let scale = |c: [f32; 3]| c.map(|v| (v * factor).min(1.0));
            gradient(scene, scale(top), scale(bottom), (GLOW + variation.glow).max(0.0))
        }
        BackdropKind::BlurOriginal => {
            let bg = background(scene, LENS_BLUR);
            let k = 1.0 + 0.1 * variation.tone;
            map_pixels(&bg, |v| v * k)
        }
        BackdropKind::DarkenOriginal => {
            let bg = background(scene, DARK_BLUR);
            let target = colors.first().copied().unwrap_or([0.0; 3]);
            let amount = (DARKEN - 0.1 * variation.tone).clamp(0.0, 1.0);
            map_pixels_rgb(&bg, |c, v| v + (target[c] - v) * amount)
        }
    }
}

/// The brightness factor of `tone` for a colour, held so light headshot backdrops stay light.
fn tone_factor(top: [f32; 3], tone: f32, mode: Mode) -> f32 {
    let factor = 1.0 + 0.15 * tone;
    let top_luma = |f: f32| {
        let c = top.map(|v| super::measure::linear_to_srgb((v * f).min(1.0)) * 255.0);
        luma(c[0], c[1], c[2])
    };
    if mode == Mode::Headshot
        && factor < 1.0
        && top_luma(1.0) >= MIN_LIGHT_TOP
        && top_luma(factor) < MIN_LIGHT_TOP
    {
        let needed = srgb_to_linear(MIN_LIGHT_TOP / 255.0) / srgb_to_linear(top_luma(1.0) / 255.0);
        return needed.min(1.0);
    }
    factor
}

fn toned(c: [f32; 3], tone: f32, mode: Mode) -> [f32; 3] {
    let f = tone_factor(c, tone, mode);
    c.map(|v| (v * f).min(1.0))
}

/// A vertical gradient (linear light) from `top` to `bottom` with a glow centred behind the
/// head, dithered.
fn gradient(scene: &Scene, top: [f32; 3], bottom: [f32; 3], glow: f32) -> RgbImage {
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let centre = (w as f32 / 2.0, scene.eyes().y - 0.05 * h as f32);
    let radius = 0.55 * w.max(h) as f32;
    let mut out = RgbImage::new(w as u32, h as u32);
    // The Gaussian glow is separable: a factor per column times a factor per row.
    let columns: Vec<f32> = (0..w)
        .map(|x| (-((x as f32 - centre.0) / radius).powi(2)).exp())
        .collect();
    out.as_mut()
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(y, line)| {
            let t = y as f32 / (h.max(2) - 1) as f32;
            let row = [0, 1, 2].map(|c| top[c] + (bottom[c] - top[c]) * t);
            let row_glow = glow * (-((y as f32 - centre.1) / radius).powi(2)).exp();
            for x in 0..w {
                let g = row_glow * columns[x];
                let dither = (f32::from(BAYER[y % 4][x % 4]) - 7.5) / 16.0;
                for c in 0..3 {
                    let v = row[c] + (1.0 - row[c]) * g;
                    let byte = f32::from(encode_linear(v));
                    line[x * 3 + c] = (byte + dither).round().clamp(0.0, 255.0) as u8;
                }
            }
        });
    out
}

/// The photo's own background with the person removed and blurred by `blur` of the longer
/// side: a normalised convolution weighted by "how surely background", at quarter resolution.
fn background(scene: &Scene, blur: f32) -> RgbImage {
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let f = 4usize;
    let (lw, lh) = (w.div_ceil(f), h.div_ceil(f));
    let raw = scene.photo.as_raw();
    let lin = &*LINEAR;
    let mut sums = block_sums::<4>(w, h, f, |x, y| {
        let wt = (1.0 - scene.alpha.data[y * w + x]).powi(4);
        let i = (y * w + x) * 3;
        [
            wt * lin[raw[i] as usize],
            wt * lin[raw[i + 1] as usize],
            wt * lin[raw[i + 2] as usize],
            wt,
        ]
    });
    let radius = ((blur * w.max(h) as f32) / f as f32).round().max(1.0) as usize;
    sums.par_iter_mut().for_each(|p| p.box_blur(radius, 3));
    // Where the person covers everything nearby, fall back on the mean background colour.
    let total: f32 = sums[3].data.iter().sum::<f32>().max(1e-6);
    let mean = [0, 1, 2].map(|c| sums[c].data.iter().sum::<f32>() / total);
    let colour: Vec<Plane> = (0..3)
        .map(|c| Plane {
            width: lw,
            height: lh,
            data: (0..lw * lh)
                .map(|i| {
                    let wt = sums[3].data[i];
                    let k = (wt / 0.05).min(1.0);
                    let own = if wt > 1e-6 { sums[c].data[i] / wt } else { mean[c] };
                    own * k + mean[c] * (1.0 - k)
                })
                .collect(),
        })
        .collect();
    let mut out = RgbImage::new(w as u32, h as u32);
    out.as_mut()
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(y, line)| {
            let ly = (y as f32 + 0.5) / f as f32 - 0.5;
            for x in 0..w {
                let lx = (x as f32 + 0.5) / f as f32 - 0.5;
                for (c, p) in colour.iter().enumerate() {
                    line[x * 3 + c] = encode_linear(p.sample(lx, ly));
                }
            }
        });
    out
}

fn map_pixels(image: &RgbImage, f: impl Fn(f32) -> f32 + Sync) -> RgbImage {
    map_pixels_rgb(image, |_, v| f(v))
}

/// Applies `f(channel, linear value)` to every pixel, in linear light.
fn map_pixels_rgb(image: &RgbImage, f: impl Fn(usize, f32) -> f32 + Sync) -> RgbImage {
    let mut out = image.clone();
    let lin = &*LINEAR;
    out.as_mut().par_chunks_mut(3).for_each(|px| {
        for c in 0..3 {
            px[c] = encode_linear(f(c, lin[px[c] as usize]));
        }
    });
    out
}

/// `person` over `backdrop` with `alpha`, blended in linear light.
pub fn composite(person: &RgbImage, backdrop: &RgbImage, alpha: &Plane) -> RgbImage {
    let lin = &*LINEAR;
    let mut out = backdrop.clone();
    let p = person.as_raw();
    let w = alpha.width;
    out.as_mut()
        .par_chunks_mut(w * 3)
        .zip(alpha.data.par_chunks(w))
        .zip(p.par_chunks(w * 3))
        .for_each(|((line, alphas), fg)| {
            for (x, &a) in alphas.iter().enumerate() {
                if a <= 0.002 {
                    continue;
                }
                let (px, f) = (&mut line[x * 3..x * 3 + 3], &fg[x * 3..x * 3 + 3]);
                if a >= 0.998 {
                    px.copy_from_slice(f);
                    continue;
                }
                for c in 0..3 {
                    let v = a * lin[f[c] as usize] + (1.0 - a) * lin[px[c] as usize];
                    px[c] = encode_linear(v);
                }
            }
        });
    out
}

/// The image in black and white (linear-light luma).
pub fn to_mono(image: &RgbImage) -> RgbImage {
    let lin = &*LINEAR;
    let mut out = image.clone();
    out.as_mut().par_chunks_mut(3).for_each(|px| {
        let y = encode_linear(luma(
            lin[px[0] as usize],
            lin[px[1] as usize],
            lin[px[2] as usize],
        ));
        px.fill(y);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_respects_alpha() {
        let fg = RgbImage::from_pixel(3, 1, image::Rgb([200, 10, 10]));
        let bg = RgbImage::from_pixel(3, 1, image::Rgb([10, 10, 200]));
        let alpha = Plane {
            width: 3,
            height: 1,
            data: vec![0.0, 0.5, 1.0],
        };
        let out = composite(&fg, &bg, &alpha);
        assert_eq!(out.get_pixel(0, 0).0, [10, 10, 200]);
        assert_eq!(out.get_pixel(2, 0).0, [200, 10, 10]);
        let mid = out.get_pixel(1, 0).0;
        // Linear-light blending: brighter than the gamma average (105).
        assert!(mid[0] > 140 && mid[2] > 140, "{mid:?}");
    }

    #[test]
    fn darker_variants_keep_light_backdrops_light() {
        let light = [srgb_to_linear(0.78); 3];
        let f = tone_factor(light, -1.0, Mode::Headshot);
        let c = super::super::measure::linear_to_srgb(light[0] * f) * 255.0;
        assert!(c >= MIN_LIGHT_TOP - 0.5, "{c}");
        assert!(tone_factor(light, -1.0, Mode::Portrait) < f);
    }

    #[test]
    fn mono_is_grey() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([200, 100, 50]));
        assert!(to_mono(&img).pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    }
}
