//! The Stable Diffusion safety checker: every diffusion output is embedded by a CLIP vision
//! tower, projected into a concept space and compared (cosine) with the checker's concept
//! embeddings; an image whose similarity to any concept exceeds that concept's threshold is
//! flagged. "Special care" concepts, when hit, raise every later score by 0.01, as the
//! reference implementation does.
//!
//! Weights: `safety_checker/` (transformers `CLIPConfig` with its `vision_config`, and the
//! tensors `vision_model.vision_model.*` (or `vision_model.*`), `visual_projection.weight`, `concept_embeds`,
//! `special_care_embeds`, `concept_embeds_weights`, `special_care_embeds_weights`) and
//! `feature_extractor/preprocessor_config.json` (CLIP's resize, crop and normalisation; CLIP's
//! defaults when absent), as published beside the SD 1.5 inpainting weights.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::clip::text_model::Activation;
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use image::RgbImage;
use serde::Deserialize;

use super::{DiffusionError, config};

/// What the checker found in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// An unsafe concept was found: the image must not be stored or sent.
    pub flagged: bool,
    /// A special-care concept was found.
    pub special: bool,
    /// The highest concept score (similarity minus threshold, adjusted); above 0 flags.
    pub worst: f32,
}

/// `safety_checker/config.json` (transformers' `CLIPConfig`): only the vision part is used.
#[derive(Debug, Clone, Deserialize)]
struct SafetyJson {
    vision_config: VisionJson,
    #[serde(default = "default_projection")]
    projection_dim: usize,
}

fn default_projection() -> usize {
    768
}

/// transformers' `CLIPVisionConfig`, with its defaults.
#[derive(Debug, Clone, Deserialize)]
struct VisionJson {
    #[serde(default = "default_hidden")]
    hidden_size: usize,
    #[serde(default = "default_intermediate")]
    intermediate_size: usize,
    #[serde(default = "default_twelve")]
    num_hidden_layers: usize,
    #[serde(default = "default_twelve")]
    num_attention_heads: usize,
    #[serde(default = "default_image")]
    image_size: usize,
    #[serde(default = "default_patch")]
    patch_size: usize,
    #[serde(default = "default_channels")]
    num_channels: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_hidden() -> usize {
    768
}
fn default_intermediate() -> usize {
    3072
}
fn default_twelve() -> usize {
    12
}
fn default_image() -> usize {
    224
}
fn default_patch() -> usize {
    32
}
fn default_channels() -> usize {
    3
}
fn default_act() -> String {
    "quick_gelu".into()
}

/// `feature_extractor/preprocessor_config.json` (transformers' `CLIPImageProcessor`).
#[derive(Debug, Clone, Deserialize)]
struct Preprocess {
    #[serde(default = "clip_mean")]
    image_mean: [f32; 3],
    #[serde(default = "clip_std")]
    image_std: [f32; 3],
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    crop_size: Option<serde_json::Value>,
}

fn clip_mean() -> [f32; 3] {
    [0.481_454_66, 0.457_827_5, 0.408_210_73]
}
fn clip_std() -> [f32; 3] {
    [0.268_629_54, 0.261_302_6, 0.275_777_1]
}

/// A size in a preprocessor config: a number, `{"shortest_edge": n}` or `{"height": h, ...}`.
fn size_of(value: &Option<serde_json::Value>) -> Option<usize> {
    let v = value.as_ref()?;
    v.as_u64()
        .or_else(|| v.get("shortest_edge").and_then(|s| s.as_u64()))
        .or_else(|| v.get("height").and_then(|s| s.as_u64()))
        .map(|n| n as usize)
}

/// The loaded checker.
pub struct SafetyChecker {
    vision: ClipVisionTransformer,
    projection: Linear,
    concepts: Tensor,
    special: Tensor,
    concept_thresholds: Vec<f32>,
    special_thresholds: Vec<f32>,
    resize: usize,
    crop: usize,
    mean: [f32; 3],
    std: [f32; 3],
    device: Device,
}

impl std::fmt::Debug for SafetyChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetyChecker")
            .field("concepts", &self.concept_thresholds.len())
            .field("special", &self.special_thresholds.len())
            .field("crop", &self.crop)
            .finish()
    }
}

/// L2-normalised rows.
fn normalise(t: &Tensor) -> candle_core::Result<Tensor> {
    let norm = t
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    t.broadcast_div(&norm)
}

impl SafetyChecker {
    /// Loads `safety_checker/` (and `feature_extractor/`, optional) of the weights directory
    /// `dir` in f32 on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<SafetyChecker, DiffusionError> {
        SafetyChecker::load_from(
            &dir.join("safety_checker"),
            &dir.join("feature_extractor"),
            device,
        )
    }

    /// Loads a checker from its own directory and a feature-extractor directory.
    pub fn load_from(
        checker: &Path,
        feature_extractor: &Path,
        device: &Device,
    ) -> Result<SafetyChecker, DiffusionError> {
        let json: SafetyJson = config::read(&checker.join("config.json"))?;
        let preprocess: Preprocess = config::read(&feature_extractor.join("preprocessor_config.json"))
            .unwrap_or(Preprocess {
                image_mean: clip_mean(),
                image_std: clip_std(),
                size: None,
                crop_size: None,
            });
        let v = &json.vision_config;
        if v.hidden_act != "quick_gelu" {
            return Err(DiffusionError::Config(format!(
                "safety_checker: activation `{}` is not supported (CLIP uses quick_gelu)",
                v.hidden_act
            )));
        }
        let vision_config = ClipVisionConfig {
            embed_dim: v.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: v.intermediate_size,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            projection_dim: json.projection_dim,
            num_channels: v.num_channels,
            image_size: v.image_size,
            patch_size: v.patch_size,
        };
        let file = ["model.safetensors", "model.fp16.safetensors"]
            .iter()
            .map(|n| checker.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| {
                DiffusionError::Missing(checker.join("model.safetensors").display().to_string())
            })?;
        let mut tensors = candle_core::safetensors::load(&file, device)?;
        for t in tensors.values_mut() {
            if t.dtype() != DType::F32 {
                *t = t.to_dtype(DType::F32)?;
            }
        }
        let take = |tensors: &mut std::collections::HashMap<String, Tensor>, name: &str| {
            tensors
                .remove(name)
                .ok_or_else(|| DiffusionError::Config(format!("safety_checker: no tensor `{name}`")))
        };
        let concepts = take(&mut tensors, "concept_embeds")?;
        let special = take(&mut tensors, "special_care_embeds")?;
        let concept_thresholds: Vec<f32> = take(&mut tensors, "concept_embeds_weights")?.to_vec1()?;
        let special_thresholds: Vec<f32> = take(&mut tensors, "special_care_embeds_weights")?.to_vec1()?;
        if concepts.dims() != [concept_thresholds.len(), json.projection_dim]
            || special.dims() != [special_thresholds.len(), json.projection_dim]
        {
            return Err(DiffusionError::Config(format!(
                "safety_checker: concept embeddings {:?} / {:?} do not match {} thresholds and projection {}",
                concepts.dims(),
                special.dims(),
                concept_thresholds.len(),
                json.projection_dim
            )));
        }
        // The published checkpoints nest the tower twice (`vision_model.vision_model.*`);
        // recent transformers versions save it once.
        let prefix = if tensors.contains_key("vision_model.vision_model.embeddings.patch_embedding.weight") {
            "vision_model.vision_model"
        } else {
            "vision_model"
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let vision = ClipVisionTransformer::new(vb.pp(prefix), &vision_config)?;
        let projection =
            candle_nn::linear_no_bias(v.hidden_size, json.projection_dim, vb.pp("visual_projection"))?;
        let crop = size_of(&preprocess.crop_size).unwrap_or(v.image_size);
        Ok(SafetyChecker {
            vision,
            projection,
            concepts: normalise(&concepts)?,
            special: normalise(&special)?,
            concept_thresholds,
            special_thresholds,
            resize: size_of(&preprocess.size).unwrap_or(crop),
            crop,
            mean: preprocess.image_mean,
            std: preprocess.image_std,
            device: device.clone(),
        })
    }

    /// CLIP's preprocessing: the shortest edge resized (bicubic), a centre crop, scaled to
    /// [0, 1] and normalised; (N, 3, crop, crop).
    pub fn pixels(&self, images: &[&RgbImage]) -> Result<Tensor, DiffusionError> {
        let c = self.crop;
        let mut data = Vec::with_capacity(images.len() * 3 * c * c);
        for image in images {
            let (w, h) = image.dimensions();
            let short = w.min(h).max(1) as f32;
            let scale = self.resize as f32 / short;
            let (rw, rh) = (
                ((w as f32 * scale).round() as u32).max(c as u32),
                ((h as f32 * scale).round() as u32).max(c as u32),
            );
            let resized = image::imageops::resize(*image, rw, rh, image::imageops::FilterType::CatmullRom);
            let (x0, y0) = ((rw - c as u32) / 2, (rh - c as u32) / 2);
            for ch in 0..3 {
                for y in 0..c as u32 {
                    for x in 0..c as u32 {
                        let v = resized.get_pixel(x0 + x, y0 + y).0[ch] as f32 / 255.0;
                        data.push((v - self.mean[ch]) / self.std[ch]);
                    }
                }
            }
        }
        Ok(Tensor::from_vec(data, (images.len(), 3, c, c), &self.device)?)
    }

    /// Projected image embeddings and the cosine similarities to the concepts and the
    /// special-care concepts, for preprocessed `pixels`.
    pub fn similarities(&self, pixels: &Tensor) -> Result<(Tensor, Tensor, Tensor), DiffusionError> {
        let pooled = self.vision.forward(pixels)?;
        let embeds = self.projection.forward(&pooled)?;
        let unit = normalise(&embeds)?;
        let cos = unit.matmul(&self.concepts.t()?)?;
        let special = unit.matmul(&self.special.t()?)?;
        Ok((embeds, cos, special))
    }

    /// The verdicts of preprocessed `pixels`, one per image.
    pub fn judge(&self, pixels: &Tensor) -> Result<Vec<Verdict>, DiffusionError> {
        let (_, cos, special) = self.similarities(pixels)?;
        let cos: Vec<Vec<f32>> = cos.to_vec2()?;
        let special: Vec<Vec<f32>> = special.to_vec2()?;
        Ok(cos
            .iter()
            .zip(&special)
            .map(|(cos, special)| self.verdict(cos, special))
            .collect())
    }

    /// Scores rounded to 3 decimals as the reference does; a special-care hit raises the
    /// scores that follow by 0.01.
    fn verdict(&self, cos: &[f32], special: &[f32]) -> Verdict {
        let round = |x: f32| (x * 1000.0).round() / 1000.0;
        let mut adjustment = 0.0;
        let mut hit_special = false;
        for (c, t) in special.iter().zip(&self.special_thresholds) {
            if round(c - t + adjustment) > 0.0 {
                hit_special = true;
                adjustment = 0.01;
            }
        }
        let mut worst = f32::MIN;
        for (c, t) in cos.iter().zip(&self.concept_thresholds) {
            worst = worst.max(round(c - t + adjustment));
        }
        Verdict {
            flagged: worst > 0.0,
            special: hit_special,
            worst,
        }
    }

    /// Checks finished pictures.
    pub fn check(&self, images: &[&RgbImage]) -> Result<Vec<Verdict>, DiffusionError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        self.judge(&self.pixels(images)?)
    }
}
