//! Tests of the generator: vision parity, studio, intake, diffusion.
//!
//! One test binary for the whole crate (each file is a module), so the support code and
//! the dependencies are compiled and linked once.

mod common;

mod descriptor;
mod diffusion_engine;
mod diffusion_parity;
mod diffusion_pipeline;
mod diffusion_safety;
mod diffusion_sdxl;
mod face;
mod hardcases;
mod intake;
mod parity;
mod segmentation;
mod studio;
mod weights;
