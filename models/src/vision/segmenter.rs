//! Person segmentation: MediaPipe's network on a 256x256 copy of the photo,
//! its mask upsampled to the photo and refined with a guided filter.

use candle_core::Device;
use image::RgbImage;

use super::error::Result;
use super::guided;
use super::mask::Mask;
use super::picture::{ensure_not_empty, resized};
use super::selfie::{INPUT_SIZE, SelfieNet, input_tensor};
use super::weights::{Weights, WeightsFile};

/// Settings of [`Segmenter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// Refine the upsampled mask with a guided filter on the photo (`false`
    /// gives the plain bilinear upsampling).
    pub refine: bool,
    /// Guided filter window radius in photo pixels; `None` picks about two
    /// mask pixels' worth (`2 * long_side / 256`, at least 2).
    pub radius: Option<u32>,
    /// Guided filter regulariser (guide colours in 0..1): smaller follows
    /// weaker photo edges.
    pub epsilon: f32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            refine: true,
            radius: None,
            epsilon: 1e-3,
        }
    }
}

/// Separates the person from the background.
#[derive(Debug)]
pub struct Segmenter {
    net: SelfieNet,
    config: SegmenterConfig,
    device: Device,
}

impl Segmenter {
    /// Builds the segmenter from checked weights on `device`.
    pub fn new(weights: &Weights, config: SegmenterConfig, device: &Device) -> Result<Self> {
        let vb = weights.var_builder(WeightsFile::SelfieSegmentation, device)?;
        Ok(Self {
            net: SelfieNet::load(vb)?,
            config,
            device: device.clone(),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// The person mask of `image` at its full resolution.
    pub fn segment(&self, image: &RgbImage) -> Result<Mask> {
        let (width, height) = image.dimensions();
        let mask = self.network_mask(image)?;
        if !self.config.refine {
            return Ok(mask.resized(width, height));
        }
        let radius = self
            .config
            .radius
            .unwrap_or_else(|| (2 * width.max(height)).div_ceil(INPUT_SIZE as u32).max(2));
        Ok(guided::refine(image, &mask, radius, self.config.epsilon))
    }

    /// The network's own 256x256 mask for `image`, which is first stretched
    /// to 256x256 (as MediaPipe does; no resizing when it already is).
    pub fn network_mask(&self, image: &RgbImage) -> Result<Mask> {
        ensure_not_empty(image)?;
        let side = INPUT_SIZE as u32;
        let input = resized(image, side, side);
        let tensor = input_tensor(input.as_raw(), &self.device)?;
        let values = self.net.forward(&tensor)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Mask::from_vec(side, side, values).expect("the network outputs 256x256"))
    }
}
