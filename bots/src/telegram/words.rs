//! The few user-facing strings of the Telegram adapter (everything else comes from
//! [`headshot::text`]) and the command menu registered with `setMyCommands`.

/// The command menu: name and description (shared by every front end).
pub use headshot::text::COMMANDS;

/// A download from Telegram failed.
pub fn download_failed() -> String {
    "I couldn't download that photo from Telegram. Please send it again.".into()
}
