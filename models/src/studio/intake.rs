//! Intake: find the one face of a selfie and check that it can make a headshot (size, border,
//! exposure, sharpness, pose) before any heavy work. Detection runs on a small copy of the
//! photo; everything else is read from a canonical chip of the face ([`super::measure`]).

use image::RgbImage;

use super::geometry::{Affine, Align, FaceGeometry, map_face};
use super::measure::{FaceFrame, luma};
use super::resample::{resize, warp};
use crate::generator::IntakeError;
use crate::vision::fit_long_side;
use crate::vision::{self, Face, FaceDetector, Point, VisionError};

/// Detection runs with the photo's longer side at this many pixels: selfie faces are large,
/// and the detector costs time in proportion to the area (a quarter of the cost at 640).
pub const DETECT_SIDE: u32 = 320;
/// When nothing is found at [`DETECT_SIDE`], one retry at this size finds faces down to
/// about 2% of the photo's longer side, so small faces get "too small", not "no face".
pub const RETRY_SIDE: u32 = 640;
/// Landmarks are refined by a second detection on an upright crop of the face this many
/// pixels square: the detector places landmarks best on upright faces, and the eye line
/// decides the roll correction.
pub const REFINE_SIDE: u32 = 256;
/// The refinement crop spans this many eye distances (or 1.6 face heights if larger).
const REFINE_SPAN: f32 = 4.0;
/// Smallest face box height accepted, in source pixels: with at most 2x upscaling this still
/// makes a master of about 500 pixels in height.
pub const MIN_FACE: u32 = 96;
/// Faces with at least this fraction of the largest face's area count as "similar in size".
pub const SIMILAR_AREA: f32 = 0.4;
/// The face box may reach past the border by this fraction of its height (detector slack).
pub const CUT_TOLERANCE: f32 = 0.03;
/// Darkest acceptable median face luma (0..255): below it, lifting the face amplifies noise.
pub const DARK: f32 = 40.0;
/// Brightest acceptable median face luma (0..255).
pub const BRIGHT: f32 = 228.0;
/// Largest acceptable fraction of burnt face pixels.
pub const MAX_CLIPPED: f32 = 0.35;
/// Least acceptable sharpness (variance of the Laplacian on the normalised face chip). The
/// test portraits measure about 250 (smooth young skin) and 1300 (an older, detailed face); a
/// Gaussian blur of 1.5 source pixels takes the smooth one to 16, of 3 pixels the detailed one
/// to 40. The threshold refuses clearly blurred faces and lets slightly soft ones through.
pub const MIN_SHARPNESS: f32 = 30.0;
/// Largest acceptable head yaw, in degrees.
pub const MAX_YAW: f32 = 30.0;
/// Largest acceptable head roll, in degrees (roll is corrected, but past this the photo is
/// probably sideways).
pub const MAX_ROLL: f32 = 45.0;

/// The accepted face of a selfie and what was measured on it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Width of the (upright) source photo.
    pub width: u32,
    /// Height of the source photo.
    pub height: u32,
    /// The face the headshot is made of, in source pixels.
    pub face: Face,
    /// Every face found, the subject's included.
    pub faces: Vec<Face>,
    /// Roll correction of the subject's face.
    pub align: Align,
    /// The face measured in aligned coordinates.
    pub geometry: FaceGeometry,
    /// The small copy detection ran on (lighting estimates reuse it).
    pub preview: RgbImage,
    /// Sharpness of the face chip (see [`super::measure::Chip::sharpness`]).
    pub sharpness: f32,
    /// Median face luma, 0..255.
    pub face_luma: f32,
    /// Median linear luma of the cheeks (viewer's left, right).
    pub cheeks: (f32, f32),
    /// Quality in 0..1, to pick the best selfie of an album.
    pub score: f32,
}

impl Subject {
    /// Where the face is in the source, for chips.
    pub fn face_frame(&self) -> FaceFrame {
        FaceFrame {
            align: self.align,
            unit: self.geometry.eye_distance,
        }
    }
}

/// Why [`inspect`] did not return a subject.
#[derive(Debug)]
pub enum InspectError {
    /// The selfie is refused, with the reason for the user.
    Refused(IntakeError),
    /// The detector failed (a bug or no memory).
    Vision(VisionError),
}

impl From<VisionError> for InspectError {
    fn from(e: VisionError) -> Self {
        InspectError::Vision(e)
    }
}

impl From<IntakeError> for InspectError {
    fn from(e: IntakeError) -> Self {
        InspectError::Refused(e)
    }
}

/// Finds and checks the face of `image`.
pub fn inspect(detector: &FaceDetector, image: &RgbImage) -> Result<Subject, InspectError> {
    let (mut faces, mut preview) = detect_at(detector, image, DETECT_SIDE)?;
    if faces.is_empty() {
        (faces, preview) = detect_at(detector, image, RETRY_SIDE)?;
    }
    faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
    if let Some(first) = faces.first_mut() {
        *first = refine(detector, image, first)?;
    }
    Ok(assess(faces, image, preview)?)
}

/// `face` detected again on an upright crop around it ([`REFINE_SIDE`]), mapped back to the
/// photo; unchanged when the crop shows no face.
pub fn refine(detector: &FaceDetector, image: &RgbImage, face: &Face) -> Result<Face, VisionError> {
    let align = Align::from_landmarks(&face.landmarks);
    let g = FaceGeometry::measure(face, &align);
    let span = (REFINE_SPAN * g.eye_distance).max(1.6 * face.bbox.height);
    let centre = align.to_aligned(face.bbox.center());
    let scale = REFINE_SIDE as f32 / span;
    let map = Affine::aligned_rect(&align, centre.x - span / 2.0, centre.y - span / 2.0, scale);
    let crop = warp(image, &map, REFINE_SIDE, REFINE_SIDE);
    let outputs = detector.head_outputs(&crop)?;
    let config = detector.config();
    let side = REFINE_SIDE as usize;
    let found = vision::decode::decode(&outputs, side, side, config.score_threshold, config.nms_threshold)?;
    let middle = Point::new(REFINE_SIDE as f32 / 2.0, REFINE_SIDE as f32 / 2.0);
    let Some(best) = found.iter().min_by(|a, b| {
        a.bbox
            .center()
            .distance(middle)
            .total_cmp(&b.bbox.center().distance(middle))
    }) else {
        return Ok(*face);
    };
    let to_source = |p: Point| {
        let (x, y) = map.apply(p.x - 0.5, p.y - 0.5);
        Point::new(x + 0.5, y + 0.5)
    };
    Ok(map_face(best, 1.0 / scale, to_source))
}

/// The intake checks on the `faces` detected in `image` (`preview` is the small copy they were
/// found on): one face of its size, large enough, inside the photo, well exposed, sharp and
/// facing the camera.
pub fn assess(mut faces: Vec<Face>, image: &RgbImage, preview: RgbImage) -> Result<Subject, IntakeError> {
    if faces.is_empty() {
        return Err(exposure_without_face(&preview).unwrap_or(IntakeError::NoFace));
    }
    faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
    let largest = faces[0].bbox.area();
    let similar = faces
        .iter()
        .filter(|f| f.bbox.area() >= SIMILAR_AREA * largest)
        .count();
    if similar > 1 {
        return Err(IntakeError::SeveralFaces { count: similar });
    }
    let face = faces[0];
    let size = face.bbox.height.round().max(0.0) as u32;
    if size < MIN_FACE {
        return Err(IntakeError::FaceTooSmall { size, min: MIN_FACE });
    }
    if is_cut_off(&face, image.width(), image.height()) {
        return Err(IntakeError::FaceCutOff);
    }
    let align = Align::from_landmarks(&face.landmarks);
    let geometry = FaceGeometry::measure(&face, &align);
    let frame = FaceFrame {
        align,
        unit: geometry.eye_distance,
    };
    let chip = frame.chip(image);
    let (face_luma, clipped) = (chip.face_luma(), chip.clipped());
    if face_luma < DARK {
        return Err(IntakeError::TooDark);
    }
    if face_luma > BRIGHT || clipped > MAX_CLIPPED {
        return Err(IntakeError::BlownOut);
    }
    let sharpness = chip.sharpness();
    if sharpness < MIN_SHARPNESS {
        return Err(IntakeError::Blurred {
            sharpness,
            min: MIN_SHARPNESS,
        });
    }
    if geometry.yaw_degrees.abs() > MAX_YAW {
        return Err(IntakeError::HeadTurned {
            degrees: geometry.yaw_degrees.abs(),
        });
    }
    let roll = align.roll_degrees();
    if roll.abs() > MAX_ROLL {
        return Err(IntakeError::HeadTurned { degrees: roll.abs() });
    }
    let score = score(size, sharpness, face_luma, geometry.yaw_degrees);
    Ok(Subject {
        width: image.width(),
        height: image.height(),
        face,
        faces,
        align,
        geometry,
        preview,
        sharpness,
        face_luma,
        cheeks: chip.cheeks(),
        score,
    })
}

/// Faces found on a copy of `image` with its longer side at `side`, in `image`'s pixels,
/// with the copy.
pub fn detect_at(
    detector: &FaceDetector,
    image: &RgbImage,
    side: u32,
) -> Result<(Vec<Face>, RgbImage), VisionError> {
    let (w, h) = fit_long_side(image.width(), image.height(), side);
    let preview = resize(image, w, h);
    let outputs = detector.head_outputs(&preview)?;
    let config = detector.config();
    let faces = vision::decode::decode(
        &outputs,
        w as usize,
        h as usize,
        config.score_threshold,
        config.nms_threshold,
    )?;
    let (sx, sy) = (image.width() as f32 / w as f32, image.height() as f32 / h as f32);
    Ok((faces.iter().map(|f| f.scaled(sx, sy)).collect(), preview))
}

/// Whether the face box (or a landmark) lies past the photo's border.
fn is_cut_off(face: &Face, width: u32, height: u32) -> bool {
    let b = face.bbox;
    let tol = CUT_TOLERANCE * b.height;
    let (w, h) = (width as f32, height as f32);
    let outside = b.x < -tol || b.y < -tol || b.right() > w + tol || b.bottom() > h + tol;
    let landmark_out = face
        .landmarks
        .to_array()
        .iter()
        .any(|p| p.x < 0.0 || p.y < 0.0 || p.x > w || p.y > h);
    outside || landmark_out
}

/// A photo without a detectable face that is very dark or very bright is refused for that
/// (the detector fails on such photos, and "too dark" is the useful answer).
fn exposure_without_face(preview: &RgbImage) -> Option<IntakeError> {
    let n = (preview.width() * preview.height()).max(1) as f32;
    let mean = preview
        .pixels()
        .map(|p| luma(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])))
        .sum::<f32>()
        / n;
    if mean < DARK * 0.8 {
        Some(IntakeError::TooDark)
    } else if mean > 240.0 {
        Some(IntakeError::BlownOut)
    } else {
        None
    }
}

/// Quality in 0..1: sharpness, face size, exposure and pose, weighted.
fn score(size: u32, sharpness: f32, face_luma: f32, yaw: f32) -> f32 {
    let sharp = (sharpness / (4.0 * MIN_SHARPNESS)).min(1.0);
    let big = (size as f32 / 400.0).min(1.0);
    let exposed = (1.0 - (face_luma - 140.0).abs() / 140.0).clamp(0.0, 1.0);
    let frontal = (1.0 - yaw.abs() / MAX_YAW).clamp(0.0, 1.0);
    0.35 * sharp + 0.25 * big + 0.2 * exposed + 0.2 * frontal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::{BoundingBox, Landmarks};

    fn face(x: f32, y: f32, side: f32) -> Face {
        let p = |dx: f32, dy: f32| Point::new(x + dx * side, y + dy * side);
        Face {
            bbox: BoundingBox {
                x,
                y,
                width: side,
                height: side,
            },
            score: 0.99,
            landmarks: Landmarks::from_array([
                p(0.3, 0.4),
                p(0.7, 0.4),
                p(0.5, 0.6),
                p(0.35, 0.8),
                p(0.65, 0.8),
            ]),
        }
    }

    #[test]
    fn a_face_past_the_border_is_cut_off() {
        assert!(!is_cut_off(&face(10.0, 10.0, 100.0), 200, 200));
        assert!(!is_cut_off(&face(-2.0, 10.0, 100.0), 200, 200));
        assert!(is_cut_off(&face(-20.0, 10.0, 100.0), 200, 200));
        assert!(is_cut_off(&face(120.0, 10.0, 100.0), 200, 200));
    }

    #[test]
    fn score_prefers_sharp_big_frontal_faces() {
        let good = score(500, 400.0, 140.0, 0.0);
        assert!((good - 1.0).abs() < 1e-6);
        assert!(score(100, 80.0, 60.0, 25.0) < good / 2.0);
    }

    #[test]
    fn dark_and_bright_photos_without_a_face_say_so() {
        let dark = RgbImage::from_pixel(8, 8, image::Rgb([10, 10, 10]));
        assert_eq!(exposure_without_face(&dark), Some(IntakeError::TooDark));
        let white = RgbImage::from_pixel(8, 8, image::Rgb([255, 255, 255]));
        assert_eq!(exposure_without_face(&white), Some(IntakeError::BlownOut));
        let grey = RgbImage::from_pixel(8, 8, image::Rgb([128, 128, 128]));
        assert_eq!(exposure_without_face(&grey), None);
    }
}
