//! Face geometry in the roll-corrected ("aligned") frame, and the affine maps between
//! output pixels and source pixels.
//!
//! Aligned coordinates are source pixels measured from the midpoint between the eyes, with
//! the x axis along the eye line (so the eyes are level) and y pointing down the face. Every
//! framing rule is written in these coordinates, which makes it independent of head roll.

use crate::vision::{BoundingBox, Face, Landmarks, Point};

/// Roll correction: the rotation about the eye midpoint that levels the eyes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Align {
    /// Midpoint between the eyes, in source pixels.
    pub origin: Point,
    /// Cosine of the roll angle.
    pub cos: f32,
    /// Sine of the roll angle (positive: the viewer's right eye is lower).
    pub sin: f32,
}

impl Align {
    /// The alignment that levels the eye line of `landmarks`.
    pub fn from_landmarks(landmarks: &Landmarks) -> Align {
        let (l, r) = (landmarks.left_eye, landmarks.right_eye);
        let angle = landmarks.roll_degrees().to_radians();
        Align {
            origin: Point::new((l.x + r.x) / 2.0, (l.y + r.y) / 2.0),
            cos: angle.cos(),
            sin: angle.sin(),
        }
    }

    /// The roll this alignment removes, in degrees.
    pub fn roll_degrees(&self) -> f32 {
        self.sin.atan2(self.cos).to_degrees()
    }

    /// A source point in aligned coordinates.
    pub fn to_aligned(&self, p: Point) -> Point {
        let (dx, dy) = (p.x - self.origin.x, p.y - self.origin.y);
        Point::new(self.cos * dx + self.sin * dy, -self.sin * dx + self.cos * dy)
    }

    /// An aligned point back in source pixels.
    pub fn to_source(&self, a: Point) -> Point {
        Point::new(
            self.origin.x + self.cos * a.x - self.sin * a.y,
            self.origin.y + self.sin * a.x + self.cos * a.y,
        )
    }
}

/// What framing and the checks need to know about a face, in aligned coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceGeometry {
    /// Distance between the eye centres.
    pub eye_distance: f32,
    /// Vertical distance from the eye line to the mouth.
    pub eye_mouth: f32,
    /// Horizontal centre of the face: the mean of the box centre and of the landmark centroid
    /// (the box alone drifts toward the visible cheek when the head turns a little).
    pub center_x: f32,
    /// Horizontal position of the nose tip.
    pub nose_x: f32,
    /// The chin: the bottom of the detector's box, which is trained to end there.
    pub chin: f32,
    /// Height of the detector's box.
    pub face_height: f32,
    /// Estimated head yaw in degrees (positive: the nose points to the viewer's right).
    pub yaw_degrees: f32,
}

/// How far the nose tip stands in front of the plane of the eyes and mouth corners, in eye
/// distances (about 2.8 cm for 6.3 cm between the pupils on an adult face).
const NOSE_DEPTH: f32 = 0.45;

impl FaceGeometry {
    /// Measures `face` in the frame of `align`.
    pub fn measure(face: &Face, align: &Align) -> FaceGeometry {
        let l = face.landmarks;
        let [le, re, nose, ml, mr] = l.to_array().map(|p| align.to_aligned(p));
        let eye_distance = (re.x - le.x).abs().max(1.0);
        let eye_mouth = ((ml.y + mr.y) / 2.0).max(1.0);
        let b = face.bbox;
        let box_center = align.to_aligned(b.center());
        let centroid = (le.x + re.x + ml.x + mr.x + nose.x) / 5.0;
        FaceGeometry {
            eye_distance,
            eye_mouth,
            center_x: (box_center.x + centroid) / 2.0,
            nose_x: nose.x,
            chin: (box_center.y + b.height / 2.0).max(eye_mouth * 1.2),
            face_height: b.height,
            yaw_degrees: yaw_degrees([le, re, nose, ml, mr]),
        }
    }

    /// The geometry in a frame scaled by `k` (output pixels per source pixel).
    pub fn scaled(&self, k: f32) -> FaceGeometry {
        FaceGeometry {
            eye_distance: self.eye_distance * k,
            eye_mouth: self.eye_mouth * k,
            center_x: self.center_x * k,
            nose_x: self.nose_x * k,
            chin: self.chin * k,
            face_height: self.face_height * k,
            yaw_degrees: self.yaw_degrees,
        }
    }
}

/// Head yaw from five aligned landmarks: the nose tip sits in front of the face plane, so
/// turning the head by `t` moves it sideways by `depth * sin t` while the eyes close up by
/// `cos t`; hence `tan t = offset / (depth * visible eye distance)`.
pub fn yaw_degrees(aligned: [Point; 5]) -> f32 {
    let [le, re, nose, ml, mr] = aligned;
    let eye_distance = (re.x - le.x).abs().max(1.0);
    let plane_x = (le.x + re.x + ml.x + mr.x) / 4.0;
    ((nose.x - plane_x) / (NOSE_DEPTH * eye_distance))
        .atan()
        .to_degrees()
}

/// An affine map from output pixel indices `(u, v)` to source pixel-index coordinates
/// (pixel centres at integers): `x = x0 + u * xu + v * xv`, `y = y0 + u * yu + v * yv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Source x of output pixel (0, 0).
    pub x0: f32,
    /// Source y of output pixel (0, 0).
    pub y0: f32,
    /// Source x step per output column.
    pub xu: f32,
    /// Source y step per output column.
    pub yu: f32,
    /// Source x step per output row.
    pub xv: f32,
    /// Source y step per output row.
    pub yv: f32,
}

impl Affine {
    /// The source position of output pixel `(u, v)` (fractional indices allowed).
    pub fn apply(&self, u: f32, v: f32) -> (f32, f32) {
        (
            self.x0 + u * self.xu + v * self.xv,
            self.y0 + u * self.yu + v * self.yv,
        )
    }

    /// How many source pixels one output pixel spans (the larger axis).
    pub fn footprint(&self) -> f32 {
        self.xu.hypot(self.yu).max(self.xv.hypot(self.yv))
    }

    /// When the map is a plain crop (unit scale, no rotation, whole-pixel offsets) of a
    /// `width` x `height` output inside a `source_w` x `source_h` source: the crop's corner.
    pub fn as_crop(&self, source_w: u32, source_h: u32, width: u32, height: u32) -> Option<(u32, u32)> {
        const EPS: f32 = 1e-3;
        let unit = (self.xu - 1.0).abs() < EPS * 1e-2
            && (self.yv - 1.0).abs() < EPS * 1e-2
            && self.yu.abs() < EPS * 1e-2
            && self.xv.abs() < EPS * 1e-2;
        let (x, y) = (self.x0.round(), self.y0.round());
        let whole = (self.x0 - x).abs() < EPS && (self.y0 - y).abs() < EPS;
        let inside = x >= 0.0
            && y >= 0.0
            && x + width as f32 <= source_w as f32
            && y + height as f32 <= source_h as f32;
        (unit && whole && inside).then_some((x as u32, y as u32))
    }

    /// The map of an output whose pixel grid is the aligned rectangle with top-left corner
    /// (`left`, `top`) sampled at `scale` output pixels per source pixel.
    pub fn aligned_rect(align: &Align, left: f32, top: f32, scale: f32) -> Affine {
        let k = scale;
        let corner = align.to_source(Point::new(left + 0.5 / k, top + 0.5 / k));
        Affine {
            x0: corner.x - 0.5,
            y0: corner.y - 0.5,
            xu: align.cos / k,
            yu: align.sin / k,
            xv: -align.sin / k,
            yv: align.cos / k,
        }
    }

    /// The same map from a grid `sx` by `sy` times coarser than its output (grid pixel `i`
    /// covers output pixels from `i * s`; its centre is at output `(i + 0.5) * s - 0.5`).
    pub fn coarsened(&self, sx: f32, sy: f32) -> Affine {
        Affine {
            x0: self.x0 + (0.5 * sx - 0.5) * self.xu + (0.5 * sy - 0.5) * self.xv,
            y0: self.y0 + (0.5 * sx - 0.5) * self.yu + (0.5 * sy - 0.5) * self.yv,
            xu: self.xu * sx,
            yu: self.yu * sx,
            xv: self.xv * sy,
            yv: self.yv * sy,
        }
    }

    /// The same map onto a copy of the source resized by (`sx`, `sy`).
    pub fn onto_resized(&self, sx: f32, sy: f32) -> Affine {
        // index' = (index + 0.5) * s - 0.5
        Affine {
            x0: (self.x0 + 0.5) * sx - 0.5,
            y0: (self.y0 + 0.5) * sy - 0.5,
            xu: self.xu * sx,
            yu: self.yu * sy,
            xv: self.xv * sx,
            yv: self.yv * sy,
        }
    }
}

/// `face` seen through a similarity map (rotation and scale `k`): landmarks mapped, the box
/// re-centred on its mapped centre with its sides scaled by `k`.
pub fn map_face(face: &Face, k: f32, to_output: impl Fn(Point) -> Point) -> Face {
    let b = face.bbox;
    let c = to_output(b.center());
    let (w, h) = (b.width * k, b.height * k);
    Face {
        bbox: BoundingBox {
            x: c.x - w / 2.0,
            y: c.y - h / 2.0,
            width: w,
            height: h,
        },
        score: face.score,
        landmarks: Landmarks::from_array(face.landmarks.to_array().map(&to_output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn landmarks(roll_deg: f32) -> Landmarks {
        let a = roll_deg.to_radians();
        let rot = |x: f32, y: f32| {
            Point::new(
                100.0 + x * a.cos() - y * a.sin(),
                100.0 + x * a.sin() + y * a.cos(),
            )
        };
        Landmarks::from_array([
            rot(-20.0, 0.0),
            rot(20.0, 0.0),
            rot(0.0, 18.0),
            rot(-16.0, 36.0),
            rot(16.0, 36.0),
        ])
    }

    #[test]
    fn alignment_levels_the_eyes_and_round_trips() {
        let l = landmarks(17.0);
        let align = Align::from_landmarks(&l);
        assert!((align.roll_degrees() - 17.0).abs() < 1e-3);
        let (le, re) = (align.to_aligned(l.left_eye), align.to_aligned(l.right_eye));
        assert!((le.y - re.y).abs() < 1e-3 && (re.x - le.x - 40.0).abs() < 1e-3);
        let p = Point::new(3.0, -7.0);
        let back = align.to_aligned(align.to_source(p));
        assert!((back.x - p.x).abs() < 1e-4 && (back.y - p.y).abs() < 1e-4);
    }

    #[test]
    fn frontal_face_has_no_yaw_and_a_turned_one_has() {
        let l = landmarks(0.0);
        let align = Align::from_landmarks(&l);
        let aligned = l.to_array().map(|p| align.to_aligned(p));
        assert!(yaw_degrees(aligned).abs() < 0.5);
        // Turn by 40 degrees: eyes and mouth close up by cos, the nose moves by depth * sin.
        let t = 40f32.to_radians();
        let turned = [
            (-20.0, 0.0),
            (20.0, 0.0),
            (0.0, 18.0),
            (-16.0, 36.0),
            (16.0, 36.0),
        ]
        .map(|(x, y)| {
            let depth = if y == 18.0 { NOSE_DEPTH * 40.0 } else { 0.0 };
            Point::new(x * t.cos() + depth * t.sin(), y)
        });
        assert!(
            (yaw_degrees(turned) - 40.0).abs() < 1.0,
            "{}",
            yaw_degrees(turned)
        );
    }

    #[test]
    fn affine_onto_resized_maps_pixel_centres() {
        let a = Affine {
            x0: 10.0,
            y0: 20.0,
            xu: 2.0,
            yu: 0.0,
            xv: 0.0,
            yv: 2.0,
        };
        let half = a.onto_resized(0.5, 0.5);
        // Source index 10 is the centre of pixel 10: at half size it is 10.5 * 0.5 - 0.5 = 4.75.
        assert_eq!(half.apply(0.0, 0.0), (4.75, 9.75));
        assert_eq!(half.footprint(), 1.0);
    }
}
