//! What the adapter keeps with a conversation in the core's `ChatRef::extra`: the interaction
//! token and its age, the requester, and how results should be delivered.

use std::time::Duration;

use headshot::ChatRef;
use serde::{Deserialize, Serialize};

/// Interaction tokens live 15 minutes; stop using them a little earlier.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// What the adapter keeps in [`ChatRef::extra`] for a conversation started by an interaction.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Extra {
    /// The interaction token (answers, edits of the original response, follow-ups).
    #[serde(default)]
    pub token: Option<String>,
    /// When the interaction arrived (ms since epoch).
    #[serde(default)]
    pub at_ms: u64,
    /// The requester, who alone may press the buttons.
    pub uid: u64,
    /// The requester's name, for thread names.
    #[serde(default)]
    pub name: String,
    /// Deliver in a public thread instead of a private one.
    #[serde(default)]
    pub public: bool,
    /// The channel is itself a thread: deliver in it.
    #[serde(default)]
    pub in_thread: bool,
    /// The interaction's `attachment_size_limit`.
    #[serde(default)]
    pub size_limit: u64,
    /// The interaction was answered ephemerally (commands other than /headshot).
    #[serde(default)]
    pub ephemeral: bool,
    /// The server's delivery policy set by its admins: `any` (empty), `private` (no public
    /// threads) or `dm` (no threads).
    #[serde(default)]
    pub policy: String,
}

impl Extra {
    /// Reads a chat's extra, if it is ours.
    pub fn of(chat: &ChatRef) -> Option<Extra> {
        chat.extra.as_deref().and_then(|e| serde_json::from_str(e).ok())
    }

    pub(super) fn fresh_token(&self) -> Option<&str> {
        let age = now_ms().saturating_sub(self.at_ms);
        self.token
            .as_deref()
            .filter(|_| age < TOKEN_LIFETIME.as_millis() as u64)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
