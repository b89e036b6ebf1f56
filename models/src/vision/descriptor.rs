//! Face identity: the dlib ResNet face descriptor (128 numbers per face; two photos of the same
//! person lie within about 0.6 of each other, different people further apart), natively in
//! candle from the weights face-api publishes for tfjs (`models/weights/face_descriptor.safetensors`,
//! see NOTICE).
//!
//! The network takes a 150x150 RGB chip of the face. [`align`] cuts that chip from a photo with
//! a similarity transform (rotation, scale, shift) that puts RetinaFace's five landmarks where
//! the template expects them, so a tilted or distant face gives the same chip as an upright
//! close one.
//!
//! Architecture (from the published weights and face-api's forward pass): the input less the
//! mean colour, over 255; a 7x7 stride-2 convolution and a 3x3 stride-2 max pool; residual blocks
//! of two 3x3 convolutions at 32, 64, 128 and 256 channels, where each "down" block halves the
//! size with a stride-2 unpadded convolution and adds a 2x2 average pool of its input, padded with
//! zero channels (and a zero row and column where the sizes differ); each convolution has a bias
//! and a per-channel affine scale, folded here into its weights at load; then the spatial mean and
//! a 256x128 linear map.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use image::RgbImage;

use super::error::Result;
use super::face::{Landmarks, Point};
use super::layer::{Activation, Conv, Padding};
use super::weights::{Weights, WeightsFile};

/// Side of the face chip the network reads.
pub const CHIP: u32 = 150;

/// Distance below which two descriptors are taken for the same person (dlib's published
/// operating point for this model).
pub const SAME_PERSON: f32 = 0.6;

/// Where the five landmarks sit in the chip (pixels of a 150x150 chip): the face centred with
/// about a quarter of its size around it, eyes level, as dlib's chips frame it.
pub const TEMPLATE: [(f32, f32); 5] = [
    (54.0, 58.0),  // eye on the viewer's left
    (96.0, 58.0),  // eye on the viewer's right
    (75.0, 82.0),  // nose tip
    (58.5, 104.0), // mouth corner, viewer's left
    (91.5, 104.0), // mouth corner, viewer's right
];

const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

/// A face's descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor(pub Vec<f32>);

impl Descriptor {
    /// Euclidean distance to `other`.
    pub fn distance(&self, other: &Descriptor) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    /// Likeness in 0..1 for people: 1 for the same descriptor, 0.5 at the same-person threshold,
    /// falling towards 0 beyond it.
    pub fn likeness(&self, other: &Descriptor) -> f32 {
        let d = self.distance(other) / SAME_PERSON;
        1.0 / (1.0 + d * d)
    }
}

#[derive(Debug, Clone)]
struct Block {
    conv1: Conv,
    conv2: Conv,
    down: bool,
}

impl Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.conv2.forward(&self.conv1.forward(x)?)?;
        if !self.down {
            return Ok((out + x)?.relu()?);
        }
        let pooled = x.avg_pool2d_with_stride(2, 2)?;
        let (_, c_out, h, w) = out.dims4()?;
        let (_, c_in, ph, pw) = pooled.dims4()?;
        // A stride-2 unpadded convolution can come out one smaller than the pool: the
        // difference is zeros at the bottom and right.
        let out =
            out.pad_with_zeros(2, 0, ph.saturating_sub(h))?
                .pad_with_zeros(3, 0, pw.saturating_sub(w))?;
        let pooled = if c_in < c_out {
            pooled.pad_with_zeros(1, 0, c_out - c_in)?
        } else {
            pooled
        };
        Ok((out + pooled)?.relu()?)
    }
}

/// The face descriptor network.
#[derive(Debug, Clone)]
pub struct FaceDescriptor {
    stem: Conv,
    blocks: Vec<Block>,
    /// `[256, 128]`.
    fc: Tensor,
    device: Device,
}

/// Blocks in order: name and whether it halves the size.
const BLOCKS: [(&str, bool); 14] = [
    ("conv32_1", false),
    ("conv32_2", false),
    ("conv32_3", false),
    ("conv64_down", true),
    ("conv64_1", false),
    ("conv64_2", false),
    ("conv64_3", false),
    ("conv128_down", true),
    ("conv128_1", false),
    ("conv128_2", false),
    ("conv256_down", true),
    ("conv256_1", false),
    ("conv256_2", false),
    ("conv256_down_out", true),
];

impl FaceDescriptor {
    /// Builds the network from the checked weights on `device`.
    pub fn new(weights: &Weights, device: &Device) -> Result<FaceDescriptor> {
        let tensors = weights.tensors(WeightsFile::FaceDescriptor, &Device::Cpu)?;
        let get = |name: &str| -> Result<Tensor> {
            let q = tensors
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("face descriptor weights lack {name}")))?;
            let value = q.to_dtype(DType::F32)?;
            match (
                tensors.get(&format!("{name}.scale")),
                tensors.get(&format!("{name}.min")),
            ) {
                (Some(scale), Some(min)) => Ok(value
                    .broadcast_mul(&scale.to_dtype(DType::F32)?)?
                    .broadcast_add(&min.to_dtype(DType::F32)?)?),
                _ => Ok(value),
            }
        };
        // conv + bias, then `* scale.weights + scale.biases`: one convolution.
        let conv = |prefix: &str, stride: usize, padding: Padding, activation: Activation| -> Result<Conv> {
            let filters = get(&format!("{prefix}.conv.filters"))?.permute((3, 2, 0, 1))?; // HWIO -> OIHW
            let bias = get(&format!("{prefix}.conv.bias"))?;
            let scale = get(&format!("{prefix}.scale.weights"))?;
            let shift = get(&format!("{prefix}.scale.biases"))?;
            let c_out = scale.dim(0)?;
            let weight = filters
                .broadcast_mul(&scale.reshape((c_out, 1, 1, 1))?)?
                .contiguous()?;
            let bias = ((bias * &scale)? + shift)?;
            let vb = VarBuilder::from_tensors(
                [("weight".to_string(), weight), ("bias".to_string(), bias)].into(),
                DType::F32,
                device,
            );
            Ok(Conv::load(vb, stride, padding, activation)?)
        };
        let stem = conv("conv32_down", 2, Padding::Symmetric(0), Activation::Relu)?;
        let mut blocks = Vec::new();
        for (name, down) in BLOCKS {
            let (stride, padding) = if down {
                (2, Padding::Symmetric(0))
            } else {
                (1, Padding::Symmetric(1))
            };
            blocks.push(Block {
                conv1: conv(&format!("{name}.conv1"), stride, padding, Activation::Relu)?,
                conv2: conv(
                    &format!("{name}.conv2"),
                    1,
                    Padding::Symmetric(1),
                    Activation::Linear,
                )?,
                down,
            });
        }
        Ok(FaceDescriptor {
            stem,
            blocks,
            fc: get("fc")?.to_device(device)?,
            device: device.clone(),
        })
    }

    /// The descriptor of a 150x150 face chip (see [`align`]).
    pub fn describe_chip(&self, chip: &RgbImage) -> Result<Descriptor> {
        if chip.dimensions() != (CHIP, CHIP) {
            return Err(candle_core::Error::Msg(format!(
                "a face chip is {CHIP}x{CHIP}, not {}x{}",
                chip.width(),
                chip.height()
            ))
            .into());
        }
        let n = (CHIP * CHIP) as usize;
        let mut planar = vec![0f32; 3 * n];
        for (i, p) in chip.pixels().enumerate() {
            for c in 0..3 {
                planar[c * n + i] = (f32::from(p[c]) - MEAN_RGB[c]) / 255.0;
            }
        }
        let side = CHIP as usize;
        let x = Tensor::from_vec(planar, (1, 3, side, side), &self.device)?;
        let mut x = self.stem.forward(&x)?.max_pool2d_with_stride(3, 2)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let pooled = x.mean((2, 3))?; // [1, 256]
        let out = pooled.matmul(&self.fc)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Descriptor(out))
    }

    /// The descriptor of the face with `landmarks` in `image`.
    pub fn describe(&self, image: &RgbImage, landmarks: &Landmarks) -> Result<Descriptor> {
        self.describe_chip(&align(image, landmarks))
    }
}

/// The similarity transform (uniform scale, rotation, shift) taking `from` closest to `to` in
/// the least-squares sense: `(a, b, tx, ty)` with `x' = a x - b y + tx`, `y' = b x + a y + ty`.
pub fn similarity(from: &[Point], to: &[(f32, f32)]) -> (f32, f32, f32, f32) {
    let n = from.len().min(to.len()).max(1) as f32;
    let (fx, fy) = from
        .iter()
        .fold((0.0, 0.0), |s, p| (s.0 + p.x / n, s.1 + p.y / n));
    let (tx, ty) = to.iter().fold((0.0, 0.0), |s, p| (s.0 + p.0 / n, s.1 + p.1 / n));
    let (mut dot, mut cross, mut norm) = (0f32, 0f32, 0f32);
    for (p, q) in from.iter().zip(to) {
        let (x, y) = (p.x - fx, p.y - fy);
        let (u, v) = (q.0 - tx, q.1 - ty);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    if norm <= f32::EPSILON {
        return (1.0, 0.0, tx - fx, ty - fy);
    }
    let (a, b) = (dot / norm, cross / norm);
    (a, b, tx - (a * fx - b * fy), ty - (b * fx + a * fy))
}

/// The 150x150 chip of the face with `landmarks`: each chip pixel sampled (bilinear) from where
/// the inverse of the landmark-to-[`TEMPLATE`] similarity puts it; outside the photo, the nearest
/// edge pixel.
pub fn align(image: &RgbImage, landmarks: &Landmarks) -> RgbImage {
    let (a, b, tx, ty) = similarity(&landmarks.to_array(), &TEMPLATE);
    // Inverse of [a -b; b a]: [a b; -b a] / (a^2 + b^2).
    let det = (a * a + b * b).max(f32::EPSILON);
    let (w, h) = image.dimensions();
    let (wf, hf) = ((w.max(1) - 1) as f32, (h.max(1) - 1) as f32);
    let sample = |x: f32, y: f32| -> [f32; 3] {
        let (x, y) = (x.clamp(0.0, wf), y.clamp(0.0, hf));
        let (x0, y0) = (x.floor(), y.floor());
        let (dx, dy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as u32, y0 as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let p = |x, y| image.get_pixel(x, y).0.map(f32::from);
        let (p00, p10, p01, p11) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        std::array::from_fn(|c| {
            let top = p00[c] + (p10[c] - p00[c]) * dx;
            let bottom = p01[c] + (p11[c] - p01[c]) * dx;
            top + (bottom - top) * dy
        })
    };
    RgbImage::from_fn(CHIP, CHIP, |u, v| {
        let (u, v) = (u as f32 - tx, v as f32 - ty);
        let x = (a * u + b * v) / det;
        let y = (-b * u + a * v) / det;
        image::Rgb(sample(x, y).map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (a, b, tx, ty) = (0.8f32 * 0.3f32.cos(), 0.8 * 0.3f32.sin(), 12.0, -7.0);
        let from = [
            Point::new(10.0, 20.0),
            Point::new(60.0, 25.0),
            Point::new(35.0, 50.0),
            Point::new(15.0, 80.0),
            Point::new(55.0, 78.0),
        ];
        let to: Vec<(f32, f32)> = from
            .iter()
            .map(|p| (a * p.x - b * p.y + tx, b * p.x + a * p.y + ty))
            .collect();
        let got = similarity(&from, &to);
        for (g, w) in [got.0, got.1, got.2, got.3].iter().zip([a, b, tx, ty]) {
            assert!((g - w).abs() < 1e-3, "{got:?}");
        }
    }

    #[test]
    fn likeness_is_one_for_the_same_face_and_half_at_the_threshold() {
        let a = Descriptor(vec![0.0; 128]);
        let mut b = a.clone();
        assert_eq!(a.likeness(&b), 1.0);
        b.0[0] = SAME_PERSON;
        assert!((a.likeness(&b) - 0.5).abs() < 1e-6);
    }
}
