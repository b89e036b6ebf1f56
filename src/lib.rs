//! `headshot`: the core of the service, with no chat platform and no model types of its own.
//!
//! # Layout
//! - [`chat`]: the chat-neutral model (users, chats, inbound events, outbound messages) and the
//!   [`FrontEnd`] port that Telegram, Discord and web adapters implement.
//! - [`command`]: chat commands and button actions, parsed once at the edge.
//! - `conversation`: what each command, button and photo does, one file per group.
//! - [`service`]: the running service, composed of the runtime components; start-up recovery
//!   and graceful shutdown.
//! - [`runtime`]: the components (job queue, front ends, intake gate, outbox and delivery,
//!   workers, retention), each owning its state.
//! - [`scheduler`]: fair round-robin scheduling across users (pure).
//! - [`store`]: sled trees and keys; backup, restore and schema migration.
//! - [`job`]: the records (users, jobs, outbox entries).
//! - [`config`]: TOML plus environment, validated once.
//! - [`text`]: every user-facing string.
//! - [`clock`]: time behind a trait.
//! - [`metrics`]: histograms, error counters and running jobs for the operator page.
//!
//! Dependency direction: front ends -> this crate -> `headshot-models`.

pub mod address;
pub mod chat;
pub mod clock;
pub mod command;
pub mod config;
pub mod control;
mod conversation;
#[doc(hidden)]
pub mod fuzzing;
pub mod job;
pub mod metrics;
pub mod runtime;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod text;

pub use chat::{
    Attachment, Button, ChatAction, ChatRef, Event, FrontEnd, Inbound, Limits, MessageId, Outbound, Platform,
    SendError, Upload, UserKey,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{Action, Command};
pub use config::Config;
pub use headshot_models as models;
pub use job::{Job, JobState};
pub use runtime::queue::{JobQueue, MemoryQueue, SledQueue};
pub use runtime::retention::Swept;
pub use scheduler::QueueStats;
pub use service::Service;
pub use store::{ChatRecord, Store, StoreError};
