//! [`DiscordFront`]: the core's messages on Discord. Status texts live in the interaction's
//! original response; results go to a thread created for the job (private or public), a DM, or
//! as ephemeral follow-ups when neither is possible; expired interaction tokens fall back to
//! plain channel messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use headshot::command::Setting;
use headshot::{
    Action, Attachment, Button, ChatRef, FrontEnd, Limits, MessageId, Outbound, Platform, SendError,
};
use serde::{Deserialize, Serialize};
use serenity::all::{
    AutoArchiveDuration, ButtonStyle, ChannelId, ChannelType, CreateActionRow, CreateAttachment,
    CreateButton, CreateEmbed, CreateInteractionResponseFollowup, CreateMessage, CreateSelectMenu,
    CreateSelectMenuKind, CreateSelectMenuOption, CreateThread, EditInteractionResponse, EditMessage, Http,
    MessageId as DMessageId, UserId,
};
use serenity::builder::Builder;

/// Interaction tokens live 15 minutes; stop using them a little earlier.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// Discord's request size limit (all files of one message).
pub const REQUEST_MAX: usize = 25 * 1024 * 1024;

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

    fn fresh_token(&self) -> Option<&str> {
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

/// Where a job's results go.
#[derive(Debug, Clone, Copy)]
enum Target {
    Channel(ChannelId),
    Ephemeral,
}

/// The Discord side of the core's [`FrontEnd`] port.
pub struct DiscordFront {
    http: Arc<Http>,
    limits: Limits,
    /// Tokens whose original response holds a message, and whether it has buttons.
    claimed: Mutex<HashMap<String, bool>>,
    /// Result targets per conversation (`channel:reply_to`).
    targets: Mutex<HashMap<String, Target>>,
    /// DM channels per user.
    dms: Mutex<HashMap<u64, ChannelId>>,
    /// Messages sent per conversation, for the Delete button.
    sent: Mutex<HashMap<String, Vec<(ChannelId, DMessageId)>>>,
}

/// A serenity failure in the core's terms.
pub fn classify(e: &serenity::Error) -> SendError {
    use serenity::http::HttpError;
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let detail = format!("{status} {} {}", r.error.code, r.error.message);
            match status {
                // serenity keeps neither the Retry-After header nor retry_after of a 429 (its own
                // rate limiter, on in production, waits for them); wait a bucket's usual reset.
                429 => SendError::Transient {
                    retry_after: Some(Duration::from_secs(1)),
                    detail,
                },
                500..=599 | 408 => SendError::Transient {
                    retry_after: None,
                    detail,
                },
                _ => SendError::Permanent(detail),
            }
        }
        serenity::Error::Http(HttpError::Request(_)) | serenity::Error::Io(_) => SendError::Transient {
            retry_after: None,
            detail: e.to_string(),
        },
        other => SendError::Permanent(other.to_string()),
    }
}

/// An interaction token that stopped working (expired or unknown): fall back to the channel.
fn token_gone(e: &serenity::Error) -> bool {
    use serenity::http::HttpError;
    matches!(e, serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
        if matches!(r.error.code, 50027 | 10015 | 10062) || r.status_code.as_u16() == 401)
}

/// Thread creation refused (permissions, DM channel, limits).
fn cannot_thread(e: &serenity::Error) -> bool {
    use serenity::http::HttpError;
    matches!(e, serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
        if matches!(r.status_code.as_u16(), 400 | 403 | 404))
}

/// The core's buttons as Discord components: style pickers become one select menu, results get
/// a Delete button; in servers every custom id names the requester (`<uid>|data`).
pub fn components(rows: &[Vec<Button>], owner: Option<u64>, key: &str) -> Vec<CreateActionRow> {
    let tag = |data: &str| match owner {
        Some(uid) => format!("{uid}|{data}"),
        None => data.to_string(),
    };
    let all: Vec<&Button> = rows.iter().flatten().collect();
    if all.is_empty() {
        return Vec::new();
    }
    let action = |b: &Button| Action::decode(&b.data);
    if all.len() > 1
        && all
            .iter()
            .all(|b| matches!(action(b), Some(Action::Set(Setting::Style(_)))))
    {
        let options = all
            .iter()
            .take(25)
            .map(|b| {
                CreateSelectMenuOption::new(b.label.chars().take(100).collect::<String>(), b.data.clone())
            })
            .collect();
        let menu = CreateSelectMenu::new(tag("pick"), CreateSelectMenuKind::String { options })
            .placeholder("Pick a style");
        return vec![CreateActionRow::SelectMenu(menu)];
    }
    let mut buttons: Vec<CreateButton> = all
        .iter()
        .map(|b| {
            CreateButton::new(tag(&b.data))
                .label(b.label.chars().take(80).collect::<String>())
                .style(ButtonStyle::Secondary)
        })
        .collect();
    if all.iter().any(|b| matches!(action(b), Some(Action::Reroll(_)))) {
        buttons.push(
            CreateButton::new(tag(&format!("del:{key}")))
                .label("Delete")
                .style(ButtonStyle::Danger),
        );
    }
    buttons
        .chunks(5)
        .take(5)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

/// Re-encodes an image until it fits `limit` bytes (JPEG quality first, then size); files
/// that are not images, or already fit, are kept.
pub fn fit(a: Attachment, limit: usize) -> Attachment {
    if a.bytes.len() <= limit || !a.mime.starts_with("image/") {
        return a;
    }
    let Ok(img) = image::load_from_memory(&a.bytes) else {
        return a;
    };
    let mut img = img.to_rgb8();
    let stem = a
        .name
        .rsplit_once('.')
        .map_or(a.name.as_str(), |(s, _)| s)
        .to_string();
    loop {
        for quality in [90u8, 80, 70, 60] {
            let mut out = Vec::new();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            if img.write_with_encoder(enc).is_ok() && out.len() <= limit {
                return Attachment {
                    name: format!("{stem}.jpg"),
                    mime: "image/jpeg".into(),
                    width: img.width(),
                    height: img.height(),
                    bytes: out,
                };
            }
        }
        if img.width() < 64 {
            return a;
        }
        let (w, h) = (img.width() * 4 / 5, img.height() * 4 / 5);
        img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    }
}

fn key_of(chat: &ChatRef) -> String {
    format!("{}:{}", chat.chat_id, chat.reply_to.as_deref().unwrap_or(""))
}

fn thread_name(extra: &Extra, caption: &str) -> String {
    let style = caption
        .lines()
        .next()
        .unwrap_or("")
        .split(" (")
        .next()
        .unwrap_or("");
    let name = if extra.name.is_empty() {
        "you"
    } else {
        extra.name.as_str()
    };
    let mut n = format!("Headshots for {name}");
    if !style.is_empty() {
        n.push_str(&format!(" · {style}"));
    }
    n.chars().take(100).collect()
}

impl DiscordFront {
    /// A front end over serenity's HTTP client.
    pub fn new(http: Arc<Http>, limits: Limits) -> DiscordFront {
        DiscordFront {
            http,
            limits,
            claimed: Mutex::default(),
            targets: Mutex::default(),
            dms: Mutex::default(),
            sent: Mutex::default(),
        }
    }

    /// The serenity HTTP client.
    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    fn remember(&self, key: &str, channel: ChannelId, message: DMessageId) {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .push((channel, message));
    }

    /// Messages sent for a conversation (for Delete); forgets them.
    pub fn take_sent(&self, key: &str) -> Vec<(ChannelId, DMessageId)> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .unwrap_or_default()
    }

    /// The DM channel with a user (opened once).
    pub async fn dm_channel(&self, uid: u64) -> Result<ChannelId, serenity::Error> {
        if let Some(c) = self.dms.lock().unwrap_or_else(|e| e.into_inner()).get(&uid) {
            return Ok(*c);
        }
        let channel = UserId::new(uid).create_dm_channel(&self.http).await?.id;
        self.dms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid, channel);
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
        if let Some(t) = self.targets.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*t);
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
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, target);
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
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied();
        // After results went to a thread or DM, the rest of the conversation follows them.
        if let Some(Target::Channel(channel)) = existing {
            let id = self
                .post(channel, &text, components(buttons, owner, &key), Vec::new(), None)
                .await
                .map_err(|e| classify(&e))?;
            self.remember(&key, channel, id);
            return Ok(Some(format!("c{channel}:{id}")));
        }
        if let Some(x) = &extra
            && let Some(token) = x.fresh_token()
        {
            // The original response shows the latest plain notice ("Style set", then "Queued"
            // and the live status); a message with buttons keeps it, and later ones follow up.
            let first = {
                let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
                let free = !claimed.get(token).copied().unwrap_or(false) && buttons.is_empty()
                    || !claimed.contains_key(token);
                if free {
                    claimed.insert(token.to_string(), !buttons.is_empty());
                }
                free
            };
            let rows = components(buttons, owner, &key);
            let result = if first {
                EditInteractionResponse::new()
                    .content(&text)
                    .components(rows)
                    .execute(&self.http, token)
                    .await
                    .map(|_| "o".to_string())
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
                .map(|id| format!("f{id}"))
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
        Ok(Some(format!("c{channel}:{id}")))
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
                    self.remember(&key, channel, id);
                    format!("c{channel}:{id}")
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
                    format!("f{id}")
                }
            };
            first_id.get_or_insert(id);
        }
        Ok(first_id)
    }
}

/// The result caption as an embed: its first line (style, mode, engine) as the title, the
/// checklist below.
pub fn embed_of(caption: &str) -> Option<CreateEmbed> {
    let caption = caption.trim();
    if caption.is_empty() {
        return None;
    }
    let (title, rest) = caption.split_once('\n').unwrap_or((caption, ""));
    let mut e = CreateEmbed::new().title(title.chars().take(256).collect::<String>());
    if !rest.trim().is_empty() {
        e = e.description(rest.trim().chars().take(4096).collect::<String>());
    }
    Some(e)
}

fn text_no_thread() -> &'static str {
    "I couldn't open a thread in this channel (missing permission or not allowed here)."
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
        let result = if message == "o" || message.starts_with('f') {
            let Some(token) = extra.as_ref().and_then(|x| x.fresh_token()) else {
                // The token expired: that message cannot change any more; later news arrives
                // as new messages.
                return Ok(());
            };
            if message == "o" {
                EditInteractionResponse::new()
                    .content(text)
                    .components(rows)
                    .execute(&self.http, token)
                    .await
                    .map(|_| ())
            } else {
                let id: u64 = message[1..].parse().unwrap_or(1);
                let edit = CreateInteractionResponseFollowup::new()
                    .content(text)
                    .components(rows);
                self.http
                    .edit_followup_message_with(token, DMessageId::new(id), edit)
                    .await
                    .map(|_| ())
            }
        } else if let Some((c, m)) = message.strip_prefix('c').and_then(|r| r.split_once(':')) {
            let (Ok(c), Ok(m)) = (c.parse::<u64>(), m.parse::<u64>()) else {
                return Ok(());
            };
            ChannelId::new(c)
                .edit_message(
                    &self.http,
                    DMessageId::new(m),
                    EditMessage::new().content(text).components(rows),
                )
                .await
                .map(|_| ())
        } else {
            return Ok(());
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if token_gone(&e) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// Extension helpers over serenity's raw follow-up routes with builders.
trait FollowupExt {
    async fn create_followup_message_with(
        &self,
        token: &str,
        m: CreateInteractionResponseFollowup,
    ) -> Result<DMessageId, serenity::Error>;
    async fn edit_followup_message_with(
        &self,
        token: &str,
        id: DMessageId,
        m: CreateInteractionResponseFollowup,
    ) -> Result<(), serenity::Error>;
}

impl FollowupExt for Arc<Http> {
    async fn create_followup_message_with(
        &self,
        token: &str,
        m: CreateInteractionResponseFollowup,
    ) -> Result<DMessageId, serenity::Error> {
        Ok(m.execute(self, (None, token)).await?.id)
    }

    async fn edit_followup_message_with(
        &self,
        token: &str,
        id: DMessageId,
        m: CreateInteractionResponseFollowup,
    ) -> Result<(), serenity::Error> {
        m.execute(self, (Some(id), token)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(label: &str, data: &str) -> Button {
        Button {
            label: label.into(),
            data: data.into(),
        }
    }

    #[test]
    fn style_pickers_become_a_select_menu_and_results_get_delete() {
        let styles = vec![vec![b("Corporate", "style:corporate"), b("Tech", "style:tech")]];
        let rows = components(&styles, Some(7), "k");
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["components"][0]["type"], 3, "{json}");
        assert_eq!(json[0]["components"][0]["custom_id"], "7|pick");
        let results = vec![vec![b("Reroll", "reroll:J"), b("Other style", "styles")]];
        let json = serde_json::to_value(components(&results, None, "c:r")).unwrap();
        let ids: Vec<&str> = json[0]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["custom_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["reroll:J", "styles", "del:c:r"]);
    }

    #[test]
    fn large_images_are_reencoded_to_fit() {
        let img = image::RgbImage::from_fn(900, 900, |x, y| {
            image::Rgb([((x * 7) ^ (y * 13)) as u8, ((x * y) % 251) as u8, (x + y) as u8])
        });
        let png = headshot::models::decode::encode_png(&img);
        let a = Attachment {
            name: "x-4x5.png".into(),
            mime: "image/png".into(),
            width: 900,
            height: 900,
            bytes: png.clone(),
        };
        let limit = png.len() / 4;
        let fitted = fit(a, limit);
        assert!(fitted.bytes.len() <= limit);
        assert_eq!(fitted.name, "x-4x5.jpg");
        assert!(image::load_from_memory(&fitted.bytes).is_ok());
    }

    #[test]
    fn thread_names_carry_user_and_style() {
        let x = Extra {
            name: "ada".into(),
            ..Extra::default()
        };
        assert_eq!(
            thread_name(&x, "Corporate (headshot, studio)\n..."),
            "Headshots for ada · Corporate"
        );
    }
}
