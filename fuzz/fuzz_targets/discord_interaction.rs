//! Discord interactions to the core's events.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| headshot_bots::fuzzing::discord_interaction(data));
