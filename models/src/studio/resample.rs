//! Resampling: area-correct resizing, affine warps with bilinear taps, and box blurs for
//! planes of floats. Rows are processed in parallel; every output value depends only on its
//! inputs, so results are the same whatever the thread count.

use image::RgbImage;
use rayon::prelude::*;

use super::geometry::Affine;

/// The contributions of source samples to one output sample along an axis.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Area weights when shrinking (each output sample averages the source interval it covers),
/// linear interpolation when enlarging.
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            if scale > 1.0 {
                let (a, b) = (i as f64 * scale, (i as f64 + 1.0) * scale);
                let (first, last) = (a.floor() as usize, (b.ceil() as usize).min(src));
                let weights = (first..last)
                    .map(|j| ((b.min(j as f64 + 1.0) - a.max(j as f64)) / scale) as f32)
                    .collect();
                Taps {
                    start: first,
                    weights,
                }
            } else {
                let c = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (c.floor() as usize).min(src.saturating_sub(2));
                let f = (c - j as f64) as f32;
                if src == 1 {
                    Taps {
                        start: 0,
                        weights: vec![1.0],
                    }
                } else {
                    Taps {
                        start: j,
                        weights: vec![1.0 - f, f],
                    }
                }
            }
        })
        .collect()
}

/// `image` resized to `width` x `height`: area-averaged where it shrinks (no aliasing),
/// bilinear where it grows.
pub fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    if (sw, sh) == (dw, dh) {
        return image.clone();
    }
    let (tx, ty) = (taps(sw, dw), taps(sh, dh));
    let src = image.as_raw();
    // Horizontal pass: every source row to `dw` samples.
    let mut rows = vec![0f32; sh * dw * 3];
    rows.par_chunks_mut(dw * 3).enumerate().for_each(|(y, out)| {
        let row = &src[y * sw * 3..(y + 1) * sw * 3];
        for (x, t) in tx.iter().enumerate() {
            let mut acc = [0f32; 3];
            for (k, w) in t.weights.iter().enumerate() {
                let p = (t.start + k) * 3;
                acc[0] += w * f32::from(row[p]);
                acc[1] += w * f32::from(row[p + 1]);
                acc[2] += w * f32::from(row[p + 2]);
            }
            out[x * 3..x * 3 + 3].copy_from_slice(&acc);
        }
    });
    let mut out = vec![0u8; dw * dh * 3];
    out.par_chunks_mut(dw * 3).enumerate().for_each(|(y, line)| {
        let t = &ty[y];
        let mut acc = vec![0f32; dw * 3];
        for (k, w) in t.weights.iter().enumerate() {
            let r = &rows[(t.start + k) * dw * 3..(t.start + k + 1) * dw * 3];
            for (a, v) in acc.iter_mut().zip(r) {
                *a += w * v;
            }
        }
        for (o, a) in line.iter_mut().zip(&acc) {
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    });
    RgbImage::from_raw(dw as u32, dh as u32, out).expect("sized above")
}

/// The size that fits `width` x `height` into `long_side` on its longer side.
pub fn fit_long_side(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let scale = f64::from(long_side) / f64::from(width.max(height));
    let side = |n: u32| ((f64::from(n) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// A bilinear sample of channel-interleaved `data` (`channels` per pixel) at index
/// coordinates (`x`, `y`), edges clamped.
#[inline]
fn bilinear<const C: usize>(data: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; C] {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (r0, r1) = (y0 * w, y1 * w);
    let mut out = [0f32; C];
    for (c, o) in out.iter_mut().enumerate() {
        let a = f32::from(data[(r0 + x0) * C + c]);
        let b = f32::from(data[(r0 + x1) * C + c]);
        let d = f32::from(data[(r1 + x0) * C + c]);
        let e = f32::from(data[(r1 + x1) * C + c]);
        let top = a + (b - a) * fx;
        let bottom = d + (e - d) * fx;
        *o = top + (bottom - top) * fy;
    }
    out
}

/// Warps `source` into a `width` x `height` image through `map` (output pixel -> source
/// index coordinates). Outside the source, edge pixels are repeated. When one output pixel
/// spans more than about two source pixels the source is first area-shrunk, and when it spans
/// more than one, each output pixel averages a 2x2 grid of samples: enough to keep the
/// result free of aliasing at every scale the studio uses.
pub fn warp(source: &RgbImage, map: &Affine, width: u32, height: u32) -> RgbImage {
    if let Some((x, y)) = map.as_crop(source.width(), source.height(), width, height) {
        return image::imageops::crop_imm(source, x, y, width, height).to_image();
    }
    let footprint = map.footprint();
    if footprint > 2.0 {
        let f = 2.0 / footprint;
        let (w, h) = (
            ((source.width() as f32 * f).round() as u32).max(1),
            ((source.height() as f32 * f).round() as u32).max(1),
        );
        let small = resize(source, w, h);
        let sx = w as f32 / source.width() as f32;
        let sy = h as f32 / source.height() as f32;
        return warp_direct(&small, &map.onto_resized(sx, sy), width, height);
    }
    warp_direct(source, map, width, height)
}

fn warp_direct(source: &RgbImage, map: &Affine, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = (source.width() as usize, source.height() as usize);
    let data = source.as_raw();
    let supersample = map.footprint() > 1.05;
    let offsets: &[(f32, f32)] = if supersample {
        &[(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]
    } else {
        &[(0.0, 0.0)]
    };
    let norm = 1.0 / offsets.len() as f32;
    let w = width as usize;
    let mut out = vec![0u8; w * height as usize * 3];
    out.par_chunks_mut(w * 3).enumerate().for_each(|(v, line)| {
        for u in 0..w {
            let mut acc = [0f32; 3];
            for &(du, dv) in offsets {
                let (x, y) = map.apply(u as f32 + du, v as f32 + dv);
                let s = bilinear::<3>(data, sw, sh, x, y);
                acc[0] += s[0];
                acc[1] += s[1];
                acc[2] += s[2];
            }
            for c in 0..3 {
                line[u * 3 + c] = (acc[c] * norm).round().clamp(0.0, 255.0) as u8;
            }
        }
    });
    RgbImage::from_raw(width, height, out).expect("sized above")
}

/// Sums of `N` per-pixel values over `f` x `f` blocks of a `width` x `height` image: `N`
/// planes at 1/`f` resolution (blocks at the right and bottom edges may be partial).
pub fn block_sums<const N: usize>(
    width: usize,
    height: usize,
    f: usize,
    value: impl Fn(usize, usize) -> [f32; N] + Sync,
) -> [Plane; N] {
    let (lw, lh) = (width.div_ceil(f), height.div_ceil(f));
    let rows: Vec<Vec<[f32; N]>> = (0..lh)
        .into_par_iter()
        .map(|ly| {
            let mut acc = vec![[0f32; N]; lw];
            for y in ly * f..((ly + 1) * f).min(height) {
                for x in 0..width {
                    let v = value(x, y);
                    let a = &mut acc[x / f];
                    for k in 0..N {
                        a[k] += v[k];
                    }
                }
            }
            acc
        })
        .collect();
    std::array::from_fn(|k| Plane {
        width: lw,
        height: lh,
        data: rows.iter().flat_map(|r| r.iter().map(move |v| v[k])).collect(),
    })
}

/// A plane of floats, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Width in samples.
    pub width: usize,
    /// Height in samples.
    pub height: usize,
    /// The samples, row by row.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled with `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> Plane {
        Plane {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    /// A bilinear sample at index coordinates, edges clamped.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (w, h) = (self.width, self.height);
        let x = x.clamp(0.0, (w - 1) as f32);
        let y = y.clamp(0.0, (h - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let d = &self.data;
        let top = d[y0 * w + x0] + (d[y0 * w + x1] - d[y0 * w + x0]) * fx;
        let bottom = d[y1 * w + x0] + (d[y1 * w + x1] - d[y1 * w + x0]) * fx;
        top + (bottom - top) * fy
    }

    /// The plane warped through `map` (output index -> this plane's index coordinates).
    pub fn warped(&self, map: &Affine, width: usize, height: usize) -> Plane {
        if let Some((x, y)) = map.as_crop(self.width as u32, self.height as u32, width as u32, height as u32)
        {
            let (x, y) = (x as usize, y as usize);
            let data = (y..y + height)
                .flat_map(|r| {
                    self.data[r * self.width + x..r * self.width + x + width]
                        .iter()
                        .copied()
                })
                .collect();
            return Plane { width, height, data };
        }
        let mut data = vec![0f32; width * height];
        data.par_chunks_mut(width).enumerate().for_each(|(v, line)| {
            for (u, o) in line.iter_mut().enumerate() {
                let (x, y) = map.apply(u as f32, v as f32);
                *o = self.sample(x, y);
            }
        });
        Plane { width, height, data }
    }

    /// Bilinear resize to `width` x `height` (pixel centres aligned).
    pub fn resized(&self, width: usize, height: usize) -> Plane {
        let sx = self.width as f32 / width as f32;
        let sy = self.height as f32 / height as f32;
        let map = Affine {
            x0: 0.5 * sx - 0.5,
            y0: 0.5 * sy - 0.5,
            xu: sx,
            yu: 0.0,
            xv: 0.0,
            yv: sy,
        };
        self.warped(&map, width, height)
    }

    /// Box blur of radius `r` in place, applied `passes` times (three passes approach a
    /// Gaussian of sigma about `r`). Edges are handled by averaging only inside the plane.
    pub fn box_blur(&mut self, r: usize, passes: usize) {
        if r == 0 {
            return;
        }
        let (w, h) = (self.width, self.height);
        for _ in 0..passes {
            self.data
                .par_chunks_mut(w)
                .for_each(|row| blur_line(row, r, &mut Vec::new()));
            let mut t = transpose(&self.data, w, h);
            t.par_chunks_mut(h)
                .for_each(|col| blur_line(col, r, &mut Vec::new()));
            self.data = transpose(&t, h, w);
        }
    }
}

fn blur_line(line: &mut [f32], r: usize, prefix: &mut Vec<f64>) {
    let n = line.len();
    prefix.clear();
    prefix.push(0.0);
    let mut acc = 0f64;
    for &v in line.iter() {
        acc += f64::from(v);
        prefix.push(acc);
    }
    for (i, o) in line.iter_mut().enumerate() {
        let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
        *o = ((prefix[b] - prefix[a]) / (b - a) as f64) as f32;
    }
}

fn transpose(data: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(h).enumerate().for_each(|(x, col)| {
        for (y, o) in col.iter_mut().enumerate() {
            *o = data[y * w + x];
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_shrink_averages_and_enlarge_keeps_constants() {
        let mut img = RgbImage::new(4, 2);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([if x % 2 == 0 { 0 } else { 200 }; 3]);
        }
        let small = resize(&img, 2, 1);
        assert_eq!(small.get_pixel(0, 0).0, [100; 3]);
        let flat = RgbImage::from_pixel(3, 3, image::Rgb([7, 8, 9]));
        assert!(resize(&flat, 7, 5).pixels().all(|p| p.0 == [7, 8, 9]));
    }

    #[test]
    fn identity_warp_is_exact() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([(x * 40) as u8, (y * 50) as u8, 3]));
        let id = Affine {
            x0: 0.0,
            y0: 0.0,
            xu: 1.0,
            yu: 0.0,
            xv: 0.0,
            yv: 1.0,
        };
        assert_eq!(warp(&img, &id, 5, 4), img);
    }

    #[test]
    fn box_blur_keeps_the_mean_of_a_constant_and_spreads_a_spike() {
        let mut p = Plane::filled(9, 9, 0.0);
        p.data[4 * 9 + 4] = 81.0;
        p.box_blur(1, 1);
        assert!((p.data[4 * 9 + 4] - 9.0).abs() < 1e-4);
        assert!((p.data[3 * 9 + 3] - 9.0).abs() < 1e-4);
        let mut c = Plane::filled(5, 3, 2.0);
        c.box_blur(2, 3);
        assert!(c.data.iter().all(|v| (v - 2.0).abs() < 1e-5));
    }
}
