//! Any bytes as an uploaded selfie: decode, checks, face detection, framing, refusal text.
#![no_main]
use std::sync::LazyLock;

use headshot::models::Studio;

static STUDIO: LazyLock<Studio> = LazyLock::new(|| {
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/weights");
    Studio::load(Some(&weights), headshot::Config::default_for_laptop().decode_limits()).unwrap()
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| headshot::fuzzing::intake(&*STUDIO, data));
