//! MediaPipe's selfie segmentation network (general model, 256x256), natively
//! in candle.
//!
//! The TFLite graph is a small MobileNetV3-style encoder (inverted residual
//! blocks with hard-swish and squeeze-and-excitation) down to 1/16 of the
//! input, and a decoder that upsamples twice bilinearly, each time fusing the
//! encoder's skip connection through a channel attention gate, and ends with a
//! 2x2 stride-2 transposed convolution (MediaPipe's custom
//! `Convolution2DTransposeBias`) and a sigmoid. Layer names are the TFLite
//! ones kept by the conversion; TFLite's `SAME` padding is honoured (an odd
//! pad goes to the bottom/right).

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layer::{Activation, Conv, Padding};

/// The network's square input and output side, in pixels.
pub const INPUT_SIZE: usize = 256;

/// One encoder block: 1x1 expansion, depthwise, optional squeeze-excite,
/// linear 1x1 projection, optional residual.
struct BlockSpec {
    expand: usize,
    depthwise: usize,
    /// First of the two 1x1 convolutions of the squeeze-excite gate.
    squeeze: Option<usize>,
    project: usize,
    stride: usize,
    activation: Activation,
    residual: bool,
}

const fn block(
    expand: usize,
    depthwise: usize,
    squeeze: Option<usize>,
    stride: usize,
    activation: Activation,
    residual: bool,
) -> BlockSpec {
    let project = match squeeze {
        Some(s) => s + 2,
        None => expand + 1,
    };
    BlockSpec {
        expand,
        depthwise,
        squeeze,
        project,
        stride,
        activation,
        residual,
    }
}

const RELU: Activation = Activation::Relu;
const HSWISH: Activation = Activation::HardSwish;

/// The encoder after the stem, as numbered in the TFLite file
/// (`conv2d_{expand}`, `depthwise_conv2d_{depthwise}`, ...).
const ENCODER: [BlockSpec; 8] = [
    block(1, 0, Some(2), 2, RELU, false), // -> 1/4, skip
    block(5, 1, None, 2, RELU, false),
    block(7, 2, None, 1, RELU, true), // -> 1/8, skip
    block(9, 3, Some(10), 2, HSWISH, false),
    block(13, 4, Some(14), 1, HSWISH, true),
    block(17, 5, Some(18), 1, HSWISH, true),
    block(21, 6, Some(22), 1, HSWISH, true),
    block(25, 7, Some(26), 1, HSWISH, true), // -> 1/16
];

/// Indices (into [`ENCODER`]) of the blocks whose outputs feed the decoder.
const SKIP_BLOCKS: [usize; 2] = [0, 2];

fn pointwise(vb: &VarBuilder, index: usize, activation: Activation) -> Result<Conv> {
    Conv::load(vb.pp(format!("conv2d_{index}")), 1, Padding::Same, activation)
}

fn depthwise(vb: &VarBuilder, index: usize, stride: usize, act: Activation) -> Result<Conv> {
    let name = if index == 0 {
        "depthwise_conv2d".to_string()
    } else {
        format!("depthwise_conv2d_{index}")
    };
    Conv::load(vb.pp(name), stride, Padding::Same, act)
}

/// A channel gate: global average, 1x1 + ReLU, 1x1 + sigmoid.
struct Gate {
    reduce: Conv,
    expand: Conv,
}

impl Gate {
    fn load(vb: &VarBuilder, first: usize) -> Result<Self> {
        Ok(Self {
            reduce: pointwise(vb, first, Activation::Relu)?,
            expand: pointwise(vb, first + 1, Activation::Linear)?,
        })
    }

    /// The per-channel weights in 0..1 computed from `x`, shaped `[N, C, 1, 1]`.
    fn weights(&self, x: &Tensor) -> Result<Tensor> {
        let pooled = x.mean_keepdim(3)?.mean_keepdim(2)?;
        candle_nn::ops::sigmoid(&self.expand.forward(&self.reduce.forward(&pooled)?)?)
    }
}

struct Block {
    expand: Conv,
    depthwise: Conv,
    gate: Option<Gate>,
    project: Conv,
    residual: bool,
}

impl Block {
    fn load(vb: &VarBuilder, spec: &BlockSpec) -> Result<Self> {
        Ok(Self {
            expand: pointwise(vb, spec.expand, spec.activation)?,
            depthwise: depthwise(vb, spec.depthwise, spec.stride, spec.activation)?,
            gate: spec.squeeze.map(|s| Gate::load(vb, s)).transpose()?,
            project: pointwise(vb, spec.project, Activation::Linear)?,
            residual: spec.residual,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.depthwise.forward(&self.expand.forward(x)?)?;
        if let Some(gate) = &self.gate {
            y = y.broadcast_mul(&gate.weights(&y)?)?;
        }
        let y = self.project.forward(&y)?;
        if self.residual { y + x } else { Ok(y) }
    }
}

/// One decoder stage: fuse the upsampled features `up` with the encoder's
/// `skip` (gated by channel attention on their sum), then a 1x1 + ReLU and a
/// residual depthwise 3x3 + ReLU.
struct Fuse {
    gate: Gate,
    conv: Conv,
    depthwise: Conv,
}

impl Fuse {
    fn load(vb: &VarBuilder, first_conv: usize, depthwise_index: usize) -> Result<Self> {
        Ok(Self {
            gate: Gate::load(vb, first_conv)?,
            conv: pointwise(vb, first_conv + 2, Activation::Relu)?,
            depthwise: depthwise(vb, depthwise_index, 1, Activation::Relu)?,
        })
    }

    fn forward(&self, skip: &Tensor, up: &Tensor) -> Result<Tensor> {
        let attention = self.gate.weights(&(skip + up)?)?;
        let fused = (skip.broadcast_mul(&attention)? + up)?;
        let x = self.conv.forward(&fused)?;
        &x + self.depthwise.forward(&x)?
    }
}

/// The network: `[N, 3, 256, 256]` RGB in 0..1 to `[N, 1, 256, 256]` person
/// probability.
pub(crate) struct SelfieNet {
    stem: Conv,
    encoder: Vec<Block>,
    head_conv: Conv,
    head_gate: Conv,
    /// 1x1 projections after each 2x bilinear upsampling.
    up_convs: [Conv; 3],
    /// Fusions with the skips at 1/8, 1/4 and 1/2 of the input.
    fuses: [Fuse; 3],
    /// The final 2x2 stride-2 transposed convolution (one output channel) as
    /// a matrix `[4, C]`: row `2 * ky + kx` makes output pixel
    /// `(2y + ky, 2x + kx)` from input pixel `(y, x)`.
    segment_matrix: Tensor,
    segment_bias: Tensor,
}

impl std::fmt::Debug for SelfieNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfieNet").finish_non_exhaustive()
    }
}

impl SelfieNet {
    pub(crate) fn load(vb: VarBuilder) -> Result<Self> {
        let encoder = ENCODER.iter().map(|spec| Block::load(&vb, spec));
        Ok(Self {
            stem: Conv::load(vb.pp("conv2d"), 2, Padding::Same, Activation::HardSwish)?,
            encoder: encoder.collect::<Result<_>>()?,
            head_conv: pointwise(&vb, 29, Activation::Relu)?,
            head_gate: pointwise(&vb, 30, Activation::Linear)?,
            up_convs: [
                pointwise(&vb, 31, Activation::Linear)?,
                pointwise(&vb, 35, Activation::Linear)?,
                pointwise(&vb, 39, Activation::Linear)?,
            ],
            fuses: [
                Fuse::load(&vb, 32, 8)?,
                Fuse::load(&vb, 36, 9)?,
                Fuse::load(&vb, 40, 10)?,
            ],
            segment_matrix: segment_matrix(&vb.pp("segment").get_unchecked("weight")?)?,
            segment_bias: vb.pp("segment").get(1, "bias")?.reshape((1, 1, 1, 1))?,
        })
    }

    pub(crate) fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let stem = self.stem.forward(input)?;
        let mut skips = vec![stem.clone()];
        let mut x = stem;
        for (i, block) in self.encoder.iter().enumerate() {
            x = block.forward(&x)?;
            if SKIP_BLOCKS.contains(&i) {
                skips.push(x.clone());
            }
        }
        // Head: features gated by a sigmoid of their own global average.
        let pooled = x.mean_keepdim(3)?.mean_keepdim(2)?;
        let gate = candle_nn::ops::sigmoid(&self.head_gate.forward(&pooled)?)?;
        let mut x = self.head_conv.forward(&x)?.broadcast_mul(&gate)?;
        for ((up_conv, fuse), skip) in self.up_convs.iter().zip(&self.fuses).zip(skips.iter().rev()) {
            let (_, _, h, w) = x.dims4()?;
            let up = up_conv.forward(&x.upsample_bilinear2d(2 * h, 2 * w, false)?)?;
            x = fuse.forward(skip, &up)?;
        }
        let logits = transposed_2x2(&x, &self.segment_matrix)?;
        candle_nn::ops::sigmoid(&logits.broadcast_add(&self.segment_bias)?)
    }
}

/// A 2x2 stride-2 transposed convolution to one channel, without bias, given
/// its kernel as a `[4, C]` matrix (see [`segment_matrix`]). The taps of
/// neighbouring input pixels do not overlap, so it is one matrix product and a
/// pixel shuffle (far cheaper than a general transposed convolution).
fn transposed_2x2(x: &Tensor, matrix: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let taps = matrix.broadcast_left(n)?.matmul(&x.reshape((n, c, h * w))?)?;
    let blocks = taps.reshape((n, 2, 2, h, w))?.permute((0, 3, 1, 4, 2))?;
    blocks.contiguous()?.reshape((n, 1, 2 * h, 2 * w))
}

/// A `[C, 1, 2, 2]` transposed convolution kernel as the `[4, C]` matrix of
/// [`transposed_2x2`].
fn segment_matrix(kernel: &Tensor) -> Result<Tensor> {
    let (c, c_out, kh, kw) = kernel.dims4()?;
    if (c_out, kh, kw) != (1, 2, 2) {
        candle_core::bail!("segment kernel {:?} is not [C, 1, 2, 2]", kernel.dims());
    }
    kernel.reshape((c, 4))?.t()?.contiguous()
}

/// Builds the network input from 256x256 RGB bytes: values / 255, `[1, 3, 256, 256]`.
pub(crate) fn input_tensor(rgb: &[u8], device: &candle_core::Device) -> Result<Tensor> {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = f32::from(px[c]) / 255.0;
        }
    }
    Tensor::from_vec(data, (1, 3, INPUT_SIZE, INPUT_SIZE), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_shortcut_is_a_transposed_convolution() -> Result<()> {
        let dev = Device::Cpu;
        let kernel = Tensor::randn(0f32, 1., (16, 1, 2, 2), &dev)?;
        let x = Tensor::randn(0f32, 1., (1, 16, 5, 7), &dev)?;
        let reference = x.conv_transpose2d(&kernel, 0, 0, 2, 1)?;
        let ours = transposed_2x2(&x, &segment_matrix(&kernel)?)?;
        let diff = (ours - reference)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }
}
