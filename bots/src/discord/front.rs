//! [`DiscordFront`]: the core's messages on Discord. Status texts live in the interaction's
//! original response; results go to a thread created for the job (private or public), a DM, or
//! as ephemeral follow-ups when neither is possible; expired interaction tokens fall back to
//! plain channel messages.
//!
//! Which thread or DM a conversation's results went to, and which messages its Delete button
//! removes, are kept in the store's `chats` tree (`target:<conversation>`, `sent:<conversation>`)
//! as well as in bounded memory: after a restart, a late delivery goes to the same thread (never
//! a second one) and Delete still removes older messages. `/forget` and retention reach them.

use std::sync::Arc;

use async_trait::async_trait;
use headshot::{
    Attachment, Button, ChatRef, FrontEnd, Limits, MessageId, Outbound, Platform, SendError, Store, UserKey,
};
use serde::{Deserialize, Serialize};

use super::bounded::Bounded;
use super::error::{cannot_thread, classify, token_gone};
pub use super::extra::{Extra, now_ms};
use super::followup::FollowupExt;
use super::ids::Sent;
use super::render::{components, embed_of, fit, text_no_thread, thread_name};
use serenity::all::{
    AutoArchiveDuration, ChannelId, ChannelType, CreateActionRow, CreateAttachment, CreateEmbed,
    CreateInteractionResponseFollowup, CreateMessage, CreateThread, EditInteractionResponse, EditMessage,
    Http, MessageId as DMessageId, UserId,
};
use serenity::builder::Builder;

/// Conversations the adapter remembers (targets, original responses, DM channels, messages
/// for Delete); the oldest are forgotten past it.
pub const REMEMBERED: usize = 10_000;
/// Discord's request size limit (all files of one message).
pub const REQUEST_MAX: usize = 25 * 1024 * 1024;

/// Messages remembered per conversation for Delete (the oldest are forgotten past it).
const SENT_PER_CONVERSATION: usize = 200;

/// Where a job's results go.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Target {
    Channel(ChannelId),
    Ephemeral,
}

/// The Discord side of the core's [`FrontEnd`] port.
pub struct DiscordFront {
    http: Arc<Http>,
    limits: Limits,
    /// Tokens whose original response holds a message, and whether it has buttons.
    claimed: Bounded<String, bool>,
    /// Result targets per conversation (`channel:reply_to`).
    targets: Bounded<String, Target>,
    /// DM channels per user.
    dms: Bounded<u64, ChannelId>,
    /// Messages sent per conversation, for the Delete button.
    sent: Bounded<String, Vec<(ChannelId, DMessageId)>>,
    /// Where targets and sent messages outlive a restart.
    store: Option<Store>,
}

/// The user a conversation's records belong to: the requester, or in a DM the user whose
/// id the chat carries.
fn user_of(chat: &ChatRef) -> Option<UserKey> {
    let uid = match Extra::of(chat) {
        Some(x) => x.uid.to_string(),
        None if !chat.is_group => chat.chat_id.clone(),
        None => return None,
    };
    Some(UserKey::new(Platform::Discord, uid))
}

fn channel_message(channel: ChannelId, message: DMessageId) -> MessageId {
    Sent::Channel {
        channel: channel.get(),
        message: message.get(),
    }
    .to_string()
}

fn key_of(chat: &ChatRef) -> String {
    format!("{}:{}", chat.chat_id, chat.reply_to.as_deref().unwrap_or(""))
}

impl DiscordFront {
    /// A front end over serenity's HTTP client.
    pub fn new(http: Arc<Http>, limits: Limits) -> DiscordFront {
        DiscordFront {
            http,
            limits,
            claimed: Bounded::new(REMEMBERED),
            targets: Bounded::new(REMEMBERED),
            dms: Bounded::new(REMEMBERED),
            sent: Bounded::new(REMEMBERED),
            store: None,
        }
    }

    /// Keeps targets and sent messages in `store` too (the service's).
    pub fn with_store(mut self, store: Store) -> DiscordFront {
        self.store = Some(store);
        self
    }

    fn load<T: for<'de> Deserialize<'de>>(&self, user: Option<&UserKey>, name: &str) -> Option<T> {
        let record = self.store.as_ref()?.chat(user?, name).ok()??;
        serde_json::from_slice(&record.bytes).ok()
    }

    fn keep<T: Serialize>(&self, user: Option<&UserKey>, name: &str, value: &T) {
        let (Some(store), Some(user)) = (&self.store, user) else {
            return;
        };
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        if let Err(e) = store.put_chat(user, name, &bytes) {
            tracing::warn!(error = %e, "could not keep a Discord conversation record");
        }
    }

    /// The serenity HTTP client.
    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    fn remember(&self, chat: &ChatRef, key: &str, channel: ChannelId, message: DMessageId) {
        let user = user_of(chat);
        let name = format!("sent:{key}");
        let list = self.sent.update(key.to_string(), |list| {
            let list = list.get_or_insert_with(|| self.load(user.as_ref(), &name).unwrap_or_default());
            list.push((channel, message));
            let extra = list.len().saturating_sub(SENT_PER_CONVERSATION);
            list.drain(..extra);
            list.clone()
        });
        self.keep(user.as_ref(), &name, &list);
    }

    /// Messages sent for a conversation of user `uid` (for Delete), also those sent before a
    /// restart; forgets them.
    pub fn take_sent(&self, uid: u64, key: &str) -> Vec<(ChannelId, DMessageId)> {
        let mut list = self.sent.remove(&key.to_string()).unwrap_or_default();
        let user = UserKey::new(Platform::Discord, uid.to_string());
        let name = format!("sent:{key}");
        for kept in self
            .load::<Vec<(ChannelId, DMessageId)>>(Some(&user), &name)
            .unwrap_or_default()
        {
            if !list.contains(&kept) {
                list.push(kept);
            }
        }
        if let Some(store) = &self.store {
            let _ = store.remove_chat(&user, &name);
        }
        list
    }

    /// The DM channel with a user (opened once).
    pub async fn dm_channel(&self, uid: u64) -> Result<ChannelId, serenity::Error> {
        if let Some(c) = self.dms.get(&uid) {
            return Ok(c);
        }
        let channel = UserId::new(uid).create_dm_channel(&self.http).await?.id;
        self.dms.insert(uid, channel);
        Ok(channel)
    }

    /// The channel a plain message to `chat` goes to: its thread, its channel, or the DM of a
    /// private chat (whose id is the user's).
    async fn channel_of(&self, chat: &ChatRef) -> Result<ChannelId, SendError> {
        if let Some(t) = chat.thread_id.as_deref().and_then(|t| t.parse().ok()) {
            return Ok(ChannelId::new(t));
        }
        let id: u64 = chat
            .chat_id
            .parse()
            .map_err(|_| SendError::Permanent(format!("bad Discord id {}", chat.chat_id)))?;
        if chat.is_group || Extra::of(chat).is_some_and(|e| e.uid != id) {
            Ok(ChannelId::new(id))
        } else {
            self.dm_channel(id).await.map_err(|e| classify(&e))
        }
    }

    async fn post(
        &self,
        channel: ChannelId,
        text: &str,
        rows: Vec<CreateActionRow>,
        files: Vec<Attachment>,
        embed: Option<CreateEmbed>,
    ) -> Result<DMessageId, serenity::Error> {
        let mut m = CreateMessage::new().content(text).components(rows);
        if let Some(e) = embed {
            m = m.embed(e);
        }
        for f in files {
            m = m.add_file(CreateAttachment::bytes(f.bytes, f.name));
        }
        Ok(channel.send_message(&self.http, m).await?.id)
    }

    async fn followup(
        &self,
        token: &str,
        text: &str,
        rows: Vec<CreateActionRow>,
        files: Vec<Attachment>,
        ephemeral: bool,
        embed: Option<CreateEmbed>,
    ) -> Result<DMessageId, serenity::Error> {
        let mut m = CreateInteractionResponseFollowup::new()
            .content(text)
            .components(rows)
            .ephemeral(ephemeral);
        if let Some(e) = embed {
            m = m.embed(e);
        }
        for f in files {
            m = m.add_file(CreateAttachment::bytes(f.bytes, f.name));
        }
        self.http.create_followup_message_with(token, m).await
    }

    /// Where results go; creates the job's thread on first use.
    async fn target(
        &self,
        chat: &ChatRef,
        extra: Option<&Extra>,
        caption: &str,
    ) -> Result<Target, SendError> {
        let key = key_of(chat);
        let user = user_of(chat);
        let name = format!("target:{key}");
        if let Some(t) = self.targets.get(&key).or_else(|| self.load(user.as_ref(), &name)) {
            self.targets.insert(key, t);
            return Ok(t);
        }
        let target = match extra {
            Some(x) if chat.is_group && !x.in_thread && chat.thread_id.is_none() && x.policy == "dm" => {
                self.fallback(
                    chat,
                    x,
                    "This server's admins have headshots delivered privately.",
                )
                .await?
            }
            Some(x) if chat.is_group && !x.in_thread && chat.thread_id.is_none() => {
                let channel = self.channel_of(chat).await?;
                let public = x.public && x.policy != "private";
                let kind = if public {
                    ChannelType::PublicThread
                } else {
                    ChannelType::PrivateThread
                };
                let create = CreateThread::new(thread_name(x, caption))
                    .kind(kind)
                    .auto_archive_duration(AutoArchiveDuration::OneDay);
                let create = if public { create } else { create.invitable(false) };
                match channel.create_thread(&self.http, create).await {
                    Ok(thread) => {
                        // A private thread shows only to members: add the requester.
                        let _ = thread.id.add_thread_member(&self.http, UserId::new(x.uid)).await;
                        Target::Channel(thread.id)
                    }
                    Err(e) if cannot_thread(&e) => {
                        tracing::info!(error = %e, "cannot create a thread; trying a DM");
                        self.fallback(chat, x, text_no_thread()).await?
                    }
                    Err(e) => return Err(classify(&e)),
                }
            }
            _ => Target::Channel(self.channel_of(chat).await?),
        };
        self.keep(user.as_ref(), &name, &target);
        self.targets.insert(key, target);
        Ok(target)
    }

    /// No thread: a DM, else ephemeral follow-ups; the user is told which.
    async fn fallback(&self, chat: &ChatRef, x: &Extra, why: &str) -> Result<Target, SendError> {
        let (target, note) = match self.dm_channel(x.uid).await {
            Ok(dm) => (
                Target::Channel(dm),
                format!("{why} I'm sending your headshots by DM."),
            ),
            Err(e) => {
                tracing::info!(error = %e, "cannot open a DM either");
                if x.fresh_token().is_none() {
                    return Err(SendError::Permanent(
                        "no thread, no DM and the interaction expired".into(),
                    ));
                }
                (
                    Target::Ephemeral,
                    format!(
                        "{why} I can't DM you either, so your headshots appear here, visible only to you."
                    ),
                )
            }
        };
        let _ = self.note(chat, x, &note).await;
        Ok(target)
    }

    /// A short notice where the user is looking: a follow-up, else the channel.
    async fn note(&self, chat: &ChatRef, x: &Extra, text: &str) -> Result<(), SendError> {
        if let Some(token) = x.fresh_token() {
            match self
                .followup(token, text, Vec::new(), Vec::new(), true, None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if token_gone(&e) => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        let channel = self.channel_of(chat).await?;
        self.post(channel, text, Vec::new(), Vec::new(), None)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<Option<MessageId>, SendError> {
        let extra = Extra::of(chat);
        let owner = extra.as_ref().filter(|_| chat.is_group).map(|x| x.uid);
        let key = key_of(chat);
        let text: String = text.chars().take(self.limits.text_max).collect();
        let existing = self
            .targets
            .get(&key)
            .or_else(|| self.load(user_of(chat).as_ref(), &format!("target:{key}")));
        // After results went to a thread or DM, the rest of the conversation follows them.
        if let Some(Target::Channel(channel)) = existing {
            let id = self
                .post(channel, &text, components(buttons, owner, &key), Vec::new(), None)
                .await
                .map_err(|e| classify(&e))?;
            self.remember(chat, &key, channel, id);
            return Ok(Some(channel_message(channel, id)));
        }
        if let Some(x) = &extra
            && let Some(token) = x.fresh_token()
        {
            // The original response shows the latest plain notice ("Style set", then "Queued"
            // and the live status); a message with buttons keeps it, and later ones follow up.
            let first = self.claimed.update(token.to_string(), |claimed| {
                let free = !claimed.unwrap_or(false) && buttons.is_empty() || claimed.is_none();
                if free {
                    *claimed = Some(!buttons.is_empty());
                }
                free
            });
            let rows = components(buttons, owner, &key);
            let result = if first {
                EditInteractionResponse::new()
                    .content(&text)
                    .components(rows)
                    .execute(&self.http, token)
                    .await
                    .map(|_| Sent::Original.to_string())
            } else {
                self.followup(
                    token,
                    &text,
                    rows,
                    Vec::new(),
                    x.ephemeral || existing.is_some(),
                    None,
                )
                .await
                .map(|id| Sent::Followup(id.get()).to_string())
            };
            match result {
                Ok(id) => return Ok(Some(id)),
                Err(e) if token_gone(&e) => tracing::info!("interaction token expired; using the channel"),
                Err(e) => return Err(classify(&e)),
            }
        }
        let channel = self.channel_of(chat).await?;
        let id = self
            .post(channel, &text, components(buttons, owner, &key), Vec::new(), None)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Some(channel_message(channel, id)))
    }

    async fn send_files(
        &self,
        chat: &ChatRef,
        files: Vec<Attachment>,
        caption: &str,
    ) -> Result<Option<MessageId>, SendError> {
        let extra = Extra::of(chat);
        let limit = extra
            .as_ref()
            .map(|x| x.size_limit as usize)
            .filter(|l| *l > 0)
            .unwrap_or(self.limits.file_bytes)
            .min(self.limits.file_bytes);
        let files: Vec<Attachment> = files.into_iter().map(|f| fit(f, limit)).collect();
        if let Some(big) = files.iter().find(|f| f.bytes.len() > limit) {
            return Err(SendError::Permanent(format!(
                "{} is {} bytes, over Discord's {limit}",
                big.name,
                big.bytes.len()
            )));
        }
        let key = key_of(chat);
        let target = self.target(chat, extra.as_ref(), caption).await?;
        // One message per <= 10 files and <= 25 MiB.
        let mut batches: Vec<Vec<Attachment>> = vec![Vec::new()];
        for f in files {
            let last = batches.last_mut().expect("one batch");
            let size: usize = last.iter().map(|a| a.bytes.len()).sum();
            if !last.is_empty() && (last.len() == 10 || size + f.bytes.len() > REQUEST_MAX) {
                batches.push(vec![f]);
            } else {
                last.push(f);
            }
        }
        let mut first_id = None;
        for (i, batch) in batches.into_iter().enumerate() {
            // The caption (style, engine, checklist) becomes an embed on the first message.
            let embed = if i == 0 { embed_of(caption) } else { None };
            let text = String::new();
            let id = match target {
                Target::Channel(channel) => {
                    let id = self
                        .post(channel, &text, Vec::new(), batch, embed)
                        .await
                        .map_err(|e| classify(&e))?;
                    self.remember(chat, &key, channel, id);
                    channel_message(channel, id)
                }
                Target::Ephemeral => {
                    let token = extra
                        .as_ref()
                        .and_then(|x| x.fresh_token())
                        .ok_or_else(|| SendError::Permanent("the interaction expired".into()))?;
                    let id = self
                        .followup(token, &text, Vec::new(), batch, true, embed)
                        .await
                        .map_err(|e| classify(&e))?;
                    Sent::Followup(id.get()).to_string()
                }
            };
            first_id.get_or_insert(id);
        }
        Ok(first_id)
    }
}

#[async_trait]
impl FrontEnd for DiscordFront {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn send(&self, chat: &ChatRef, message: Outbound) -> Result<Option<MessageId>, SendError> {
        match message {
            Outbound::Text { text, buttons } => self.send_text(chat, &text, &buttons).await,
            Outbound::Album { photos, caption } => self.send_files(chat, photos, &caption).await,
            Outbound::Files { files, caption } => {
                self.send_files(chat, files, caption.as_deref().unwrap_or(""))
                    .await
            }
            // Discord shows "thinking" while an interaction is deferred; nothing to send.
            Outbound::Action(_) => Ok(None),
        }
    }

    async fn edit(
        &self,
        chat: &ChatRef,
        message: &MessageId,
        text: &str,
        buttons: Vec<Vec<Button>>,
    ) -> Result<(), SendError> {
        let extra = Extra::of(chat);
        let owner = extra.as_ref().filter(|_| chat.is_group).map(|x| x.uid);
        let rows = components(&buttons, owner, &key_of(chat));
        let text: String = text.chars().take(self.limits.text_max).collect();
        let Ok(sent) = message.parse::<Sent>() else {
            return Ok(());
        };
        let token = extra.as_ref().and_then(|x| x.fresh_token());
        let result = match (sent, token) {
            // The token expired: that message cannot change any more; later news arrives as
            // new messages.
            (Sent::Original | Sent::Followup(_), None) => return Ok(()),
            (Sent::Original, Some(token)) => EditInteractionResponse::new()
                .content(text)
                .components(rows)
                .execute(&self.http, token)
                .await
                .map(|_| ()),
            (Sent::Followup(id), Some(token)) => {
                let edit = CreateInteractionResponseFollowup::new()
                    .content(text)
                    .components(rows);
                self.http
                    .edit_followup_message_with(token, DMessageId::new(id), edit)
                    .await
            }
            (Sent::Channel { channel, message }, _) => ChannelId::new(channel)
                .edit_message(
                    &self.http,
                    DMessageId::new(message),
                    EditMessage::new().content(text).components(rows),
                )
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if token_gone(&e) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
}
