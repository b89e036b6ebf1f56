//! The chat-neutral model: who is talking, where, what they sent, what we answer, and the
//! port that each platform adapter (Telegram, Discord, web) implements.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::address::{ChatRef, MessageId, Platform, UserKey};
use crate::command::Action;

/// One uploaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The bytes as received.
    pub bytes: Vec<u8>,
    /// File name if the platform gave one (used for output names).
    pub file_name: Option<String>,
    /// The platform message id that carried it.
    pub message_id: Option<String>,
}

/// What a user did, already translated from platform terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command, parsed at the edge ([`crate::Command::parse`]).
    Command(crate::command::Command),
    /// One photo, an album, or images sent as files; all are one job.
    Photos {
        /// The images, in the order sent.
        uploads: Vec<Upload>,
        /// Caption, which may carry a command (`/style creative`).
        caption: Option<String>,
    },
    /// A button press with its data.
    Button {
        /// The button's data string.
        data: String,
    },
    /// Plain text that is not a command.
    Text(String),
    /// Anything else (sticker, voice, non-image file): described for the hint.
    Other(String),
}

/// An inbound event with its sender and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Who.
    pub user: UserKey,
    /// Where; answers go here.
    pub chat: ChatRef,
    /// What.
    pub event: Event,
}

/// A button: a label and the data it sends back (at most 64 bytes, Telegram's limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// Shown text.
    pub label: String,
    /// Returned in [`Event::Button`].
    pub data: String,
}

impl Button {
    /// A button that sends `action` back when pressed.
    pub fn new(label: &str, action: &Action) -> Button {
        Button {
            label: label.to_string(),
            data: action.encode(),
        }
    }
}

/// An image or file to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name shown to the user.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Pixel width (0 for non-images).
    pub width: u32,
    /// Pixel height (0 for non-images).
    pub height: u32,
}

/// Something the core asks a front end to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// Text with optional rows of buttons. The returned id can be edited (status messages).
    Text {
        text: String,
        /// Rows of buttons.
        buttons: Vec<Vec<Button>>,
    },
    /// Photos as one album, caption on the first.
    Album {
        /// The photos (at most [`Limits::album_max`]).
        photos: Vec<Attachment>,
        /// Caption (at most [`Limits::caption_max`] characters).
        caption: String,
    },
    /// Files sent as documents (full quality).
    Files {
        files: Vec<Attachment>,
        /// Caption for the first file.
        caption: Option<String>,
    },
    /// A chat action such as "uploading a photo".
    Action(ChatAction),
}

/// A transient chat action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatAction {
    /// Uploading photos.
    UploadPhoto,
    /// Typing.
    Typing,
}

/// A platform's limits, which the core respects when it builds messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest photo sent as a photo; larger ones go as files.
    pub photo_bytes: usize,
    /// Largest file.
    pub file_bytes: usize,
    /// Largest width + height of a photo; larger ones go as files.
    pub photo_dimensions: u32,
    /// Longest caption, in characters.
    pub caption_max: usize,
    /// Longest text message, in characters.
    pub text_max: usize,
    /// Most photos in one album.
    pub album_max: usize,
    /// Minimum interval between edits of one message.
    pub edit_interval: Duration,
    /// Photos reach the user as sent (no recompression), so full-quality files after the
    /// album would only repeat them (Discord, web).
    pub photos_are_originals: bool,
}

impl Limits {
    /// Telegram's limits (`docs/platforms.md`).
    pub const TELEGRAM: Limits = Limits {
        photo_bytes: 10 * 1024 * 1024,
        file_bytes: 50 * 1024 * 1024,
        photo_dimensions: 10_000,
        caption_max: 1024,
        text_max: 4096,
        album_max: 10,
        edit_interval: Duration::from_secs(1),
        photos_are_originals: false,
    };
    /// The local web chat: the browser shows any size; edits are cheap.
    pub const WEB: Limits = Limits {
        photo_bytes: 50 * 1024 * 1024,
        file_bytes: 50 * 1024 * 1024,
        photo_dimensions: 20_000,
        caption_max: 4000,
        text_max: 8000,
        album_max: 10,
        edit_interval: Duration::from_millis(250),
        photos_are_originals: true,
    };
    /// Discord's default limits.
    pub const DISCORD: Limits = Limits {
        photo_bytes: 10 * 1024 * 1024,
        file_bytes: 10 * 1024 * 1024,
        photo_dimensions: 20_000,
        caption_max: 2000,
        text_max: 2000,
        album_max: 10,
        edit_interval: Duration::from_secs(1),
        photos_are_originals: true,
    };
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (429, 5xx, timeout); `retry_after` when the platform said how long.
    #[error("transient send failure: {detail}")]
    Transient {
        /// Wait this long if the platform said so.
        retry_after: Option<Duration>,
        /// For logs.
        detail: String,
    },
    /// Retrying cannot help (the user blocked the bot, the chat is gone, forbidden).
    #[error("permanent send failure: {0}")]
    Permanent(String),
}

/// The port each platform adapter implements.
#[async_trait]
pub trait FrontEnd: Send + Sync + 'static {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// The platform's limits.
    fn limits(&self) -> Limits;

    /// Sends a message; returns the id of the (first) message created, if any.
    async fn send(&self, chat: &ChatRef, message: Outbound) -> Result<Option<MessageId>, SendError>;

    /// Replaces the text (and buttons) of a message sent earlier.
    async fn edit(
        &self,
        chat: &ChatRef,
        message: &MessageId,
        text: &str,
        buttons: Vec<Vec<Button>>,
    ) -> Result<(), SendError>;
}
