//! Person segmentation behaviour on the portrait photos.

use crate::common;

use common::{default_detector, photo, segmenter};
use headshot_models::vision::SegmenterConfig;

#[test]
fn the_mask_covers_head_and_shoulders_not_the_backdrop() {
    let segmenter = segmenter(SegmenterConfig::default());
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let image = photo(name);
        let (w, h) = image.dimensions();
        let mask = segmenter.segment(&image).unwrap();
        assert_eq!((mask.width(), mask.height()), (w, h));
        assert!(mask.values().iter().all(|v| (0.0..=1.0).contains(v)));
        let face = default_detector().detect(&image).unwrap()[0].bbox;
        let (fx, fy) = (face.x as u32, face.y as u32);
        let (fw, fh) = (face.width as u32, face.height as u32);
        let head = mask.mean_in(fx + fw / 4, fy + fh / 4, fx + 3 * fw / 4, fy + 3 * fh / 4);
        // Shoulders: a band below the chin, as wide as the face.
        let below = fy + fh + fh / 2;
        let shoulders = mask.mean_in(fx, below, fx + fw, below + fh / 4);
        let corner = (w / 10).min(h / 10);
        let top_left = mask.mean_in(0, 0, corner, corner);
        let top_right = mask.mean_in(w - corner, 0, w, corner);
        assert!(head > 0.9, "{name}: head {head}");
        assert!(shoulders > 0.9, "{name}: shoulders {shoulders}");
        assert!(
            top_left < 0.1 && top_right < 0.1,
            "{name}: corners {top_left} {top_right}"
        );
        let coverage = mask.coverage();
        assert!((0.2..0.9).contains(&coverage), "{name}: coverage {coverage}");
    }
}

#[test]
fn refinement_follows_the_photo_without_changing_the_verdict() {
    let image = photo("astronaut.png");
    let plain = segmenter(SegmenterConfig {
        refine: false,
        ..SegmenterConfig::default()
    });
    let refined = segmenter(SegmenterConfig::default());
    let a = plain.segment(&image).unwrap();
    let b = refined.segment(&image).unwrap();
    let n = a.values().len() as f32;
    let mean_diff = a
        .values()
        .iter()
        .zip(b.values())
        .map(|(x, y)| (x - y).abs())
        .sum::<f32>()
        / n;
    assert!(mean_diff > 0.0 && mean_diff < 0.03, "mean change {mean_diff}");
    let flipped = a
        .values()
        .iter()
        .zip(b.values())
        .filter(|(x, y)| (**x > 0.5) != (**y > 0.5))
        .count();
    assert!((flipped as f32) < 0.03 * n, "{flipped} pixels changed side");
}

#[test]
fn any_size_is_segmented_at_full_resolution() {
    let segmenter = segmenter(SegmenterConfig::default());
    let image = image::imageops::resize(
        &photo("grace_hopper.jpg"),
        301,
        97,
        image::imageops::FilterType::Triangle,
    );
    let mask = segmenter.segment(&image).unwrap();
    assert_eq!((mask.width(), mask.height()), (301, 97));
    assert_eq!(mask.to_image().dimensions(), (301, 97));
}

#[test]
fn tiny_images_are_segmented_and_empty_ones_refused() {
    let segmenter = segmenter(SegmenterConfig::default());
    let mask = segmenter.segment(&image::RgbImage::new(1, 1)).unwrap();
    assert_eq!((mask.width(), mask.height()), (1, 1));
    assert!(segmenter.segment(&image::RgbImage::new(4, 0)).is_err());
}
