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

/// The bot token the fake accepts (REST `Authorization: Bot TOKEN`, IDENTIFY token).
pub const TOKEN: &str = "fake-discord-token";
/// The application id; the bot user has the same id, as for modern Discord apps.
pub const APP_ID: u64 = 1_200_000_000_000_000_001;
pub const BOT_ID: u64 = APP_ID;
pub const BOT_NAME: &str = "headshot";
/// The guild READY lists (tests may use any other id).
pub const GUILD_ID: u64 = 1_200_000_000_000_000_002;
/// Gateway intent bits the fake honours.
pub const GUILD_MESSAGES: u64 = 1 << 9;
pub const DIRECT_MESSAGES: u64 = 1 << 12;
pub const MESSAGE_CONTENT: u64 = 1 << 15;
/// Message flags.
pub const EPHEMERAL: u64 = 1 << 6;
pub const LOADING: u64 = 1 << 7;
const SUPPRESS_EMBEDS: u64 = 1 << 2;
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
const MIB: u64 = 1 << 20;
/// VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY,
/// USE_APPLICATION_COMMANDS, CREATE_PUBLIC/PRIVATE_THREADS, SEND_MESSAGES_IN_THREADS.
pub const DEFAULT_APP_PERMISSIONS: u64 =
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31) | (1 << 35) | (1 << 36) | (1 << 38);

/// A file part of a multipart request.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// `files[N]` as serenity names them.
    pub field: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// One REST request (or attachment download) the fake received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path without `/api/v10`; downloads are `/attachments/...`.
    pub path: String,
    /// Raw query; serenity writes `?&wait=true` style, so this may start with `&`.
    pub query: String,
    /// JSON body, or the parsed `payload_json` of a multipart body; Null if none.
    pub body: Value,
    pub files: Vec<FilePart>,
    pub auth: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    pub at: Instant,
}

impl Req {
    pub fn is(&self, method: &str, pattern: &str) -> bool {
        (method == "*" || self.method.eq_ignore_ascii_case(method)) && path_matches(pattern, &self.path)
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The message part of the body: `data` of an interaction callback, else the body.
    pub fn message(&self) -> &Value {
        if self.path.ends_with("/callback") {
            &self.body["data"]
        } else {
            &self.body
        }
    }

    pub fn content(&self) -> Option<&str> {
        self.message()["content"].as_str()
    }

    /// 4 message, 5 deferred, 6 deferred update, 7 update message, 9 modal.
    pub fn callback_type(&self) -> Option<u64> {
        self.path
            .ends_with("/callback")
            .then(|| self.body["type"].as_u64())
            .flatten()
    }

    pub fn flags(&self) -> u64 {
        self.message()["flags"].as_u64().unwrap_or(0)
    }

    pub fn custom_ids(&self) -> Vec<String> {
        custom_ids(&self.message()["components"])
    }

    pub fn file_names(&self) -> Vec<String> {
        self.files.iter().filter_map(|f| f.filename.clone()).collect()
    }

    pub fn summary(&self) -> String {
        let mut body = self.body.to_string();
        if body.len() > 300 {
            body = format!("{}…", body.chars().take(300).collect::<String>());
        }
        format!(
            "{} {} {}{} files={:?} {body}",
            self.status,
            self.method,
            self.path,
            if self.query.is_empty() {
                String::new()
            } else {
                format!("?{}", self.query)
            },
            self.file_names()
        )
    }
}

/// An answer to inject instead of the normal one.
#[derive(Debug, Clone)]
pub struct Injected {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Injected {
    pub fn new(status: u16, body: Value) -> Injected {
        Injected {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// Discord's JSON error `{"code", "message"}`.
    pub fn discord(status: u16, code: u64, message: &str) -> Injected {
        Injected::new(status, json!({"code": code, "message": message}))
    }

    /// 429 as Discord sends it: the body has no `code` (serenity then reports code -1) and
    /// `Retry-After` is whole seconds, rounded up.
    pub fn rate_limited(retry_after: f64) -> Injected {
        let reset = now_ms() as f64 / 1000.0 + retry_after;
        let h = |k: &str, v: String| (k.to_string(), v);
        Injected {
            status: 429,
            body: json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false}),
            headers: vec![
                h("Retry-After", (retry_after.ceil() as u64).to_string()),
                h("X-RateLimit-Limit", "5".into()),
                h("X-RateLimit-Remaining", "0".into()),
                h("X-RateLimit-Reset", format!("{reset:.3}")),
                h("X-RateLimit-Reset-After", format!("{retry_after:.3}")),
                h("X-RateLimit-Bucket", "fakebucket0001".into()),
                h("X-RateLimit-Scope", "user".into()),
            ],
        }
    }

    pub fn server_error() -> Injected {
        Injected::discord(500, 0, "500: Internal Server Error")
    }
    pub fn missing_access() -> Injected {
        Injected::discord(403, 50001, "Missing Access")
    }
    pub fn missing_permissions() -> Injected {
        Injected::discord(403, 50013, "Missing Permissions")
    }
    pub fn unknown_webhook() -> Injected {
        Injected::discord(404, 10015, "Unknown Webhook")
    }
    pub fn invalid_webhook_token() -> Injected {
        Injected::discord(401, 50027, "Invalid Webhook Token")
    }
    pub fn unknown_interaction() -> Injected {
        Injected::discord(404, 10062, "Unknown interaction")
    }
}

/// What the gateway saw.
#[derive(Debug, Clone, Default)]
pub struct GatewayStats {
    /// WebSocket connections accepted, ever.
    pub connections: usize,
    /// Connections open now.
    pub open: usize,
    /// Whether a session is live (READY or RESUMED sent on an open connection).
    pub active: bool,
    pub identifies: usize,
    pub resumes: usize,
    /// From the last IDENTIFY: intents, token (serenity sends `Bot <token>`), whole `d`.
    pub intents: Option<u64>,
    pub token: Option<String>,
    pub identify: Option<Value>,
    /// Request URI of the last connection (`/?v=10`).
    pub uri: Option<String>,
    /// Every payload received, in order.
    pub received: Vec<Value>,
    /// Dispatch names sent, in order (READY included), and those withheld for missing intents.
    pub dispatched: Vec<String>,
    pub filtered: Vec<String>,
}

enum Out {
    Text(String),
    Close(u16),
    Drop,
}

struct Gateway {
    stats: GatewayStats,
    conns: HashMap<u64, mpsc::UnboundedSender<Out>>,
    next_conn: u64,
    active: Option<u64>,
    sessions: HashSet<String>,
    seq: u64,
    queued: Vec<(String, Value)>,
    accepting: bool,
    resume_ok: bool,
    ack_heartbeats: bool,
    heartbeat_interval: u64,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            stats: GatewayStats::default(),
            conns: HashMap::new(),
            next_conn: 0,
            active: None,
            sessions: HashSet::new(),
            seq: 0,
            queued: Vec::new(),
            accepting: true,
            resume_ok: true,
            ack_heartbeats: true,
            heartbeat_interval: 41_250,
        }
    }
}

/// An interaction the fake issued, by token.
struct Pending {
    id: u64,
    channel: u64,
    command: bool,
    acked: bool,
    /// The original response message (a component's message until answered otherwise).
    original: Option<u64>,
}

struct Upload {
    content_type: String,
    bytes: Vec<u8>,
    declared: Option<u64>,
}

#[derive(Default)]
struct Data {
    /// Members with Manage Server in every guild.
    admins: std::collections::HashSet<u64>,
    base: String,
    ws_url: String,
    last_id: u64,
    requests: Vec<Req>,
    failures: Vec<(String, String, Injected, usize)>,
    messages: HashMap<u64, Value>,
    channels: HashMap<u64, Value>,
    dms: HashMap<u64, u64>,
    blocked_dms: HashSet<u64>,
    interactions: HashMap<String, Pending>,
    expired: HashSet<String>,
    files: HashMap<String, Upload>,
    commands: HashMap<Option<u64>, Vec<Value>>,
    forbid_threads: bool,
    upload_limit: u64,
    size_limit: u64,
    app_permissions: u64,
    gw: Gateway,
}

impl Data {
    /// A snowflake carrying the current time, strictly increasing.
    fn snowflake(&mut self) -> u64 {
        let t = now_ms().saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = t.max(self.last_id + 1);
        self.last_id
    }
}

struct Shared {
    data: Mutex<Data>,
    changed: Notify,
}

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

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// RFC 3339 in UTC with microseconds, as Discord writes it.
fn timestamp(ms: u64) -> String {
    let (secs, days) = (ms / 1000, (ms / 86_400_000) as i64);
    // Days to civil date (proleptic Gregorian), eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms % 1000
    )
}

fn now_ts() -> String {
    timestamp(now_ms())
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn bot_user() -> Value {
    json!({"id": BOT_ID.to_string(), "username": BOT_NAME, "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0, "public_flags": 0})
}

fn user_json(id: u64) -> Value {
    json!({"id": id.to_string(), "username": format!("user{}", id % 100_000), "discriminator": "0",
        "global_name": format!("User {}", id % 100_000), "avatar": null, "public_flags": 0, "flags": 0})
}

fn member_json(user: u64) -> Value {
    json!({"user": user_json(user), "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false, "nick": null, "avatar": null,
        "premium_since": null, "communication_disabled_until": null, "permissions": "2248473465835073"})
}

fn message_skeleton(id: u64, channel: u64, author: Value) -> Value {
    json!({"id": id.to_string(), "channel_id": channel.to_string(), "author": author, "content": "",
        "timestamp": now_ts(), "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false,
        "type": 0, "flags": 0, "components": []})
}

fn ensure_guild_channel(d: &mut Data, channel: u64, guild: u64) {
    d.channels.entry(channel).or_insert_with(|| {
        json!({"id": channel.to_string(), "type": 0,
        "guild_id": guild.to_string(), "name": "general", "position": 0, "permission_overwrites": [],
        "nsfw": false, "parent_id": null, "topic": null, "last_message_id": null,
        "rate_limit_per_user": 0, "flags": 0})
    });
}

/// The DM channel with `user` (`channel` if given, else the known or a new one).
fn ensure_dm(d: &mut Data, user: u64, channel: Option<u64>) -> u64 {
    if let Some(known) = d.dms.get(&user).copied()
        && channel.is_none_or(|c| c == known)
    {
        return known;
    }
    let id = channel.unwrap_or_else(|| d.snowflake());
    d.dms.insert(user, id);
    d.channels.insert(
        id,
        json!({"id": id.to_string(), "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [user_json(user)]}),
    );
    id
}

fn url_key(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    Some((
        u32::from_be_bytes(b[16..20].try_into().ok()?),
        u32::from_be_bytes(b[20..24].try_into().ok()?),
    ))
}

fn attachment_json(
    d: &mut Data,
    key: &str,
    filename: &str,
    size: u64,
    content_type: &str,
    bytes: &[u8],
) -> Value {
    let url = format!("{}/attachments/{key}", d.base);
    let mut a = json!({"id": d.snowflake().to_string(), "filename": filename, "size": size, "url": url,
        "proxy_url": url, "content_type": content_type});
    if let Some((w, h)) = png_size(bytes) {
        a["width"] = json!(w);
        a["height"] = json!(h);
    }
    a
}

/// An attachment object for the registered attachment `name` (a new id each time).
fn user_attachment(d: &mut Data, name: &str) -> Option<Value> {
    let key = url_key(name);
    let u = d.files.get(&key)?;
    let (ct, bytes, size) = (
        u.content_type.clone(),
        u.bytes.clone(),
        u.declared.unwrap_or(u.bytes.len() as u64),
    );
    Some(attachment_json(d, &key, name, size, &ct, &bytes))
}

/// Stores an uploaded file and returns its attachment object.
fn upload(d: &mut Data, part: &FilePart, name: Option<&str>) -> Value {
    let filename = name.or(part.filename.as_deref()).unwrap_or("file").to_string();
    let content_type = part
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let key = format!("u{}/{}", d.last_id + 1, url_key(&filename));
    let a = attachment_json(
        d,
        &key,
        &filename,
        part.bytes.len() as u64,
        &content_type,
        &part.bytes,
    );
    d.files.insert(
        key,
        Upload {
            content_type,
            bytes: part.bytes.clone(),
            declared: None,
        },
    );
    a
}

pub fn custom_ids(components: &Value) -> Vec<String> {
    let rows = components.as_array().into_iter().flatten();
    rows.flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(String::from))
        .collect()
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.strip_prefix("/api/v10").unwrap_or(pattern);
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let seg = |(a, b): (&&str, &&str)| *a == "*" || a == b;
    match p.split_last() {
        Some((&"**", head)) => s.len() >= head.len() && head.iter().zip(&s).all(seg),
        _ => p.len() == s.len() && p.iter().zip(&s).all(seg),
    }
}

// ----- interactions and dispatch -----

fn interaction(
    d: &mut Data,
    kind: u64,
    user: u64,
    channel: u64,
    guild: Option<u64>,
    data: Value,
    message: Option<u64>,
) -> (u64, String) {
    match guild {
        Some(g) => ensure_guild_channel(d, channel, g),
        None => {
            let dm = d.channels.get(&channel).is_some_and(|c| c["type"] == 1);
            if !dm {
                ensure_dm(d, user, Some(channel));
            }
        }
    }
    let id = d.snowflake();
    let token = format!("aW50ZXJhY3Rpb246{id}fake{}", id % 9973);
    let mut v = json!({"id": id.to_string(), "application_id": APP_ID.to_string(), "type": kind,
        "data": data, "channel_id": channel.to_string(), "channel": d.channels[&channel].clone(),
        "token": token, "version": 1, "app_permissions": d.app_permissions.to_string(),
        "locale": "en-US", "entitlements": [], "attachment_size_limit": d.size_limit});
    if let Some(m) = message {
        v["message"] = d.messages[&m].clone();
    }
    match guild {
        Some(g) => {
            v["guild_id"] = json!(g.to_string());
            v["guild_locale"] = json!("en-US");
            v["member"] = member_json(user);
            if d.admins.contains(&user) {
                // ADMINISTRATOR | MANAGE_GUILD on top of the usual permissions.
                v["member"]["permissions"] = json!((2248473465835073u64 | 8 | 32).to_string());
            }
            v["context"] = json!(0);
            v["authorizing_integration_owners"] = json!({"0": g.to_string()});
        }
        None => {
            v["user"] = user_json(user);
            v["context"] = json!(1);
            v["authorizing_integration_owners"] = json!({"0": "0"});
        }
    }
    let pending = Pending {
        id,
        channel,
        command: kind == 2,
        acked: false,
        original: message,
    };
    d.interactions.insert(token.clone(), pending);
    dispatch(d, "INTERACTION_CREATE", v);
    (id, token)
}

fn dispatch(d: &mut Data, event: &str, payload: Value) {
    let Some(conn) = d.gw.active else {
        d.gw.queued.push((event.to_string(), payload));
        return;
    };
    if let Some(text) = event_text(d, event, payload)
        && let Some(tx) = d.gw.conns.get(&conn)
    {
        let _ = tx.send(Out::Text(text));
    }
}

/// The dispatch frame, or None when the session's intents withhold it.
fn event_text(d: &mut Data, event: &str, mut payload: Value) -> Option<String> {
    if event == "MESSAGE_CREATE" || event == "MESSAGE_UPDATE" {
        let intents = d.gw.stats.intents.unwrap_or(0);
        let in_guild = payload.get("guild_id").is_some_and(|g| !g.is_null());
        let needed = if in_guild { GUILD_MESSAGES } else { DIRECT_MESSAGES };
        if intents & needed == 0 {
            d.gw.stats.filtered.push(event.to_string());
            return None;
        }
        let mentions_bot = payload["mentions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| id_of(&u["id"]) == Some(BOT_ID));
        let own = id_of(&payload["author"]["id"]) == Some(BOT_ID);
        if in_guild && intents & MESSAGE_CONTENT == 0 && !mentions_bot && !own {
            for (k, empty) in [
                ("content", json!("")),
                ("embeds", json!([])),
                ("attachments", json!([])),
                ("components", json!([])),
            ] {
                payload[k] = empty;
            }
        }
    }
    d.gw.seq += 1;
    d.gw.stats.dispatched.push(event.to_string());
    Some(json!({"op": 0, "t": event, "s": d.gw.seq, "d": payload}).to_string())
}

fn flush(d: &mut Data) -> Vec<Out> {
    let queued = std::mem::take(&mut d.gw.queued);
    queued
        .into_iter()
        .filter_map(|(t, p)| event_text(d, &t, p))
        .map(Out::Text)
        .collect()
}

fn gateway_stats(d: &Data) -> GatewayStats {
    let mut s = d.gw.stats.clone();
    s.open = d.gw.conns.len();
    s.active = d.gw.active.is_some();
    s
}

// ----- gateway -----

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if shared.data.lock().unwrap().gw.accepting {
            tokio::spawn(connection(shared.clone(), stream));
        }
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let uri = Arc::new(Mutex::new(String::new()));
    let seen = uri.clone();
    // The callback's type is tungstenite's, error variant included.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &WsRequest, resp: WsResponse| -> Result<WsResponse, WsError> {
        *seen.lock().unwrap() = req.uri().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn, hello) = {
        let mut d = shared.data.lock().unwrap();
        d.gw.next_conn += 1;
        let conn = d.gw.next_conn;
        d.gw.conns.insert(conn, tx);
        d.gw.stats.connections += 1;
        d.gw.stats.uri = Some(uri.lock().unwrap().clone());
        (
            conn,
            json!({"op": 10, "d": {"heartbeat_interval": d.gw.heartbeat_interval}, "s": null, "t": null}),
        )
    };
    shared.changed.notify_waiters();
    let mut open = ws.send(WsMessage::Text(hello.to_string())).await.is_ok();
    while open {
        let outs = tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => on_payload(&shared, conn, &text),
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => vec![Out::Drop],
                Some(Ok(_)) => Vec::new(),
            },
            out = rx.recv() => vec![out.unwrap_or(Out::Drop)],
        };
        shared.changed.notify_waiters();
        for out in outs {
            match out {
                Out::Text(text) => {
                    if ws.send(WsMessage::Text(text)).await.is_err() {
                        open = false;
                        break;
                    }
                }
                Out::Close(code) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: "fake gateway close".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                    open = false;
                    break;
                }
                Out::Drop => {
                    open = false;
                    break;
                }
            }
        }
    }
    {
        let mut d = shared.data.lock().unwrap();
        d.gw.conns.remove(&conn);
        if d.gw.active == Some(conn) {
            d.gw.active = None;
        }
    }
    shared.changed.notify_waiters();
}

fn on_payload(shared: &Shared, conn: u64, text: &str) -> Vec<Out> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![Out::Close(4002)];
    };
    let mut guard = shared.data.lock().unwrap();
    let d = &mut *guard;
    d.gw.stats.received.push(v.clone());
    match v["op"].as_u64() {
        Some(1) if d.gw.ack_heartbeats => vec![Out::Text(
            json!({"op": 11, "d": null, "s": null, "t": null}).to_string(),
        )],
        Some(2) => identify(d, conn, &v["d"]),
        Some(6) => resume(d, conn, &v["d"]),
        _ => Vec::new(),
    }
}

fn identify(d: &mut Data, conn: u64, p: &Value) -> Vec<Out> {
    let token = p["token"].as_str().unwrap_or_default().to_string();
    d.gw.stats.identifies += 1;
    d.gw.stats.intents = p["intents"].as_u64();
    d.gw.stats.token = Some(token.clone());
    d.gw.stats.identify = Some(p.clone());
    if token.strip_prefix("Bot ").unwrap_or(&token) != TOKEN {
        return vec![Out::Close(4004)];
    }
    let session = format!("fakesession{}", d.snowflake());
    d.gw.sessions.insert(session.clone());
    d.gw.seq = 1;
    d.gw.active = Some(conn);
    d.gw.stats.dispatched.push("READY".into());
    let shard = if p["shard"].is_array() {
        p["shard"].clone()
    } else {
        json!([0, 1])
    };
    let ready = json!({"op": 0, "t": "READY", "s": 1, "d": {
        "v": 10, "user": bot_user(), "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
        "session_id": session, "resume_gateway_url": d.ws_url, "shard": shard,
        "application": {"id": APP_ID.to_string(), "flags": 0},
        "private_channels": [], "presences": [], "relationships": [], "geo_ordered_rtc_regions": []
    }});
    let mut out = vec![Out::Text(ready.to_string())];
    out.extend(flush(d));
    out
}

fn resume(d: &mut Data, conn: u64, p: &Value) -> Vec<Out> {
    d.gw.stats.resumes += 1;
    let known = p["session_id"]
        .as_str()
        .is_some_and(|s| d.gw.sessions.contains(s));
    if !(d.gw.resume_ok && known) {
        return vec![Out::Text(
            json!({"op": 9, "d": false, "s": null, "t": null}).to_string(),
        )];
    }
    d.gw.active = Some(conn);
    d.gw.seq += 1;
    d.gw.stats.dispatched.push("RESUMED".into());
    let mut out = vec![Out::Text(
        json!({"op": 0, "t": "RESUMED", "s": d.gw.seq, "d": {}}).to_string(),
    )];
    out.extend(flush(d));
    out
}

// ----- REST -----

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    raw: Option<(String, Vec<u8>)>,
}

fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        body: Some(v),
        headers: Vec::new(),
        raw: None,
    }
}

fn created(v: Value) -> Reply {
    Reply { status: 201, ..ok(v) }
}

fn no_content() -> Reply {
    Reply {
        status: 204,
        body: None,
        headers: Vec::new(),
        raw: None,
    }
}

fn err(status: u16, code: u64, message: &str) -> Reply {
    Reply {
        status,
        ..ok(json!({"code": code, "message": message}))
    }
}

/// 400 50035 "Invalid Form Body" with the error nested under `path` (dot separated).
fn form_error(path: &str, code: &str, message: &str) -> Reply {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for key in path.rsplit('.') {
        errors = json!({ key: errors });
    }
    Reply {
        status: 400,
        ..ok(json!({"code": 50035, "message": "Invalid Form Body", "errors": errors}))
    }
}

impl Reply {
    fn into_response(self) -> Response {
        let mut b = axum::http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let body = match (self.raw, self.body) {
            (Some((ct, bytes)), _) => {
                b = b.header(header::CONTENT_TYPE, ct);
                Body::from(bytes)
            }
            (None, Some(v)) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            (None, None) => Body::empty(),
        };
        b.body(body).unwrap()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let full = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (body, files) = read_body(request).await;
    let (api, path) = match full.strip_prefix("/api/v10") {
        Some(p) => (true, p.to_string()),
        None => (false, full.clone()),
    };
    let mut req = Req {
        method,
        path,
        query,
        body,
        files,
        auth,
        status: 0,
        at: Instant::now(),
    };
    let reply = {
        let mut d = shared.data.lock().unwrap();
        let reply = answer(&mut d, &req, api).unwrap_or_else(|e| e);
        req.status = reply.status;
        d.requests.push(req);
        reply
    };
    shared.changed.notify_waiters();
    reply.into_response()
}

async fn read_body(request: Request) -> (Value, Vec<FilePart>) {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        let bytes = Bytes::from_request(request, &()).await.unwrap_or_default();
        return (serde_json::from_slice(&bytes).unwrap_or(Value::Null), Vec::new());
    }
    let (mut body, mut files) = (Value::Null, Vec::new());
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return (body, files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(String::from);
        let content_type = field.content_type().map(String::from);
        let Ok(bytes) = field.bytes().await else { break };
        if name == "payload_json" {
            body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        } else {
            files.push(FilePart {
                field: name,
                filename,
                content_type,
                bytes: bytes.to_vec(),
            });
        }
    }
    (body, files)
}

fn answer(d: &mut Data, r: &Req, api: bool) -> Result<Reply, Reply> {
    // Webhook and interaction routes need no token; downloads are plain files.
    let open = !api || r.path.starts_with("/webhooks/") || r.path.starts_with("/interactions/");
    if !open && r.auth.as_deref().and_then(|a| a.strip_prefix("Bot ")) != Some(TOKEN) {
        return Err(err(401, 0, "401: Unauthorized"));
    }
    if let Some(i) = d.failures.iter().position(|(m, p, _, n)| {
        *n > 0 && (m == "*" || m.eq_ignore_ascii_case(&r.method)) && path_matches(p, &r.path)
    }) {
        let f = &mut d.failures[i];
        f.3 = f.3.saturating_sub(1);
        let inj = f.2.clone();
        if f.3 == 0 {
            d.failures.remove(i);
        }
        return Err(Reply {
            status: inj.status,
            body: Some(inj.body),
            headers: inj.headers,
            raw: None,
        });
    }
    if !api {
        let file = r.path.strip_prefix("/attachments/").and_then(|k| d.files.get(k));
        return match (r.method.as_str(), file) {
            ("GET", Some(u)) => Ok(Reply {
                raw: Some((u.content_type.clone(), u.bytes.clone())),
                ..ok(Value::Null)
            }),
            _ => Err(Reply {
                raw: Some(("text/plain".into(), b"404: Not Found".to_vec())),
                ..err(404, 0, "")
            }),
        };
    }
    let seg: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    match (r.method.as_str(), seg.as_slice()) {
        ("GET", ["gateway"]) => Ok(ok(json!({"url": d.ws_url}))),
        ("GET", ["gateway", "bot"]) => Ok(ok(json!({"url": d.ws_url, "shards": 1, "session_start_limit":
            {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}}))),
        ("GET", ["users", "@me"]) => Ok(ok(bot_user())),
        ("GET", ["oauth2", "applications", "@me"]) => {
            Ok(ok(json!({"id": APP_ID.to_string(), "name": BOT_NAME,
            "icon": null, "description": "", "bot_public": false, "bot_require_code_grant": false,
            "owner": user_json(1), "verify_key": "00", "team": null, "flags": 0, "bot": bot_user()})))
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(d, app, None, &r.body),
        ("PUT", ["applications", app, "guilds", g, "commands"]) => {
            put_commands(d, app, Some(num(g)), &r.body)
        }
        ("GET", ["applications", _, "commands"]) => {
            Ok(ok(json!(d.commands.get(&None).cloned().unwrap_or_default())))
        }
        ("GET", ["applications", _, "guilds", g, "commands"]) => Ok(ok(json!(
            d.commands.get(&Some(num(g))).cloned().unwrap_or_default()
        ))),
        ("POST", ["users", "@me", "channels"]) => {
            let user = id_of(&r.body["recipient_id"])
                .ok_or_else(|| form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required"))?;
            let channel = ensure_dm(d, user, None);
            Ok(ok(d.channels[&channel].clone()))
        }
        ("GET", ["channels", c]) => d
            .channels
            .get(&num(c))
            .cloned()
            .map(ok)
            .ok_or_else(|| err(404, 10003, "Unknown Channel")),
        ("POST", ["channels", _, "typing"]) => Ok(no_content()),
        ("POST", ["channels", c, "messages"]) => {
            let channel = num(c);
            if let Some(ch) = d.channels.get(&channel)
                && ch["type"] == 1
                && id_of(&ch["recipients"][0]["id"]).is_some_and(|u| d.blocked_dms.contains(&u))
            {
                return Err(err(403, 50007, "Cannot send messages to this user"));
            }
            compose(d, channel, &r.body, &r.files, 0, false, true).map(ok)
        }
        ("GET", ["channels", _, "messages", m]) => get_message(d, num(m)),
        ("PATCH", ["channels", _, "messages", m]) => edit_message(d, num(m), &r.body, &r.files),
        ("DELETE", ["channels", _, "messages", m]) => delete_message(d, num(m)),
        ("POST", ["channels", c, "threads"]) => create_thread(d, num(c), None, &r.body),
        ("POST", ["channels", c, "messages", m, "threads"]) => {
            create_thread(d, num(c), Some(num(m)), &r.body)
        }
        ("POST", ["interactions", i, token, "callback"]) => callback(d, num(i), token, r),
        (_, ["webhooks", app, token, rest @ ..]) => webhook(d, app, token, rest, r),
        _ => Err(err(404, 0, "404: Not Found")),
    }
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

fn get_message(d: &Data, id: u64) -> Result<Reply, Reply> {
    d.messages
        .get(&id)
        .cloned()
        .map(ok)
        .ok_or_else(|| err(404, 10008, "Unknown Message"))
}

fn delete_message(d: &mut Data, id: u64) -> Result<Reply, Reply> {
    d.messages
        .remove(&id)
        .map(|_| no_content())
        .ok_or_else(|| err(404, 10008, "Unknown Message"))
}

/// Creates and stores a message from the bot (or the app's webhook) in `channel`.
fn compose(
    d: &mut Data,
    channel: u64,
    body: &Value,
    files: &[FilePart],
    kind: u64,
    webhook: bool,
    require_content: bool,
) -> Result<Value, Reply> {
    if !d.channels.contains_key(&channel) {
        return Err(err(404, 10003, "Unknown Channel"));
    }
    let id = d.snowflake();
    let mut m = message_skeleton(id, channel, bot_user());
    m["type"] = json!(kind);
    m["flags"] = json!(body["flags"].as_u64().unwrap_or(0));
    if webhook {
        m["webhook_id"] = json!(APP_ID.to_string());
        m["application_id"] = json!(APP_ID.to_string());
    }
    if body["message_reference"].is_object() {
        let mut reference = body["message_reference"].clone();
        if reference["channel_id"].is_null() {
            reference["channel_id"] = json!(channel.to_string());
        }
        if let Some(mut quoted) = id_of(&reference["message_id"]).and_then(|q| d.messages.get(&q).cloned()) {
            quoted.as_object_mut().unwrap().remove("referenced_message");
            m["referenced_message"] = quoted;
        }
        m["message_reference"] = reference;
        m["type"] = json!(19);
    }
    apply(d, &mut m, body, files)?;
    if require_content {
        check_not_empty(&m)?;
    }
    d.messages.insert(id, m.clone());
    // Discord echoes the bot's own (non-ephemeral) messages as MESSAGE_CREATE.
    if m["flags"].as_u64().unwrap_or(0) & EPHEMERAL == 0 {
        let mut echo = m.clone();
        let guild = d.channels[&channel]["guild_id"].clone();
        if !guild.is_null() {
            echo["guild_id"] = guild;
        }
        dispatch(d, "MESSAGE_CREATE", echo);
    }
    Ok(m)
}

fn check_not_empty(m: &Value) -> Result<(), Reply> {
    let empty = |k: &str| m[k].as_array().is_none_or(Vec::is_empty);
    if m["content"].as_str().unwrap_or_default().is_empty()
        && empty("embeds")
        && empty("attachments")
        && empty("components")
    {
        return Err(err(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

/// Applies content, embeds, components and attachments of a create or edit body.
fn apply(d: &mut Data, m: &mut Value, body: &Value, files: &[FilePart]) -> Result<(), Reply> {
    if files.len() > 10 {
        return Err(form_error(
            "attachments",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    if files.iter().any(|f| f.bytes.len() as u64 > d.upload_limit) {
        return Err(err(413, 40005, "Request entity too large"));
    }
    for key in ["content", "embeds", "components", "tts"] {
        if !body[key].is_null() {
            m[key] = body[key].clone();
        }
    }
    if m["content"].as_str().map_or(0, |s| s.chars().count()) > 2000 {
        return Err(form_error(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    let old = m["attachments"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    match body["attachments"].as_array() {
        // serenity lists new files as {id: N, filename} (part `files[N]`), kept ones as {id}.
        Some(list) => {
            for a in list {
                if let Some(name) = a["filename"].as_str() {
                    let field = format!("files[{}]", id_str(&a["id"]));
                    let part = files.iter().find(|f| f.field == field).ok_or_else(|| {
                        form_error("attachments", "ATTACHMENT_NOT_FOUND", "Attachment data not found")
                    })?;
                    out.push(upload(d, part, Some(name)));
                } else if let Some(kept) = old.iter().find(|o| id_str(&o["id"]) == id_str(&a["id"])) {
                    out.push(kept.clone());
                }
            }
        }
        None => {
            out = old;
            for part in files {
                out.push(upload(d, part, None));
            }
        }
    }
    m["attachments"] = json!(out);
    Ok(())
}

fn edit_message(d: &mut Data, id: u64, body: &Value, files: &[FilePart]) -> Result<Reply, Reply> {
    let mut m = d
        .messages
        .get(&id)
        .cloned()
        .ok_or_else(|| err(404, 10008, "Unknown Message"))?;
    apply(d, &mut m, body, files)?;
    let old = m["flags"].as_u64().unwrap_or(0);
    let asked = body["flags"].as_u64().unwrap_or(old & SUPPRESS_EMBEDS);
    m["flags"] = json!((old & EPHEMERAL) | (asked & SUPPRESS_EMBEDS));
    check_not_empty(&m)?;
    m["edited_timestamp"] = json!(now_ts());
    d.messages.insert(id, m.clone());
    Ok(ok(m))
}

fn create_thread(d: &mut Data, parent: u64, from: Option<u64>, body: &Value) -> Result<Reply, Reply> {
    if d.forbid_threads {
        return Err(err(403, 50013, "Missing Permissions"));
    }
    let p = d
        .channels
        .get(&parent)
        .ok_or_else(|| err(404, 10003, "Unknown Channel"))?;
    if p["type"] == 1 {
        return Err(err(400, 50003, "Cannot execute action on a DM channel"));
    }
    let guild = p["guild_id"].clone();
    let name = body["name"]
        .as_str()
        .filter(|n| (1..=100).contains(&n.chars().count()))
        .ok_or_else(|| {
            form_error(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        })?;
    let id = match from {
        Some(m) if !d.messages.contains_key(&m) => return Err(err(404, 10008, "Unknown Message")),
        Some(m) if d.channels.contains_key(&m) => {
            return Err(err(
                400,
                160004,
                "A thread has already been created for this message",
            ));
        }
        Some(m) => m, // a thread started from a message shares its id
        None => d.snowflake(),
    };
    let kind = if from.is_some() {
        11
    } else {
        body["type"].as_u64().unwrap_or(12)
    };
    let ts = now_ts();
    let thread = json!({"id": id.to_string(), "type": kind, "guild_id": guild, "name": name,
        "parent_id": parent.to_string(), "owner_id": BOT_ID.to_string(), "last_message_id": null,
        "rate_limit_per_user": body["rate_limit_per_user"].as_u64().unwrap_or(0), "flags": 0,
        "message_count": 0, "member_count": 1, "total_message_sent": 0,
        "thread_metadata": {"archived": false, "locked": false, "archive_timestamp": ts, "create_timestamp": ts,
            "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(4320),
            "invitable": body["invitable"].as_bool().unwrap_or(true)}});
    if let Some(m) = from.and_then(|m| d.messages.get_mut(&m)) {
        m["thread"] = thread.clone();
    }
    d.channels.insert(id, thread.clone());
    Ok(created(thread))
}

fn callback(d: &mut Data, id: u64, token: &str, r: &Req) -> Result<Reply, Reply> {
    let it = d
        .interactions
        .get(token)
        .filter(|it| it.id == id && !d.expired.contains(token))
        .ok_or_else(|| err(404, 10062, "Unknown interaction"))?;
    if it.acked {
        return Err(err(400, 40060, "Interaction has already been acknowledged."));
    }
    let (channel, message, command) = (it.channel, it.original, it.command);
    let data = if r.body["data"].is_object() {
        r.body["data"].clone()
    } else {
        json!({})
    };
    let kind = if command { 20 } else { 0 };
    let original = match r.body["type"].as_u64() {
        Some(4) => id_of(&compose(d, channel, &data, &r.files, kind, true, true)?["id"]),
        Some(5) => {
            let flags = data["flags"].as_u64().unwrap_or(0) | LOADING;
            id_of(&compose(d, channel, &json!({"flags": flags}), &[], kind, true, false)?["id"])
        }
        Some(6) if !command => message,
        Some(7) if !command => {
            edit_message(d, message.unwrap_or(0), &data, &r.files)?;
            message
        }
        Some(8 | 9) => None,
        _ => {
            return Err(err(
                400,
                40094,
                "Interaction response type is not valid for this interaction",
            ));
        }
    };
    let it = d.interactions.get_mut(token).unwrap();
    it.acked = true;
    it.original = original;
    Ok(no_content())
}

fn webhook(d: &mut Data, app: &str, token: &str, rest: &[&str], r: &Req) -> Result<Reply, Reply> {
    if num(app) != APP_ID {
        return Err(err(404, 10015, "Unknown Webhook"));
    }
    if d.expired.contains(token) {
        return Err(err(401, 50027, "Invalid Webhook Token"));
    }
    // Before the callback Discord answers 404 Unknown Webhook for the token.
    let it = d
        .interactions
        .get(token)
        .filter(|it| it.acked)
        .ok_or_else(|| err(404, 10015, "Unknown Webhook"))?;
    let (channel, original) = (it.channel, it.original);
    let unknown = || err(404, 10008, "Unknown Message");
    let target = match rest {
        ["messages", "@original"] => original.ok_or_else(unknown)?,
        ["messages", m] => m.parse().map_err(|_| unknown())?,
        _ => 0,
    };
    match (r.method.as_str(), rest.len()) {
        ("POST", 0) => {
            // The first follow-up after a deferred response fills the loading message.
            if let Some(o) = original
                && d.messages
                    .get(&o)
                    .is_some_and(|m| m["flags"].as_u64().unwrap_or(0) & LOADING != 0)
            {
                return edit_message(d, o, &r.body, &r.files);
            }
            compose(d, channel, &r.body, &r.files, 0, true, true).map(ok)
        }
        ("GET", 2) => get_message(d, target),
        ("PATCH", 2) => edit_message(d, target, &r.body, &r.files),
        ("DELETE", 2) => delete_message(d, target),
        _ => Err(err(404, 0, "404: Not Found")),
    }
}

fn put_commands(d: &mut Data, app: &str, guild: Option<u64>, body: &Value) -> Result<Reply, Reply> {
    if num(app) != APP_ID {
        return Err(err(403, 50001, "Missing Access"));
    }
    let list = body
        .as_array()
        .ok_or_else(|| form_error("_root", "LIST_TYPE_CONVERT", "Must be an array."))?;
    let name_ok = |n: &str| {
        (1..=32).contains(&n.chars().count())
            && n.chars()
                .all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
    };
    let text_ok = |v: &Value| v.as_str().is_some_and(|s| (1..=100).contains(&s.chars().count()));
    let mut seen = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let slash = c["type"].as_u64().unwrap_or(1) == 1;
        let name = c["name"].as_str().unwrap_or_default();
        if (slash && !name_ok(name)) || name.is_empty() || !seen.insert(name.to_string()) {
            return Err(form_error(
                &format!("{i}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        if slash && !text_ok(&c["description"]) {
            return Err(form_error(
                &format!("{i}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let options = c["options"].as_array().cloned().unwrap_or_default();
        if options.len() > 25 {
            return Err(form_error(
                &format!("{i}.options"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        for (j, o) in options.iter().enumerate() {
            let at = format!("{i}.options.{j}");
            if !name_ok(o["name"].as_str().unwrap_or_default()) || !text_ok(&o["description"]) {
                return Err(form_error(
                    &at,
                    "APPLICATION_COMMAND_OPTION_INVALID",
                    "Option name or description is invalid",
                ));
            }
            if o["choices"].as_array().is_some_and(|ch| ch.len() > 25) {
                return Err(form_error(
                    &format!("{at}.choices"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                ));
            }
        }
    }
    let previous = d.commands.get(&guild).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for c in list {
        let mut c = c.clone();
        let known = previous
            .iter()
            .find(|p| p["name"] == c["name"])
            .map(|p| p["id"].clone());
        c["id"] = known.unwrap_or_else(|| json!(d.snowflake().to_string()));
        c["application_id"] = json!(APP_ID.to_string());
        c["version"] = json!(d.snowflake().to_string());
        c["type"] = json!(c["type"].as_u64().unwrap_or(1));
        for (k, default) in [
            ("description", json!("")),
            ("options", json!([])),
            ("default_member_permissions", Value::Null),
        ] {
            if c[k].is_null() {
                c[k] = default;
            }
        }
        if let Some(g) = guild {
            c["guild_id"] = json!(g.to_string());
        }
        out.push(c);
    }
    d.commands.insert(guild, out.clone());
    Ok(ok(json!(out)))
}
