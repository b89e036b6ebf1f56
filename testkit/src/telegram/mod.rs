//! A local fake of the Telegram Bot API on 127.0.0.1: enough of the real schema for teloxide to
//! parse every answer strictly, with injected updates and failures and every request recorded.

mod api;

use api::*;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// The bot's id and username as `getMe` reports them.
pub const BOT_ID: i64 = 999;
/// The bot's username.
pub const BOT_NAME: &str = "HeadshotTestBot";

/// A failure to answer a method with, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `parameters.retry_after`.
    RetryAfter(u64),
    /// 500.
    Server,
    /// 403 "bot was blocked by the user".
    Blocked,
}

/// A file part of a multipart request.
#[derive(Debug, Clone)]
pub struct Part {
    pub field: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// One item of a sent album or file: (type, file name, bytes, caption).
pub type Media = (String, Option<String>, Vec<u8>, Option<String>);

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lowercase method name.
    pub method: String,
    /// JSON body fields, or the text fields of a multipart body (JSON-decoded when they parse).
    pub params: Map<String, Value>,
    /// File parts of a multipart body.
    pub parts: Vec<Part>,
    /// HTTP status answered.
    pub status: u16,
    /// When the request arrived.
    pub at: std::time::Instant,
}

/// Who talks to the bot, and where.
#[derive(Debug, Clone)]
pub struct Peer {
    pub user_id: i64,
    pub chat_id: i64,
    pub thread: Option<i64>,
    chat: Value,
}

#[derive(Default)]
struct Data {
    updates: VecDeque<(i64, Value)>,
    next_update: i64,
    next_message: HashMap<i64, i64>,
    chats: HashMap<i64, Value>,
    sent: HashMap<(i64, i64), Value>,
    calls: Vec<Call>,
    files: HashMap<String, (String, Vec<u8>)>,
    failures: HashMap<String, VecDeque<Failure>>,
    unknown: HashSet<String>,
    downloads: Vec<String>,
}

struct Shared {
    token: String,
    data: Mutex<Data>,
    updates: Notify,
    calls: Notify,
}

/// The running fake.
#[derive(Clone)]
pub struct Fake {
    /// Base URL for `Bot::set_api_url`.
    pub url: String,
    /// The token it accepts.
    pub token: String,
    shared: Arc<Shared>,
}

impl Fake {
    pub async fn start() -> Fake {
        let token = "123456:TEST-token".to_string();
        let shared = Arc::new(Shared {
            token: token.clone(),
            data: Mutex::new(Data {
                next_update: 1,
                ..Data::default()
            }),
            updates: Notify::new(),
            calls: Notify::new(),
        });
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { url, token, shared }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap()
    }

    /// A private chat with user `id`.
    pub fn private(&self, id: i64) -> Peer {
        let chat = json!({"id": id, "type": "private", "first_name": format!("User{id}")});
        self.data().chats.insert(id, chat.clone());
        Peer {
            user_id: id,
            chat_id: id,
            thread: None,
            chat,
        }
    }

    /// User `user` in supergroup `chat`, optionally inside forum topic `thread`.
    pub fn group(&self, chat: i64, user: i64, thread: Option<i64>) -> Peer {
        let value = json!({"id": chat, "type": "supergroup", "title": "Team", "is_forum": thread.is_some()});
        self.data().chats.insert(chat, value.clone());
        Peer {
            user_id: user,
            chat_id: chat,
            thread,
            chat: value,
        }
    }

    /// The next `n` calls of `method` fail with `failure`.
    pub fn fail(&self, method: &str, failure: Failure, n: usize) {
        let mut d = self.data();
        let q = d.failures.entry(method.to_lowercase()).or_default();
        q.extend(std::iter::repeat_n(failure, n));
    }

    /// `method` answers 404 as on a server that does not know it.
    pub fn forget_method(&self, method: &str) {
        self.data().unknown.insert(method.to_lowercase());
    }

    /// Registers a downloadable file; returns its file id.
    pub fn add_file(&self, bytes: Vec<u8>) -> String {
        let mut d = self.data();
        let n = d.files.len();
        let id = format!("file-{n}");
        d.files
            .insert(id.clone(), (format!("photos/file_{n}.jpg"), bytes));
        id
    }

    fn user_json(peer: &Peer) -> Value {
        json!({"id": peer.user_id, "is_bot": false, "first_name": format!("User{}", peer.user_id), "language_code": "en"})
    }

    /// Injects a message from `peer` with `fields` (text, photo, ...); returns its id.
    pub fn inject(&self, peer: &Peer, fields: Value) -> i64 {
        let mut d = self.data();
        let id = next_message(&mut d, peer.chat_id);
        let mut m = json!({
            "message_id": id,
            "date": 1_700_000_000,
            "chat": peer.chat,
            "from": Self::user_json(peer),
        });
        if let Some(t) = peer.thread {
            m["message_thread_id"] = json!(t);
            m["is_topic_message"] = json!(true);
        }
        for (k, v) in fields.as_object().unwrap() {
            m[k] = v.clone();
        }
        push_update(&mut d, json!({"message": m}));
        drop(d);
        self.shared.updates.notify_waiters();
        id
    }

    pub fn text(&self, peer: &Peer, text: &str) -> i64 {
        self.inject(peer, json!({"text": text}))
    }

    /// A text replying to the bot's message `to`.
    pub fn reply(&self, peer: &Peer, to: i64, text: &str) -> i64 {
        let original = self
            .data()
            .sent
            .get(&(peer.chat_id, to))
            .cloned()
            .expect("no such bot message");
        self.inject(peer, json!({"text": text, "reply_to_message": original}))
    }

    /// A photo (two sizes, the larger carrying `bytes`), optionally in album `group`.
    pub fn photo(&self, peer: &Peer, bytes: Vec<u8>, caption: Option<&str>, group: Option<&str>) -> i64 {
        let thumb = self.add_file(b"thumbnail".to_vec());
        let size = bytes.len();
        let full = self.add_file(bytes);
        let mut fields = json!({"photo": [
            {"file_id": thumb, "file_unique_id": format!("u{thumb}"), "width": 90, "height": 90, "file_size": 9},
            {"file_id": full, "file_unique_id": format!("u{full}"), "width": 640, "height": 640, "file_size": size},
        ]});
        if let Some(c) = caption {
            fields["caption"] = json!(c);
        }
        if let Some(g) = group {
            fields["media_group_id"] = json!(g);
        }
        self.inject(peer, fields)
    }

    /// A file; `declared` overrides the size announced in the message.
    pub fn document(
        &self,
        peer: &Peer,
        bytes: Vec<u8>,
        name: &str,
        mime: &str,
        declared: Option<u64>,
    ) -> i64 {
        let size = declared.unwrap_or(bytes.len() as u64);
        let id = self.add_file(bytes);
        self.inject(
            peer,
            json!({"document": {"file_id": id, "file_unique_id": format!("u{id}"), "file_name": name, "mime_type": mime, "file_size": size}}),
        )
    }

    /// Presses button `data` under the bot's message `message`.
    pub fn press(&self, peer: &Peer, message: i64, data: &str) {
        let mut d = self.data();
        let original = d
            .sent
            .get(&(peer.chat_id, message))
            .cloned()
            .expect("no such bot message");
        let n = d.next_update;
        push_update(
            &mut d,
            json!({"callback_query": {
                "id": format!("cb{n}"),
                "from": Self::user_json(peer),
                "message": original,
                "chat_instance": "ci",
                "data": data,
            }}),
        );
        drop(d);
        self.shared.updates.notify_waiters();
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.data().calls.clone()
    }

    /// Successful calls of `method` (lowercase) to `chat`.
    pub fn sent(&self, method: &str, chat: i64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.status == 200 && c.chat_id() == Some(chat))
            .collect()
    }

    /// Texts sent to `chat`, in order.
    pub fn texts(&self, chat: i64) -> Vec<String> {
        self.sent("sendmessage", chat)
            .iter()
            .filter_map(|c| c.str("text"))
            .collect()
    }

    /// Paths of files downloaded.
    pub fn downloads(&self) -> Vec<String> {
        self.data().downloads.clone()
    }

    /// Waits until `check` holds, or panics after 20 s naming `what` and listing the calls.
    pub async fn wait(&self, what: &str, check: impl Fn(&Fake) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.shared.calls.notified();
            if check(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() && !check(self) {
                let calls: Vec<String> = self.calls().iter().map(Call::summary).collect();
                panic!("timed out waiting for {what}; calls:\n{}", calls.join("\n"));
            }
        }
    }
}

impl Call {
    pub fn str(&self, key: &str) -> Option<String> {
        match self.params.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.params.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn chat_id(&self) -> Option<i64> {
        self.int("chat_id")
    }

    pub fn thread(&self) -> Option<i64> {
        self.int("message_thread_id")
    }

    pub fn reply_to(&self) -> Option<i64> {
        self.params.get("reply_parameters")?.get("message_id")?.as_i64()
    }

    /// Callback data of the inline keyboard.
    pub fn buttons(&self) -> Vec<String> {
        let rows = self
            .params
            .get("reply_markup")
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array);
        rows.into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| b.get("callback_data")?.as_str().map(String::from))
            .collect()
    }

    /// The `media` array of sendMediaGroup, or the single file of sendPhoto/sendDocument, as
    /// (type, file name, bytes, caption).
    pub fn media(&self) -> Vec<Media> {
        let resolve = |r: &str| {
            let name = r.strip_prefix("attach://").unwrap_or(r);
            self.parts.iter().find(|p| p.field == name).cloned()
        };
        if let Some(items) = self.params.get("media").and_then(Value::as_array) {
            return items
                .iter()
                .filter_map(|m| {
                    let part = resolve(m.get("media")?.as_str()?)?;
                    let caption = m.get("caption").and_then(Value::as_str).map(String::from);
                    Some((
                        m.get("type")?.as_str()?.to_string(),
                        part.file_name,
                        part.bytes,
                        caption,
                    ))
                })
                .collect();
        }
        ["photo", "document"]
            .iter()
            .filter_map(|kind| {
                let part = resolve(&self.str(kind)?)?;
                Some((kind.to_string(), part.file_name, part.bytes, self.str("caption")))
            })
            .collect()
    }

    pub fn summary(&self) -> String {
        let mut p = self.params.clone();
        p.remove("media");
        format!(
            "{} {} {:?} parts={}",
            self.status,
            self.method,
            p,
            self.parts.len()
        )
    }
}

impl Fake {
    /// The id of the bot's latest message in `chat` offering button `data`.
    pub fn message_with_button(&self, chat: i64, data: &str) -> Option<i64> {
        self.message_with_button_prefix(chat, data).map(|(id, _)| id)
    }

    /// The id and data of the bot's latest message in `chat` with a button starting `prefix`.
    pub fn message_with_button_prefix(&self, chat: i64, prefix: &str) -> Option<(i64, String)> {
        let d = self.data();
        let mut found: Vec<(i64, String)> = d
            .sent
            .iter()
            .filter(|((c, _), _)| *c == chat)
            .filter_map(|((_, id), m)| {
                let rows = m.get("reply_markup")?.get("inline_keyboard")?.as_array()?;
                let data = rows
                    .iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|b| b.get("callback_data")?.as_str())
                    .find(|d| d.starts_with(prefix))?;
                Some((*id, data.to_string()))
            })
            .collect();
        found.sort();
        found.pop()
    }
}

impl Fake {
    /// The id of the bot's latest message in `chat`.
    pub fn last_sent_id(&self, chat: i64) -> Option<i64> {
        self.data()
            .sent
            .keys()
            .filter(|(c, _)| *c == chat)
            .map(|(_, id)| *id)
            .max()
    }
}
