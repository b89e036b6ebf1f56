//! The inbound half of the adapter: Telegram messages and button presses become the core's
//! [`Inbound`] events, after the group addressing rules, size checks and downloads.

use std::sync::Arc;

use futures_util::StreamExt;
use headshot::{ChatRef, Event, FrontEnd, Inbound, Outbound, Platform, Service, Upload, UserKey};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, Chat, FileMeta, Message};

use crate::download::DownloadError;

/// The bot's own identity, from `getMe`.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    /// The bot's user id (replies to it address the bot in groups).
    pub id: UserId,
    /// The bot's username without `@`.
    pub username: String,
}

impl Me {
    /// True when a group message is meant for this bot: a command to it (bare or with our
    /// `@name`), a reply to one of its messages, or a mention of it.
    fn addressed(&self, m: &Message) -> bool {
        let replied = m
            .reply_to_message()
            .and_then(|r| r.from.as_ref())
            .is_some_and(|u| u.id == self.id);
        let line = m.text().or(m.caption()).unwrap_or("");
        let command = parse_command(line).is_some_and(|(_, _, to)| self.for_me(to));
        replied || command || self.mentions(line)
    }

    fn for_me(&self, to: Option<&str>) -> bool {
        to.is_none_or(|name| name.eq_ignore_ascii_case(&self.username))
    }

    fn mentions(&self, line: &str) -> bool {
        let mention = format!("@{}", self.username.to_lowercase());
        line.to_lowercase().contains(&mention)
    }

    /// The text without mentions of the bot.
    fn strip(&self, line: &str) -> String {
        let mention = format!("@{}", self.username);
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(at) = find_ignore_case(rest, &mention) {
            out.push_str(&rest[..at]);
            rest = &rest[at + mention.len()..];
        }
        out.push_str(rest);
        out.trim().to_string()
    }
}

/// What one message, or the messages of one album, ask of the core before any download.
pub(crate) enum Reading {
    /// Not for this bot (a group message not addressed to it, a command to another bot).
    Ignored,
    /// A command, text or something unusable, as the core's event.
    Event(UserKey, ChatRef, Event),
    /// Pictures to download, and the caption's text without mentions of the bot.
    Pictures(UserKey, ChatRef, Vec<Picture>, Option<String>),
}

/// Reads messages as [`Intake::messages`] does, without the network.
pub(crate) fn read(me: &Me, parts: &[Message]) -> Reading {
    let Some(first) = parts.first() else {
        return Reading::Ignored;
    };
    let Some(from) = first.from.as_ref() else {
        return Reading::Ignored;
    };
    let chat = chat_ref(&first.chat, first);
    if chat.is_group && !parts.iter().any(|m| me.addressed(m)) {
        return Reading::Ignored;
    }
    let user = UserKey::new(Platform::Telegram, from.id.0.to_string());
    let pictures: Vec<Picture> = parts.iter().filter_map(picture).collect();
    if pictures.is_empty() {
        if let Some(text) = first.text() {
            return match parse_command(text) {
                Some((_, _, Some(to))) if !me.for_me(Some(to)) => Reading::Ignored,
                Some((name, args, _)) => Reading::Event(
                    user,
                    chat,
                    Event::Command(headshot::Command::from_parts(&name, &args)),
                ),
                None => Reading::Event(user, chat, Event::Text(me.strip(text))),
            };
        }
        return Reading::Event(user, chat, Event::Other(describe(first).into()));
    }
    let caption = parts
        .iter()
        .find_map(|m| m.caption())
        .map(|c| me.strip(c))
        .filter(|c| !c.is_empty());
    Reading::Pictures(user, chat, pictures, caption)
}

/// The core's view of a button press: who pressed, in which chat, and the button's data.
pub(crate) fn read_callback(query: &CallbackQuery) -> Option<Inbound> {
    let data = query.data.clone()?;
    let chat = match &query.message {
        Some(m) => match m.regular_message() {
            Some(msg) => chat_ref(&msg.chat, msg),
            None => chat_ref_of(m.chat(), None),
        },
        None => ChatRef::private(Platform::Telegram, query.from.id.0.to_string()),
    };
    let user = UserKey::new(Platform::Telegram, query.from.id.0.to_string());
    Some(Inbound {
        user,
        chat,
        event: Event::Button { data },
    })
}

/// Everything a chat worker needs to turn updates into calls of the core.
pub(crate) struct Intake {
    pub bot: Bot,
    pub me: Me,
    pub service: Service,
    pub front: Arc<dyn FrontEnd>,
    /// Largest file downloaded (Telegram's getFile limit, or less).
    pub max_download: u64,
}

/// A picture found in a message, before download.
pub(crate) struct Picture {
    file: FileMeta,
    file_name: Option<String>,
    message_id: String,
}

impl Intake {
    /// Handles one message, or the messages of one album, in order.
    pub async fn messages(&self, parts: Vec<Message>) {
        let (user, chat, event) = match read(&self.me, &parts) {
            Reading::Ignored => return,
            Reading::Event(user, chat, event) => (user, chat, event),
            Reading::Pictures(user, chat, pictures, caption) => {
                let Some(event) = self.photos(pictures, caption, &chat).await else {
                    return;
                };
                (user, chat, event)
            }
        };
        self.service.handle(Inbound { user, chat, event }).await;
    }

    /// A button press: always answered (so the client stops its spinner), then handed on.
    pub async fn callback(&self, query: CallbackQuery) {
        let mut answered = self.bot.answer_callback_query(query.id.clone()).await;
        if let Err(e) = &answered {
            tokio::time::sleep(super::error::backoff(e).min(std::time::Duration::from_secs(5))).await;
            answered = self.bot.answer_callback_query(query.id.clone()).await;
        }
        if let Err(e) = answered {
            tracing::warn!(error = %e, "could not answer a callback query");
        }
        if let Some(inbound) = read_callback(&query) {
            self.service.handle(inbound).await;
        }
    }

    /// Downloads the pictures; `None` when one is refused (the user is told why).
    async fn photos(&self, pictures: Vec<Picture>, caption: Option<String>, chat: &ChatRef) -> Option<Event> {
        let mut uploads = Vec::with_capacity(pictures.len());
        for p in pictures {
            match self.download(&p).await {
                Ok(bytes) => uploads.push(Upload {
                    bytes,
                    file_name: p.file_name,
                    message_id: Some(p.message_id),
                }),
                Err(e) => {
                    tracing::info!(error = %e, "photo not taken");
                    self.say(chat, e.user_text("Telegram")).await;
                    return None;
                }
            }
        }
        Some(Event::Photos { uploads, caption })
    }

    /// Downloads a picture, refusing files over the limit before and while downloading.
    async fn download(&self, p: &Picture) -> Result<Vec<u8>, DownloadError> {
        let limit = self.max_download;
        let too_large = |bytes: u64| DownloadError::TooLarge { bytes, limit };
        if u64::from(p.file.size) > limit {
            return Err(too_large(p.file.size.into()));
        }
        let file = self
            .bot
            .get_file(p.file.id.clone())
            .await
            .map_err(|e| DownloadError::Failed(format!("getFile: {e}")))?;
        if u64::from(file.meta.size) > limit {
            return Err(too_large(file.meta.size.into()));
        }
        let mut stream = self.bot.download_file_stream(&file.path);
        let mut bytes = Vec::with_capacity(file.meta.size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| DownloadError::Failed(e.to_string()))?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }

    async fn say(&self, chat: &ChatRef, text: String) {
        let message = Outbound::Text {
            text,
            buttons: Vec::new(),
        };
        if let Err(e) = self.front.send(chat, message).await {
            tracing::info!(error = %e, "could not send a refusal");
        }
    }
}

/// The neutral chat of a message: its topic when it is in a forum topic.
fn chat_ref(chat: &Chat, m: &Message) -> ChatRef {
    let thread = m.is_topic_message.then_some(m.thread_id).flatten();
    chat_ref_of(chat, thread.map(|t| t.0.0.to_string()))
}

fn chat_ref_of(chat: &Chat, thread: Option<String>) -> ChatRef {
    ChatRef {
        thread_id: thread,
        is_group: !chat.is_private(),
        ..ChatRef::private(Platform::Telegram, chat.id.0.to_string())
    }
}

/// `/name@bot args` -> (lowercase name, args, addressee).
fn parse_command(line: &str) -> Option<(String, String, Option<&str>)> {
    let line = line.trim_start().strip_prefix('/')?;
    let (head, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let (name, to) = match head.split_once('@') {
        Some((name, to)) => (name, Some(to)),
        None => (head, None),
    };
    if name.is_empty() {
        return None;
    }
    Some((name.to_lowercase(), args.trim().to_string(), to))
}

/// The largest size of a photo, or an image sent as a file.
fn picture(m: &Message) -> Option<Picture> {
    let message_id = m.id.0.to_string();
    if let Some(sizes) = m.photo() {
        let best = sizes
            .iter()
            .max_by_key(|s| (u64::from(s.width) * u64::from(s.height), s.file.size))?;
        return Some(Picture {
            file: best.file.clone(),
            file_name: None,
            message_id,
        });
    }
    let doc = m.document()?;
    let image = doc
        .mime_type
        .as_ref()
        .is_some_and(|t| t.essence_str().starts_with("image/"));
    image.then(|| Picture {
        file: doc.file.clone(),
        file_name: doc.file_name.clone(),
        message_id,
    })
}

/// What a message without a usable picture or text carries, for the core's hint.
fn describe(m: &Message) -> &'static str {
    if m.document().is_some() {
        "that kind of file"
    } else if m.sticker().is_some() {
        "a sticker"
    } else if m.voice().is_some() || m.audio().is_some() {
        "audio"
    } else if m.video().is_some() || m.animation().is_some() || m.video_note().is_some() {
        "a video"
    } else {
        "that kind of message"
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    (0..=haystack.len().checked_sub(n)?)
        .filter(|&i| haystack.is_char_boundary(i) && haystack.is_char_boundary(i + n))
        .find(|&i| haystack[i..i + n].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::{find_ignore_case, parse_command};

    #[test]
    fn commands_parse_with_and_without_addressee() {
        assert_eq!(
            parse_command("/Style@Bot creative"),
            Some(("style".into(), "creative".into(), Some("Bot")))
        );
        assert_eq!(parse_command("/help"), Some(("help".into(), String::new(), None)));
        assert_eq!(parse_command("hello /help"), None);
        assert_eq!(parse_command("/"), None);
    }

    #[test]
    fn mentions_are_found_case_insensitively() {
        assert_eq!(find_ignore_case("hi @HeadBot x", "@headbot"), Some(3));
        assert_eq!(find_ignore_case("é@headbot", "@headbot"), Some(2));
        assert_eq!(find_ignore_case("short", "@headbot"), None);
    }
}
