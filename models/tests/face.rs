//! Face detection behaviour on real photos and on edited copies of them.

use crate::common;

use common::{default_detector, photo, rotate, rotate_point};
use headshot_models::vision::{BoundingBox, Face};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// Eyes above the nose above the mouth, left before right, all in the box.
fn assert_plausible(face: &Face, what: &str) {
    let l = face.landmarks;
    for (name, p) in [
        ("left eye", l.left_eye),
        ("right eye", l.right_eye),
        ("nose", l.nose),
        ("mouth left", l.mouth_left),
        ("mouth right", l.mouth_right),
    ] {
        assert!(
            face.bbox.contains(p),
            "{what}: {name} {p:?} outside {:?}",
            face.bbox
        );
    }
    assert!(l.left_eye.x < l.right_eye.x, "{what}: eyes swapped {l:?}");
    assert!(
        l.mouth_left.x < l.mouth_right.x,
        "{what}: mouth corners swapped {l:?}"
    );
    let eyes_y = l.left_eye.y.max(l.right_eye.y);
    let mouth_y = l.mouth_left.y.min(l.mouth_right.y);
    assert!(
        eyes_y < l.nose.y && l.nose.y < mouth_y,
        "{what}: eyes/nose/mouth order {l:?}"
    );
    assert!(face.score > 0.9, "{what}: score {}", face.score);
}

fn single_face(image: &RgbImage, what: &str) -> Face {
    let faces = default_detector().detect(image).unwrap();
    assert_eq!(faces.len(), 1, "{what}: {faces:?}");
    faces[0]
}

/// The astronaut's face as the detector sees it at the photo's own size.
const ASTRONAUT_FACE: BoundingBox = BoundingBox {
    x: 178.0,
    y: 57.0,
    width: 95.0,
    height: 120.0,
};

#[test]
fn portraits_have_exactly_one_plausible_face() {
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let face = single_face(&photo(name), name);
        assert_plausible(&face, name);
    }
    let face = single_face(&photo("astronaut.png"), "astronaut");
    assert!(face.bbox.iou(&ASTRONAUT_FACE) > 0.8, "{:?}", face.bbox);
}

#[test]
fn a_cat_and_a_coffee_cup_have_no_face() {
    for name in ["chelsea.png", "coffee.png"] {
        let faces = default_detector().detect(&photo(name)).unwrap();
        assert!(faces.is_empty(), "{name}: {faces:?}");
    }
}

#[test]
fn two_photos_side_by_side_give_two_faces() {
    let left = photo("astronaut.png");
    let right = imageops::resize(&photo("grace_hopper.jpg"), 437, 512, FilterType::Triangle);
    let mut canvas = RgbImage::new(left.width() + right.width(), 512);
    imageops::replace(&mut canvas, &left, 0, 0);
    imageops::replace(&mut canvas, &right, i64::from(left.width()), 0);
    let mut faces = default_detector().detect(&canvas).unwrap();
    assert_eq!(faces.len(), 2, "{faces:?}");
    faces.sort_by(|a, b| a.bbox.x.total_cmp(&b.bbox.x));
    assert!(faces[0].bbox.right() < left.width() as f32);
    assert!(faces[1].bbox.x > left.width() as f32);
    for face in &faces {
        assert_plausible(face, "side by side");
    }
}

/// The astronaut shrunk so her face is about `face_px` wide, pasted at
/// (`at`, `at`) on a grey canvas of `canvas` pixels; returns the image and
/// where the face is.
fn small_face(face_px: f32, canvas: u32, at: u32) -> (RgbImage, BoundingBox) {
    let scale = face_px / ASTRONAUT_FACE.width;
    let side = (512.0 * scale).round() as u32;
    let small = imageops::resize(&photo("astronaut.png"), side, side, FilterType::Triangle);
    let mut image = RgbImage::from_pixel(canvas, canvas, Rgb([128, 128, 128]));
    imageops::replace(&mut image, &small, i64::from(at), i64::from(at));
    let f = ASTRONAUT_FACE;
    let expected = BoundingBox {
        x: at as f32 + f.x * scale,
        y: at as f32 + f.y * scale,
        width: f.width * scale,
        height: f.height * scale,
    };
    (image, expected)
}

#[test]
fn a_forty_pixel_face_is_found_where_it_is() {
    let (image, expected) = small_face(40.0, 640, 300);
    let face = single_face(&image, "40 px face");
    assert!(face.bbox.iou(&expected) > 0.5, "{:?} vs {expected:?}", face.bbox);
    assert!(face.bbox.width < 60.0, "reported size {:?}", face.bbox);
}

#[test]
fn a_tiny_face_in_a_big_photo_is_missed_or_placed_right() {
    // Long side 1600 -> 640: the 40 px face reaches the network at 16 px.
    let (image, expected) = small_face(40.0, 1600, 900);
    for face in default_detector().detect(&image).unwrap() {
        assert!(
            face.bbox.iou(&expected) > 0.3,
            "misplaced {face:?}, face at {expected:?}"
        );
    }
}

#[test]
fn faces_rolled_thirty_degrees_are_found() {
    let original = photo("astronaut.png");
    let (w, h) = original.dimensions();
    let center = ASTRONAUT_FACE.center();
    for degrees in [-30.0f32, 30.0] {
        let face = single_face(&rotate(&original, degrees), &format!("rolled {degrees}"));
        let (ex, ey) = rotate_point(center.x, center.y, w, h, degrees);
        let c = face.bbox.center();
        assert!(
            (c.x - ex).hypot(c.y - ey) < 25.0,
            "rolled {degrees}: centre {c:?}, expected ({ex}, {ey})"
        );
        let roll = face.landmarks.roll_degrees();
        assert!(
            (roll - degrees).abs() < 10.0,
            "rolled {degrees}: landmarks say {roll}"
        );
    }
}

#[test]
fn any_size_is_accepted_and_empty_images_are_refused() {
    let detector = default_detector();
    for (w, h) in [(1, 1), (7, 13), (2000, 3), (3, 1999)] {
        let image = RgbImage::from_pixel(w, h, Rgb([90, 120, 150]));
        assert!(detector.detect(&image).unwrap().is_empty(), "{w}x{h}");
    }
    let err = detector.detect(&RgbImage::new(0, 5)).unwrap_err();
    assert!(
        matches!(err, headshot_models::vision::VisionError::EmptyImage { .. }),
        "{err}"
    );
}
