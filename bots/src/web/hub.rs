//! The web chat's side of the conversation: one transcript per browser, pushed to every open
//! tab, and the [`WebFront`] that the core delivers into.
//!
//! Transcripts are kept in the store's `chats` tree (message records `t:<message id>`, their
//! files `f:<message id>:<n>`), so a restart loses nothing: a browser's transcript is read back
//! the first time it is needed, and `/forget` and retention reach it like the rest of the
//! user's data. Only the messages' text and buttons are held in memory; files are read from the
//! store when a tab asks for them. Without a store (unit tests) the hub keeps everything in
//! memory. A write the store refuses (disk full) keeps the message in memory and is logged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use headshot::{
    Attachment, Button, ChatAction, ChatRef, FrontEnd, Limits, MessageId, Outbound, Platform, Store, UserKey,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum From {
    /// The bot (the core).
    Bot,
    /// The browser's user.
    User,
}

/// A file in the transcript, as the page sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileView {
    /// Where the page shows it.
    pub url: String,
    /// The same with `?download=1`.
    pub download: String,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Pixels (0 when unknown).
    pub width: u32,
    /// Pixels (0 when unknown).
    pub height: u32,
    /// Size in bytes.
    pub bytes: usize,
}

/// One message of a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// Unique across restarts (the core stores status message ids with jobs).
    pub id: String,
    /// Author.
    pub from: From,
    /// `text`, `album` or `files`.
    pub kind: &'static str,
    /// Text or caption.
    pub text: String,
    /// Rows of buttons.
    pub buttons: Vec<Vec<Button>>,
    /// Images and files.
    pub attachments: Vec<FileView>,
    #[serde(skip)]
    files: Vec<Slot>,
    /// When it was written (ms since the epoch).
    #[serde(skip)]
    at_ms: u64,
}

/// Where a message's file is.
#[derive(Debug, Clone)]
enum Slot {
    /// Held here (no store, or the store refused it).
    Memory(Arc<Vec<u8>>),
    /// In the store, this many bytes.
    Stored(usize),
    /// Dropped (the browser's file budget).
    Gone,
}

impl Slot {
    fn len(&self) -> usize {
        match self {
            Slot::Memory(b) => b.len(),
            Slot::Stored(n) => *n,
            Slot::Gone => 0,
        }
    }
}

/// A message as the store keeps it.
#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    from: From,
    kind: String,
    text: String,
    buttons: Vec<Vec<Button>>,
    attachments: Vec<FileView>,
    at_ms: u64,
}

fn kind_of(name: &str) -> &'static str {
    match name {
        "album" => "album",
        "files" => "files",
        _ => "text",
    }
}

/// A message id that sorts after every earlier one (the store reads transcripts back in key
/// order): ULIDs from a monotonic generator, unique across restarts.
fn next_message_id() -> String {
    static IDS: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let id = IDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new());
    format!("m{id}")
}

fn now_ms() -> u64 {
    headshot::Clock::now_ms(&headshot::SystemClock)
}

/// What a tab receives.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A new message.
    Message(Message),
    /// A message changed (status updates).
    Edit(Message),
    /// The bot is busy (uploading, typing).
    Action(&'static str),
    /// Throw the thread away and replay it (after `/forget`).
    Resync,
}

struct Session {
    messages: VecDeque<Message>,
    tx: broadcast::Sender<Frame>,
    order: Arc<tokio::sync::Mutex<()>>,
    seen_ms: u64,
}

/// Bounds of what the hub keeps in memory.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Messages kept per browser.
    pub history: usize,
    /// Bytes of files kept per browser; older files are dropped first.
    pub bytes: usize,
    /// Messages older than this are dropped (the core's result retention).
    pub keep: Duration,
}

/// All browsers' transcripts.
pub struct Hub {
    sessions: Mutex<HashMap<String, Session>>,
    bounds: Bounds,
    store: Option<Store>,
}

/// The store's side of one browser's transcript.
struct Keeper<'a> {
    store: Option<&'a Store>,
    user: UserKey,
}

impl Keeper<'_> {
    fn message(&self, m: &Message) {
        let Some(store) = self.store else { return };
        let record = Record {
            id: m.id.clone(),
            from: m.from,
            kind: m.kind.to_string(),
            text: m.text.clone(),
            buttons: m.buttons.clone(),
            attachments: m.attachments.clone(),
            at_ms: m.at_ms,
        };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        if let Err(e) = store.put_chat(&self.user, &format!("t:{}", m.id), &bytes) {
            tracing::warn!(error = %e, "could not keep a web chat message; it lives until a restart");
        }
    }

    /// Stores a file; `Memory` when there is no store or it refuses.
    fn file(&self, msg: &str, index: usize, bytes: Vec<u8>) -> Slot {
        let Some(store) = self.store else {
            return Slot::Memory(Arc::new(bytes));
        };
        match store.put_chat(&self.user, &format!("f:{msg}:{index}"), &bytes) {
            Ok(()) => Slot::Stored(bytes.len()),
            Err(e) => {
                tracing::warn!(error = %e, "could not keep a web chat file; it lives until a restart");
                Slot::Memory(Arc::new(bytes))
            }
        }
    }

    fn drop_file(&self, msg: &str, index: usize) {
        if let Some(store) = self.store {
            let _ = store.remove_chat(&self.user, &format!("f:{msg}:{index}"));
        }
    }

    fn drop_message(&self, msg: &str) {
        if let Some(store) = self.store {
            let _ = store.remove_chat(&self.user, &format!("t:{msg}"));
            let _ = store.remove_chats(&self.user, &format!("f:{msg}:"));
        }
    }

    /// The transcript kept in the store, oldest first.
    fn load(&self) -> VecDeque<Message> {
        let Some(store) = self.store else {
            return VecDeque::new();
        };
        let records = match store.chats_of(&self.user, "t:") {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a web chat transcript");
                return VecDeque::new();
            }
        };
        let files: std::collections::HashSet<String> = store
            .chat_names(&self.user, "f:")
            .unwrap_or_default()
            .into_iter()
            .collect();
        records
            .into_iter()
            .filter_map(|r| serde_json::from_slice::<Record>(&r.bytes).ok())
            .map(|r| Message {
                files: r
                    .attachments
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        if files.contains(&format!("f:{}:{i}", r.id)) {
                            Slot::Stored(a.bytes)
                        } else {
                            Slot::Gone
                        }
                    })
                    .collect(),
                id: r.id,
                from: r.from,
                kind: kind_of(&r.kind),
                text: r.text,
                buttons: r.buttons,
                attachments: r.attachments,
                at_ms: r.at_ms,
            })
            .collect()
    }
}

impl Hub {
    /// An empty hub that keeps everything in memory.
    pub fn new(bounds: Bounds) -> Hub {
        Hub {
            sessions: Mutex::new(HashMap::new()),
            bounds,
            store: None,
        }
    }

    /// A hub that keeps transcripts in `store` (the service's).
    pub fn with_store(bounds: Bounds, store: Store) -> Hub {
        Hub {
            store: Some(store),
            ..Hub::new(bounds)
        }
    }

    fn keeper(&self, id: &str) -> Keeper<'_> {
        Keeper {
            store: self.store.as_ref(),
            user: UserKey::new(Platform::Web, id),
        }
    }

    fn with<R>(&self, id: &str, f: impl FnOnce(&mut Session, &Keeper<'_>) -> R) -> R {
        let keeper = self.keeper(id);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.entry(id.to_string()).or_insert_with(|| Session {
            messages: keeper.load(),
            tx: broadcast::channel(256).0,
            order: Arc::new(tokio::sync::Mutex::new(())),
            seen_ms: now_ms(),
        });
        session.seen_ms = now_ms();
        f(session, &keeper)
    }

    /// The lock that keeps one browser's events in order.
    pub fn order(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.with(id, |s, _| s.order.clone())
    }

    /// The transcript now and a receiver of what follows, taken atomically.
    pub fn subscribe(&self, id: &str) -> (Vec<Message>, broadcast::Receiver<Frame>) {
        self.with(id, |s, _| {
            (s.messages.iter().cloned().collect(), s.tx.subscribe())
        })
    }

    /// The transcript now.
    pub fn snapshot(&self, id: &str) -> Vec<Message> {
        self.with(id, |s, _| s.messages.iter().cloned().collect())
    }

    /// Appends a message and tells the tabs; returns its id.
    pub fn push(
        &self,
        id: &str,
        from: From,
        kind: &'static str,
        text: String,
        buttons: Vec<Vec<Button>>,
        files: Vec<Attachment>,
    ) -> String {
        let msg_id = next_message_id();
        let attachments = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let url = format!("/files/{msg_id}/{i}/{}", safe_name(&f.name));
                FileView {
                    download: format!("{url}?download=1"),
                    url,
                    name: f.name.clone(),
                    mime: f.mime.clone(),
                    width: f.width,
                    height: f.height,
                    bytes: f.bytes.len(),
                }
            })
            .collect();
        let bounds = self.bounds;
        self.with(id, |s, keeper| {
            let message = Message {
                id: msg_id.clone(),
                from,
                kind,
                text,
                buttons,
                attachments,
                files: files
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| keeper.file(&msg_id, i, f.bytes))
                    .collect(),
                at_ms: now_ms(),
            };
            keeper.message(&message);
            let _ = s.tx.send(Frame::Message(message.clone()));
            s.messages.push_back(message);
            prune(s, keeper, bounds);
        });
        msg_id
    }

    /// Replaces a message's text and buttons; false when it is gone.
    pub fn edit(&self, id: &str, msg_id: &str, text: &str, buttons: Vec<Vec<Button>>) -> bool {
        self.with(id, |s, keeper| {
            match s.messages.iter_mut().find(|m| m.id == msg_id) {
                Some(m) => {
                    m.text = text.to_string();
                    m.buttons = buttons;
                    keeper.message(m);
                    let _ = s.tx.send(Frame::Edit(m.clone()));
                    true
                }
                None => false,
            }
        })
    }

    /// Tells the tabs the bot is busy.
    pub fn action(&self, id: &str, kind: &'static str) {
        self.with(id, |s, _| {
            let _ = s.tx.send(Frame::Action(kind));
        });
    }

    /// The id of the newest message.
    pub fn last_id(&self, id: &str) -> Option<String> {
        self.with(id, |s, _| s.messages.back().map(|m| m.id.clone()))
    }

    /// Drops every message up to and including `through` (the newest one before a `/forget`
    /// was confirmed) and makes the tabs replay what is left.
    pub fn forget_through(&self, id: &str, through: Option<&str>) {
        self.with(id, |s, keeper| {
            if let Some(end) = through.and_then(|m| s.messages.iter().position(|x| x.id == m)) {
                for gone in s.messages.drain(..=end) {
                    keeper.drop_message(&gone.id);
                }
            }
            let _ = s.tx.send(Frame::Resync);
        });
    }

    /// A file of a message, if the browser owns it and it is still kept.
    pub fn file(&self, id: &str, msg_id: &str, index: usize) -> Option<(FileView, Arc<Vec<u8>>)> {
        let (view, slot) = self.with(id, |s, _| {
            let m = s.messages.iter().find(|m| m.id == msg_id)?;
            Some((m.attachments.get(index)?.clone(), m.files.get(index)?.clone()))
        })?;
        match slot {
            Slot::Memory(bytes) => Some((view, bytes)),
            Slot::Stored(_) => {
                let record = self
                    .store
                    .as_ref()?
                    .chat(&UserKey::new(Platform::Web, id), &format!("f:{msg_id}:{index}"))
                    .ok()??;
                Some((view, Arc::new(record.bytes)))
            }
            Slot::Gone => None,
        }
    }

    /// Drops sessions nobody has looked at within `keep` and that no tab is watching.
    pub fn sweep(&self) -> usize {
        let keep = self.bounds.keep.as_millis() as u64;
        let now = now_ms();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        sessions.retain(|id, s| {
            prune(s, &self.keeper(id), self.bounds);
            // A transcript in the store is read back when the browser returns.
            let idle = now.saturating_sub(s.seen_ms) >= keep
                || (self.store.is_some() && now.saturating_sub(s.seen_ms) >= IDLE_IN_MEMORY);
            s.tx.receiver_count() > 0 || !idle || (self.store.is_none() && !s.messages.is_empty())
        });
        before - sessions.len()
    }

    /// Browsers with a transcript.
    pub fn sessions(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// How long a browser's transcript stays in memory unwatched when the store keeps it.
const IDLE_IN_MEMORY: u64 = 10 * 60 * 1000;

fn prune(s: &mut Session, keeper: &Keeper<'_>, bounds: Bounds) {
    let now = now_ms();
    let keep = bounds.keep.as_millis() as u64;
    while s.messages.len() > bounds.history
        || s.messages
            .front()
            .is_some_and(|m| now.saturating_sub(m.at_ms) > keep)
    {
        if let Some(gone) = s.messages.pop_front() {
            keeper.drop_message(&gone.id);
        }
    }
    let mut total = 0usize;
    for m in s.messages.iter_mut().rev() {
        for (i, f) in m.files.iter_mut().enumerate() {
            if matches!(f, Slot::Gone) {
                continue;
            }
            total += f.len();
            if total > bounds.bytes {
                *f = Slot::Gone;
                keeper.drop_file(&m.id, i);
            }
        }
    }
}

/// A file name safe in a URL path and a `Content-Disposition` header.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if cleaned.trim_matches(['.', '_']).is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// The core's port into the web chat: every message lands in the browser's transcript.
pub struct WebFront {
    hub: Arc<Hub>,
}

impl WebFront {
    /// A front end over `hub`.
    pub fn new(hub: Arc<Hub>) -> WebFront {
        WebFront { hub }
    }
}

#[async_trait]
impl FrontEnd for WebFront {
    fn platform(&self) -> Platform {
        Platform::Web
    }

    fn limits(&self) -> Limits {
        Limits::WEB
    }

    async fn send(
        &self,
        chat: &ChatRef,
        message: Outbound,
    ) -> Result<Option<MessageId>, headshot::SendError> {
        let id = &chat.chat_id;
        let msg = match message {
            Outbound::Text { text, buttons } => {
                self.hub.push(id, From::Bot, "text", text, buttons, Vec::new())
            }
            Outbound::Album { photos, caption } => {
                self.hub.push(id, From::Bot, "album", caption, Vec::new(), photos)
            }
            Outbound::Files { files, caption } => self.hub.push(
                id,
                From::Bot,
                "files",
                caption.unwrap_or_default(),
                Vec::new(),
                files,
            ),
            Outbound::Action(action) => {
                self.hub.action(
                    id,
                    match action {
                        ChatAction::UploadPhoto => "upload_photo",
                        ChatAction::Typing => "typing",
                    },
                );
                return Ok(None);
            }
        };
        Ok(Some(msg))
    }

    async fn edit(
        &self,
        chat: &ChatRef,
        message: &MessageId,
        text: &str,
        buttons: Vec<Vec<Button>>,
    ) -> Result<(), headshot::SendError> {
        // A message dropped from the transcript (restart, /forget) has nothing left to edit.
        self.hub.edit(&chat.chat_id, message, text, buttons);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(history: usize, bytes: usize) -> Hub {
        Hub::new(Bounds {
            history,
            bytes,
            keep: Duration::from_secs(3600),
        })
    }

    fn file(n: usize) -> Attachment {
        Attachment {
            name: "a b/../c.jpg".into(),
            mime: "image/jpeg".into(),
            bytes: vec![1; n],
            width: 4,
            height: 5,
        }
    }

    #[test]
    fn history_and_bytes_are_bounded() {
        let h = hub(3, 250);
        let first = h.push(
            "u",
            From::Bot,
            "album",
            String::new(),
            Vec::new(),
            vec![file(100)],
        );
        let second = h.push(
            "u",
            From::Bot,
            "album",
            String::new(),
            Vec::new(),
            vec![file(100)],
        );
        let third = h.push(
            "u",
            From::Bot,
            "album",
            String::new(),
            Vec::new(),
            vec![file(100)],
        );
        assert!(
            h.file("u", &first, 0).is_none(),
            "oldest file dropped beyond 250 bytes"
        );
        assert!(h.file("u", &second, 0).is_some());
        assert!(h.file("u", &third, 0).is_some());
        assert!(
            h.file("other", &third, 0).is_none(),
            "files belong to their browser"
        );
        h.push("u", From::User, "text", "x".into(), Vec::new(), Vec::new());
        let ids: Vec<String> = h.snapshot("u").into_iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&first));
        assert_eq!(
            h.snapshot("u")[0].attachments[0].url,
            format!("/files/{second}/0/a_b_.._c.jpg")
        );
    }

    #[test]
    fn edits_reach_subscribers_and_forget_drops_the_past() {
        let h = hub(10, 1 << 20);
        let status = h.push("u", From::Bot, "text", "Queued".into(), Vec::new(), Vec::new());
        let (past, mut rx) = h.subscribe("u");
        assert_eq!(past.len(), 1);
        assert!(h.edit("u", &status, "Working", Vec::new()));
        assert!(!h.edit("u", "m-gone", "x", Vec::new()));
        match rx.try_recv().unwrap() {
            Frame::Edit(m) => assert_eq!((m.id.as_str(), m.text.as_str()), (status.as_str(), "Working")),
            other => panic!("{other:?}"),
        }
        let before = h.last_id("u");
        h.push("u", From::Bot, "text", "Deleted".into(), Vec::new(), Vec::new());
        h.forget_through("u", before.as_deref());
        let left: Vec<String> = h.snapshot("u").into_iter().map(|m| m.text).collect();
        assert_eq!(left, vec!["Deleted".to_string()]);
    }

    #[test]
    fn transcripts_survive_a_restart_within_their_bounds() {
        let store = Store::temporary().unwrap();
        let bounds = Bounds {
            history: 3,
            bytes: 250,
            keep: Duration::from_secs(3600),
        };
        let user = UserKey::new(Platform::Web, "u");
        let ids: Vec<String> = {
            let h = Hub::with_store(bounds, store.clone());
            let status = h.push("u", From::Bot, "text", "Queued".into(), Vec::new(), Vec::new());
            let album = h.push(
                "u",
                From::Bot,
                "album",
                "Done".into(),
                Vec::new(),
                vec![file(100)],
            );
            assert!(h.edit("u", &status, "Finished", Vec::new()));
            let newer = h.push(
                "u",
                From::User,
                "album",
                String::new(),
                Vec::new(),
                vec![file(200)],
            );
            vec![status, album, newer]
        };
        // A new hub over the same store (a restart) reads the transcript back.
        let h = Hub::with_store(bounds, store.clone());
        let back = h.snapshot("u");
        let texts: Vec<(&str, &str, From)> = back
            .iter()
            .map(|m| (m.id.as_str(), m.text.as_str(), m.from))
            .collect();
        assert_eq!(
            texts,
            vec![
                (ids[0].as_str(), "Finished", From::Bot),
                (ids[1].as_str(), "Done", From::Bot),
                (ids[2].as_str(), "", From::User)
            ]
        );
        assert_eq!(back[1].kind, "album");
        assert_eq!(back[1].attachments[0].bytes, 100);
        // The older file went over the 250-byte budget when the newer one came: gone from the
        // store too; the newer one is read back from the store.
        assert!(h.file("u", &ids[1], 0).is_none());
        assert_eq!(h.file("u", &ids[2], 0).unwrap().1.len(), 200);
        assert_eq!(store.chat_names(&user, "f:").unwrap().len(), 1);
        // Past the history bound, the oldest record leaves the store.
        h.push("u", From::Bot, "text", "4".into(), Vec::new(), Vec::new());
        assert!(store.chat(&user, &format!("t:{}", ids[0])).unwrap().is_none());
        assert_eq!(store.chat_names(&user, "t:").unwrap().len(), 3);
        // Forgetting through a message removes it and everything before from the store.
        h.forget_through("u", Some(&ids[2]));
        assert_eq!(store.chat_names(&user, "").unwrap().len(), 1);
        assert_eq!(Hub::with_store(bounds, store).snapshot("u")[0].text, "4");
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_name("..."), "file");
        assert_eq!(safe_name("Photo 1.JPG"), "Photo_1.JPG");
    }
}
