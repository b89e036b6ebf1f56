//! The error type of the vision models.

use std::path::PathBuf;

/// What can go wrong loading or running the vision models.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// A weights file is not where it should be.
    #[error(
        "vision weights file {} is missing: run models/fetch.sh to create it, \
         or point the weights directory at a copy",
        path.display()
    )]
    WeightsMissing {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// A weights file exists but is not the expected one (truncated, edited or
    /// from another conversion).
    #[error(
        "vision weights file {} is corrupt or of another version (sha256 {actual}, \
         expected {expected}): run models/fetch.sh to recreate it",
        path.display()
    )]
    WeightsCorrupt {
        /// The file that was checked.
        path: PathBuf,
        /// The sha256 recorded in models/weights/NOTICE.
        expected: &'static str,
        /// The sha256 of the file found.
        actual: String,
    },
    /// A weights file could not be read.
    #[error("cannot read vision weights file {}: {source}", path.display())]
    WeightsUnreadable {
        /// The file that was read.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The image has no pixels.
    #[error("the image is empty ({width}x{height} pixels)")]
    EmptyImage {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A tensor operation failed (a bug, or the device ran out of memory).
    #[error("vision model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

/// Shorthand for results of this module.
pub type Result<T, E = VisionError> = std::result::Result<T, E>;
