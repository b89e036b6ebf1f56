//! A local fake of Discord for serenity 0.12.5: the REST API under `/api/v10` (axum) and the
//! gateway (tokio-tungstenite, uncompressed JSON text frames), with injected events and
//! failures and every REST request recorded.
//!
//! Wiring (the facts behind it are in `docs/platforms.md`):
//! ```ignore
//! let fake = DiscordFake::start().await;
//! let http = HttpBuilder::new(TOKEN).proxy(fake.api_base()).ratelimiter_disabled(true).build();
//! let client = ClientBuilder::new_with_http(http, intents).event_handler(h).await?;
//! ```
//! `api_base()` is `http://127.0.0.1:PORT`: serenity replaces `https://discord.com` in every
//! route with it, so requests arrive as `/api/v10/...`. `GET /api/v10/gateway` answers the
//! fake gateway's `ws://127.0.0.1:PORT2` (serenity appends `?v=10`).
//!
//! Model of the world: channels must be known before the bot can post in them (injected
//! events register theirs; `add_channel` for others), else 404 "Unknown Channel". An
//! interaction token accepts webhook calls only after its callback, as on Discord. Dispatches
//! injected while no gateway session is live are queued and sent after the next READY or
//! RESUMED. MESSAGE_CREATE obeys the identified intents (DIRECT_MESSAGES / GUILD_MESSAGES;
//! without MESSAGE_CONTENT, guild messages that do not mention the bot lose their content),
//! and, as on Discord, the bot's own non-ephemeral messages come back as MESSAGE_CREATE.
//!
//! Paths in [`Req`] and in failure patterns drop the `/api/v10` prefix; `*` matches one
//! segment, a trailing `**` any rest: `fail_next("POST", "/channels/*/messages", ..)`.

mod gateway;
mod json;
mod messages;
mod rest;
mod world;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse as WsError, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use gateway::*;
pub use json::*;
use messages::*;
use rest::*;
pub use world::*;

/// The running fake. Cheap to clone.
#[derive(Clone)]
pub struct DiscordFake {
    shared: Arc<Shared>,
    base: String,
    ws_url: String,
}

impl DiscordFake {
    pub async fn start() -> DiscordFake {
        let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", rest.local_addr().unwrap());
        let ws_url = format!("ws://{}", gateway.local_addr().unwrap());
        let data = Data {
            base: base.clone(),
            ws_url: ws_url.clone(),
            upload_limit: 10 * MIB,
            size_limit: 10 * MIB,
            app_permissions: DEFAULT_APP_PERMISSIONS,
            ..Data::default()
        };
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            changed: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .layer(DefaultBodyLimit::max(256 * MIB as usize));
        tokio::spawn(async move { axum::serve(rest, app).await.unwrap() });
        tokio::spawn(accept_loop(shared.clone(), gateway));
        DiscordFake { shared, base, ws_url }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap()
    }

    fn changed(&self) {
        self.shared.changed.notify_waiters();
    }

    /// What to pass to `HttpBuilder::proxy`: `http://127.0.0.1:PORT`, no path.
    pub fn api_base(&self) -> String {
        self.base.clone()
    }

    /// The gateway URL `GET /gateway` hands out.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    // ----- requests -----

    pub fn requests(&self) -> Vec<Req> {
        self.data().requests.clone()
    }

    pub fn requests_to(&self, method: &str, pattern: &str) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.is(method, pattern))
            .collect()
    }

    /// Waits until `pred` holds over the request log; panics after `timeout` listing it.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Req]) -> bool) -> Vec<Req> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let reqs = self.requests();
            if pred(reqs.as_slice()) {
                return reqs;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let reqs = self.requests();
                if pred(reqs.as_slice()) {
                    return reqs;
                }
                let lines: Vec<String> = reqs.iter().map(Req::summary).collect();
                panic!(
                    "fake Discord: timed out after {timeout:?}; requests:\n{}",
                    lines.join("\n")
                );
            }
        }
    }

    // ----- failures and switches -----

    /// The next `times` requests matching `method` (or "*") and `pattern` answer `status` with
    /// `body`. `usize::MAX` means always.
    pub fn fail_next(&self, method: &str, pattern: &str, status: u16, body: Value, times: usize) {
        self.inject_failure(method, pattern, Injected::new(status, body), times);
    }

    pub fn inject_failure(&self, method: &str, pattern: &str, answer: Injected, times: usize) {
        let pattern = pattern.strip_prefix("/api/v10").unwrap_or(pattern).to_string();
        self.data()
            .failures
            .push((method.to_string(), pattern, answer, times));
    }

    /// Every webhook call with `token` answers 401 50027 "Invalid Webhook Token" (as after 15
    /// minutes), and its callback 404 10062 "Unknown interaction".
    pub fn expire_token(&self, token: &str) {
        self.data().expired.insert(token.to_string());
    }

    /// Gives `user` Manage Server (and Administrator) in every guild's interactions.
    pub fn grant_admin(&self, user: u64) {
        self.data().admins.insert(user);
    }

    /// Thread creation answers 403 50013 "Missing Permissions".
    pub fn forbid_threads(&self, on: bool) {
        self.data().forbid_threads = on;
    }

    /// Messages to `user`'s DM channel answer 403 50007 "Cannot send messages to this user".
    pub fn block_dms(&self, user: u64) {
        self.data().blocked_dms.insert(user);
    }

    pub fn set_app_permissions(&self, bits: u64) {
        self.data().app_permissions = bits;
    }

    /// `attachment_size_limit` sent in interactions (default 10 MiB).
    pub fn set_attachment_size_limit(&self, bytes: u64) {
        self.data().size_limit = bytes;
    }

    /// Uploads above this per file answer 413 40005 (default 10 MiB).
    pub fn set_upload_limit(&self, bytes: u64) {
        self.data().upload_limit = bytes;
    }

    /// Makes guild text channel `channel` known.
    pub fn add_channel(&self, channel: u64, guild: u64) {
        ensure_guild_channel(&mut self.data(), channel, guild);
    }

    // ----- state -----

    pub fn message(&self, id: u64) -> Option<Value> {
        self.data().messages.get(&id).cloned()
    }

    /// Messages in `channel` by id (the bot's and injected ones).
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let d = self.data();
        let mut out: Vec<(u64, Value)> = d
            .messages
            .iter()
            .filter(|(_, m)| id_of(&m["channel_id"]) == Some(channel))
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// The original response of the interaction with `token`.
    pub fn original(&self, token: &str) -> Option<Value> {
        let d = self.data();
        let id = d.interactions.get(token)?.original?;
        d.messages.get(&id).cloned()
    }

    pub fn channel(&self, id: u64) -> Option<Value> {
        self.data().channels.get(&id).cloned()
    }

    /// Threads created so far.
    pub fn threads(&self) -> Vec<Value> {
        let d = self.data();
        d.channels
            .values()
            .filter(|c| matches!(c["type"].as_u64(), Some(11 | 12)))
            .cloned()
            .collect()
    }

    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.data().dms.get(&user).copied()
    }

    /// Registered commands: global (`None`) or of a guild.
    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        self.data().commands.get(&guild).cloned().unwrap_or_default()
    }

    /// The newest message in `channel` with a component whose custom id starts with `prefix`.
    pub fn find_component(&self, channel: u64, prefix: &str) -> Option<(u64, String)> {
        self.messages_in(channel).iter().rev().find_map(|m| {
            let id = custom_ids(&m["components"])
                .into_iter()
                .find(|c| c.starts_with(prefix))?;
            Some((id_of(&m["id"])?, id))
        })
    }

    // ----- attachments users send -----

    /// Serves `bytes` at the returned URL; `name` is also the handle for injectors.
    pub fn register_attachment(&self, name: &str, bytes: Vec<u8>, content_type: &str) -> String {
        let mut d = self.data();
        let key = url_key(name);
        d.files.insert(
            key.clone(),
            Upload {
                content_type: content_type.into(),
                bytes,
                declared: None,
            },
        );
        format!("{}/attachments/{key}", d.base)
    }

    /// Makes attachment objects for `name` announce `size` instead of the real length.
    pub fn declare_attachment_size(&self, name: &str, size: u64) {
        if let Some(u) = self.data().files.get_mut(&url_key(name)) {
            u.declared = Some(size);
        }
    }

    // ----- injected gateway events -----

    /// Sends (or queues until a session is live) a raw dispatch.
    pub fn dispatch(&self, event: &str, payload: Value) {
        dispatch(&mut self.data(), event, payload);
        self.changed();
    }

    /// A slash command. `options` is Discord's option array; an option of type 11 whose
    /// `value` is the name of a registered attachment is resolved (see [`opt_attachment`]).
    pub fn slash_command(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        name: &str,
        options: Value,
    ) -> (u64, String) {
        let mut d = self.data();
        let mut options = if options.is_array() { options } else { json!([]) };
        let mut resolved = Map::new();
        for opt in options.as_array_mut().unwrap() {
            if opt["type"].as_u64() == Some(11)
                && let Some(a) = opt["value"].as_str().and_then(|n| user_attachment(&mut d, n))
            {
                opt["value"] = a["id"].clone();
                resolved.insert(a["id"].as_str().unwrap().to_string(), a);
            }
        }
        let registered = [guild, None]
            .iter()
            .filter_map(|g| d.commands.get(g))
            .flatten()
            .find(|c| c["name"] == name)
            .map(|c| c["id"].clone());
        let command_id = registered.unwrap_or_else(|| json!("1200000000000000100"));
        let data = json!({"id": command_id, "name": name, "type": 1, "options": options,
            "resolved": {"attachments": resolved}});
        let out = interaction(&mut d, 2, user, channel, guild, data, None);
        drop(d);
        self.changed();
        out
    }

    /// A button press (component_type 2) on message `message`.
    pub fn button(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        message: u64,
        custom_id: &str,
    ) -> (u64, String) {
        self.component(
            user,
            channel,
            guild,
            message,
            json!({"custom_id": custom_id, "component_type": 2}),
        )
    }

    /// A string select (component_type 3) on message `message`.
    pub fn select(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        message: u64,
        custom_id: &str,
        values: &[&str],
    ) -> (u64, String) {
        let data = json!({"custom_id": custom_id, "component_type": 3, "values": values});
        self.component(user, channel, guild, message, data)
    }

    fn component(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        message: u64,
        data: Value,
    ) -> (u64, String) {
        let mut d = self.data();
        assert!(
            d.messages.contains_key(&message),
            "fake Discord: no message {message}"
        );
        let out = interaction(&mut d, 3, user, channel, guild, data, Some(message));
        drop(d);
        self.changed();
        out
    }

    /// A DM from `user` in DM channel `channel` with registered attachments; returns its id.
    pub fn dm_message(&self, user: u64, channel: u64, content: &str, attachments: &[&str]) -> u64 {
        self.user_message(user, channel, None, content, attachments)
    }

    /// A guild message; it mentions the bot when `content` contains `<@BOT_ID>`.
    pub fn guild_message(
        &self,
        user: u64,
        channel: u64,
        guild: u64,
        content: &str,
        attachments: &[&str],
    ) -> u64 {
        self.user_message(user, channel, Some(guild), content, attachments)
    }

    fn user_message(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        content: &str,
        attachments: &[&str],
    ) -> u64 {
        let mut d = self.data();
        match guild {
            Some(g) => ensure_guild_channel(&mut d, channel, g),
            None => {
                ensure_dm(&mut d, user, Some(channel));
            }
        }
        let files: Vec<Value> = attachments
            .iter()
            .map(|n| {
                user_attachment(&mut d, n)
                    .unwrap_or_else(|| panic!("fake Discord: attachment {n} not registered"))
            })
            .collect();
        let id = d.snowflake();
        let mentions_bot = content.contains(format!("<@{BOT_ID}>").as_str())
            || content.contains(format!("<@!{BOT_ID}>").as_str());
        let mut m = message_skeleton(id, channel, user_json(user));
        m["content"] = json!(content);
        m["attachments"] = json!(files);
        m["mentions"] = if mentions_bot {
            json!([bot_user()])
        } else {
            json!([])
        };
        d.messages.insert(id, m.clone());
        if let Some(g) = guild {
            m["guild_id"] = json!(g.to_string());
            let mut member = member_json(user);
            member.as_object_mut().unwrap().remove("user");
            m["member"] = member;
        }
        dispatch(&mut d, "MESSAGE_CREATE", m);
        drop(d);
        self.changed();
        id
    }

    // ----- gateway control -----

    pub fn gateway(&self) -> GatewayStats {
        gateway_stats(&self.data())
    }

    pub async fn wait_gateway(
        &self,
        timeout: Duration,
        pred: impl Fn(&GatewayStats) -> bool,
    ) -> GatewayStats {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let stats = self.gateway();
            if pred(&stats) {
                return stats;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let stats = self.gateway();
                if pred(&stats) {
                    return stats;
                }
                let mut shown = stats.clone();
                shown.received.retain(|p| p["op"] != 1);
                panic!("fake Discord gateway: timed out after {timeout:?}: {shown:?}");
            }
        }
    }

    /// Waits for a live session with at least `identifies` IDENTIFYs so far.
    pub async fn wait_ready(&self, identifies: usize, timeout: Duration) -> GatewayStats {
        self.wait_gateway(timeout, |g| g.active && g.identifies >= identifies)
            .await
    }

    fn to_connections(&self, out: impl Fn() -> Out) {
        for tx in self.data().gw.conns.values() {
            let _ = tx.send(out());
        }
    }

    /// Closes every connection with close `code` (4000: serenity resumes; 4004: it gives up
    /// with InvalidAuthentication; 4009: it re-identifies).
    pub fn gateway_close(&self, code: u16) {
        self.to_connections(|| Out::Close(code));
    }

    /// Drops every connection without a close frame.
    pub fn gateway_drop(&self) {
        self.to_connections(|| Out::Drop);
    }

    /// Sends a raw payload on every connection, e.g. `{"op":7,"d":null}` (RECONNECT) or
    /// `{"op":9,"d":false}` (INVALID_SESSION).
    pub fn gateway_send(&self, payload: Value) {
        let text = payload.to_string();
        self.to_connections(|| Out::Text(text.clone()));
    }

    /// While off, new connections are dropped right after TCP accept.
    pub fn gateway_accepting(&self, on: bool) {
        self.data().gw.accepting = on;
    }

    /// While off, RESUME answers INVALID_SESSION (false) and serenity re-identifies, which
    /// its shard queuer delays up to 5 s.
    pub fn gateway_resume_ok(&self, on: bool) {
        self.data().gw.resume_ok = on;
    }

    pub fn gateway_ack_heartbeats(&self, on: bool) {
        self.data().gw.ack_heartbeats = on;
    }

    /// HELLO's heartbeat_interval for later connections (default 41250 ms).
    pub fn set_heartbeat_interval(&self, ms: u64) {
        self.data().gw.heartbeat_interval = ms;
    }
}

/// A string option for [`DiscordFake::slash_command`].
pub fn opt_string(name: &str, value: &str) -> Value {
    json!({"name": name, "type": 3, "value": value})
}

/// An integer option.
pub fn opt_int(name: &str, value: i64) -> Value {
    json!({"name": name, "type": 4, "value": value})
}

/// An attachment option naming a registered attachment.
pub fn opt_attachment(name: &str, attachment: &str) -> Value {
    json!({"name": name, "type": 11, "value": attachment})
}

// ----- JSON shapes -----
