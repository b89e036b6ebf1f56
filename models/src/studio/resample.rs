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
        // Shrink only the part of the source the output sees.
        let (x0, y0, x1, y1) = source_bounds(map, width, height, source.width(), source.height());
        let region = image::imageops::crop_imm(source, x0, y0, x1 - x0, y1 - y0).to_image();
        let f = 2.0 / footprint;
        let (w, h) = (
            ((region.width() as f32 * f).round() as u32).max(1),
            ((region.height() as f32 * f).round() as u32).max(1),
        );
        let small = resize(&region, w, h);
        let shifted = Affine {
            x0: map.x0 - x0 as f32,
            y0: map.y0 - y0 as f32,
            ..*map
        };
        let sx = w as f32 / region.width() as f32;
        let sy = h as f32 / region.height() as f32;
        return warp_direct(&small, &shifted.onto_resized(sx, sy), width, height);
    }
    warp_direct(source, map, width, height)
}

/// The pixel rectangle `x0..x1` x `y0..y1` of a `sw` x `sh` source that a `width` x `height`
/// output of `map` samples, with a margin for the filters, clamped to the source (never empty).
fn source_bounds(map: &Affine, width: u32, height: u32, sw: u32, sh: u32) -> (u32, u32, u32, u32) {
    let corners = [
        (0.0, 0.0),
        (width as f32, 0.0),
        (0.0, height as f32),
        (width as f32, height as f32),
    ]
    .map(|(u, v)| map.apply(u - 0.5, v - 0.5));
    let margin = 2.0 * map.footprint() + 2.0;
    let lo = |v: f32, n: u32| ((v - margin).floor().max(0.0) as u32).min(n - 1);
    let hi = |v: f32, n: u32| ((v + margin).ceil().max(1.0) as u32).min(n);
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in corners {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (x0, y0) = (lo(x0, sw), lo(y0, sh));
    let (x1, y1) = (hi(x1, sw).max(x0 + 1), hi(y1, sh).max(y0 + 1));
    (x0, y0, x1, y1)
}

/// Catmull-Rom weights of the four taps around a sample at fraction `t` past the second.
#[inline]
fn cubic_weights(t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ]
}

/// A Catmull-Rom (bicubic) sample of RGB `data` at index coordinates, edges clamped: sharper
/// than bilinear where the studio enlarges the photo.
#[inline]
fn bicubic(data: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (xi, yi) = (x.floor() as isize, y.floor() as isize);
    let (wx, wy) = (cubic_weights(x - xi as f32), cubic_weights(y - yi as f32));
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut out = [0f32; 3];
    for (j, wyj) in wy.iter().enumerate() {
        let row = clamp(yi + j as isize - 1, h) * w;
        let mut acc = [0f32; 3];
        for (i, wxi) in wx.iter().enumerate() {
            let p = (row + clamp(xi + i as isize - 1, w)) * 3;
            for c in 0..3 {
                acc[c] += wxi * f32::from(data[p + c]);
            }
        }
        for c in 0..3 {
            out[c] += wyj * acc[c];
        }
    }
    out
}

fn warp_direct(source: &RgbImage, map: &Affine, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = (source.width() as usize, source.height() as usize);
    let data = source.as_raw();
    let enlarging = map.footprint() < 0.95;
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
                let s = if enlarging {
                    bicubic(data, sw, sh, x, y)
                } else {
                    bilinear::<3>(data, sw, sh, x, y)
                };
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
    fn a_strong_shrink_of_a_region_matches_the_whole_image_shrink() {
        let img = RgbImage::from_fn(400, 300, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        // Output pixels 8 source pixels wide, looking at x 100..260, y 80..200.
        let map = Affine {
            x0: 103.5,
            y0: 83.5,
            xu: 8.0,
            yu: 0.0,
            xv: 0.0,
            yv: 8.0,
        };
        let out = warp(&img, &map, 20, 15);
        // Each output pixel is the mean of an 8x8 block: x = 100 + 8u .. 108 + 8u.
        let p = out.get_pixel(5, 4);
        assert!((f32::from(p[0]) - 143.5).abs() <= 2.0, "{p:?}");
        assert!((f32::from(p[1]) - 115.5).abs() <= 2.0, "{p:?}");
        let (x0, y0, x1, y1) = source_bounds(&map, 20, 15, 400, 300);
        assert!(x0 <= 100 && y0 <= 80 && x1 >= 260 && y1 >= 200 && x1 <= 300);
    }

    #[test]
    fn bicubic_interpolates_exactly_at_pixels_and_keeps_constants() {
        let img = RgbImage::from_fn(6, 5, |x, y| image::Rgb([(x * 30) as u8, (y * 40) as u8, 77]));
        assert_eq!(bicubic(img.as_raw(), 6, 5, 2.0, 3.0), [60.0, 120.0, 77.0]);
        let mid = bicubic(img.as_raw(), 6, 5, 2.5, 1.0);
        assert!((mid[0] - 75.0).abs() < 1e-3, "{mid:?}");
        let w = cubic_weights(0.3);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
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
