//! The studio: the deterministic CPU generator that turns a selfie into studio headshots while
//! keeping the user's real face pixels. It frames the head by headshot rules, replaces the
//! background with the style's backdrop, evens out the light and measures the headshot
//! checklist on every output, in about a second on two cores.
//!
//! # Layout
//! One module per stage, in pipeline order:
//! - [`intake`]: detection on a small copy and the intake checks ([`Subject`]); [`clean`] makes
//!   the metadata-free copy the store keeps.
//! - [`person`]: the segmentation network's mask of the whole photo (hair top, cut borders).
//! - [`framing`]: the framing rules (all numbers in one place) and the planned [`Frame`]s.
//! - [`matte`]: the source warped into each frame, the refined alpha and clean edges ([`Scene`]).
//! - [`lighting`]: white balance, exposure, fill and contrast ([`LightPlan`]).
//! - [`backdrop`]: backdrops and the linear-light composite.
//! - [`checklist`]: the headshot checklist and its chat line.
//! - [`output`]: encoding ([`OutputFormat`]); [`sheet`]: the reviewers' contact sheet.
//! - Helpers: [`geometry`] (aligned coordinates, affine maps), [`resample`], [`measure`] (the
//!   face chip), [`variant`] (numbered variations of a style).
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use headshot_models::studio::Studio;
//! use headshot_models::{Catalog, Crop, DecodeLimits, Generator, Request};
//! let studio = Studio::load(None, DecodeLimits::default())?;
//! let selfie = std::fs::read("selfie.jpg").unwrap();
//! let report = studio.intake(&selfie).unwrap();
//! let request = Request {
//!     selfies: vec![report.clean],
//!     primary: 0,
//!     stem: "selfie".into(),
//!     style: Catalog::builtin().default_style().clone(),
//!     crop: Crop::Both,
//!     variants: 1,
//!     first_variant: 1,
//!     seed: 0,
//! };
//! let done = studio.generate(&request, &mut |_| {}, &AtomicBool::new(false)).unwrap();
//! println!("{}", done.checklist);
//! # Ok::<(), headshot_models::studio::StudioError>(())
//! ```

pub mod alpha;
pub mod backdrop;
pub mod checklist;
pub mod clean;
pub mod defects;
pub mod framing;
pub mod geometry;
pub mod hardcase;
pub mod intake;
pub mod lighting;
pub mod matte;
pub mod measure;
pub mod output;
pub mod person;
pub mod region;
pub mod resample;
pub mod sheet;
pub mod variant;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use image::{ImageFormat, RgbImage};

pub use framing::Frame;
pub use intake::Subject;
pub use lighting::LightPlan;
pub use matte::{Canvas, Matting, Scene};
pub use output::OutputFormat;
pub use person::PersonMask;
pub use sheet::contact_sheet;
pub use variant::Variation;

use crate::decode::{DecodeError, DecodeLimits, decode};
use crate::generator::{
    Check, Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress,
    Request, output_name,
};
use crate::style::{Crop, Lighting, Style};
use crate::vision::{Vision, VisionError};

/// Why the studio could not start.
#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// The vision weights are missing, corrupt or unreadable (the message says which file and
    /// to run `models/fetch.sh`), or the models could not be built.
    #[error("cannot load the studio's vision models: {0}")]
    Vision(#[from] VisionError),
}

/// The studio generator: owns the vision models, the upload limits and the output format.
#[derive(Debug)]
pub struct Studio {
    vision: Vision,
    limits: DecodeLimits,
    format: OutputFormat,
}

impl Studio {
    /// Loads the vision weights from `weights_dir` (default: the repository's `models/weights`).
    pub fn load(weights_dir: Option<&Path>, limits: DecodeLimits) -> Result<Studio, StudioError> {
        Ok(Studio::new(Vision::load(weights_dir)?, limits))
    }

    /// A studio around already built vision models.
    pub fn new(vision: Vision, limits: DecodeLimits) -> Studio {
        Studio {
            vision,
            limits,
            format: OutputFormat::default(),
        }
    }

    /// The same studio writing `format`.
    pub fn with_format(self, format: OutputFormat) -> Studio {
        Studio { format, ..self }
    }

    /// The output format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The upload limits.
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// The vision models.
    pub fn vision(&self) -> &Vision {
        &self.vision
    }

    /// Stage "detect": finds the face and runs the intake checks.
    pub fn inspect(&self, image: &RgbImage) -> Result<Subject, GenerateError> {
        intake::inspect(&self.vision.detector, image).map_err(|e| match e {
            intake::InspectError::Refused(e) => GenerateError::Intake(e),
            intake::InspectError::Vision(e) => GenerateError::Failed(e.to_string()),
        })
    }

    /// Stage "segment": the mask of the subject's person over the whole photo (segmented
    /// around the face when the person is small in the photo, see
    /// [`PersonMask::segment_around`]; other people and stray regions removed, see
    /// [`PersonMask::isolate`]).
    pub fn segment(&self, image: &RgbImage, subject: &Subject) -> Result<PersonMask, GenerateError> {
        let person = PersonMask::segment_around(&self.vision.segmenter, image, subject.face.bbox)
            .map_err(|e| GenerateError::Failed(e.to_string()))?;
        Ok(person.isolate(&subject.face, &subject.faces[1..]))
    }

    /// Plans `framing` for the subject of `image`; a photo cropped too tightly for any
    /// framing within the bands is refused with [`IntakeError::TooTight`].
    pub fn plan(
        &self,
        image: &RgbImage,
        subject: &Subject,
        person: &PersonMask,
        framing: Framing,
    ) -> Result<Frame, IntakeError> {
        let hair_top = person.hair_top(&subject.align, &subject.geometry);
        let source = framing::Source {
            align: subject.align,
            width: image.width() as f32,
            height: image.height() as f32,
            person: Some(person),
        };
        framing::plan(&subject.geometry, hair_top, framing, &source).map_err(|_| IntakeError::TooTight)
    }

    /// Stage "frame": plans every framing, warps the photo into their union, cuts the
    /// person's matte there once and returns one scene per framing, in order.
    pub fn scenes(
        &self,
        image: &RgbImage,
        subject: &Subject,
        person: &PersonMask,
        framings: &[Framing],
    ) -> Result<Vec<Scene>, GenerateError> {
        self.scenes_with(image, subject, person, framings, Matting::default())
    }

    /// [`Studio::scenes`] with a chosen matting method.
    pub fn scenes_with(
        &self,
        image: &RgbImage,
        subject: &Subject,
        person: &PersonMask,
        framings: &[Framing],
        matting: Matting,
    ) -> Result<Vec<Scene>, GenerateError> {
        let frames = framings
            .iter()
            .map(|&f| self.plan(image, subject, person, f))
            .collect::<Result<Vec<Frame>, _>>()
            .map_err(GenerateError::Intake)?;
        Ok(self.frame_scenes(image, subject, person, frames, matting))
    }

    /// The scenes of frames already planned.
    fn frame_scenes(
        &self,
        image: &RgbImage,
        subject: &Subject,
        person: &PersonMask,
        frames: Vec<Frame>,
        matting: Matting,
    ) -> Vec<Scene> {
        let epsilon = self.vision.segmenter.config().epsilon;
        let canvas = Canvas::build(image, subject, person, &frames, epsilon, matting);
        frames.into_iter().map(|f| canvas.cut(f, subject)).collect()
    }

    /// Stages "light" and "backdrop" together: the finished picture of `scene` in `style`,
    /// variant `variant`.
    pub fn render(&self, scene: &Scene, subject: &Subject, style: &Style, variant: u32) -> RgbImage {
        let variation = Variation::of(variant);
        let lit = LightPlan::estimate(subject, style.lighting, &variation).apply(scene);
        compose(scene, &lit, style, &variation)
    }
}

/// The lit person over the style's backdrop (and the whole picture in black and white for a
/// mono style).
pub fn compose(scene: &Scene, lit: &RgbImage, style: &Style, variation: &Variation) -> RgbImage {
    let back = backdrop::render(&style.backdrop, style.mode, variation, scene);
    let picture = backdrop::composite(lit, &back, &scene.alpha);
    if style.lighting == Lighting::Mono {
        backdrop::to_mono(&picture)
    } else {
        picture
    }
}

/// The framings a crop asks for, master first.
pub fn framings(crop: Crop) -> Vec<Framing> {
    match crop {
        Crop::Master => vec![Framing::Master],
        Crop::Square => vec![Framing::Square],
        Crop::Both => vec![Framing::Master, Framing::Square],
    }
}

/// Progress reports and cancellation between stages.
struct Run<'a> {
    progress: &'a mut dyn FnMut(Progress),
    cancel: &'a AtomicBool,
}

impl Run<'_> {
    /// Runs one unit of work of `stage` (step `step` of `steps`) unless cancelled, then reports.
    fn stage<T>(
        &mut self,
        stage: &str,
        step: usize,
        steps: usize,
        work: impl FnOnce() -> Result<T, GenerateError>,
    ) -> Result<T, GenerateError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        let out = work()?;
        (self.progress)(Progress {
            stage: stage.into(),
            step: step as u32,
            steps: steps as u32,
        });
        Ok(out)
    }
}

impl Generator for Studio {
    fn name(&self) -> &str {
        "studio"
    }

    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        let decoded = decode(upload, &self.limits)?;
        if decoded.format == ImageFormat::Jpeg && !clean::jpeg_is_complete(upload) {
            return Err(DecodeError::Corrupt("the JPEG data ends before the end of the image".into()).into());
        }
        let subject = intake::inspect(&self.vision.detector, &decoded.image).map_err(|e| match e {
            intake::InspectError::Refused(e) => e,
            // Only a bug or exhausted memory gets here; the user is asked to send again.
            intake::InspectError::Vision(e) => IntakeError::Internal(format!("face detection failed: {e}")),
        })?;
        // The master framing must exist (the person not cut too tightly) before any
        // generator time is spent.
        let person = self
            .segment(&decoded.image, &subject)
            .map_err(|e| IntakeError::Internal(e.to_string()))?;
        self.plan(&decoded.image, &subject, &person, Framing::Master)?;
        Ok(IntakeReport {
            width: subject.width,
            height: subject.height,
            score: subject.score,
            clean: clean::clean_copy(upload, decoded.format, &decoded.image),
        })
    }

    fn generate(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        self.generate_with(request, progress, cancel, "studio", None)
    }
}

/// A last stage on the finished pictures of one scene before they are checked and encoded
/// (the diffusion repaint): gets the scene, every variant's `(variant, picture)`, a progress
/// sink and the cancel flag; returns the pictures in the same order.
pub type Finish<'a> = dyn FnMut(
        &Scene,
        Vec<(u32, RgbImage)>,
        &mut dyn FnMut(Progress),
        &AtomicBool,
    ) -> Result<Vec<RgbImage>, GenerateError>
    + 'a;

impl Studio {
    /// The studio pipeline with an optional `finish` stage; `engine` names the result.
    pub fn generate_with(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
        engine: &str,
        mut finish: Option<&mut Finish<'_>>,
    ) -> Result<Generated, GenerateError> {
        let mut run = Run { progress, cancel };
        let bytes = request.selfies.get(request.primary).ok_or_else(|| {
            GenerateError::Failed(format!(
                "selfie {} requested, {} given",
                request.primary,
                request.selfies.len()
            ))
        })?;
        let image = run.stage("decode", 1, 1, || {
            decode(bytes, &self.limits)
                .map(|d| d.image)
                .map_err(|e| GenerateError::Intake(e.into()))
        })?;
        let subject = run.stage("detect", 1, 1, || self.inspect(&image))?;
        let person = run.stage("segment", 1, 1, || self.segment(&image, &subject))?;
        // A framing the photo is too tight for is skipped (and said) when another one fits;
        // when none fits the selfie is refused.
        let mut frames = Vec::new();
        let mut skipped = Vec::new();
        for f in framings(request.crop) {
            match self.plan(&image, &subject, &person, f) {
                Ok(frame) => frames.push(frame),
                Err(_) => skipped.push(f),
            }
        }
        if frames.is_empty() {
            return Err(GenerateError::Intake(IntakeError::TooTight));
        }
        let scenes = run.stage("frame", 1, 1, || {
            Ok(self.frame_scenes(&image, &subject, &person, frames.clone(), Matting::default()))
        })?;
        let mut outputs = self.render_all(request, &subject, &scenes, &mut run, finish.as_deref_mut())?;
        // A matte item failed: the other matting choice gets one try (the studio alone; a
        // finishing stage repaints the edges anyway), and the outputs with fewer failed matte
        // items are delivered.
        let matte_failures = |outputs: &[Output]| {
            outputs
                .iter()
                .flat_map(|o| &o.checks)
                .filter(|c| !c.pass && defects::MATTE_ITEMS.contains(&c.name.as_str()))
                .count()
        };
        let mut scenes = scenes;
        if finish.is_none() && matte_failures(&outputs) > 0 {
            let other = Matting::default().alternative();
            let retry = run.stage("frame", 1, 1, || {
                Ok(self.frame_scenes(&image, &subject, &person, frames.clone(), other))
            })?;
            let again = self.render_all(request, &subject, &retry, &mut run, None)?;
            if matte_failures(&again) < matte_failures(&outputs) {
                outputs = again;
                scenes = retry;
            }
        }
        drop(image);
        // Best variants first (fewest failed checks over its framings; ties in variant
        // order), each variant's framings in the order asked for.
        let mut failed: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for o in &outputs {
            *failed.entry(o.variant).or_default() += o.checks.iter().filter(|c| !c.pass).count();
        }
        outputs.sort_by_key(|o| (failed[&o.variant], o.variant));
        let summary = outputs
            .iter()
            .find(|o| o.framing == Framing::Master)
            .or(outputs.first());
        let mut notes: Vec<String> = scenes
            .first()
            .filter(|s| s.frame.source_limited)
            .map(|s| format!("small source: {}x{}", s.width(), s.height()))
            .into_iter()
            .collect();
        notes.extend(skipped.iter().map(|f| match f {
            Framing::Master => "no 4:5: photo too tight".to_string(),
            Framing::Square => "no square: photo too tight".to_string(),
        }));
        let note = (!notes.is_empty()).then(|| notes.join(" · "));
        let checklist =
            summary.map_or_else(String::new, |o| checklist::chat_line(&o.checks, note.as_deref()));
        Ok(Generated {
            outputs,
            checklist,
            engine: engine.into(),
        })
    }
}

impl Studio {
    /// Every variant of every scene lit, composed, finished, checked and encoded.
    fn render_all(
        &self,
        request: &Request,
        subject: &Subject,
        scenes: &[Scene],
        run: &mut Run<'_>,
        mut finish: Option<&mut Finish<'_>>,
    ) -> Result<Vec<Output>, GenerateError> {
        let style = &request.style;
        let variants = request.first_variant.max(1)..request.first_variant.max(1) + request.variants.max(1);
        let total = variants.len() * scenes.len();
        let plans: Vec<(u32, Variation, LightPlan)> = variants
            .map(|v| {
                let variation = Variation::of(v);
                (
                    v,
                    variation,
                    LightPlan::estimate(subject, style.lighting, &variation),
                )
            })
            .collect();
        let mut outputs = Vec::with_capacity(total);
        let mut k = 0;
        for scene in scenes {
            let mut pictures = Vec::with_capacity(plans.len());
            for (variant, variation, plan) in &plans {
                k += 1;
                let lit = run.stage("light", k, total, || Ok(plan.apply(scene)))?;
                let picture = run.stage("backdrop", k, total, || {
                    Ok(compose(scene, &lit, style, variation))
                })?;
                pictures.push((*variant, picture));
            }
            let pictures = match finish.as_mut() {
                Some(f) => {
                    let variants: Vec<u32> = pictures.iter().map(|p| p.0).collect();
                    let done = f(scene, pictures, &mut *run.progress, run.cancel)?;
                    if done.len() != variants.len() {
                        return Err(GenerateError::Failed(format!(
                            "the finishing stage returned {} pictures for {}",
                            done.len(),
                            variants.len()
                        )));
                    }
                    variants.into_iter().zip(done).collect()
                }
                None => pictures,
            };
            for (variant, picture) in pictures {
                let k = outputs.len() + 1;
                let checks = run.stage("check", k, total, || {
                    Ok(checklist::measure(scene, &picture, style.mode))
                })?;
                let bytes = run.stage("encode", k, total, || Ok(self.format.encode(&picture)))?;
                outputs.push(self.output(request, scene, variant, bytes, checks));
            }
        }
        Ok(outputs)
    }

    fn output(
        &self,
        request: &Request,
        scene: &Scene,
        variant: u32,
        bytes: Vec<u8>,
        checks: Vec<Check>,
    ) -> Output {
        let framing = scene.frame.framing;
        Output {
            file_name: output_name(
                &request.stem,
                &request.style.name,
                framing,
                variant,
                self.format.extension(),
            ),
            mime: self.format.mime().into(),
            bytes,
            framing,
            variant,
            width: scene.width(),
            height: scene.height(),
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_studio_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Studio>();
    }

    #[test]
    fn crops_map_to_framings() {
        assert_eq!(framings(Crop::Both), vec![Framing::Master, Framing::Square]);
        assert_eq!(framings(Crop::Square), vec![Framing::Square]);
    }
}
