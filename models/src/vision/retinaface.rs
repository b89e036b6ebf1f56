//! The RetinaFace network with a MobileNet-0.25 backbone, natively in candle.
//!
//! Layout follows Pytorch_Retinaface: a MobileNetV1 (width 0.25) gives three
//! feature maps at strides 8, 16 and 32; a feature pyramid mixes them top-down;
//! an SSH context module ("single stage headless": parallel 3x3, 5x5 and 7x7
//! receptive fields built from stacked 3x3 convolutions) refines each level; and
//! 1x1 heads predict, for two anchors per cell, face/background scores, box
//! offsets and five landmark offsets. BatchNorm is folded into the convolutions
//! by the weight conversion. Decoding the offsets is in `decode`.

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layer::{Activation, Conv, Padding, apply_activation};

/// The slope of every leaky ReLU in this model (Pytorch_Retinaface uses 0.1
/// when the pyramid has at most 64 channels, as MobileNet-0.25's does).
const LEAKY: Activation = Activation::LeakyRelu(0.1);

/// Strides of the backbone blocks, stage by stage. The first block of stage 1
/// is a full 3x3 convolution; every other block is depthwise 3x3 + pointwise 1x1.
const STAGES: [&[usize]; 3] = [&[2, 1, 2, 1, 2, 1], &[2, 1, 1, 1, 1, 1], &[2, 1]];

/// The raw head outputs for one image, anchors in prior order (see `decode`).
#[derive(Debug, Clone)]
pub struct HeadOutputs {
    /// Box offsets `[anchors, 4]`: dx, dy, dw, dh (before the 0.1/0.2 variances).
    pub loc: Tensor,
    /// Softmaxed scores `[anchors, 2]`: background, face.
    pub conf: Tensor,
    /// Landmark offsets `[anchors, 10]`: five (dx, dy) pairs.
    pub landmarks: Tensor,
}

/// The whole network; `forward` takes a `[1, 3, H, W]` BGR tensor minus the mean.
#[derive(Debug, Clone)]
pub(crate) struct RetinaFace {
    stages: Vec<Vec<Conv>>,
    fpn: Fpn,
    ssh: Vec<Ssh>,
    heads: Vec<Heads>,
}

impl RetinaFace {
    pub(crate) fn load(vb: VarBuilder) -> Result<Self> {
        let backbone = vb.pp("backbone");
        let mut stages = Vec::new();
        for (s, strides) in STAGES.iter().enumerate() {
            let stage = backbone.pp(format!("stage{}", s + 1));
            let mut layers = Vec::new();
            for (b, &stride) in strides.iter().enumerate() {
                let block = stage.pp(b);
                if s == 0 && b == 0 {
                    layers.push(Conv::load(block, stride, Padding::Symmetric(1), LEAKY)?);
                } else {
                    layers.push(Conv::load(block.pp("dw"), stride, Padding::Symmetric(1), LEAKY)?);
                    layers.push(Conv::load(block.pp("pw"), 1, Padding::Symmetric(0), LEAKY)?);
                }
            }
            stages.push(layers);
        }
        let ssh = (1..=3).map(|i| Ssh::load(vb.pp(format!("ssh{i}"))));
        let heads = (0..3).map(|i| Heads::load(&vb, i));
        Ok(Self {
            stages,
            fpn: Fpn::load(vb.pp("fpn"))?,
            ssh: ssh.collect::<Result<_>>()?,
            heads: heads.collect::<Result<_>>()?,
        })
    }

    pub(crate) fn forward(&self, input: &Tensor) -> Result<HeadOutputs> {
        let mut x = input.clone();
        let mut features = Vec::with_capacity(3);
        for stage in &self.stages {
            for layer in stage {
                x = layer.forward(&x)?;
            }
            features.push(x.clone());
        }
        let pyramid = self.fpn.forward(&features)?;
        let (mut loc, mut conf, mut landmarks) = (Vec::new(), Vec::new(), Vec::new());
        for ((level, ssh), heads) in pyramid.iter().zip(&self.ssh).zip(&self.heads) {
            let level = ssh.forward(level)?;
            loc.push(per_anchor(&heads.bbox.forward(&level)?, 4)?);
            conf.push(per_anchor(&heads.class.forward(&level)?, 2)?);
            landmarks.push(per_anchor(&heads.landmark.forward(&level)?, 10)?);
        }
        Ok(HeadOutputs {
            loc: Tensor::cat(&loc, 0)?,
            conf: candle_nn::ops::softmax_last_dim(&Tensor::cat(&conf, 0)?)?,
            landmarks: Tensor::cat(&landmarks, 0)?,
        })
    }
}

/// `[1, anchors_per_cell * k, H, W]` -> `[H * W * anchors_per_cell, k]`, cell-major.
fn per_anchor(x: &Tensor, k: usize) -> Result<Tensor> {
    x.squeeze(0)?.permute((1, 2, 0))?.contiguous()?.reshape(((), k))
}

/// Nearest-neighbour resize to `h` x `w` with ONNX's asymmetric/floor rule
/// (source index `floor(dst * in / out)`), as the exported pyramid does it.
fn upsample_nearest(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (_, _, ih, iw) = x.dims4()?;
    let index = |out: usize, inp: usize| {
        let idx: Vec<u32> = (0..out).map(|i| (i * inp / out) as u32).collect();
        Tensor::from_vec(idx, out, x.device())
    };
    x.index_select(&index(h, ih)?, 2)?.index_select(&index(w, iw)?, 3)
}

/// The feature pyramid: 1x1 lateral convolutions, top-down sums, 3x3 merges.
#[derive(Debug, Clone)]
struct Fpn {
    outputs: [Conv; 3],
    merges: [Conv; 2],
}

impl Fpn {
    fn load(vb: VarBuilder) -> Result<Self> {
        let lateral = |i| Conv::load(vb.pp(format!("output{i}")), 1, Padding::Symmetric(0), LEAKY);
        let merge = |i| Conv::load(vb.pp(format!("merge{i}")), 1, Padding::Symmetric(1), LEAKY);
        Ok(Self {
            outputs: [lateral(1)?, lateral(2)?, lateral(3)?],
            merges: [merge(1)?, merge(2)?],
        })
    }

    fn forward(&self, features: &[Tensor]) -> Result<[Tensor; 3]> {
        let o1 = self.outputs[0].forward(&features[0])?;
        let o2 = self.outputs[1].forward(&features[1])?;
        let o3 = self.outputs[2].forward(&features[2])?;
        let (_, _, h2, w2) = o2.dims4()?;
        let o2 = self.merges[1].forward(&(o2 + upsample_nearest(&o3, h2, w2)?)?)?;
        let (_, _, h1, w1) = o1.dims4()?;
        let o1 = self.merges[0].forward(&(o1 + upsample_nearest(&o2, h1, w1)?)?)?;
        Ok([o1, o2, o3])
    }
}

/// The SSH context module of one pyramid level: a 3x3 branch, a "5x5" branch
/// (two stacked 3x3) and a "7x7" branch (three stacked 3x3, sharing the first
/// with the 5x5 one). Convolutions that read the same tensor run stacked.
#[derive(Debug, Clone)]
struct Ssh {
    /// `conv3x3` (32 channels, linear) and `conv5x5_1` (16, leaky) of the input.
    entry: Conv,
    /// `conv5x5_2` (linear) and `conv7x7_2` (leaky) of `conv5x5_1`'s output.
    middle: Conv,
    conv7x7_3: Conv,
    /// Output channels of `conv3x3`.
    wide: usize,
    /// Output channels of each of the other convolutions.
    narrow: usize,
}

impl Ssh {
    fn load(vb: VarBuilder) -> Result<Self> {
        let stacked = |names: [&str; 2]| {
            let vbs = names.map(|name| vb.pp(name));
            Conv::load_stacked(&vbs, 1, Padding::Symmetric(1), Activation::Linear)
        };
        let conv7x7_3 = Conv::load(vb.pp("conv7x7_3"), 1, Padding::Symmetric(1), Activation::Linear)?;
        let entry = stacked(["conv3x3", "conv5x5_1"])?;
        let narrow = conv7x7_3.out_channels();
        Ok(Self {
            wide: entry.out_channels() - narrow,
            entry,
            middle: stacked(["conv5x5_2", "conv7x7_2"])?,
            conv7x7_3,
            narrow,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let entry = self.entry.forward(x)?;
        let c3 = entry.narrow(1, 0, self.wide)?;
        let t5 = apply_activation(LEAKY, &entry.narrow(1, self.wide, self.narrow)?)?;
        let middle = self.middle.forward(&t5)?;
        let c5 = middle.narrow(1, 0, self.narrow)?;
        let t7 = apply_activation(LEAKY, &middle.narrow(1, self.narrow, self.narrow)?)?;
        let c7 = self.conv7x7_3.forward(&t7)?;
        Tensor::cat(&[c3, c5, c7], 1)?.relu()
    }
}

/// The three 1x1 prediction heads of one pyramid level.
#[derive(Debug, Clone)]
struct Heads {
    class: Conv,
    bbox: Conv,
    landmark: Conv,
}

impl Heads {
    fn load(vb: &VarBuilder, level: usize) -> Result<Self> {
        let head = |name: &str| {
            let vb = vb.pp(name).pp(level);
            Conv::load(vb, 1, Padding::Symmetric(0), Activation::Linear)
        };
        Ok(Self {
            class: head("class_head")?,
            bbox: head("bbox_head")?,
            landmark: head("landmark_head")?,
        })
    }
}

/// Builds the network input from RGB bytes: BGR order minus (104, 117, 123),
/// no scaling, shaped `[1, 3, height, width]`.
pub(crate) fn input_tensor(rgb: &[u8], width: usize, height: usize, device: &Device) -> Result<Tensor> {
    const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
    let plane = width * height;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for (c, mean) in MEAN_BGR.iter().enumerate() {
            data[c * plane + i] = f32::from(px[2 - c]) - mean;
        }
    }
    Tensor::from_vec(data, (1, 3, height, width), device)
}
