//! The diffusion generator: the studio pipeline (intake, framing, light, backdrop, checklist)
//! with a repaint stage that regenerates attire and background around the kept face and hair.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use image::{GrayImage, Luma, RgbImage};

use super::tokenizer::Tokenizer;
use super::{DiffusionError, Inpaint, Model, blend, inpaint};
use crate::generator::{GenerateError, Generated, Generator, IntakeError, IntakeReport, Progress, Request};
use crate::studio::{Scene, Studio};
use crate::style::Style;

/// How the repaint runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance.
    pub guidance: f64,
    /// Width the model paints at (the height follows the framing); 512 for SD 1.5.
    pub width: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            steps: 20,
            guidance: 7.5,
            width: 512,
        }
    }
}

/// The studio plus a loaded inpainting model.
pub struct DiffusionEngine {
    studio: Studio,
    model: Model,
    tokenizer: Option<Tokenizer>,
    settings: Settings,
}

impl std::fmt::Debug for DiffusionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionEngine")
            .field("model", &self.model)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Bytes of memory available to this process (Linux `MemAvailable`), if known.
pub fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl DiffusionEngine {
    /// An engine over loaded parts.
    pub fn new(
        studio: Studio,
        model: Model,
        tokenizer: Option<Tokenizer>,
        settings: Settings,
    ) -> DiffusionEngine {
        DiffusionEngine {
            studio,
            model,
            tokenizer,
            settings,
        }
    }

    /// Loads the weights in `dir` (diffusers layout) on `device`, refusing before the big
    /// allocations when the machine cannot hold the model at the paint size.
    pub fn load(
        studio: Studio,
        dir: &Path,
        device: &Device,
        settings: Settings,
    ) -> Result<DiffusionEngine, DiffusionError> {
        let (model, tokenizer) = DiffusionEngine::prepare(dir, device, settings)?;
        Ok(DiffusionEngine::new(studio, model, tokenizer, settings))
    }

    /// The model and tokenizer of `dir`, after the memory checks of [`DiffusionEngine::load`].
    pub fn prepare(
        dir: &Path,
        device: &Device,
        settings: Settings,
    ) -> Result<(Model, Option<Tokenizer>), DiffusionError> {
        let on_disk: u64 = ["unet", "vae", "text_encoder"]
            .iter()
            .filter_map(|d| std::fs::read_dir(dir.join(d)).ok())
            .flatten()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        if let Some(free) = available_memory().filter(|_| device.is_cpu())
            && on_disk as usize * 2 > free
        {
            return Err(DiffusionError::Memory(format!(
                "the weights take {} MB and about twice that to run; {} MB are available",
                on_disk >> 20,
                free >> 20
            )));
        }
        let model = Model::load(dir, device)?;
        let height = settings.width as usize * 5 / 4;
        let need = model.memory_estimate(settings.width as usize, height);
        if let Some(free) = available_memory().filter(|_| device.is_cpu())
            && need > free
        {
            return Err(DiffusionError::Memory(format!(
                "about {} MB needed at {}x{height}, {} MB available",
                need >> 20,
                settings.width,
                free >> 20
            )));
        }
        let tokenizer = Tokenizer::load(&dir.join("tokenizer")).ok();
        Ok((model, tokenizer))
    }

    /// The studio it builds on.
    pub fn studio(&self) -> &Studio {
        &self.studio
    }

    /// The loaded model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn tokens(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .as_ref()
            .map(|t| t.encode(text))
            .unwrap_or_default()
    }

    /// The repaint of one finished studio picture.
    fn repaint(
        &self,
        scene: &Scene,
        picture: RgbImage,
        seed: u64,
        style: &Style,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<RgbImage, GenerateError> {
        let keep = keep_mask(scene);
        let cell = (self.model.factor * 8) as u32;
        let (w, h) = picture.dimensions();
        let gw = (self.settings.width / cell).max(1) * cell;
        let gh = ((gw as f32 * h as f32 / w as f32 / cell as f32).round() as u32).max(1) * cell;
        let small = image::imageops::resize(&picture, gw, gh, image::imageops::FilterType::Lanczos3);
        let small_keep = image::imageops::resize(&keep, gw, gh, image::imageops::FilterType::Triangle);
        let prompt = self.tokens(&format!(
            "professional headshot photo, {}, even soft studio light, sharp focus",
            style.attire_prompt
        ));
        let negative = self.tokens(&style.negative_prompt);
        let job = Inpaint {
            image: &small,
            keep: &small_keep,
            prompt: &prompt,
            negative: &negative,
            steps: self.settings.steps,
            guidance: self.settings.guidance,
            seed,
        };
        let painted = inpaint(
            &self.model,
            &job,
            &mut |k, n| {
                progress(Progress {
                    stage: "denoise".into(),
                    step: k as u32,
                    steps: n as u32,
                })
            },
            cancel,
        )
        .map_err(|e| match e {
            DiffusionError::Cancelled => GenerateError::Cancelled,
            other => GenerateError::Failed(other.to_string()),
        })?;
        let full = image::imageops::resize(&painted, w, h, image::imageops::FilterType::Lanczos3);
        // The face and hair are the input's own pixels at full resolution.
        Ok(blend(&picture, &full, &keep))
    }
}

/// What stays: the person matte above the chin (face and hair), faded over a band below it
/// so the new collar meets the neck softly.
pub fn keep_mask(scene: &Scene) -> GrayImage {
    let (w, h) = (scene.width(), scene.height());
    let chin = scene.eyes().y + scene.geometry.chin;
    let band = (scene.geometry.face_height * 0.15).max(2.0);
    GrayImage::from_fn(w, h, |x, y| {
        let alpha = scene.alpha.data[y as usize * scene.alpha.width + x as usize];
        let head = ((chin + band - y as f32) / band).clamp(0.0, 1.0);
        Luma([(alpha * head * 255.0).round() as u8])
    })
}

impl Generator for DiffusionEngine {
    fn name(&self) -> &str {
        "diffusion"
    }

    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        self.studio.intake(upload)
    }

    fn generate(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        let style = request.style.clone();
        let seed = request.seed;
        let mut finish = |scene: &Scene,
                          picture: RgbImage,
                          variant: u32,
                          progress: &mut dyn FnMut(Progress),
                          cancel: &AtomicBool| {
            let seed = seed ^ u64::from(variant).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            self.repaint(scene, picture, seed, &style, progress, cancel)
        };
        self.studio
            .generate_with(request, progress, cancel, "diffusion", Some(&mut finish))
    }
}
