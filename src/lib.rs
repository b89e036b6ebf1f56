//! `headshot`: the core of the service, with no chat platform and no model types of its own.
//!
//! # Layout
//! - [`chat`]: the chat-neutral model (users, chats, inbound events, outbound messages) and the
//!   [`FrontEnd`] port that Telegram, Discord and web adapters implement.
//! - [`conversation`]: commands, settings, consent and photo intake (`impl Service`).
//! - [`service`]: the running service, its start-up recovery and graceful shutdown.
//! - [`scheduler`]: fair round-robin scheduling across users.
//! - `worker`: generation slots, progress edits, results stored with their outbox entry.
//! - `delivery`: the outbox sender with retries and backoff.
//! - [`retention`]: deletion of old selfies, results and job records.
//! - [`store`]: sled trees and keys; backup, restore and schema migration.
//! - [`job`]: the records (users, jobs, outbox entries).
//! - [`config`]: TOML plus environment, validated once.
//! - [`text`]: every user-facing string.
//! - [`clock`]: time behind a trait.
//! - [`metrics`]: histograms, error counters and running jobs for the operator page.
//!
//! Dependency direction: front ends -> this crate -> `headshot-models`.

pub mod chat;
pub mod clock;
pub mod config;
pub mod control;
pub mod conversation;
mod delivery;
pub mod job;
pub mod metrics;
pub mod retention;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod text;
mod worker;

pub use chat::{
    Attachment, Button, ChatAction, ChatRef, Event, FrontEnd, Inbound, Limits, MessageId, Outbound, Platform,
    SendError, Upload, UserKey,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use headshot_models as models;
pub use job::{Job, JobState};
pub use service::{QueueStats, Service};
pub use store::{Store, StoreError};
