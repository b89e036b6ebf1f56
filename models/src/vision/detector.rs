//! The face detector: RetinaFace on a resized copy of the photo, results mapped
//! back to the photo's pixels.

use candle_core::Device;
use image::RgbImage;

use super::decode;
use super::error::Result;
use super::face::Face;
use super::picture::{ensure_not_empty, fit_long_side, resized};
use super::retinaface::{HeadOutputs, RetinaFace, input_tensor};
use super::weights::{Weights, WeightsFile};

/// Settings of [`FaceDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// The photo is resized (up or down) so its longer side has this many
    /// pixels before detection; `None` runs at the photo's own size. Larger
    /// finds smaller faces and costs time roughly in proportion to the area.
    pub long_side: Option<u32>,
    /// Faces scoring at or below this (0..1) are dropped.
    pub score_threshold: f32,
    /// Overlapping boxes with IoU above this keep only the best.
    pub nms_threshold: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            long_side: Some(640),
            score_threshold: 0.75,
            nms_threshold: 0.4,
        }
    }
}

/// Finds faces with five landmarks (see [`Face`]).
#[derive(Debug, Clone)]
pub struct FaceDetector {
    net: RetinaFace,
    config: DetectorConfig,
    device: Device,
}

impl FaceDetector {
    /// Builds the detector from checked weights on `device`.
    pub fn new(weights: &Weights, config: DetectorConfig, device: &Device) -> Result<Self> {
        let vb = weights.var_builder(WeightsFile::RetinaFace, device)?;
        Ok(Self {
            net: RetinaFace::load(vb)?,
            config,
            device: device.clone(),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// All faces in `image`, best first, in its pixel coordinates.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>> {
        ensure_not_empty(image)?;
        let (width, height) = image.dimensions();
        let (w, h) = match self.config.long_side {
            Some(side) => fit_long_side(width, height, side),
            None => (width, height),
        };
        let input = resized(image, w, h);
        let outputs = self.head_outputs(&input)?;
        let faces = decode::decode(
            &outputs,
            w as usize,
            h as usize,
            self.config.score_threshold,
            self.config.nms_threshold,
        )?;
        let (sx, sy) = (width as f32 / w as f32, height as f32 / h as f32);
        Ok(faces.iter().map(|f| f.scaled(sx, sy)).collect())
    }

    /// The network's raw outputs for `image` exactly as given (no resizing);
    /// decode them with [`decode::decode`]. For parity tests and debugging.
    pub fn head_outputs(&self, image: &RgbImage) -> Result<HeadOutputs> {
        ensure_not_empty(image)?;
        let (w, h) = image.dimensions();
        let input = input_tensor(image.as_raw(), w as usize, h as usize, &self.device)?;
        Ok(self.net.forward(&input)?)
    }
}
