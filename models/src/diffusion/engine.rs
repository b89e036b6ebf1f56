//! The diffusion generator: the studio pipeline (intake, framing, light, backdrop, checklist)
//! with a repaint stage that regenerates attire and background around the kept face and hair.
//!
//! Per scene the variants are painted in batches through the UNet (as many at once as memory
//! allows), optionally refined by a low-strength img2img pass of the same model, scaled back
//! to the output size, harmonised across the seam and blended with the original face and hair
//! at full resolution. Every finished picture then passes the safety checker; a flagged one is
//! painted again with another seed, and the job fails with a neutral message when every
//! attempt is flagged. The square avatar starts from the painted master of the same variant
//! (the part the master covers) and is painted at half strength, so both crops show the same
//! attire and the strips the master does not cover are filled to match.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use image::{GrayImage, Luma, Rgb, RgbImage};

use super::harmonise::{harmonise, radius};
use super::safety::SafetyChecker;
use super::tokenizer::Tokenizer;
use super::{DiffusionError, Model, Paint, blend, paint, steps_at};
use crate::generator::{
    Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Progress, Request,
};
use crate::studio::{Scene, Studio};
use crate::style::{Crop, Style};

/// How the repaint runs. Styles may override steps, guidance and strength.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance.
    pub guidance: f64,
    /// Width the model paints at (the height follows the framing); 512 for SD 1.5.
    pub width: u32,
    /// img2img strength of the main pass (1.0: attire and background from noise).
    pub strength: f64,
    /// Strength of the optional second, low-strength pass over the blended picture that
    /// evens light and colour between the kept face and the new surroundings (0: off).
    pub harmonise: f64,
    /// Most variants painted at once through the UNet (0 or 1: one at a time). Worth raising
    /// on a GPU with memory to spare; on a CPU the UNet runs one input per pass regardless.
    pub batch: usize,
    /// How many times a picture flagged by the safety checker is painted again with a new
    /// seed before the job fails.
    pub retries: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            steps: 20,
            guidance: 7.5,
            width: 512,
            strength: 1.0,
            harmonise: 0.0,
            batch: 0,
            retries: 2,
        }
    }
}

/// The loaded parts of an engine.
#[derive(Debug)]
pub struct Parts {
    /// The networks.
    pub model: Model,
    /// Prompt tokenizer (prompts are empty without one).
    pub tokenizer: Option<Tokenizer>,
    /// The safety checker every output passes.
    pub safety: SafetyChecker,
}

/// The studio plus a loaded inpainting model.
pub struct DiffusionEngine {
    studio: Studio,
    model: Model,
    tokenizer: Option<Tokenizer>,
    safety: SafetyChecker,
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

/// What a scene is painted with: the request's seed, the style, a cap on the strength and the
/// pictures to start from instead of the studio's.
#[derive(Debug, Clone, Copy)]
struct SceneJob<'a> {
    seed: u64,
    style: &'a Style,
    at_most: Option<f64>,
    start: Option<&'a [RgbImage]>,
}

/// A progress event of the painting: a denoising step done, or more steps planned (a retry).
#[derive(Debug, Clone, Copy)]
enum Tick {
    Step,
    Planned(usize),
}

/// The seed of `variant`'s attempt `attempt` at a picture.
pub fn seed_of(base: u64, variant: u32, attempt: usize) -> u64 {
    base ^ u64::from(variant).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (attempt as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Steps, guidance and strength of `style`, its own values before the configuration's.
pub fn tuning(settings: &Settings, style: &Style) -> (usize, f64, f64) {
    let t = &style.diffusion;
    (
        t.steps.unwrap_or(settings.steps),
        t.guidance.unwrap_or(settings.guidance),
        t.strength.unwrap_or(settings.strength),
    )
}

impl DiffusionEngine {
    /// An engine over loaded parts.
    pub fn new(studio: Studio, parts: Parts, settings: Settings) -> DiffusionEngine {
        DiffusionEngine {
            studio,
            model: parts.model,
            tokenizer: parts.tokenizer,
            safety: parts.safety,
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
        let parts = DiffusionEngine::prepare(dir, device, settings)?;
        Ok(DiffusionEngine::new(studio, parts, settings))
    }

    /// The model, tokenizer and safety checker of `dir`, after the memory checks of
    /// [`DiffusionEngine::load`]. The safety checker is required.
    pub fn prepare(dir: &Path, device: &Device, settings: Settings) -> Result<Parts, DiffusionError> {
        let on_disk: u64 = ["unet", "vae", "text_encoder", "safety_checker"]
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
        if dir.join("text_encoder_2/config.json").exists() {
            // SDXL: refused before loading gigabytes (`Model::load` reads it).
            return Err(DiffusionError::Config(super::SDXL_UNSUPPORTED.into()));
        }
        let mut model = Model::load(dir, device)?;
        let safety = SafetyChecker::load(dir, device)?;
        let height = settings.width as usize * 5 / 4;
        // The weights are resident now: what is left must hold one UNet input's activations
        // (or the tiled decode's).
        let need = model.activations(settings.width as usize, height, 1);
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
        if device.is_cpu() {
            // One input per pass: a CPU gains nothing from larger batches (it is compute
            // bound), the guided pair at 512x640 does not fit 24 GB in candle, and results
            // then never depend on the memory free at the time.
            model.unet_batch = 1;
        }
        let tokenizer = Tokenizer::load(&dir.join("tokenizer")).ok();
        Ok(Parts {
            model,
            tokenizer,
            safety,
        })
    }

    /// The studio it builds on.
    pub fn studio(&self) -> &Studio {
        &self.studio
    }

    /// The loaded model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn tokens(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .as_ref()
            .map(|t| t.encode(text))
            .unwrap_or_default()
    }

    /// The size the model paints a `w`x`h` picture at: `settings.width` wide, the aspect kept,
    /// both multiples of the latent cell.
    fn paint_size(&self, w: u32, h: u32) -> (u32, u32) {
        let cell = (self.model.factor * 8) as u32;
        let gw = (self.settings.width / cell).max(1) * cell;
        let gh = ((gw as f32 * h as f32 / w as f32 / cell as f32).round() as u32).max(1) * cell;
        (gw, gh)
    }

    /// Variants painted at once: `diffusion.batch` (at least 1). The UNet runs them in passes
    /// of at most `model.unet_batch` inputs (one on a CPU, so results never depend on how much
    /// memory happens to be free).
    pub fn batch_size(&self, variants: usize) -> usize {
        self.settings.batch.max(1).min(variants.max(1))
    }

    /// Denoising steps one painting of `variants` variants takes at `strength` (or the
    /// style's), its harmonising pass included.
    fn scene_steps(&self, style: &Style, variants: usize, strength: Option<f64>) -> usize {
        let (steps, _, own) = tuning(&self.settings, style);
        let strength = strength.map_or(own, |s| s.min(own));
        let per_batch = steps_at(steps, strength) + steps_at(steps, self.settings.harmonise);
        variants.div_ceil(self.batch_size(variants)) * per_batch
    }

    /// Paints the studio pictures of one scene: batched repaint, optional harmonising pass,
    /// seam harmonisation, full-resolution blend with the studio pictures' own face and hair,
    /// safety check with retries. `what.start` replaces the pictures the painting starts from
    /// and `what.at_most` caps the strength (a square that starts from the painted master).
    fn paint_scene(
        &self,
        scene: &Scene,
        pictures: &[(u32, RgbImage)],
        what: &SceneJob<'_>,
        report: &mut dyn FnMut(Tick),
        cancel: &AtomicBool,
    ) -> Result<Vec<RgbImage>, GenerateError> {
        let SceneJob {
            seed,
            style,
            at_most,
            start,
        } = *what;
        let keep = keep_mask(scene);
        let (w, h) = (scene.width(), scene.height());
        let (gw, gh) = self.paint_size(w, h);
        let small_keep = image::imageops::resize(&keep, gw, gh, image::imageops::FilterType::Triangle);
        let prompt = self.tokens(&format!(
            "professional headshot photo, {}, even soft studio light, sharp focus",
            style.attire_prompt
        ));
        let negative = self.tokens(&style.negative_prompt);
        let (steps, guidance, strength) = tuning(&self.settings, style);
        let strength = at_most.map_or(strength, |m| strength.min(m));
        let batch = self.batch_size(pictures.len());
        let smalls: Vec<RgbImage> = pictures
            .iter()
            .enumerate()
            .map(|(i, (_, p))| {
                let from = start.map_or(p, |s| &s[i]);
                image::imageops::resize(from, gw, gh, image::imageops::FilterType::Lanczos3)
            })
            .collect();
        let failed = |e: DiffusionError| match e {
            DiffusionError::Cancelled => GenerateError::Cancelled,
            other => GenerateError::Failed(other.to_string()),
        };
        let mut done: Vec<Option<RgbImage>> = vec![None; pictures.len()];
        let mut worst = Vec::new();
        for attempt in 0..=self.settings.retries {
            let pending: Vec<usize> = (0..pictures.len()).filter(|&i| done[i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                let per_batch = steps_at(steps, strength) + steps_at(steps, self.settings.harmonise);
                report(Tick::Planned(pending.len().div_ceil(batch) * per_batch));
            }
            let mut finished = Vec::with_capacity(pending.len());
            for chunk in pending.chunks(batch) {
                let seeds: Vec<u64> = chunk
                    .iter()
                    .map(|&i| seed_of(seed, pictures[i].0, attempt))
                    .collect();
                let images: Vec<&RgbImage> = chunk.iter().map(|&i| &smalls[i]).collect();
                let mut job = Paint {
                    images: &images,
                    seeds: &seeds,
                    keep: &small_keep,
                    prompt: &prompt,
                    negative: &negative,
                    steps,
                    guidance,
                    strength,
                };
                let painted =
                    paint(&self.model, &job, &mut |_, _| report(Tick::Step), cancel).map_err(failed)?;
                let mut painted: Vec<RgbImage> = painted
                    .iter()
                    .zip(&images)
                    .map(|(p, small)| blend(small, p, &small_keep))
                    .collect();
                if steps_at(steps, self.settings.harmonise) > 0 {
                    let refs: Vec<&RgbImage> = painted.iter().collect();
                    let again: Vec<u64> = seeds.iter().map(|s| s.rotate_left(17)).collect();
                    job.images = &refs;
                    job.seeds = &again;
                    job.strength = self.settings.harmonise;
                    let refined =
                        paint(&self.model, &job, &mut |_, _| report(Tick::Step), cancel).map_err(failed)?;
                    painted = refined
                        .iter()
                        .zip(&images)
                        .map(|(p, small)| blend(small, p, &small_keep))
                        .collect();
                }
                for (&i, small) in chunk.iter().zip(painted) {
                    let full = image::imageops::resize(&small, w, h, image::imageops::FilterType::Lanczos3);
                    let original = &pictures[i].1;
                    let full = harmonise(original, &full, &keep, radius(w));
                    // The face and hair are the input's own pixels at full resolution.
                    finished.push((i, blend(original, &full, &keep)));
                }
            }
            let refs: Vec<&RgbImage> = finished.iter().map(|(_, p)| p).collect();
            let verdicts = self.safety.check(&refs).map_err(failed)?;
            for ((i, picture), verdict) in finished.into_iter().zip(verdicts) {
                if verdict.flagged {
                    worst.push(verdict.worst);
                } else {
                    done[i] = Some(picture);
                }
            }
        }
        if done.iter().any(Option::is_none) {
            return Err(GenerateError::Unsafe(format!(
                "flagged {} times (scores {worst:?}) after {} retries",
                worst.len(),
                self.settings.retries
            )));
        }
        Ok(done.into_iter().flatten().collect())
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

/// Strength of the square's painting when it starts from the painted master and the master
/// covers it: little enough to keep the master's attire.
pub const SQUARE_STRENGTH: f64 = 0.5;
/// The same when the square reaches past the master (it is wider): enough to repaint the
/// strips the master does not cover, which still show the studio picture.
pub const SQUARE_STRIPS_STRENGTH: f64 = 0.75;
/// Share of the square the master must cover for [`SQUARE_STRENGTH`].
pub const SQUARE_COVERED: f32 = 0.98;

/// The studio picture of `scene` with every pixel that the painted `master` picture (of scene
/// `of`) covers taken from it: both frames are rectangles of the same aligned source. Returns
/// the picture and the fraction of it the master covered.
pub fn transfer(scene: &Scene, picture: &RgbImage, of: &Scene, master: &RgbImage) -> (RgbImage, f32) {
    let (s, m) = (&scene.frame, &of.frame);
    // Output pixel (u, v) of `scene` is source point left + (u + 0.5) / s.scale; in the
    // master's output pixels that is (point - m.left) * m.scale - 0.5.
    let r = m.scale / s.scale;
    let x0 = (s.left - m.left) * m.scale;
    let y0 = (s.top - m.top) * m.scale;
    let (mw, mh) = (master.width() as f32, master.height() as f32);
    let mut covered = 0usize;
    let out = RgbImage::from_fn(picture.width(), picture.height(), |u, v| {
        let x = x0 + (u as f32 + 0.5) * r - 0.5;
        let y = y0 + (v as f32 + 0.5) * r - 0.5;
        if x < -0.5 || y < -0.5 || x > mw - 0.5 || y > mh - 0.5 {
            return *picture.get_pixel(u, v);
        }
        covered += 1;
        let (x, y) = (x.clamp(0.0, mw - 1.0), y.clamp(0.0, mh - 1.0));
        let (xi, yi) = (x.floor() as u32, y.floor() as u32);
        let (fx, fy) = (x - xi as f32, y - yi as f32);
        let (xj, yj) = (
            (xi + 1).min(master.width() - 1),
            (yi + 1).min(master.height() - 1),
        );
        let p = |xx, yy| master.get_pixel(xx, yy).0;
        let (a, b, c, d) = (p(xi, yi), p(xj, yi), p(xi, yj), p(xj, yj));
        Rgb(std::array::from_fn(|k| {
            let top = a[k] as f32 * (1.0 - fx) + b[k] as f32 * fx;
            let bottom = c[k] as f32 * (1.0 - fx) + d[k] as f32 * fx;
            (top * (1.0 - fy) + bottom * fy).round() as u8
        }))
    });
    let fraction = covered as f32 / (picture.width() * picture.height()).max(1) as f32;
    (out, fraction)
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
        let variants = request.variants.max(1) as usize;
        // The planned denoising steps: the master, and a square that starts from it (usually
        // wider than the master); the count grows with retries.
        let mut total = self.scene_steps(&style, variants, None)
            + match request.crop {
                Crop::Both => self.scene_steps(&style, variants, Some(SQUARE_STRIPS_STRENGTH)),
                _ => 0,
            };
        let mut step = 0usize;
        let mut masters: Option<(Scene, HashMap<u32, RgbImage>)> = None;
        let mut finish = |scene: &Scene,
                          pictures: Vec<(u32, RgbImage)>,
                          progress: &mut dyn FnMut(Progress),
                          cancel: &AtomicBool| {
            let mut report = |tick: Tick| {
                match tick {
                    Tick::Step => step += 1,
                    Tick::Planned(n) => total += n,
                }
                total = total.max(step);
                progress(Progress {
                    stage: "denoise".into(),
                    step: step as u32,
                    steps: total as u32,
                });
            };
            // The square after the master starts from the painted master, so both show the
            // same attire and background; its face and hair stay the studio picture's own.
            let from_master = match (&masters, scene.frame.framing) {
                (Some((of, painted)), Framing::Square) => pictures
                    .iter()
                    .map(|(v, p)| Some(transfer(scene, p, of, painted.get(v)?)))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            let starts: Option<Vec<RgbImage>> = from_master
                .as_ref()
                .map(|f| f.iter().map(|(p, _)| p.clone()).collect());
            let at_most = from_master.as_ref().map(|f| {
                if f.iter().all(|(_, covered)| *covered >= SQUARE_COVERED) {
                    SQUARE_STRENGTH
                } else {
                    SQUARE_STRIPS_STRENGTH
                }
            });
            let job = SceneJob {
                seed,
                style: &style,
                at_most,
                start: starts.as_deref(),
            };
            let out = self.paint_scene(scene, &pictures, &job, &mut report, cancel)?;
            if scene.frame.framing == Framing::Master {
                let by_variant = pictures
                    .iter()
                    .map(|(v, _)| *v)
                    .zip(out.iter().cloned())
                    .collect();
                masters = Some((scene.clone(), by_variant));
            }
            Ok(out)
        };
        self.studio
            .generate_with(request, progress, cancel, "diffusion", Some(&mut finish))
    }
}
