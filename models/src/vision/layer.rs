//! The convolution layer shared by the vision networks: weights, padding,
//! bias and activation, run by our CPU kernels (`kernel`) on the CPU and by
//! candle's own operations elsewhere (and as the reference in tests).

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

pub(crate) use super::kernel::Activation;
use super::kernel::{BiasActivation, Depthwise, Geometry, Im2Col};

/// How a convolution pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// The same number of zeros on every side (PyTorch, ONNX exports).
    Symmetric(usize),
    /// TensorFlow's `SAME`: output size `ceil(in / stride)`, any odd total
    /// padding going to the bottom and right.
    Same,
}

/// Largest im2col matrix built at once (bytes); taller outputs run in bands.
const IM2COL_BYTES: usize = 32 << 20;

/// A 2-D convolution with bias and activation, NCHW, batch size 1.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    /// OIHW; depthwise `[C, 1, kh, kw]`.
    weight: Tensor,
    /// The filter bank as a matrix `[C_out, C_in * kh * kw]`.
    matrix: Tensor,
    /// Shaped `[1, C, 1, 1]` to broadcast over NCHW.
    bias: Tensor,
    bias_host: Vec<f32>,
    taps_host: Vec<f32>,
    stride: usize,
    padding: Padding,
    activation: Activation,
}

impl Conv {
    /// Loads `weight` (OIHW, depthwise `[C, 1, kh, kw]`) and `bias` under `vb`.
    pub(crate) fn load(
        vb: VarBuilder,
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> Result<Self> {
        Self::load_stacked(&[vb], stride, padding, activation)
    }

    /// Several convolutions of the same input and geometry as one, their
    /// output channels stacked in order: the input is then unfolded once.
    pub(crate) fn load_stacked(
        vbs: &[VarBuilder],
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> Result<Self> {
        let mut weights = Vec::with_capacity(vbs.len());
        let mut biases = Vec::with_capacity(vbs.len());
        for vb in vbs {
            let weight = vb.get_unchecked("weight")?;
            biases.push(vb.get(weight.dim(0)?, "bias")?);
            weights.push(weight);
        }
        let weight = Tensor::cat(&weights, 0)?;
        let bias = Tensor::cat(&biases, 0)?;
        let (c_out, c_in, kh, kw) = weight.dims4()?;
        let host = |t: &Tensor| {
            t.to_device(&candle_core::Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()
        };
        Ok(Self {
            matrix: weight.reshape((c_out, c_in * kh * kw))?,
            taps_host: host(&weight)?,
            bias_host: host(&bias)?,
            bias: bias.reshape((1, c_out, 1, 1))?,
            weight,
            stride,
            padding,
            activation,
        })
    }

    /// Number of output channels.
    pub(crate) fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    fn geometry(&self, h: usize, w: usize) -> Geometry {
        let dims = self.weight.dims();
        let (kh, kw) = (dims[2], dims[3]);
        let pads = match self.padding {
            Padding::Symmetric(p) => [p, p, p, p],
            Padding::Same => {
                let total = |n: usize, k: usize| {
                    let out = n.div_ceil(self.stride);
                    ((out - 1) * self.stride + k).saturating_sub(n)
                };
                let (th, tw) = (total(h, kh), total(w, kw));
                [th / 2, th - th / 2, tw / 2, tw - tw / 2]
            }
        };
        Geometry {
            kh,
            kw,
            stride: self.stride,
            pads,
        }
    }

    /// Whether this is a depthwise layer for an input of `channels` channels.
    fn is_depthwise(&self, channels: usize) -> bool {
        let dims = self.weight.dims();
        dims[1] == 1 && dims[0] == channels && channels > 1
    }

    /// Our kernels: depthwise directly, everything else as im2col (skipped
    /// for 1x1) + candle's matrix product, then bias and activation fused.
    fn forward_cpu(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        if n != 1 {
            candle_core::bail!("vision convolutions take one image at a time, got {n}");
        }
        let x = x.contiguous()?;
        let geometry = self.geometry(h, w);
        if self.is_depthwise(c) {
            let op = Depthwise {
                taps: &self.taps_host,
                bias: &self.bias_host,
                geometry,
                activation: self.activation,
            };
            return x.apply_op1_no_bwd(&op);
        }
        let (oh, ow) = geometry.output_size(h, w);
        let c_out = self.weight.dim(0)?;
        let pointwise = geometry.kh == 1 && geometry.kw == 1 && self.stride == 1 && geometry.pads == [0; 4];
        let out = if pointwise {
            self.matrix
                .matmul(&x.reshape((c, h * w))?)?
                .reshape((1, c_out, oh, ow))?
        } else {
            let row_bytes = self.matrix.dim(1)? * ow * 4;
            let band = (IM2COL_BYTES / row_bytes.max(1)).clamp(1, oh);
            let mut bands = Vec::with_capacity(oh.div_ceil(band));
            for top in (0..oh).step_by(band) {
                let rows = top..(top + band).min(oh);
                let height = rows.len();
                let columns = x.apply_op1_no_bwd(&Im2Col { geometry, rows })?;
                bands.push(self.matrix.matmul(&columns)?.reshape((1, c_out, height, ow))?);
            }
            Tensor::cat(&bands, 2)?
        };
        out.apply_op1_no_bwd(&BiasActivation {
            bias: &self.bias_host,
            activation: self.activation,
        })
    }

    /// candle's own operations (any device).
    fn forward_candle(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let groups = if self.is_depthwise(c) { c } else { 1 };
        let Geometry {
            pads: [top, bottom, left, right],
            ..
        } = self.geometry(h, w);
        let y = if top == bottom && left == right && top == left {
            x.conv2d(&self.weight, top, self.stride, 1, groups)?
        } else {
            let x = x.pad_with_zeros(2, top, bottom)?.pad_with_zeros(3, left, right)?;
            x.conv2d(&self.weight, 0, self.stride, 1, groups)?
        };
        apply_activation(self.activation, &y.broadcast_add(&self.bias)?)
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            self.forward_cpu(x)
        } else {
            self.forward_candle(x)
        }
    }
}

/// `activation` with candle operations.
pub(crate) fn apply_activation(activation: Activation, x: &Tensor) -> Result<Tensor> {
    match activation {
        Activation::Linear => Ok(x.clone()),
        Activation::Relu => x.relu(),
        Activation::LeakyRelu(slope) => x.maximum(&(x * f64::from(slope))?),
        Activation::HardSwish => x.mul(&((x + 3.0)?.clamp(0f32, 6f32)? / 6.0)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    fn conv(
        shape: (usize, usize, usize, usize),
        stride: usize,
        padding: Padding,
        act: Activation,
    ) -> Result<Conv> {
        let weight = Tensor::randn(0f32, 1., shape, &Device::Cpu)?;
        let bias = Tensor::randn(0f32, 1., shape.0, &Device::Cpu)?;
        let map = HashMap::from([("weight".to_string(), weight), ("bias".to_string(), bias)]);
        Conv::load(
            VarBuilder::from_tensors(map, DType::F32, &Device::Cpu),
            stride,
            padding,
            act,
        )
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    #[test]
    fn our_kernels_match_candle() -> Result<()> {
        use Activation::*;
        use Padding::*;
        let cases = [
            // Depthwise, PyTorch and TF padding, both strides.
            ((6, 1, 3, 3), 1, Symmetric(1), 6, (9, 7), Relu),
            ((6, 1, 3, 3), 2, Symmetric(1), 6, (9, 8), LeakyRelu(0.1)),
            ((6, 1, 3, 3), 2, Same, 6, (16, 15), HardSwish),
            ((6, 1, 5, 5), 2, Same, 6, (32, 31), Linear),
            ((6, 1, 5, 5), 1, Same, 6, (10, 12), Relu),
            // Pointwise and dense.
            ((5, 3, 1, 1), 1, Symmetric(0), 3, (4, 6), LeakyRelu(0.1)),
            ((8, 3, 3, 3), 2, Symmetric(1), 3, (17, 20), LeakyRelu(0.1)),
            ((16, 3, 3, 3), 2, Same, 3, (32, 32), HardSwish),
            ((7, 4, 3, 3), 1, Symmetric(1), 4, (11, 9), Linear),
        ];
        for (shape, stride, padding, c, (h, w), act) in cases {
            let layer = conv(shape, stride, padding, act)?;
            let x = Tensor::randn(0f32, 1., (1, c, h, w), &Device::Cpu)?;
            let ours = layer.forward_cpu(&x)?;
            let reference = layer.forward_candle(&x)?;
            assert_eq!(ours.dims(), reference.dims(), "{shape:?} {padding:?}");
            assert!(
                max_diff(&ours, &reference)? < 1e-4,
                "{shape:?} s{stride} {padding:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn tall_outputs_run_in_bands() -> Result<()> {
        // 64 channels x 9 taps x 4 bytes x 1024 columns = 2.25 MiB per output
        // row: a 16-row output needs two 32 MiB bands.
        let layer = conv((2, 64, 3, 3), 1, Padding::Symmetric(1), Activation::Linear)?;
        let x = Tensor::randn(0f32, 1., (1, 64, 16, 1024), &Device::Cpu)?;
        assert!(max_diff(&layer.forward_cpu(&x)?, &layer.forward_candle(&x)?)? < 1e-3);
        Ok(())
    }

    #[test]
    fn same_padding_puts_the_odd_zero_last() -> Result<()> {
        let layer = conv((1, 3, 3, 3), 2, Padding::Same, Activation::Linear)?;
        assert_eq!(layer.geometry(256, 256).pads, [0, 1, 0, 1]);
        let layer = conv((1, 3, 5, 5), 2, Padding::Same, Activation::Linear)?;
        assert_eq!(layer.geometry(32, 32).pads, [1, 2, 1, 2]);
        Ok(())
    }
}
