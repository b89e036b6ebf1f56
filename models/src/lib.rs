//! `headshot-models`: the generators of headshot, in candle and `image`.
//!
//! # Layout
//! - [`style`]: the style catalog (data shared with the core).
//! - [`decode`]: safe decoding of uploads and metadata-free encoding.
//! - [`generator`]: the synchronous `Generator` port the job engine drives.
//! - [`diffusion`]: Stable Diffusion inpainting (candle) around the kept face and hair.
//! - [`device`]: the compute device (CPU or CUDA GPU) and its description.
//!
//! This crate knows nothing of chat platforms, jobs or storage.

pub mod decode;
pub mod device;
pub mod generator;
pub mod style;

pub use decode::{DecodeError, DecodeLimits, Decoded};
pub use generator::{
    Check, Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress, Request,
};
pub use style::{Catalog, Crop, Mode, Style};

pub mod diffusion;
pub mod studio;
pub mod vision;
pub use studio::Studio;
