//! Vision model timings on this machine: face detection at two photo sizes
//! (long side resized to 640 either way) and person segmentation.
//!
//! Run with `cargo bench -p headshot-models --bench vision`; compare with
//! `models/tools/bench_ort.py` (onnxruntime on the same inputs).
// criterion's macros generate undocumented public functions.

use candle_core::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headshot_models::vision::{DetectorConfig, FaceDetector, Segmenter, SegmenterConfig, Weights};
use image::RgbImage;
use image::imageops::{self, FilterType};

fn photo(side: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/astronaut.png");
    let image = image::open(path).expect("fixture photo").to_rgb8();
    imageops::resize(&image, side, side, FilterType::Triangle)
}

fn detection(c: &mut Criterion) {
    let weights = Weights::load_default().expect("weights");
    let detector = FaceDetector::new(&weights, DetectorConfig::default(), &Device::Cpu).expect("detector");
    let mut group = c.benchmark_group("detect");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    let network_input = photo(640);
    group.bench_function("network 640x640", |b| {
        b.iter(|| detector.head_outputs(&network_input).expect("network"))
    });
    for side in [512, 1024] {
        let image = photo(side);
        group.bench_function(format!("{side}x{side}"), |b| {
            b.iter(|| detector.detect(&image).expect("detect"))
        });
    }
    group.finish();
}

fn segmentation(c: &mut Criterion) {
    let weights = Weights::load_default().expect("weights");
    let segmenter = Segmenter::new(&weights, SegmenterConfig::default(), &Device::Cpu).expect("segmenter");
    let mut group = c.benchmark_group("segment");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    let network_input = photo(256);
    group.bench_function("network 256x256", |b| {
        b.iter(|| segmenter.network_mask(&network_input).expect("segment"))
    });
    for side in [512, 1024] {
        let image = photo(side);
        group.bench_function(format!("refined {side}x{side}"), |b| {
            b.iter(|| segmenter.segment(&image).expect("segment"))
        });
    }
    group.finish();
}

criterion_group!(benches, detection, segmentation);
criterion_main!(benches);
