//! The fake's constants and its world: requests as recorded, injected failures, gateway
//! sessions, channels, messages, interactions and uploads.

use super::*;

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
pub(super) const SUPPRESS_EMBEDS: u64 = 1 << 2;
pub(super) const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
pub(super) const MIB: u64 = 1 << 20;
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

pub(super) enum Out {
    Text(String),
    Close(u16),
    Drop,
}

pub(super) struct Gateway {
    pub(super) stats: GatewayStats,
    pub(super) conns: HashMap<u64, mpsc::UnboundedSender<Out>>,
    pub(super) next_conn: u64,
    pub(super) active: Option<u64>,
    pub(super) sessions: HashSet<String>,
    pub(super) seq: u64,
    pub(super) queued: Vec<(String, Value)>,
    pub(super) accepting: bool,
    pub(super) resume_ok: bool,
    pub(super) ack_heartbeats: bool,
    pub(super) heartbeat_interval: u64,
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
pub(super) struct Pending {
    pub(super) id: u64,
    pub(super) channel: u64,
    pub(super) command: bool,
    pub(super) acked: bool,
    /// The original response message (a component's message until answered otherwise).
    pub(super) original: Option<u64>,
}

pub(super) struct Upload {
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
    pub(super) declared: Option<u64>,
}

#[derive(Default)]
pub(super) struct Data {
    /// Members with Manage Server in every guild.
    pub(super) admins: std::collections::HashSet<u64>,
    pub(super) base: String,
    pub(super) ws_url: String,
    pub(super) last_id: u64,
    pub(super) requests: Vec<Req>,
    pub(super) failures: Vec<(String, String, Injected, usize)>,
    pub(super) messages: HashMap<u64, Value>,
    pub(super) channels: HashMap<u64, Value>,
    pub(super) dms: HashMap<u64, u64>,
    pub(super) blocked_dms: HashSet<u64>,
    pub(super) interactions: HashMap<String, Pending>,
    pub(super) expired: HashSet<String>,
    pub(super) files: HashMap<String, Upload>,
    pub(super) commands: HashMap<Option<u64>, Vec<Value>>,
    pub(super) forbid_threads: bool,
    pub(super) upload_limit: u64,
    pub(super) size_limit: u64,
    pub(super) app_permissions: u64,
    pub(super) gw: Gateway,
}

impl Data {
    /// A snowflake carrying the current time, strictly increasing.
    pub(super) fn snowflake(&mut self) -> u64 {
        let t = now_ms().saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = t.max(self.last_id + 1);
        self.last_id
    }
}

pub(super) struct Shared {
    pub(super) data: Mutex<Data>,
    pub(super) changed: Notify,
}
