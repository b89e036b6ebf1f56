//! Numbers checked against the original runtimes (fixtures made by
//! `models/tools/reference.py`: onnxruntime for RetinaFace, MediaPipe 0.10.14
//! for selfie segmentation).

use crate::common;

use common::{image_from_tensor, max_abs_diff, tensors};
use headshot_models::vision::decode::decode;
use headshot_models::vision::{DetectorConfig, Face, SegmenterConfig};

const CASES: [&str; 2] = ["astronaut", "grace_hopper"];

/// A face as the fixtures store it: x1, y1, x2, y2, score, 5 x (x, y).
fn as_row(face: &Face) -> Vec<f32> {
    let b = face.bbox;
    let mut row = vec![b.x, b.y, b.right(), b.bottom(), face.score];
    for p in face.landmarks.to_array() {
        row.extend([p.x, p.y]);
    }
    row
}

fn assert_faces_match(ours: &[Face], reference: &[Vec<f32>], case: &str) {
    assert_eq!(ours.len(), reference.len(), "{case}: face count");
    for (face, expected) in ours.iter().zip(reference) {
        let row = as_row(face);
        for (k, (a, b)) in row.iter().zip(expected).enumerate() {
            let tolerance = if k == 4 { 1e-3 } else { 1.0 };
            assert!(
                (a - b).abs() <= tolerance,
                "{case}: value {k} is {a}, reference {b}"
            );
        }
    }
}

#[test]
fn retinaface_head_outputs_match_onnxruntime() {
    let detector = common::default_detector();
    let fixture = tensors("retinaface_parity.safetensors");
    for case in CASES {
        let image = image_from_tensor(&fixture[&format!("{case}.image")]);
        let ours = detector.head_outputs(&image).unwrap();
        for (name, tensor) in [
            ("loc", &ours.loc),
            ("conf", &ours.conf),
            ("landmarks", &ours.landmarks),
        ] {
            let diff = max_abs_diff(tensor, &fixture[&format!("{case}.{name}")]);
            eprintln!("{case}.{name}: max abs diff {diff:e}");
            assert!(diff <= 1e-3, "{case}.{name}: max abs diff {diff}");
        }
    }
}

#[test]
fn retinaface_decoding_matches_the_reference() {
    let detector = common::default_detector();
    let fixture = tensors("retinaface_parity.safetensors");
    for case in CASES {
        let image = image_from_tensor(&fixture[&format!("{case}.image")]);
        let (w, h) = image.dimensions();
        let faces = decode(
            &detector.head_outputs(&image).unwrap(),
            w as usize,
            h as usize,
            0.5,
            0.4,
        )
        .unwrap();
        let reference = fixture[&format!("{case}.faces")].to_vec2::<f32>().unwrap();
        assert_faces_match(&faces, &reference, case);
    }
}

#[test]
fn detector_at_native_size_matches_the_reference() {
    let config = DetectorConfig {
        long_side: None,
        score_threshold: 0.5,
        nms_threshold: 0.4,
    };
    let detector = common::detector(config);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::fixture("retinaface_native.json")).unwrap()).unwrap();
    for (file, case) in json.as_object().unwrap() {
        let reference: Vec<Vec<f32>> = serde_json::from_value(case["faces"].clone()).unwrap();
        let faces = detector.detect(&common::photo(file)).unwrap();
        assert_faces_match(&faces, &reference, file);
    }
}

#[test]
fn selfie_mask_matches_mediapipe() {
    let segmenter = common::segmenter(SegmenterConfig::default());
    let fixture = tensors("selfie_parity.safetensors");
    for case in CASES {
        let image = image_from_tensor(&fixture[&format!("{case}.image")]);
        let ours = segmenter.network_mask(&image).unwrap();
        let reference = fixture[&format!("{case}.mask")]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let diffs: Vec<f32> = ours
            .values()
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let max = diffs.iter().cloned().fold(0.0, f32::max);
        eprintln!(
            "{case}: mask mean abs diff {mean:e}, max {max:e}, coverage {}",
            ours.coverage()
        );
        assert!(mean <= 0.01, "{case}: mask mean abs diff {mean}");
    }
}
