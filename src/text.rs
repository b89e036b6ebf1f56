//! Every word the bot says to users, in one place (one tone, ready for translation).

use std::time::Duration;

use headshot_models::{Catalog, DecodeError, IntakeError, Style};

use crate::config::Config;
use crate::job::Settings;

/// The command menu of every front end: name and description.
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

/// Welcome text of `/start`.
pub fn welcome() -> String {
    "Hi! I turn your selfies into professional headshots, right here in this chat.\n\
     Send me a well-lit selfie, facing the camera. Pick a look with /styles first if you like.\n\
     /help lists everything I can do."
        .into()
}

/// The consent request shown before the first job.
pub fn consent(config: &Config) -> String {
    format!(
        "Before I start: please send only photos of yourself. I keep your selfies for {} and your \
         headshots for {}, then delete them; /forget deletes everything at once, any time. \
         Nothing leaves this server.\nPress \"I agree\" (or type /agree) to continue.",
        human(config.retention.selfies),
        human(config.retention.results)
    )
}

/// Label of the consent button.
pub const AGREE_BUTTON: &str = "I agree";
/// Label of the decline button.
pub const DECLINE_BUTTON: &str = "No thanks";

/// After agreeing.
pub fn agreed(pending: usize) -> String {
    if pending > 0 {
        "Thanks! Starting on the selfie you sent.".into()
    } else {
        "Thanks! Send me a selfie whenever you are ready.".into()
    }
}

/// After declining.
pub fn declined() -> String {
    "No problem. I deleted the photo you sent. Type /start if you change your mind.".into()
}

/// `/help`.
pub fn help() -> String {
    "Send a selfie (or several at once) and I'll reply with headshots.\n\
     /styles - pick a look\n/style NAME - set the look\n/background white|grey|gradient|blur|dark|#rrggbb\n\
     /mode headshot|portrait\n/crop 4:5|1:1|both\n/variants 1-4\n/settings - your choices\n\
     /status - queue position and ETA\n/cancel - stop your jobs\n/redo [STYLE] - same selfie, new take\n\
     /quota - what you have left today\n/privacy - what I keep and for how long\n/forget - delete everything I hold about you"
        .into()
}

/// `/styles` header.
pub fn styles_header() -> String {
    "Pick a style (headshots first, then portraits):".into()
}

/// One line per style, for clients without buttons.
pub fn style_lines(catalog: &Catalog) -> String {
    catalog
        .styles()
        .iter()
        .map(|s| format!("{} ({}) - {}", s.name, s.mode, s.description))
        .collect::<Vec<_>>()
        .join("\n")
}

/// After `/style NAME`.
pub fn style_set(style: &Style) -> String {
    format!("Style set to {}: {}", style.title, style.description)
}

/// Unknown style name.
pub fn unknown_style(name: &str, catalog: &Catalog) -> String {
    let names: Vec<&str> = catalog.styles().iter().map(|s| s.name.as_str()).collect();
    format!(
        "I don't know the style \"{name}\". Try one of: {}.",
        names.join(", ")
    )
}

/// A setting changed.
pub fn setting_set(what: &str, value: &str) -> String {
    format!("{what} set to {value}.")
}

/// A setting value not understood.
pub fn bad_value(command: &str, expected: &str) -> String {
    format!("/{command} takes {expected}.")
}

/// `/settings`.
pub fn settings(s: &Settings, style: &Style) -> String {
    format!(
        "Your settings:\nstyle: {} ({})\nbackground: {}\nmode: {}\ncrop: {}\nvariants: {}\ndelivery: {}",
        style.name,
        style.title,
        s.background.as_deref().unwrap_or("style default"),
        s.mode,
        s.crop.map_or_else(
            || format!("{} (style default)", style.default_crop),
            |c| c.to_string()
        ),
        s.variants,
        if s.private_delivery {
            "private chat"
        } else {
            "this chat"
        },
    )
}

/// Status while queued.
pub fn queued(position: usize, eta: Option<Duration>) -> String {
    format!("Queued: position {position}{}", eta_suffix(eta))
}

/// Status while running.
pub fn running(stage: &str, step: u32, steps: u32, eta: Option<Duration>) -> String {
    let bar = progress_bar(step, steps.max(1), 10);
    format!("Working: {stage} {bar} {step}/{steps}{}", eta_suffix(eta))
}

/// Status when results are on their way.
pub fn done() -> String {
    "Done! Your headshots are below.".into()
}

/// Status when cancelled.
pub fn cancelled_status() -> String {
    "Cancelled.".into()
}

/// `/cancel` reply.
pub fn cancelled(count: usize) -> String {
    match count {
        0 => "You have no job waiting or running.".into(),
        1 => "Cancelled your job.".into(),
        n => format!("Cancelled your {n} jobs."),
    }
}

/// `/status` with nothing going on.
pub fn status_idle() -> String {
    "Nothing in progress. Send a selfie to start.".into()
}

/// Caption of a result album.
pub fn result_caption(style: &Style, engine: &str, checklist: &str, note: Option<&str>) -> String {
    let mut caption = format!("{} ({}, {engine})\n{checklist}", style.title, style.mode);
    if let Some(note) = note {
        caption.push('\n');
        caption.push_str(note);
    }
    caption
}

/// Which selfie of an album was used.
pub fn album_choice(index: usize, total: usize, refused: usize) -> String {
    let mut text = format!(
        "Using photo {} of {total}: the clearest, best-framed one.",
        index + 1
    );
    if refused > 0 {
        text.push_str(&format!(" {refused} could not be used."));
    }
    text
}

/// Buttons under the results.
pub const REROLL_BUTTON: &str = "Reroll";
/// Opens the style picker.
pub const OTHER_STYLE_BUTTON: &str = "Other style";
/// Sends the square crops only.
pub const SQUARE_BUTTON: &str = "Square only";
/// Confirms `/forget`.
pub const FORGET_YES_BUTTON: &str = "Delete everything";
/// Cancels `/forget`.
pub const FORGET_NO_BUTTON: &str = "Keep my data";

/// Text above the result buttons.
pub fn more_options() -> String {
    "Want another take?".into()
}

/// `/forget` confirmation request.
pub fn forget_confirm() -> String {
    "This deletes all your selfies, headshots, settings and job history, and cancels running jobs. Sure?"
        .into()
}

/// After forgetting.
pub fn forgotten() -> String {
    "Done: I deleted everything I held about you.".into()
}

/// `/forget` aborted.
pub fn forget_kept() -> String {
    "Nothing was deleted.".into()
}

/// `/privacy`.
pub fn privacy(config: &Config) -> String {
    format!(
        "What I keep: your selfies (without any photo metadata), the headshots I made, your settings and \
         a record of each job. Selfies are deleted after {}, headshots after {}, job records after {}. \
         Everything stays on this server; nothing is sent to other services. /forget deletes it all now.",
        human(config.retention.selfies),
        human(config.retention.results),
        human(config.retention.jobs)
    )
}

/// `/quota`.
pub fn quota(used: usize, limit: usize, waiting: usize, max_waiting: usize) -> String {
    format!("Today: {used} of {limit} jobs used. Waiting now: {waiting} of {max_waiting}.",)
}

/// Out of daily quota.
pub fn quota_exceeded(limit: usize) -> String {
    format!("You've used all {limit} jobs for today. Try again tomorrow.")
}

/// The user has too many jobs waiting.
pub fn too_many_waiting(max: usize) -> String {
    format!("You already have {max} jobs waiting. Wait for them to finish or /cancel them.")
}

/// The whole queue is full.
pub fn busy() -> String {
    "I'm very busy right now. Please try again in a few minutes.".into()
}

/// The server cannot store new photos now (its disk is short of space, or writing failed).
/// The photo was not taken: nothing is queued.
pub fn cannot_store() -> String {
    "I can't take photos right now: the server is short of storage. Your photo was not saved; \
     please send it again later. Headshots already on their way still arrive."
        .into()
}

/// Intake paused by an admin.
pub fn paused(reason: &str) -> String {
    format!("I'm not taking new photos at the moment: {reason}. Please try again later.")
}

/// Not on the allow-list or banned.
pub fn refused() -> String {
    "Sorry, this bot is private and not available to you.".into()
}

/// Admin-only command used by someone else.
pub fn admin_only() -> String {
    "That command is for the bot's operators.".into()
}

pub fn unknown_command(name: &str) -> String {
    format!("I don't know /{name}. /help lists what I can do.")
}

/// Text that is not a command.
pub fn hint() -> String {
    "Send me a selfie to get headshots, or /help for commands.".into()
}

/// How [`hint_other`] names a non-image upload of MIME type `mime`.
pub fn describe_mime(mime: &str) -> &'static str {
    if mime.starts_with("video/") {
        "a video"
    } else if mime.starts_with("audio/") {
        "audio"
    } else if mime == "application/pdf" {
        "a PDF"
    } else if mime.starts_with("text/") {
        "a text file"
    } else {
        "that kind of file"
    }
}

/// Anything else (stickers, voice, non-image files).
pub fn hint_other(what: &str) -> String {
    format!("I can't use {what}. Send a photo (JPEG, PNG or WebP) of yourself, or /help.")
}

/// `/redo` with no previous job or selfies gone.
pub fn nothing_to_redo() -> String {
    "There's no earlier selfie to redo (it may have expired). Send a new one.".into()
}

/// A job failed for a reason outside the user's control.
pub fn generation_failed() -> String {
    "Sorry, something went wrong while making your headshots. Please try again.".into()
}

/// Every attempt at a picture was flagged by the safety checker: nothing was kept.
pub fn generation_unsafe() -> String {
    "Sorry, these headshots could not be finished, so nothing was kept. Please try another selfie or style."
        .into()
}

pub fn stale_button() -> String {
    "That button is no longer active.".into()
}

/// Why an upload is refused, specifically and kindly.
pub fn intake_refusal(err: &IntakeError) -> String {
    match err {
        IntakeError::Decode(d) => match d {
            DecodeError::Empty => "That file is empty. Please send the photo again.".into(),
            DecodeError::TooLarge { max, .. } => {
                format!(
                    "That file is too large (the limit is {} MB). Send a smaller photo.",
                    max / (1024 * 1024)
                )
            }
            DecodeError::Heic => {
                "That's a HEIC photo, which I can't read. Send it as JPEG (on iPhone: Settings > Camera > \
                 Formats > Most Compatible), or send it as a photo rather than a file."
                    .into()
            }
            DecodeError::NotAnImage => {
                "That isn't a photo I can read. Send a JPEG, PNG or WebP image.".into()
            }
            DecodeError::Animated => "Animated images can't be used. Send a still photo.".into(),
            DecodeError::TooManyPixels { width, height } => {
                format!("That image is {width}x{height} pixels, too large to process. Send a smaller photo.")
            }
            DecodeError::Corrupt(_) => "That image is damaged or incomplete. Please send it again.".into(),
        },
        IntakeError::NoFace => {
            "I couldn't find a face. Send a photo where your face is clearly visible.".into()
        }
        IntakeError::SeveralFaces { count } => {
            format!("I see {count} faces. Send a photo of just you.")
        }
        IntakeError::FaceTooSmall { min, .. } => {
            format!(
                "Your face is too small in this photo (it must be at least {min} pixels tall). Move closer."
            )
        }
        IntakeError::FaceCutOff => {
            "Your face is cut off by the edge of the photo. Include your whole head.".into()
        }
        IntakeError::Blurred { .. } => "This photo is too blurry. Hold still and send a sharper one.".into(),
        IntakeError::TooDark => "This photo is too dark. Face a window or a lamp and try again.".into(),
        IntakeError::BlownOut => "This photo is overexposed. Avoid direct harsh light and try again.".into(),
        IntakeError::TooTight => {
            "This photo is cropped too tightly for a headshot. Step back a little so your \
            shoulders are in the picture, with some space above your head, and try again."
                .into()
        }
        IntakeError::HeadTurned { .. } => {
            "Your head is turned too far. Face the camera and try again.".into()
        }
        IntakeError::Internal(_) => {
            "Sorry, I couldn't check that photo just now. Please send it again.".into()
        }
    }
}

pub fn admin_stats(
    queued: usize,
    running: usize,
    stats: &crate::store::StoreStats,
    paused: Option<&str>,
) -> String {
    format!(
        "queued {queued}, running {running}; users {}, selfies {}, jobs {}, results {}, outbox {}, disk {} KB{}",
        stats.users,
        stats.selfies,
        stats.jobs,
        stats.results,
        stats.outbox,
        stats.disk_bytes / 1024,
        paused
            .map(|r| format!("; intake paused: {r}"))
            .unwrap_or_default()
    )
}

/// Admin: intake paused.
pub fn admin_paused(reason: &str) -> String {
    format!("Intake paused: {reason}")
}

/// Admin: intake resumed.
pub fn admin_resumed() -> String {
    "Intake resumed.".into()
}

/// Admin: ban or unban done.
pub fn admin_banned(user: &str, banned: bool) -> String {
    format!("{user} {}.", if banned { "banned" } else { "unbanned" })
}

/// Admin: how to name a user.
pub fn admin_usage(command: &str, problem: &str) -> String {
    format!("/{command} platform:user-id ({problem})")
}

fn eta_suffix(eta: Option<Duration>) -> String {
    eta.map(|d| format!(" - about {} left", human(d)))
        .unwrap_or_default()
}

/// A text progress bar of `width` cells.
pub fn progress_bar(step: u32, steps: u32, width: usize) -> String {
    let filled = ((step.min(steps) as usize) * width) / steps.max(1) as usize;
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// A duration in words: "40 s", "3 min", "2 h", "7 days".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 90 {
        format!("{} s", s.max(1))
    } else if s < 90 * 60 {
        format!("{} min", s.div_ceil(60))
    } else if s < 48 * 3600 {
        format!("{} h", s.div_ceil(3600))
    } else {
        format!("{} days", s / 86_400)
    }
}
