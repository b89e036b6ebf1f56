//! The outbound half of the adapter: [`TelegramFront`] turns the core's neutral messages into
//! Bot API calls and Bot API failures into [`SendError`]s the outbox understands.

use async_trait::async_trait;
use headshot::{
    Attachment, Button, ChatAction, ChatRef, FrontEnd, Limits, MessageId, Outbound, Platform, SendError,
};
use teloxide::adaptors::Throttle;
use teloxide::payloads::setters::*;
use teloxide::prelude::*;
use teloxide::types::{
    ChatAction as TgAction, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMedia,
    InputMediaDocument, InputMediaPhoto, Message, MessageId as TgMessageId, ReplyParameters, ThreadId,
};
use teloxide::{ApiError, RequestError};

use super::error::classify;

/// The Telegram [`FrontEnd`]: sends through teloxide's `Throttle` adaptor, which keeps to
/// Telegram's per-chat and overall rate limits.
pub struct TelegramFront {
    bot: Throttle<Bot>,
    limits: Limits,
}

impl TelegramFront {
    /// A front end sending through `bot`, announcing `limits` to the core.
    pub fn new(bot: Throttle<Bot>, limits: Limits) -> TelegramFront {
        TelegramFront { bot, limits }
    }
}

/// Where a send goes, parsed from the neutral [`ChatRef`].
struct Target {
    chat: ChatId,
    thread: Option<ThreadId>,
    reply: Option<ReplyParameters>,
}

impl Target {
    fn parse(chat: &ChatRef) -> Result<Target, SendError> {
        let id = chat
            .chat_id
            .parse::<i64>()
            .map_err(|_| SendError::Permanent(format!("`{}` is not a Telegram chat id", chat.chat_id)))?;
        let thread = chat
            .thread_id
            .as_deref()
            .and_then(|t| t.parse::<i32>().ok())
            .map(|t| ThreadId(TgMessageId(t)));
        let reply = chat
            .reply_to
            .as_deref()
            .and_then(|m| m.parse::<i32>().ok())
            .map(|m| ReplyParameters::new(TgMessageId(m)).allow_sending_without_reply());
        Ok(Target {
            chat: ChatId(id),
            thread,
            reply,
        })
    }
}

/// Rows of neutral buttons as an inline keyboard.
fn keyboard(buttons: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
            .collect::<Vec<_>>()
    }))
}

fn input_file(a: &Attachment) -> InputFile {
    InputFile::memory(a.bytes.clone()).file_name(a.name.clone())
}

fn first_id(messages: &[Message]) -> Option<MessageId> {
    messages.first().map(|m| m.id.0.to_string())
}

impl TelegramFront {
    async fn text(&self, to: Target, text: String, buttons: &[Vec<Button>]) -> Result<Message, RequestError> {
        let mut req = self.bot.send_message(to.chat, text);
        if let Some(thread) = to.thread {
            req = req.message_thread_id(thread);
        }
        if let Some(reply) = to.reply {
            req = req.reply_parameters(reply);
        }
        if !buttons.is_empty() {
            req = req.reply_markup(keyboard(buttons));
        }
        req.await
    }

    async fn album(
        &self,
        to: Target,
        photos: Vec<Attachment>,
        caption: String,
    ) -> Result<Vec<Message>, RequestError> {
        if let [photo] = photos.as_slice() {
            let mut req = self.bot.send_photo(to.chat, input_file(photo));
            if !caption.is_empty() {
                req = req.caption(caption);
            }
            if let Some(thread) = to.thread {
                req = req.message_thread_id(thread);
            }
            if let Some(reply) = to.reply {
                req = req.reply_parameters(reply);
            }
            return Ok(vec![req.await?]);
        }
        let media = photos.iter().enumerate().map(|(i, p)| {
            let mut m = InputMediaPhoto::new(input_file(p));
            if i == 0 && !caption.is_empty() {
                m = m.caption(caption.clone());
            }
            InputMedia::Photo(m)
        });
        self.group(to, media.collect()).await
    }

    async fn files(
        &self,
        to: Target,
        files: Vec<Attachment>,
        caption: Option<String>,
    ) -> Result<Vec<Message>, RequestError> {
        if let [file] = files.as_slice() {
            let mut req = self.bot.send_document(to.chat, input_file(file));
            if let Some(caption) = caption.filter(|c| !c.is_empty()) {
                req = req.caption(caption);
            }
            if let Some(thread) = to.thread {
                req = req.message_thread_id(thread);
            }
            if let Some(reply) = to.reply {
                req = req.reply_parameters(reply);
            }
            return Ok(vec![req.await?]);
        }
        let last = files.len().saturating_sub(1);
        let media = files.iter().enumerate().map(|(i, f)| {
            let mut m = InputMediaDocument::new(input_file(f));
            // In a document group Telegram shows captions under each file; the last one reads
            // as the group's caption.
            if let Some(c) = caption.as_ref().filter(|c| i == last && !c.is_empty()) {
                m = m.caption(c.clone());
            }
            InputMedia::Document(m)
        });
        self.group(to, media.collect()).await
    }

    async fn group(&self, to: Target, media: Vec<InputMedia>) -> Result<Vec<Message>, RequestError> {
        let mut req = self.bot.send_media_group(to.chat, media);
        if let Some(thread) = to.thread {
            req = req.message_thread_id(thread);
        }
        if let Some(reply) = to.reply {
            req = req.reply_parameters(reply);
        }
        req.await
    }

    async fn action(&self, to: Target, action: ChatAction) -> Result<(), RequestError> {
        let action = match action {
            ChatAction::UploadPhoto => TgAction::UploadPhoto,
            ChatAction::Typing => TgAction::Typing,
        };
        let mut req = self.bot.send_chat_action(to.chat, action);
        if let Some(thread) = to.thread {
            req = req.message_thread_id(thread);
        }
        req.await.map(drop)
    }
}

#[async_trait]
impl FrontEnd for TelegramFront {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn send(&self, chat: &ChatRef, message: Outbound) -> Result<Option<MessageId>, SendError> {
        let to = Target::parse(chat)?;
        let sent = match message {
            Outbound::Text { text, buttons } => self.text(to, text, &buttons).await.map(|m| vec![m]),
            Outbound::Album { photos, caption } => self.album(to, photos, caption).await,
            Outbound::Files { files, caption } => self.files(to, files, caption).await,
            Outbound::Action(action) => self.action(to, action).await.map(|()| Vec::new()),
        };
        match sent {
            Ok(messages) => Ok(first_id(&messages)),
            Err(e) => {
                let e = classify(e);
                tracing::debug!(chat = %chat.chat_id, error = %e, "telegram send failed");
                Err(e)
            }
        }
    }

    async fn edit(
        &self,
        chat: &ChatRef,
        message: &MessageId,
        text: &str,
        buttons: Vec<Vec<Button>>,
    ) -> Result<(), SendError> {
        let to = Target::parse(chat)?;
        let id = message
            .parse::<i32>()
            .map_err(|_| SendError::Permanent(format!("`{message}` is not a Telegram message id")))?;
        let mut req = self.bot.edit_message_text(to.chat, TgMessageId(id), text);
        if !buttons.is_empty() {
            req = req.reply_markup(keyboard(&buttons));
        }
        match req.await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}
