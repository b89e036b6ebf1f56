//! The web chat's side of the conversation: one transcript per browser, kept in memory and
//! pushed to every open tab, and the [`WebFront`] that the core delivers into.
//!
//! A browser that is closed while its job runs loses nothing: the core's outbox delivers into
//! the transcript, which is replayed when the page connects again. After a restart the
//! transcript starts empty; jobs still in the outbox are delivered into it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use headshot::{Attachment, Button, ChatAction, ChatRef, FrontEnd, Limits, MessageId, Outbound, Platform};
use serde::Serialize;
use tokio::sync::broadcast;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum From {
    /// The bot (the core).
    Bot,
    /// The browser's user.
    User,
}

/// A file in the transcript, as the page sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    files: Vec<Option<Arc<Vec<u8>>>>,
    #[serde(skip)]
    at: Instant,
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
    seen: Instant,
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
}

impl Hub {
    /// An empty hub.
    pub fn new(bounds: Bounds) -> Hub {
        Hub {
            sessions: Mutex::new(HashMap::new()),
            bounds,
        }
    }

    fn with<R>(&self, id: &str, f: impl FnOnce(&mut Session) -> R) -> R {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.entry(id.to_string()).or_insert_with(|| Session {
            messages: VecDeque::new(),
            tx: broadcast::channel(256).0,
            order: Arc::new(tokio::sync::Mutex::new(())),
            seen: Instant::now(),
        });
        session.seen = Instant::now();
        f(session)
    }

    /// The lock that keeps one browser's events in order.
    pub fn order(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.with(id, |s| s.order.clone())
    }

    /// The transcript now and a receiver of what follows, taken atomically.
    pub fn subscribe(&self, id: &str) -> (Vec<Message>, broadcast::Receiver<Frame>) {
        self.with(id, |s| (s.messages.iter().cloned().collect(), s.tx.subscribe()))
    }

    /// The transcript now.
    pub fn snapshot(&self, id: &str) -> Vec<Message> {
        self.with(id, |s| s.messages.iter().cloned().collect())
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
        let msg_id = format!("m{}", ulid::Ulid::new());
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
        let message = Message {
            id: msg_id.clone(),
            from,
            kind,
            text,
            buttons,
            attachments,
            files: files.into_iter().map(|f| Some(Arc::new(f.bytes))).collect(),
            at: Instant::now(),
        };
        let bounds = self.bounds;
        self.with(id, |s| {
            let _ = s.tx.send(Frame::Message(message.clone()));
            s.messages.push_back(message);
            prune(s, bounds);
        });
        msg_id
    }

    /// Replaces a message's text and buttons; false when it is gone.
    pub fn edit(&self, id: &str, msg_id: &str, text: &str, buttons: Vec<Vec<Button>>) -> bool {
        self.with(id, |s| match s.messages.iter_mut().find(|m| m.id == msg_id) {
            Some(m) => {
                m.text = text.to_string();
                m.buttons = buttons;
                let _ = s.tx.send(Frame::Edit(m.clone()));
                true
            }
            None => false,
        })
    }

    /// Tells the tabs the bot is busy.
    pub fn action(&self, id: &str, kind: &'static str) {
        self.with(id, |s| {
            let _ = s.tx.send(Frame::Action(kind));
        });
    }

    /// The id of the newest message.
    pub fn last_id(&self, id: &str) -> Option<String> {
        self.with(id, |s| s.messages.back().map(|m| m.id.clone()))
    }

    /// Drops every message up to and including `through` (the newest one before a `/forget`
    /// was confirmed) and makes the tabs replay what is left.
    pub fn forget_through(&self, id: &str, through: Option<&str>) {
        self.with(id, |s| {
            if let Some(end) = through.and_then(|m| s.messages.iter().position(|x| x.id == m)) {
                s.messages.drain(..=end);
            }
            let _ = s.tx.send(Frame::Resync);
        });
    }

    /// A file of a message, if the browser owns it and it is still kept.
    pub fn file(&self, id: &str, msg_id: &str, index: usize) -> Option<(FileView, Arc<Vec<u8>>)> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let m = sessions.get(id)?.messages.iter().find(|m| m.id == msg_id)?;
        Some((m.attachments.get(index)?.clone(), m.files.get(index)?.clone()?))
    }

    /// Drops sessions nobody has looked at within `keep` and that no tab is watching.
    pub fn sweep(&self) -> usize {
        let keep = self.bounds.keep;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        sessions.retain(|_, s| {
            prune(s, self.bounds);
            s.tx.receiver_count() > 0 || s.seen.elapsed() < keep || !s.messages.is_empty()
        });
        before - sessions.len()
    }

    /// Browsers with a transcript.
    pub fn sessions(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn prune(s: &mut Session, bounds: Bounds) {
    while s.messages.len() > bounds.history
        || s.messages.front().is_some_and(|m| m.at.elapsed() > bounds.keep)
    {
        s.messages.pop_front();
    }
    let mut total = 0usize;
    for m in s.messages.iter_mut().rev() {
        for f in m.files.iter_mut() {
            if let Some(bytes) = f {
                total += bytes.len();
                if total > bounds.bytes {
                    *f = None;
                }
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
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_name("..."), "file");
        assert_eq!(safe_name("Photo 1.JPG"), "Photo_1.JPG");
    }
}
