//! The TOML configuration and its environment overrides.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| headshot::fuzzing::config(data));
