//! Studio pipeline timings: the whole `generate` (corporate style, both framings, JPEG) and
//! each stage on its own, for a 512x512 selfie and a 12-megapixel one (the astronaut enlarged
//! to 4000x4000 and cut to 4000x3000, sent as a JPEG like a phone photo). Intake is measured
//! too, since it runs on every upload.
//!
//! Run with `cargo bench -p headshot-models --bench studio`. Targets on a 2-core machine:
//! 300 ms at 512x512, 1.5 s at 12 MP.
// criterion's macros generate undocumented public functions.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use headshot_models::decode::{DecodeLimits, decode, encode_jpeg, encode_png};
use headshot_models::studio::{LightPlan, Matting, Studio, Variation, checklist, compose, framings};
use headshot_models::{Catalog, Crop, Generator, Request};
use image::RgbImage;
use image::imageops::{self, FilterType};

fn astronaut() -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/astronaut.png");
    image::open(path).expect("fixture photo").to_rgb8()
}

/// The 12-megapixel selfie: 4000x3000, head and shoulders like a phone portrait.
fn twelve_megapixels() -> Vec<u8> {
    let big = imageops::resize(&astronaut(), 4000, 4000, FilterType::CatmullRom);
    encode_jpeg(&imageops::crop_imm(&big, 0, 0, 4000, 3000).to_image(), 92)
}

fn bench_selfie(group: &mut BenchmarkGroup<'_, WallTime>, studio: &Studio, upload: &[u8]) {
    let catalog = Catalog::builtin();
    let style = catalog.default_style().clone();
    let limits = DecodeLimits::default();
    let image = decode(upload, &limits).expect("decodes").image;
    group.throughput(Throughput::Elements(u64::from(image.width() * image.height())));
    group.bench_function("intake", |b| b.iter(|| studio.intake(upload).expect("accepted")));
    let clean = studio.intake(upload).expect("accepted").clean;
    let request = Request {
        selfies: vec![clean.clone()],
        primary: 0,
        stem: "bench".into(),
        style: style.clone(),
        crop: Crop::Both,
        variants: 1,
        first_variant: 1,
        seed: 0,
    };
    let never = AtomicBool::new(false);
    group.bench_function("generate", |b| {
        b.iter(|| studio.generate(&request, &mut |_| {}, &never).expect("generates"))
    });

    // The stages, in pipeline order, each on the previous stage's result.
    group.bench_function("stage 1 decode", |b| {
        b.iter(|| decode(&clean, &limits).expect("decodes"))
    });
    group.bench_function("stage 2 detect", |b| {
        b.iter(|| studio.inspect(&image).expect("face"))
    });
    let subject = studio.inspect(&image).expect("face");
    group.bench_function("stage 3 segment", |b| {
        b.iter(|| studio.segment(&image, &subject).expect("mask"))
    });
    let person = studio.segment(&image, &subject).expect("mask");
    let both = framings(Crop::Both);
    group.bench_function("stage 4 frame (both)", |b| {
        b.iter(|| studio.scenes(&image, &subject, &person, &both).expect("frames"))
    });
    let other = Matting::default().alternative();
    group.bench_function(format!("stage 4 frame (both, {other:?} matting)"), |b| {
        b.iter(|| {
            studio
                .scenes_with(&image, &subject, &person, &both, other)
                .expect("frames")
        })
    });
    let scenes = studio.scenes(&image, &subject, &person, &both).expect("frames");
    let variation = Variation::of(1);
    let plan = LightPlan::estimate(&subject, style.lighting, &variation);
    group.bench_function("stage 5 light (both)", |b| {
        b.iter(|| scenes.iter().map(|s| plan.apply(s)).collect::<Vec<_>>())
    });
    let lit: Vec<RgbImage> = scenes.iter().map(|s| plan.apply(s)).collect();
    group.bench_function("stage 6 backdrop (both)", |b| {
        b.iter(|| {
            scenes
                .iter()
                .zip(&lit)
                .map(|(s, l)| compose(s, l, &style, &variation))
                .collect::<Vec<_>>()
        })
    });
    let pictures: Vec<RgbImage> = scenes
        .iter()
        .zip(&lit)
        .map(|(s, l)| compose(s, l, &style, &variation))
        .collect();
    group.bench_function("stage 7 check (both)", |b| {
        b.iter(|| {
            scenes
                .iter()
                .zip(&pictures)
                .map(|(s, p)| checklist::measure(s, p, style.mode))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("stage 8 encode (both)", |b| {
        b.iter(|| {
            pictures
                .iter()
                .map(|p| studio.format().encode(p))
                .collect::<Vec<_>>()
        })
    });
}

fn studio_pipeline(c: &mut Criterion) {
    let studio = Studio::load(None, DecodeLimits::default()).expect("run models/fetch.sh");
    {
        let mut group = c.benchmark_group("studio 512x512");
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        bench_selfie(&mut group, &studio, &encode_png(&astronaut()));
        group.finish();
    }
    let mut group = c.benchmark_group("studio 12MP");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    bench_selfie(&mut group, &studio, &twelve_megapixels());
    group.finish();
}

criterion_group!(benches, studio_pipeline);
criterion_main!(benches);
