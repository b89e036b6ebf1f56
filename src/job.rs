//! The records the engine keeps: users with their settings and consent, jobs and their states,
//! and outbox entries waiting for delivery.

use serde::{Deserialize, Serialize};

use headshot_models::{Catalog, Crop, Mode, Style};

use crate::address::{ChatRef, MessageId, UserKey};

/// A job id: a ULID, so ids sort by creation time.
pub type JobId = String;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the user's consent.
    Pending,
    /// Waiting for a worker.
    Queued,
    /// Being generated.
    Running,
    /// Results stored, waiting in the outbox.
    Generated,
    /// Results sent.
    Delivered,
    /// Ended without results (the reason is in [`Job::failure`]).
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

impl JobState {
    /// No further work happens on the job.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Delivered | JobState::Failed | JobState::Cancelled)
    }

    /// Waiting or running: counts against the user's caps and can be cancelled.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Pending | JobState::Queued | JobState::Running)
    }
}

/// A user's choices, snapshotted into each job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Style name from the catalog.
    pub style: String,
    /// Backdrop override (`white`, `grey`, `gradient`, `blur`, `dark`, or `#rrggbb`).
    pub background: Option<String>,
    /// Headshot or portrait rules.
    pub mode: Mode,
    /// Framings; `None` uses the style's default.
    pub crop: Option<Crop>,
    /// Variants per job (1-4).
    pub variants: u32,
    /// Send results to the private chat instead of the group.
    pub private_delivery: bool,
    /// Where threads exist (Discord): deliver in a public thread instead of a private one.
    #[serde(default)]
    pub public_thread: bool,
}

impl Settings {
    /// The catalog style named here (the default style if it disappeared from the catalog).
    pub fn style<'a>(&self, catalog: &'a Catalog) -> &'a Style {
        catalog
            .get(&self.style)
            .unwrap_or_else(|| catalog.default_style())
    }

    /// The style with the user's background override applied.
    pub fn effective_style(&self, catalog: &Catalog) -> Style {
        use headshot_models::style::{Backdrop, BackdropKind};
        let mut style = self.style(catalog).clone();
        let solid = |c: &str| Backdrop {
            kind: BackdropKind::Solid,
            colors: vec![c.to_string()],
        };
        if let Some(bg) = &self.background {
            style.backdrop = match bg.as_str() {
                "white" => solid("#ffffff"),
                "grey" => solid("#d9dcdf"),
                "gradient" => Backdrop {
                    kind: BackdropKind::Gradient,
                    colors: vec!["#eceef1".into(), "#c9ced4".into()],
                },
                "blur" => Backdrop {
                    kind: BackdropKind::BlurOriginal,
                    colors: Vec::new(),
                },
                "dark" => Backdrop {
                    kind: BackdropKind::DarkenOriginal,
                    colors: vec!["#1e1f23".into()],
                },
                hex => solid(hex),
            };
        }
        style
    }
}

/// What the store keeps about a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub settings: Settings,
    /// When the user agreed (ms since epoch).
    pub consent_ms: Option<u64>,
    /// When the user was first seen.
    pub created_ms: u64,
    /// Private chat id to use for private delivery from groups, when known.
    pub private_chat: Option<ChatRef>,
}

/// A generation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id (ULID).
    pub id: JobId,
    /// Owner.
    pub user: UserKey,
    /// Where the answer goes.
    pub chat: ChatRef,
    pub state: JobState,
    /// Created (ms since epoch).
    pub created_ms: u64,
    /// Last state change.
    pub updated_ms: u64,
    /// Selfie ids (in the selfies tree under the user's prefix).
    pub selfies: Vec<String>,
    /// Which selfie the studio pipeline uses.
    pub primary: usize,
    /// Output file-name stem.
    pub stem: String,
    /// Settings at the time the job was made.
    pub settings: Settings,
    /// First variant number (rerolls continue the numbering).
    pub first_variant: u32,
    /// Seed for random generators.
    pub seed: u64,
    /// The editable status message.
    pub status_message: Option<MessageId>,
    /// How many times a worker started it (restarts count).
    pub attempts: u32,
    /// Why it failed, in the user's words.
    pub failure: Option<String>,
    /// Engine that produced the results.
    pub engine: Option<String>,
    /// Compact checklist line.
    pub checklist: Option<String>,
    /// Number of stored results.
    pub results: u32,
    /// When generation ended.
    pub finished_ms: Option<u64>,
    /// Generation time, for ETAs.
    pub generation_ms: Option<u64>,
}

impl Job {
    /// A job that has not run yet, made at `now` with a fresh seed; the selfies, the primary
    /// one, the file stem and the first variant number are the caller's to set.
    pub fn new(
        id: JobId,
        user: UserKey,
        chat: ChatRef,
        state: JobState,
        now: u64,
        settings: Settings,
    ) -> Job {
        Job {
            id,
            user,
            chat,
            state,
            created_ms: now,
            updated_ms: now,
            selfies: Vec::new(),
            primary: 0,
            stem: "selfie".into(),
            settings,
            first_variant: 1,
            seed: rand::random(),
            status_message: None,
            attempts: 0,
            failure: None,
            engine: None,
            checklist: None,
            results: 0,
            finished_ms: None,
            generation_ms: None,
        }
    }

    /// The job's key in the jobs tree: `platform:user:job`.
    pub fn key(&self) -> String {
        job_key(&self.user, &self.id)
    }
}

/// The key of a job in the jobs tree.
pub fn job_key(user: &UserKey, id: &str) -> String {
    format!("{}{}", user.prefix(), id)
}

/// What an outbox entry delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// The results of a job: album(s), files, buttons.
    Results,
    /// Only the square results, as files (the "Square only" button).
    Squares,
    /// A text message (a failure reason, a notice).
    Notice(String),
}

/// A durable message waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub user: UserKey,
    /// The job it belongs to.
    pub job: JobId,
    /// What to send.
    pub what: Delivery,
    /// Where.
    pub chat: ChatRef,
    /// Parts already sent (so a retry resumes after them).
    pub sent_parts: u32,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before (ms since epoch).
    pub next_try_ms: u64,
    /// When it was created.
    pub created_ms: u64,
}
