//! Our CPU kernels for the convolution layers (f32, NCHW, contiguous input),
//! as candle custom ops.
//!
//! candle's CPU convolution runs a grouped convolution as one small
//! convolution per group (painfully slow for depthwise layers, one group per
//! channel), gathers im2col patches through a layout transpose, and bias and
//! activation each cost a separate pass over memory. These kernels instead:
//! convolve depthwise layers directly, plane by plane, with bias and
//! activation fused; build im2col matrices with row copies (the matrix product
//! itself stays candle's gemm); and apply bias plus activation in one pass.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
use rayon::prelude::*;

/// An activation applied element by element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Activation {
    /// None: a linear layer.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `max(x, slope * x)` for a slope below 1.
    LeakyRelu(f32),
    /// MobileNetV3's `x * relu6(x + 3) / 6`.
    HardSwish,
}

impl Activation {
    #[inline]
    pub(crate) fn scalar(self, x: f32) -> f32 {
        match self {
            Activation::Linear => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(slope) => x.max(slope * x),
            Activation::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }
}

/// The contiguous f32 data and NCHW dims of a custom op's input.
fn nchw<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<(&'a [f32], [usize; 4])> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op} expects f32 input");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op} expects a contiguous input");
    };
    let (n, c, h, w) = layout.shape().dims4()?;
    Ok((&data[start..end], [n, c, h, w]))
}

/// Output columns `first..last` of a row whose input column is
/// `ox * stride + shift` and must fall inside `0..width`, clamped to `0..out`.
fn valid_columns(shift: isize, stride: usize, width: usize, out: usize) -> (usize, usize) {
    let s = stride as isize;
    let first = if shift < 0 { (-shift + s - 1) / s } else { 0 };
    let last = ((width as isize - 1 - shift).div_euclid(s) + 1).clamp(0, out as isize);
    (first.min(last).max(0) as usize, last as usize)
}

/// `dst[i] = src[start + i * stride]` for every `i` (a strided row copy).
#[inline]
fn gather(dst: &mut [f32], src: &[f32], start: usize, stride: usize) {
    if stride == 1 {
        dst.copy_from_slice(&src[start..start + dst.len()]);
    } else {
        for (d, s) in dst.iter_mut().zip(src[start..].chunks(stride)) {
            *d = s[0];
        }
    }
}

/// Convolution geometry: kernel size, stride and zeros around the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    /// Top, bottom, left, right.
    pub pads: [usize; 4],
}

impl Geometry {
    pub(crate) fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let [top, bottom, left, right] = self.pads;
        let oh = (h + top + bottom - self.kh) / self.stride + 1;
        let ow = (w + left + right - self.kw) / self.stride + 1;
        (oh, ow)
    }
}

/// Depthwise convolution (filters `[C, 1, kh, kw]`) with bias and activation.
///
/// Each output plane depends on one input plane, so planes run in parallel
/// and every kernel tap is a multiply-add over a run of one row.
#[derive(Debug, Clone)]
pub(crate) struct Depthwise<'a> {
    /// `[C, kh, kw]` flattened.
    pub taps: &'a [f32],
    pub bias: &'a [f32],
    pub geometry: Geometry,
    pub activation: Activation,
}

impl Depthwise<'_> {
    fn plane(&self, c: usize, input: &[f32], w: usize, out: &mut [f32], ow: usize) {
        let Geometry { kh, kw, stride, pads } = self.geometry;
        let h = input.len() / w;
        let taps = &self.taps[c * kh * kw..(c + 1) * kh * kw];
        // With stride s, split the columns into s phases (phase p holds input
        // columns p, p + s, ...) so that every tap reads a contiguous run.
        let phases = Phases::new(input, w, stride);
        out.fill(self.bias[c]);
        for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
            for ky in 0..kh {
                let Some(iy) = (oy * stride + ky).checked_sub(pads[0]).filter(|&iy| iy < h) else {
                    continue;
                };
                for kx in 0..kw {
                    let shift = kx as isize - pads[2] as isize;
                    let (first, last) = valid_columns(shift, stride, w, ow);
                    if first < last {
                        let src = phases.run(iy, shift, first, last - first);
                        axpy(&mut row[first..last], src, taps[ky * kw + kx]);
                    }
                }
            }
        }
        if self.activation != Activation::Linear {
            out.iter_mut().for_each(|v| *v = self.activation.scalar(*v));
        }
    }
}

/// `y += a * x` over equal-length slices (vectorised by the compiler).
#[inline]
fn axpy(y: &mut [f32], x: &[f32], a: f32) {
    let x = &x[..y.len()];
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// A plane's columns regrouped by `column % stride`, each group a contiguous
/// `height` x `ceil(width / stride)` block (borrowed as is for stride 1).
struct Phases<'a> {
    data: std::borrow::Cow<'a, [f32]>,
    height: usize,
    width: usize,
    stride: usize,
}

impl<'a> Phases<'a> {
    fn new(plane: &'a [f32], width: usize, stride: usize) -> Self {
        let height = plane.len() / width;
        if stride == 1 {
            return Self {
                data: plane.into(),
                height,
                width,
                stride,
            };
        }
        let pw = width.div_ceil(stride);
        let mut data = vec![0f32; stride * height * pw];
        for (y, row) in plane.chunks_exact(width).enumerate() {
            for p in 0..stride.min(width) {
                let dst = &mut data[(p * height + y) * pw..(p * height + y + 1) * pw];
                for (d, v) in dst.iter_mut().zip(row[p..].iter().step_by(stride)) {
                    *d = *v;
                }
            }
        }
        Self {
            data: data.into(),
            height,
            width: pw,
            stride,
        }
    }

    /// The `len` input values of row `y` at columns `(first + i) * stride + shift`.
    fn run(&self, y: usize, shift: isize, first: usize, len: usize) -> &[f32] {
        let s = self.stride as isize;
        let (phase, offset) = (shift.rem_euclid(s) as usize, shift.div_euclid(s));
        let start = ((phase * self.height + y) * self.width) as isize + first as isize + offset;
        &self.data[start as usize..start as usize + len]
    }
}

impl CustomOp1 for Depthwise<'_> {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (input, [n, c, h, w]) = nchw(storage, layout, self.name())?;
        let g = self.geometry;
        if c * g.kh * g.kw != self.taps.len() {
            candle_core::bail!("depthwise-conv2d: {c} channels for {} taps", self.taps.len());
        }
        let (oh, ow) = g.output_size(h, w);
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_exact_mut(oh * ow)
            .zip(input.par_chunks_exact(h * w))
            .enumerate()
            .for_each(|(plane, (out, input))| self.plane(plane % c, input, w, out, ow));
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

/// The im2col matrix of output rows `rows` of image 0: shape
/// `[C * kh * kw, rows.len() * ow]`, one row per (channel, tap), so that a
/// filter bank `[C_out, C * kh * kw]` times it is the convolution.
#[derive(Debug, Clone)]
pub(crate) struct Im2Col {
    pub geometry: Geometry,
    pub rows: std::ops::Range<usize>,
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (input, [_, c, h, w]) = nchw(storage, layout, self.name())?;
        let Geometry { kh, kw, stride, pads } = self.geometry;
        let (_, ow) = self.geometry.output_size(h, w);
        let band = self.rows.len() * ow;
        let mut out = vec![0f32; c * kh * kw * band];
        out.par_chunks_exact_mut(band).enumerate().for_each(|(row, dst)| {
            let (ch, ky, kx) = (row / (kh * kw), row / kw % kh, row % kw);
            let plane = &input[ch * h * w..(ch + 1) * h * w];
            let shift = kx as isize - pads[2] as isize;
            let (first, last) = valid_columns(shift, stride, w, ow);
            for (oy, dst) in self.rows.clone().zip(dst.chunks_exact_mut(ow)) {
                let Some(iy) = (oy * stride + ky).checked_sub(pads[0]).filter(|&iy| iy < h) else {
                    continue;
                };
                if first < last {
                    let start = (first as isize * stride as isize + shift) as usize;
                    gather(&mut dst[first..last], &plane[iy * w..(iy + 1) * w], start, stride);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((c * kh * kw, band))))
    }
}

/// `activation(x + bias[channel])` over an NCHW tensor, in one pass.
#[derive(Debug, Clone)]
pub(crate) struct BiasActivation<'a> {
    pub bias: &'a [f32],
    pub activation: Activation,
}

impl CustomOp1 for BiasActivation<'_> {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (input, [n, c, h, w]) = nchw(storage, layout, self.name())?;
        if c != self.bias.len() {
            candle_core::bail!("bias-activation: {c} channels for {} biases", self.bias.len());
        }
        let mut out = vec![0f32; input.len()];
        out.par_chunks_exact_mut(h * w)
            .zip(input.par_chunks_exact(h * w))
            .enumerate()
            .for_each(|(plane, (out, input))| {
                let b = self.bias[plane % c];
                for (o, i) in out.iter_mut().zip(input) {
                    *o = self.activation.scalar(i + b);
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_columns_cover_the_row() {
        // 3-tap kernel, pad 1, stride 1 on a width-5 row: tap 0 misses column 0.
        assert_eq!(valid_columns(-1, 1, 5, 5), (1, 5));
        assert_eq!(valid_columns(1, 1, 5, 5), (0, 4));
        // Stride 2 with one zero on the right (TF SAME on an even width).
        assert_eq!(valid_columns(0, 2, 8, 4), (0, 4));
        assert_eq!(valid_columns(2, 2, 8, 4), (0, 3));
    }

    #[test]
    fn activations() {
        let hs: Vec<f32> = [-4.0, -1.5, 0.0, 1.5, 4.0]
            .map(|x| Activation::HardSwish.scalar(x))
            .to_vec();
        assert_eq!(hs, vec![0.0, -0.375, 0.0, 1.125, 4.0]);
        assert_eq!(Activation::LeakyRelu(0.1).scalar(-2.0), -0.2);
        assert_eq!(Activation::Relu.scalar(-2.0), 0.0);
    }
}
