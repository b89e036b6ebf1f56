//! Inbound Discord: slash commands, buttons and select menus, and selfies sent in DMs or in
//! messages that mention the bot, translated into the core's neutral events.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use headshot::Command as ChatCommand;
use headshot::{ChatRef, Event, Inbound, Platform, Service, Upload, UserKey};
use serenity::all::{
    Attachment, ChannelType, Command, CommandInteraction, ComponentInteraction, ComponentInteractionDataKind,
    Context, CreateInteractionResponse, CreateInteractionResponseMessage, EventHandler, GuildId, Interaction,
    Message, Ready, ResolvedOption, ResolvedValue,
};

use super::commands::commands;
use super::front::{DiscordFront, Extra, now_ms};
use super::ids::{Component, CustomId};
use crate::download::DownloadError;

pub(super) struct Handler {
    pub service: Service,
    pub front: Arc<OnceLock<Arc<DiscordFront>>>,
    pub guild: Option<u64>,
    pub max_download: u64,
    pub me: OnceLock<u64>,
    pub downloads: reqwest::Client,
}

fn option_text(value: &ResolvedValue<'_>) -> Option<String> {
    match value {
        ResolvedValue::String(s) => Some(s.to_string()),
        ResolvedValue::Integer(i) => Some(i.to_string()),
        ResolvedValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a slash command asks of the core, read from its name and options before any download.
pub(crate) enum CommandReading<'a> {
    /// Events for the core, in order.
    Events(Vec<Event>),
    /// `/headshot`: settings events first, then the selfie (if attached) with its style as a
    /// caption.
    Headshot {
        events: Vec<Event>,
        selfie: Option<&'a Attachment>,
        caption: Option<String>,
    },
    /// `/server`: the server's delivery policy (`None`: back to any).
    Server(Option<String>),
}

/// Reads a slash command as [`Handler`] handles it.
pub(crate) fn read_command<'a>(name: &str, options: &[ResolvedOption<'a>]) -> CommandReading<'a> {
    let text = |key: &str| {
        options
            .iter()
            .find(|o| o.name == key)
            .and_then(|o| option_text(&o.value))
    };
    let settings = |keys: &[&str]| -> Vec<Event> {
        keys.iter()
            .filter_map(|key| text(key).map(|v| Event::Command(ChatCommand::from_parts(key, &v))))
            .collect()
    };
    match name {
        "headshot" => CommandReading::Headshot {
            events: settings(&["mode", "crop"]),
            selfie: options.iter().find_map(|o| match o.value {
                ResolvedValue::Attachment(a) => Some(a),
                _ => None,
            }),
            caption: text("style").map(|s| format!("/style {s}")),
        },
        "style" => CommandReading::Events(vec![Event::Command(match text("style") {
            Some(s) => ChatCommand::from_parts("style", &s),
            None => ChatCommand::Styles,
        })]),
        "settings" => {
            let events = settings(&["delivery", "mode", "crop", "variants"]);
            if events.is_empty() {
                CommandReading::Events(vec![Event::Command(ChatCommand::Settings)])
            } else {
                CommandReading::Events(events)
            }
        }
        "server" => CommandReading::Server(text("delivery").filter(|v| v != "any")),
        other => CommandReading::Events(vec![Event::Command(ChatCommand::from_parts(
            other,
            &text("style").unwrap_or_default(),
        ))]),
    }
}

fn is_thread(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    )
}

impl Handler {
    fn user_key(uid: u64) -> UserKey {
        UserKey::new(Platform::Discord, uid.to_string())
    }

    fn public_threads(&self, uid: u64) -> bool {
        self.service
            .store()
            .user(&Self::user_key(uid))
            .ok()
            .flatten()
            .is_some_and(|u| u.settings.public_thread)
    }

    #[allow(clippy::too_many_arguments)]
    fn chat(
        &self,
        uid: u64,
        name: &str,
        channel: u64,
        guild: Option<GuildId>,
        reply_to: u64,
        token: Option<&str>,
        in_thread: bool,
        size_limit: u32,
        ephemeral: bool,
    ) -> ChatRef {
        let policy = guild
            .and_then(|g| {
                let server = g.get().to_string();
                self.service
                    .store()
                    .server_setting(Platform::Discord, &server, "delivery")
                    .ok()
                    .flatten()
            })
            .unwrap_or_default();
        let extra = Extra {
            policy,
            token: token.map(str::to_string),
            at_ms: now_ms(),
            uid,
            name: name.to_string(),
            public: self.public_threads(uid),
            in_thread,
            size_limit: size_limit as u64,
            ephemeral,
        };
        ChatRef {
            platform: Platform::Discord,
            // A private chat is named by its user, as the core's private delivery does.
            chat_id: if guild.is_some() {
                channel.to_string()
            } else {
                uid.to_string()
            },
            thread_id: None,
            reply_to: Some(reply_to.to_string()),
            server_id: guild.map(|g| g.get().to_string()),
            is_group: guild.is_some(),
            extra: serde_json::to_string(&extra).ok(),
        }
    }

    async fn handle(&self, user: u64, chat: &ChatRef, event: Event) {
        self.service
            .handle(Inbound {
                user: Self::user_key(user),
                chat: chat.clone(),
                event,
            })
            .await;
    }

    /// Downloads a user's attachment with our limits: declared size, status, and a hard cap
    /// while streaming (serenity's own download checks neither).
    async fn download(&self, a: &Attachment) -> Result<Vec<u8>, DownloadError> {
        let limit = self.max_download;
        if a.size as u64 > limit {
            return Err(DownloadError::TooLarge {
                bytes: limit + 1,
                limit,
            });
        }
        let mut response = self
            .downloads
            .get(&a.url)
            .send()
            .await
            .map_err(|e| DownloadError::Failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(DownloadError::Failed(format!("HTTP {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(DownloadError::TooLarge {
                bytes: limit + 1,
                limit,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DownloadError::Failed(e.to_string()))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(DownloadError::TooLarge {
                    bytes: limit + 1,
                    limit,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Turns attachments into the core's event: photos, or a description of what they are.
    async fn photos(&self, files: &[&Attachment], caption: Option<String>, chat: &ChatRef) -> Option<Event> {
        let mut uploads = Vec::new();
        let mut other = None;
        for a in files {
            let image = a.content_type.as_deref().is_none_or(|t| t.starts_with("image/"));
            if !image {
                other = Some(headshot::text::describe_mime(
                    a.content_type.as_deref().unwrap_or(""),
                ));
                continue;
            }
            match self.download(a).await {
                Ok(bytes) => uploads.push(Upload {
                    bytes,
                    file_name: Some(a.filename.clone()),
                    message_id: Some(a.id.get().to_string()),
                }),
                Err(reason) => {
                    tracing::info!(%reason, "attachment refused");
                    let text = reason.user_text("Discord");
                    if let Some(front) = self.front.get() {
                        let message = headshot::Outbound::Text {
                            text,
                            buttons: Vec::new(),
                        };
                        if let Err(e) = headshot::FrontEnd::send(front.as_ref(), chat, message).await {
                            tracing::warn!(error = %e, "could not explain a refused attachment");
                        }
                    }
                    return None;
                }
            }
        }
        if uploads.is_empty() {
            return other.map(|w| Event::Other(w.to_string()));
        }
        Some(Event::Photos { uploads, caption })
    }

    async fn command(&self, ctx: &Context, cmd: CommandInteraction) {
        let name = cmd.data.name.clone();
        let ephemeral = name != "headshot";
        let defer =
            CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(ephemeral));
        if let Err(e) = cmd.create_response(&ctx.http, defer).await {
            tracing::warn!(error = %e, command = %name, "could not acknowledge a command");
            return;
        }
        let uid = cmd.user.id.get();
        let in_thread = cmd.channel.as_ref().is_some_and(|c| is_thread(c.kind));
        let chat = self.chat(
            uid,
            &cmd.user.name,
            cmd.channel_id.get(),
            cmd.guild_id,
            cmd.id.get(),
            Some(&cmd.token),
            in_thread,
            cmd.attachment_size_limit,
            ephemeral,
        );
        let options = cmd.data.options();
        match read_command(&name, &options) {
            CommandReading::Headshot {
                events,
                selfie,
                caption,
            } => {
                for event in events {
                    self.handle(uid, &chat, event).await;
                }
                let Some(selfie) = selfie else {
                    self.handle(uid, &chat, Event::Text(String::new())).await;
                    return;
                };
                if let Some(event) = self.photos(&[selfie], caption, &chat).await {
                    self.handle(uid, &chat, event).await;
                }
            }
            CommandReading::Events(events) => {
                for event in events {
                    self.handle(uid, &chat, event).await;
                }
            }
            CommandReading::Server(value) => {
                let admin = cmd
                    .member
                    .as_ref()
                    .and_then(|m| m.permissions)
                    .is_some_and(|p| p.manage_guild() || p.administrator());
                let reply = match (cmd.guild_id, admin) {
                    (None, _) => "This setting is for servers.".to_string(),
                    (Some(_), false) => "Only server admins (Manage Server) can change this.".to_string(),
                    (Some(g), true) => {
                        match self.service.store().set_server_setting(
                            Platform::Discord,
                            &g.get().to_string(),
                            "delivery",
                            value.as_deref(),
                        ) {
                            Ok(()) => format!(
                                "Delivery in this server: {}.",
                                policy_words(value.as_deref().unwrap_or("any"))
                            ),
                            Err(e) => {
                                tracing::error!(error = %e, "storing a server setting failed");
                                "Sorry, I couldn't save that. Please try again.".to_string()
                            }
                        }
                    }
                };
                if let Some(front) = self.front.get() {
                    let message = headshot::Outbound::Text {
                        text: reply,
                        buttons: Vec::new(),
                    };
                    let _ = headshot::FrontEnd::send(front.as_ref(), &chat, message).await;
                }
            }
        }
    }

    async fn component(&self, ctx: &Context, c: ComponentInteraction) {
        let presser = c.user.id.get();
        let CustomId { owner, component } = CustomId::parse(&c.data.custom_id);
        if owner.is_some_and(|o| o != presser) {
            let refuse = CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content("Only the person who asked for these headshots can use these buttons.")
                    .ephemeral(true),
            );
            let _ = c.create_response(&ctx.http, refuse).await;
            return;
        }
        let data = match component {
            Component::Delete(key) => {
                let _ = c
                    .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
                    .await;
                let sent = self
                    .front
                    .get()
                    .map(|f| f.take_sent(presser, &key))
                    .unwrap_or_default();
                for (channel, message) in sent {
                    let _ = channel.delete_message(&ctx.http, message).await;
                }
                let _ = c.channel_id.delete_message(&ctx.http, c.message.id).await;
                return;
            }
            Component::Pick => match &c.data.kind {
                ComponentInteractionDataKind::StringSelect { values } => match values.first() {
                    Some(v) => v.clone(),
                    None => return,
                },
                _ => "pick".to_string(),
            },
            Component::Core(data) => data,
        };
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        if let Err(e) = c.create_response(&ctx.http, defer).await {
            tracing::warn!(error = %e, "could not acknowledge a button");
            return;
        }
        let in_thread = c.channel.as_ref().is_some_and(|ch| is_thread(ch.kind));
        let chat = self.chat(
            presser,
            &c.user.name,
            c.channel_id.get(),
            c.guild_id,
            c.id.get(),
            Some(&c.token),
            in_thread,
            c.attachment_size_limit,
            false,
        );
        self.handle(presser, &chat, Event::Button { data }).await;
    }

    async fn message_in(&self, msg: Message) {
        if msg.author.bot {
            return;
        }
        let me = self.me.get().copied().unwrap_or(0);
        if msg.guild_id.is_some() && !msg.mentions.iter().any(|u| u.id.get() == me) {
            return;
        }
        let uid = msg.author.id.get();
        let content = msg
            .content
            .replace(&format!("<@{me}>"), "")
            .replace(&format!("<@!{me}>"), "")
            .trim()
            .to_string();
        let chat = self.chat(
            uid,
            &msg.author.name,
            msg.channel_id.get(),
            msg.guild_id,
            msg.id.get(),
            None,
            false,
            0,
            false,
        );
        let event = if !msg.attachments.is_empty() {
            let files: Vec<&Attachment> = msg.attachments.iter().collect();
            let caption = content.starts_with('/').then(|| content.clone());
            match self.photos(&files, caption, &chat).await {
                Some(e) => e,
                None => return,
            }
        } else if let Some(command) = ChatCommand::parse(&content) {
            Event::Command(command)
        } else {
            Event::Text(content)
        };
        self.handle(uid, &chat, event).await;
    }
}

fn policy_words(value: &str) -> &'static str {
    match value {
        "private" => "private threads only",
        "dm" => "direct messages only",
        _ => "each user's choice",
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.me.set(ready.user.id.get());
        tracing::info!(user = %ready.user.name, "discord bot connected");
        let list = commands(&self.service);
        let registered = match self.guild {
            Some(g) => GuildId::new(g)
                .set_commands(&ctx.http, list)
                .await
                .map(|c| c.len()),
            None => Command::set_global_commands(&ctx.http, list)
                .await
                .map(|c| c.len()),
        };
        match registered {
            Ok(n) => tracing::info!(commands = n, "slash commands registered"),
            Err(e) => tracing::error!(error = %e, "registering slash commands failed"),
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => self.command(&ctx, cmd).await,
            Interaction::Component(c) => self.component(&ctx, c).await,
            _ => {}
        }
    }

    async fn message(&self, _ctx: Context, msg: Message) {
        self.message_in(msg).await;
    }
}

/// How long a download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
