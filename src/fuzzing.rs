//! Entry points of the fuzz targets in `fuzz/`: each takes arbitrary bytes and runs what the
//! service runs on input from outside, and must return without panicking. `cargo test` replays
//! the committed corpora and the inputs that once failed through the same functions
//! (`bots/tests/fuzz_replay.rs`), so CI checks them without a fuzzer.

use std::collections::HashMap;

use crate::command::{Action, Command};
use crate::config::Config;
use crate::models::{Generator, IntakeError};

/// Chat text, captions and button data: every line as typed text or a caption, the whole
/// input as Discord's or Telegram's (name, arguments) pair and as button data. What parses as
/// an action encodes back to data that decodes to the same action.
pub fn command(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().chain([text.as_ref()]) {
        let _ = Command::parse(line);
    }
    let (name, args) = text.split_once(' ').unwrap_or((&text, ""));
    let _ = Command::from_parts(name, args);
    if let Some(action) = Action::decode(&text) {
        let encoded = action.encode();
        assert_eq!(Action::decode(&encoded).as_ref(), Some(&action), "{encoded:?}");
    }
}

/// The configuration: the TOML file, and after a NUL byte `KEY=value` lines as the
/// environment. A configuration that loads must hold the limits its validation promises.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, env) = text.split_once('\0').unwrap_or((&text, ""));
    let env: HashMap<String, String> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(config) = Config::load(Some(file), &env) {
        assert!(config.web.max_connections >= 4);
        let _ = config.decode_limits();
    }
}

/// One upload through the generator's intake (decode, checks, face detection and framing), and
/// the refusal text the user would get: never empty, never a panic.
pub fn intake(generator: &dyn Generator, data: &[u8]) {
    if let Err(e) = generator.intake(data) {
        let text = crate::text::intake_refusal(&e);
        assert!(!text.trim().is_empty(), "{e:?}");
        assert!(!matches!(e, IntakeError::Internal(_)), "an internal error: {e:?}");
    }
}
