//! SDXL inpainting weights load (two text encoders, linear projections, several transformer
//! layers per block, the fp16 variant files, the `text_time` embedding candle does not use),
//! and the engine refuses to paint with them, saying why. The tiny directory is made by
//! `models/tools/sdxl_layout.py` with diffusers.

use std::path::PathBuf;

use candle_core::Device;
use headshot_models::diffusion::{DiffusionEngine, DiffusionError, Model, Settings, Version};
use headshot_models::{DecodeLimits, studio::Studio};

fn sdxl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdxl")
}

#[test]
fn diffusion_sdxl_inpainting_weights_load() {
    let model = Model::load(&sdxl(), &Device::Cpu).unwrap();
    assert_eq!(model.version, Version::Sdxl);
    assert!(model.text2.is_some(), "the second text encoder is loaded");
    assert_eq!(model.latent_channels, 4);
    assert_eq!(model.factor, 2);
    // Every tensor of the files the networks use was read (add_embedding included in the
    // count: it is loaded from disk, just not used by candle's UNet).
    assert!(model.parameters > 1_000_000, "{}", model.parameters);
    // The UNet's blocks fit the weights: a forward pass over a 16x16 latent with a context
    // as wide as both encoders together (32 + 32) gives eps of the latent's shape.
    let input = candle_core::Tensor::zeros((1, 9, 16, 16), candle_core::DType::F32, &Device::Cpu).unwrap();
    let context = candle_core::Tensor::ones((1, 77, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
    let eps = model.unet.forward(&input, 500.0, &context).unwrap();
    assert_eq!(eps.dims(), &[1, 4, 16, 16]);
    let sd15 = Model::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion"),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(sd15.version, Version::Sd15);
    assert!(sd15.text2.is_none());
}

#[test]
fn diffusion_sdxl_is_not_painted_with_and_says_why() {
    let studio = Studio::load(None, DecodeLimits::default()).unwrap();
    let settings = Settings {
        width: 64,
        ..Settings::default()
    };
    let err = DiffusionEngine::load(studio, &sdxl(), &Device::Cpu, settings).unwrap_err();
    assert!(matches!(err, DiffusionError::Config(_)), "{err}");
    assert!(err.to_string().contains("size/crop conditioning"), "{err}");
    let model = Model::load(&sdxl(), &Device::Cpu).unwrap();
    assert!(model.embed(&model.pad(&[]), &model.pad(&[5])).is_err());
}
