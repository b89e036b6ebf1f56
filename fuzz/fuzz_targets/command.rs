//! Chat text, captions and button data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| headshot::fuzzing::command(data));
