//! Measurements on a face, shared by intake and the checklist: a canonical "chip" of the face
//! (roll removed, scaled to a fixed eye distance) and what is read from it: exposure, clipping,
//! sharpness (variance of the Laplacian) and the balance of light between the cheeks.
//!
//! Measuring on a chip of fixed geometry makes every number independent of the photo's size,
//! so one threshold serves a 512-pixel selfie and a 12-megapixel one alike.

use std::sync::LazyLock;

use image::RgbImage;

use super::geometry::Align;
use crate::vision::Point;

/// Side of the chip in pixels.
pub const CHIP: usize = 96;
/// The chip spans this many eye distances across (and down).
const SPAN: f32 = 2.0;
/// Top of the chip, in eye distances above the eye line.
const TOP: f32 = -0.55;

/// sRGB-encoded 8-bit values to linear light in 0..1.
pub static LINEAR: LazyLock<[f32; 256]> = LazyLock::new(|| {
    let mut t = [0f32; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = srgb_to_linear(i as f32 / 255.0);
    }
    t
});

/// Entries of [`encode_linear`]'s table, indexed by the square root of the value (so steps are
/// fine near black, where the eye sees them).
const ENCODE_STEPS: usize = 4096;

static ENCODE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..ENCODE_STEPS)
        .map(|i| {
            let t = i as f32 / (ENCODE_STEPS - 1) as f32;
            (linear_to_srgb(t * t) * 255.0).round() as u8
        })
        .collect()
});

/// Linear light in 0..1 (clamped) to an sRGB-encoded byte, through a table.
#[inline]
pub fn encode_linear(v: f32) -> u8 {
    let t = v.clamp(0.0, 1.0).sqrt();
    ENCODE[(t * (ENCODE_STEPS - 1) as f32 + 0.5) as usize]
}

/// The sRGB transfer function, inverted.
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// The sRGB transfer function.
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Rec. 709 luma of gamma-encoded values (same scale as the inputs).
#[inline]
pub fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Where a face is in some image: the eye midpoint, the roll and the eye distance, all in that
/// image's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceFrame {
    /// Roll correction about the eye midpoint.
    pub align: Align,
    /// Eye distance in pixels.
    pub unit: f32,
}

/// The canonical face chip: `CHIP` x `CHIP` RGB values (0..255).
#[derive(Debug, Clone)]
pub struct Chip {
    rgb: Vec<[f32; 3]>,
}

impl FaceFrame {
    /// The image position of a chip coordinate given in eye distances (aligned frame).
    fn point(&self, ax: f32, ay: f32) -> Point {
        self.align.to_source(Point::new(ax * self.unit, ay * self.unit))
    }

    /// Cuts the chip out of `image`, averaging enough samples per chip pixel to avoid aliasing.
    pub fn chip(&self, image: &RgbImage) -> Chip {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let data = image.as_raw();
        let step = SPAN / CHIP as f32;
        let n = ((self.unit * step).ceil() as usize).clamp(1, 6);
        let mut rgb = Vec::with_capacity(CHIP * CHIP);
        for j in 0..CHIP {
            for i in 0..CHIP {
                let mut acc = [0f32; 3];
                for sj in 0..n {
                    for si in 0..n {
                        let ax = -SPAN / 2.0 + (i as f32 + (si as f32 + 0.5) / n as f32) * step;
                        let ay = TOP + (j as f32 + (sj as f32 + 0.5) / n as f32) * step;
                        let p = self.point(ax, ay);
                        let s = sample(data, w, h, p.x - 0.5, p.y - 0.5);
                        for c in 0..3 {
                            acc[c] += s[c];
                        }
                    }
                }
                rgb.push(acc.map(|v| v / (n * n) as f32));
            }
        }
        Chip { rgb }
    }
}

fn sample(data: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |x: usize, y: usize, c: usize| f32::from(data[(y * w + x) * 3 + c]);
    [0, 1, 2].map(|c| {
        let top = px(x0, y0, c) + (px(x1, y0, c) - px(x0, y0, c)) * fx;
        let bottom = px(x0, y1, c) + (px(x1, y1, c) - px(x0, y1, c)) * fx;
        top + (bottom - top) * fy
    })
}

/// A rectangle of the chip in eye distances: x from `x0` to `x1`, y from `y0` to `y1`.
type Region = (f32, f32, f32, f32);

/// The inner face: brows to below the mouth, cheek to cheek.
const INNER: Region = (-0.7, 0.7, -0.3, 1.2);
/// The cheek on the viewer's left (the right one is mirrored).
const LEFT_CHEEK: Region = (-0.75, -0.2, 0.25, 1.0);

impl Chip {
    fn region(&self, (x0, x1, y0, y1): Region) -> impl Iterator<Item = &[f32; 3]> {
        let to_index = |v: f32, origin: f32| (((v - origin) / SPAN * CHIP as f32).round() as usize).min(CHIP);
        let (i0, i1) = (to_index(x0, -SPAN / 2.0), to_index(x1, -SPAN / 2.0));
        let (j0, j1) = (to_index(y0, TOP), to_index(y1, TOP));
        (j0..j1).flat_map(move |j| self.rgb[j * CHIP + i0..j * CHIP + i1].iter())
    }

    /// Median luma of the inner face, 0..255 (gamma-encoded).
    pub fn face_luma(&self) -> f32 {
        median(self.region(INNER).map(|p| luma(p[0], p[1], p[2])).collect())
    }

    /// Fraction of inner-face pixels with a channel at or above 250 (burnt highlights).
    pub fn clipped(&self) -> f32 {
        let (mut n, mut clipped) = (0usize, 0usize);
        for p in self.region(INNER) {
            n += 1;
            clipped += usize::from(p.iter().any(|&v| v >= 250.0));
        }
        clipped as f32 / n.max(1) as f32
    }

    /// Median linear luma of each cheek: (viewer's left, viewer's right).
    pub fn cheeks(&self) -> (f32, f32) {
        let lin = |p: &[f32; 3]| {
            let t = &*LINEAR;
            let q = p.map(|v| t[v.round().clamp(0.0, 255.0) as usize]);
            luma(q[0], q[1], q[2])
        };
        let (x0, x1, y0, y1) = LEFT_CHEEK;
        let left = median(self.region(LEFT_CHEEK).map(lin).collect());
        let right = median(self.region((-x1, -x0, y0, y1)).map(lin).collect());
        (left, right)
    }

    /// Darker cheek over brighter cheek, in linear light (1 = perfectly even).
    pub fn balance(&self) -> f32 {
        let (l, r) = self.cheeks();
        if l.max(r) <= 0.0 { 1.0 } else { l.min(r) / l.max(r) }
    }

    /// Sharpness: the variance of the 4-neighbour Laplacian of the chip's grey levels, after
    /// normalising them to mean 128 and standard deviation 40 (so exposure and contrast do not
    /// count, only detail).
    pub fn sharpness(&self) -> f32 {
        let grey: Vec<f32> = self.rgb.iter().map(|p| luma(p[0], p[1], p[2])).collect();
        let n = grey.len() as f32;
        let mean = grey.iter().sum::<f32>() / n;
        let std = (grey.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        if std < 1.0 {
            return 0.0;
        }
        let norm: Vec<f32> = grey.iter().map(|v| (v - mean) / std * 40.0 + 128.0).collect();
        let mut lap = Vec::with_capacity((CHIP - 2) * (CHIP - 2));
        for y in 1..CHIP - 1 {
            for x in 1..CHIP - 1 {
                let c = norm[y * CHIP + x];
                let v = norm[(y - 1) * CHIP + x]
                    + norm[(y + 1) * CHIP + x]
                    + norm[y * CHIP + x - 1]
                    + norm[y * CHIP + x + 1]
                    - 4.0 * c;
                lap.push(v);
            }
        }
        let m = lap.iter().sum::<f32>() / lap.len() as f32;
        lap.iter().map(|v| (v - m).powi(2)).sum::<f32>() / lap.len() as f32
    }

    /// The chip as an image (for debugging and tests).
    pub fn to_image(&self) -> RgbImage {
        let raw = self
            .rgb
            .iter()
            .flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8))
            .collect();
        RgbImage::from_raw(CHIP as u32, CHIP as u32, raw).expect("chip size")
    }
}

/// The median (upper median for even counts); 0 for no values.
pub fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> FaceFrame {
        FaceFrame {
            align: Align {
                origin: Point::new(100.0, 80.0),
                cos: 1.0,
                sin: 0.0,
            },
            unit: 48.0,
        }
    }

    #[test]
    fn transfer_functions_invert_each_other() {
        for i in 0..=20 {
            let v = i as f32 / 20.0;
            assert!((linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-5);
        }
        assert_eq!(LINEAR[0], 0.0);
        assert!((LINEAR[255] - 1.0).abs() < 1e-6);
        for b in 0..=255u8 {
            assert_eq!(encode_linear(LINEAR[b as usize]), b);
        }
    }

    #[test]
    fn a_flat_face_has_no_sharpness_and_noise_has_plenty() {
        let flat = RgbImage::from_pixel(200, 200, image::Rgb([120, 110, 100]));
        assert_eq!(frame().chip(&flat).sharpness(), 0.0);
        let noisy = RgbImage::from_fn(200, 200, |x, y| {
            let v = ((x * 7919 + y * 104_729) % 251) as u8;
            image::Rgb([v, v, v])
        });
        assert!(frame().chip(&noisy).sharpness() > 1000.0);
    }

    #[test]
    fn a_face_lit_from_one_side_is_unbalanced() {
        let img = RgbImage::from_fn(200, 200, |x, _| {
            let v = if x < 100 { 60 } else { 180 };
            image::Rgb([v, v, v])
        });
        let chip = frame().chip(&img);
        let (l, r) = chip.cheeks();
        assert!(l < r);
        assert!(chip.balance() < 0.3);
        assert!(chip.face_luma() > 59.0 && chip.clipped() == 0.0);
    }
}
