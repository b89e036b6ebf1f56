//! Who and where: platforms, users and chats, the keys everything else is scoped by.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A chat platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Telegram Bot API.
    Telegram,
    /// Discord.
    Discord,
    /// The local web chat.
    Web,
}

/// A user: platform plus the platform's user id. Every store key is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserKey {
    pub platform: Platform,
    /// The platform's id of the user (never containing `:`; see [`UserKey::new`]).
    pub id: String,
}

/// Where a message goes: chat, thread (forum topic or Discord thread) and the message it replies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    pub platform: Platform,
    /// The platform's chat or channel id.
    pub chat_id: String,
    /// Forum topic or thread id, when the conversation happens inside one.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The message being answered (the selfie), so results reply to it.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Discord server (guild) id, for the allow-list.
    #[serde(default)]
    pub server_id: Option<String>,
    /// True for groups and server channels, false for private chats.
    #[serde(default)]
    pub is_group: bool,
    /// Platform-specific continuation data an adapter needs to answer (e.g. an interaction
    /// token); opaque to the core, stored with the job.
    #[serde(default)]
    pub extra: Option<String>,
}

impl UserKey {
    /// A user key; `:` in the id is escaped so store keys stay unambiguous.
    pub fn new(platform: Platform, id: impl Into<String>) -> UserKey {
        UserKey {
            platform,
            id: id.into().replace('%', "%25").replace(':', "%3A"),
        }
    }

    /// The prefix of every store key of this user: `platform:id:`.
    pub fn prefix(&self) -> String {
        format!("{}:{}:", self.platform, self.id)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
            Platform::Web => "web",
        })
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "telegram" => Ok(Platform::Telegram),
            "discord" => Ok(Platform::Discord),
            "web" => Ok(Platform::Web),
            other => Err(format!("unknown platform `{other}` (telegram, discord or web)")),
        }
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

impl FromStr for UserKey {
    type Err = String;
    /// Parses `platform:id`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (platform, id) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not `platform:user-id`"))?;
        if id.is_empty() {
            return Err(format!("`{s}` has no user id"));
        }
        Ok(UserKey::new(platform.parse()?, id))
    }
}

impl ChatRef {
    /// A private chat with no thread.
    pub fn private(platform: Platform, chat_id: impl Into<String>) -> ChatRef {
        ChatRef {
            platform,
            chat_id: chat_id.into(),
            thread_id: None,
            reply_to: None,
            server_id: None,
            is_group: false,
            extra: None,
        }
    }
}

/// A sent message's id, for later edits (each front end writes its own form).
pub type MessageId = String;
