//! The generator's eyes: face detection with five landmarks and person
//! segmentation, natively in candle from the converted weights in
//! `models/weights` (see its NOTICE and `models/fetch.sh`).
//!
//! # Layout
//! - [`weights`]: finding and checking the weights files.
//! - [`face`]: what a detection is ([`Face`], [`Landmarks`], [`BoundingBox`]).
//! - [`detector`]: [`FaceDetector`], RetinaFace MobileNet-0.25 ([`retinaface`]
//!   is the network, [`decode`] the priors, decoding and NMS).
//! - [`segmenter`]: [`Segmenter`], MediaPipe selfie segmentation (`selfie` is
//!   the network, [`guided`] the edge-aware refinement, [`mask`] the result).
//! - `layer`: the convolution layer; `kernel`: our CPU kernels for it.
//!
//! ```no_run
//! use headshot_models::vision::{Vision, Weights};
//! let vision = Vision::new(&Weights::load_default()?, &candle_core::Device::Cpu)?;
//! let photo = image::open("selfie.jpg").unwrap().to_rgb8();
//! let faces = vision.detector.detect(&photo)?;
//! let mask = vision.segmenter.segment(&photo)?;
//! println!("{} faces, person covers {:.0}%", faces.len(), 100.0 * mask.coverage());
//! # Ok::<(), headshot_models::vision::VisionError>(())
//! ```

pub mod decode;
pub mod descriptor;
pub mod detector;
mod error;
pub mod face;
pub mod guided;
mod kernel;
mod layer;
pub mod mask;
mod picture;
pub use picture::{fit_long_side, shrink_to_fit};
pub mod retinaface;
pub mod segmenter;
mod selfie;
pub mod weights;

use candle_core::Device;

pub use descriptor::{Descriptor, FaceDescriptor};
pub use detector::{DetectorConfig, FaceDetector};
pub use error::{Result, VisionError};
pub use face::{BoundingBox, Face, Landmarks, Point};
pub use mask::Mask;
pub use segmenter::{Segmenter, SegmenterConfig};
pub use weights::{Weights, WeightsFile};

/// Both vision models, built once on one device.
#[derive(Debug)]
pub struct Vision {
    /// Faces with landmarks.
    pub detector: FaceDetector,
    /// Person masks.
    pub segmenter: Segmenter,
}

impl Vision {
    /// Both models with default settings on `device`.
    pub fn new(weights: &Weights, device: &Device) -> Result<Self> {
        Self::with_config(
            weights,
            DetectorConfig::default(),
            SegmenterConfig::default(),
            device,
        )
    }

    /// Both models with the given settings on `device`.
    pub fn with_config(
        weights: &Weights,
        detector: DetectorConfig,
        segmenter: SegmenterConfig,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            detector: FaceDetector::new(weights, detector, device)?,
            segmenter: Segmenter::new(weights, segmenter, device)?,
        })
    }

    /// Loads the weights from `dir` (or [`Weights::default_dir`]) onto
    /// [`crate::device::best`].
    pub fn load(dir: Option<&std::path::Path>) -> Result<Self> {
        let weights = match dir {
            Some(dir) => Weights::load(dir)?,
            None => Weights::load_default()?,
        };
        Self::new(&weights, &crate::device::best())
    }
}
