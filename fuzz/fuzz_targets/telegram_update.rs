//! Telegram updates (webhook bodies, polled updates) to the core's events.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| headshot_bots::fuzzing::telegram_update(data));
