//! The fuzz targets' entry points in this crate, beside the core's
//! ([`headshot::fuzzing`]): Telegram updates, Discord interactions and the web chat's
//! requests. `fuzz/` runs them under libFuzzer; `bots/tests/fuzz_replay.rs` replays the
//! committed corpora and regressions through them.

pub use crate::discord::fuzz_interaction as discord_interaction;
pub use crate::telegram::fuzz_update as telegram_update;
pub use crate::web::{FUZZ_BROWSER, fuzz_request as web_request};
