//! What the face detector reports: a box, a score and five landmarks, in the
//! original photo's pixel coordinates (x to the right, y down, origin at the
//! top-left corner of the top-left pixel).

use serde::{Deserialize, Serialize};

/// A point in pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    /// Distance from the left edge, in pixels.
    pub x: f32,
    /// Distance from the top edge, in pixels.
    pub y: f32,
}

impl Point {
    /// A point at (`x`, `y`).
    pub fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// An axis-aligned rectangle. It may reach past the photo's edges when the
/// face does (a face cut by the frame): callers that crop should clamp.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width in pixels.
    pub width: f32,
    /// Height in pixels.
    pub height: f32,
}

impl BoundingBox {
    /// The box spanning corners (`x1`, `y1`) and (`x2`, `y2`).
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self {
            x: x1,
            y: y1,
            width: x2 - x1,
            height: y2 - y1,
        }
    }

    /// Right edge.
    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    /// The centre point.
    pub fn center(&self) -> Point {
        Point::new(self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Whether `p` lies inside or on the edge.
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.x && p.x <= self.right() && p.y >= self.y && p.y <= self.bottom()
    }

    /// Intersection over union with `other` (0 when disjoint).
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let w = (self.right().min(other.right()) - self.x.max(other.x)).max(0.0);
        let h = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// The five RetinaFace landmarks.
///
/// Left and right are **from the viewer's side** (as the photo is seen): on an
/// upright face `left_eye` is the eye nearer the photo's left edge (the
/// subject's own right eye) and `mouth_left` the mouth corner nearer the left
/// edge. This is the model's own order, so it stays consistent when the head
/// is rolled.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Landmarks {
    /// Centre of the eye on the viewer's left.
    pub left_eye: Point,
    /// Centre of the eye on the viewer's right.
    pub right_eye: Point,
    /// Tip of the nose.
    pub nose: Point,
    /// Mouth corner on the viewer's left.
    pub mouth_left: Point,
    /// Mouth corner on the viewer's right.
    pub mouth_right: Point,
}

impl Landmarks {
    /// The points in model order: left eye, right eye, nose, mouth left, mouth right.
    pub fn to_array(&self) -> [Point; 5] {
        [
            self.left_eye,
            self.right_eye,
            self.nose,
            self.mouth_left,
            self.mouth_right,
        ]
    }

    /// Landmarks from points in model order.
    pub fn from_array(p: [Point; 5]) -> Self {
        Self {
            left_eye: p[0],
            right_eye: p[1],
            nose: p[2],
            mouth_left: p[3],
            mouth_right: p[4],
        }
    }

    /// Head roll in degrees: the angle of the line from the left to the right
    /// eye, positive when the right eye is lower (clockwise on screen).
    pub fn roll_degrees(&self) -> f32 {
        let (dx, dy) = (
            self.right_eye.x - self.left_eye.x,
            self.right_eye.y - self.left_eye.y,
        );
        dy.atan2(dx).to_degrees()
    }
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// The face box (forehead to chin, roughly ear to ear).
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Eyes, nose and mouth corners.
    pub landmarks: Landmarks,
}

impl Face {
    /// The same face with every coordinate multiplied by (`sx`, `sy`), used to
    /// map from the network's resized input back to the photo.
    pub fn scaled(&self, sx: f32, sy: f32) -> Face {
        let p = |p: Point| Point::new(p.x * sx, p.y * sy);
        Face {
            bbox: BoundingBox {
                x: self.bbox.x * sx,
                y: self.bbox.y * sy,
                width: self.bbox.width * sx,
                height: self.bbox.height * sy,
            },
            score: self.score,
            landmarks: Landmarks::from_array(self.landmarks.to_array().map(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_half_overlapping_boxes() {
        let a = BoundingBox::from_corners(0.0, 0.0, 2.0, 2.0);
        let b = BoundingBox::from_corners(1.0, 0.0, 3.0, 2.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BoundingBox::from_corners(5.0, 5.0, 6.0, 6.0)), 0.0);
    }

    #[test]
    fn serialises_with_the_inspect_field_names() {
        let face = Face {
            bbox: BoundingBox::default(),
            score: 0.5,
            landmarks: Landmarks::default(),
        };
        let json = serde_json::to_value(face).unwrap();
        assert!(json["box"]["width"].is_number());
        assert!(json["landmarks"]["mouth_right"]["y"].is_number());
    }

    #[test]
    fn roll_is_clockwise_positive() {
        let l = Landmarks {
            right_eye: Point::new(1.0, 1.0),
            ..Landmarks::default()
        };
        assert!((l.roll_degrees() - 45.0).abs() < 1e-4);
    }
}
