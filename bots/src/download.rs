//! Why a selfie could not be taken from a chat platform, and what the user is told: one type
//! for every adapter's downloads (declared size, HTTP status, streamed cap).

use headshot::models::{DecodeError, IntakeError};

/// A failed download of a user's photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The file (declared, announced or streamed) is over the download limit.
    #[error("{bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// The size seen (at least `limit + 1` when only "more" is known).
        bytes: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The download failed (network or HTTP status).
    #[error("download failed: {0}")]
    Failed(String),
}

impl DownloadError {
    /// What the user is told, naming the platform the photo could not be fetched from.
    pub fn user_text(&self, platform: &str) -> String {
        match self {
            DownloadError::TooLarge { bytes, limit } => {
                headshot::text::intake_refusal(&IntakeError::Decode(DecodeError::TooLarge {
                    bytes: *bytes as usize,
                    max: *limit as usize,
                }))
            }
            DownloadError::Failed(_) => {
                format!("I couldn't download that photo from {platform}. Please send it again.")
            }
        }
    }
}
