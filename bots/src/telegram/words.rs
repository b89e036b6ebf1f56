//! The few user-facing strings of the Telegram adapter (everything else comes from
//! [`headshot::text`]) and the command menu registered with `setMyCommands`.

/// The command menu: name and description.
pub const COMMANDS: [(&str, &str); 12] = [
    ("start", "Start and see how it works"),
    ("help", "How to use the bot"),
    ("styles", "Pick a style"),
    ("settings", "Mode, crop, variants and delivery"),
    ("status", "Where your headshot is in the queue"),
    ("cancel", "Cancel your waiting headshots"),
    ("redo", "Run your last selfie again"),
    ("background", "Set the background"),
    ("quota", "How many headshots you have left today"),
    ("privacy", "What is stored and for how long"),
    ("forget", "Delete everything about you"),
    ("agree", "Agree to the processing of your photo"),
];

/// A download from Telegram failed.
pub fn download_failed() -> String {
    "I couldn't download that photo from Telegram. Please send it again.".into()
}
