//! The port between the job engine and the image generators: a synchronous trait, run by the
//! core on its own threads, with progress reports and cooperative cancellation.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::decode::DecodeError;
use crate::style::{Crop, Style};

/// Why a selfie is refused before any generation time is spent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    /// The upload is not a usable image.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// No face was found.
    #[error("no face found")]
    NoFace,
    /// Several faces of similar size.
    #[error("{count} faces found")]
    SeveralFaces {
        /// How many.
        count: usize,
    },
    /// The face is smaller than the minimum.
    #[error("the face is {size} px, smaller than {min} px")]
    FaceTooSmall {
        /// Face size (box height) in pixels.
        size: u32,
        /// The minimum.
        min: u32,
    },
    /// The face touches the image border.
    #[error("the face is cut off by the edge of the photo")]
    FaceCutOff,
    /// The face is blurred (variance of the Laplacian under the threshold).
    #[error("the face is blurred (sharpness {sharpness:.0} < {min:.0})")]
    Blurred {
        /// Measured sharpness.
        sharpness: f32,
        /// Threshold.
        min: f32,
    },
    /// The face is too dark.
    #[error("the photo is too dark")]
    TooDark,
    /// The face is blown out.
    #[error("the photo is overexposed")]
    BlownOut,
    /// The photo is cut so close around the person (under the chin, at the neck, across the
    /// shoulders) that no headshot framing fits without inventing a body.
    #[error("the photo is cropped too tightly for a headshot")]
    TooTight,
    /// The checks themselves failed (a model error, out of memory): not the photo's fault.
    #[error("the photo could not be checked: {0}")]
    Internal(String),
    /// The head is turned too far from the camera.
    #[error("the head is turned too far ({degrees:.0} degrees)")]
    HeadTurned {
        /// Estimated yaw or roll.
        degrees: f32,
    },
}

/// What intake learned about an accepted selfie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntakeReport {
    /// Upright width.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// Quality score in 0..=1 (higher is better): used to choose the best selfie of an album.
    pub score: f32,
    /// The pixels re-encoded without any metadata from the upload (what the store keeps).
    pub clean: Vec<u8>,
}

/// One generation to perform.
#[derive(Debug, Clone)]
pub struct Request {
    /// Metadata-free encoded selfies (from [`IntakeReport::clean`]).
    pub selfies: Vec<Vec<u8>>,
    /// Index of the selfie the single-image pipeline uses.
    pub primary: usize,
    /// File-name stem of the primary selfie (`<stem>-<style>-<crop>[-v<N>].<ext>`).
    pub stem: String,
    /// The style to render.
    pub style: Style,
    /// Framings to produce.
    pub crop: Crop,
    /// How many variants.
    pub variants: u32,
    /// Number of the first variant (rerolls move on to the next ones).
    pub first_variant: u32,
    /// Seed for generators that draw random numbers.
    pub seed: u64,
}

/// Which framing an output has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Framing {
    /// Vertical 4:5.
    Master,
    /// Square 1:1.
    Square,
}

/// One measured item of the headshot checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Short name (`single_face`, `eye_line`, `background_brightness`, ...).
    pub name: String,
    /// The measured value.
    pub value: f32,
    /// The rule it is held to, in words (`36%..42%`, `>= 170`).
    pub threshold: String,
    /// Whether the value meets the rule.
    pub pass: bool,
}

/// One produced image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// `<stem>-<style>-<crop>[-v<N>].<ext>`.
    pub file_name: String,
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    /// Encoded image.
    pub bytes: Vec<u8>,
    pub framing: Framing,
    /// Variant number.
    pub variant: u32,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// The headshot checklist measured on this image.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// The images, best variant first.
    pub outputs: Vec<Output>,
    /// The headshot checklist as one compact chat line.
    pub checklist: String,
    /// Which engine made them (`studio`, `diffusion`, ...), for the caption.
    pub engine: String,
}

/// A progress report: stage name and step k of n within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Stage name (`detect`, `backdrop`, `denoise`, ...).
    pub stage: String,
    /// Steps done in this stage.
    pub step: u32,
    /// Steps in this stage.
    pub steps: u32,
}

/// Why a generation did not produce images.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// The cancel flag was raised.
    #[error("cancelled")]
    Cancelled,
    /// The selfie stopped passing intake (for example a changed pipeline).
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// The safety checker flagged every attempt at a picture; users get a neutral message
    /// and nothing is stored or sent.
    #[error("safety check: {0}")]
    Unsafe(String),
    /// Anything else; the text is for logs, users get a neutral message.
    #[error("generator failure: {0}")]
    Failed(String),
}

/// An image generator. Implementations are synchronous and CPU/GPU bound: callers run them on
/// threads of their own, never on an async runtime.
pub trait Generator: Send + Sync {
    /// Short name for logs and captions.
    fn name(&self) -> &str;

    /// Decodes and checks one selfie quickly, before it is queued.
    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError>;

    /// Renders the request. Calls `progress` between stages or steps and returns
    /// [`GenerateError::Cancelled`] soon after `cancel` becomes true.
    fn generate(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError>;
}

/// The file name of an output: `<stem>-<style>-<crop>[-v<N>].<ext>`, crop written `4x5` or `1x1`;
/// the variant suffix is left out for variant 1.
pub fn output_name(stem: &str, style: &str, framing: Framing, variant: u32, ext: &str) -> String {
    let crop = match framing {
        Framing::Master => "4x5",
        Framing::Square => "1x1",
    };
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = if stem.is_empty() {
        "selfie".to_string()
    } else {
        stem
    };
    if variant <= 1 {
        format!("{stem}-{style}-{crop}.{ext}")
    } else {
        format!("{stem}-{style}-{crop}-v{variant}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_the_pattern() {
        assert_eq!(
            output_name("me", "corporate", Framing::Master, 1, "jpg"),
            "me-corporate-4x5.jpg"
        );
        assert_eq!(
            output_name("me", "tech", Framing::Square, 3, "png"),
            "me-tech-1x1-v3.png"
        );
        assert_eq!(
            output_name("a b/../c", "tech", Framing::Square, 1, "png"),
            "a_b____c-tech-1x1.png"
        );
        assert_eq!(
            output_name("", "tech", Framing::Square, 1, "png"),
            "selfie-tech-1x1.png"
        );
    }
}
