//! Vision model timings on this machine: face detection at two photo sizes
//! (long side resized to 640 either way), person segmentation and the face descriptor
//! (the network on a 150x150 chip, and with the chip's alignment from a photo).
//!
//! Run with `cargo bench -p headshot-models --bench vision`; compare with
//! `models/tools/bench_ort.py` (onnxruntime on the same inputs).
// criterion's macros generate undocumented public functions.

use candle_core::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headshot_models::vision::{
    DetectorConfig, FaceDescriptor, FaceDetector, Segmenter, SegmenterConfig, Weights,
};
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

fn descriptor(c: &mut Criterion) {
    let weights = Weights::load_default().expect("weights");
    let net = FaceDescriptor::new(&weights, &Device::Cpu).expect("descriptor");
    let detector = FaceDetector::new(&weights, DetectorConfig::default(), &Device::Cpu).expect("detector");
    let image = photo(512);
    let face = detector.detect(&image).expect("detect")[0];
    let chip = headshot_models::vision::descriptor::align(&image, &face.landmarks);
    let mut group = c.benchmark_group("descriptor");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    group.bench_function("network 150x150", |b| {
        b.iter(|| net.describe_chip(&chip).expect("describe"))
    });
    group.bench_function("aligned from 512x512", |b| {
        b.iter(|| net.describe(&image, &face.landmarks).expect("describe"))
    });
    group.finish();
}

criterion_group!(benches, detection, segmentation, descriptor);
criterion_main!(benches);
