//! `headshot-bots`: the front ends of headshot (adapters from chat platforms to the core's
//! neutral [`headshot::FrontEnd`] port) and the `headshot` binary built on them.
//!
//! # Layout
//! - `main.rs` and its modules: the command line (`serve`, `generate`, `styles`, `config`,
//!   `data`, `models`, `device`, `inspect`).
//! - [`discord`]: the Discord adapter on serenity (slash commands, threads, `DiscordFront`).
//! - [`telegram`]: the Telegram adapter on teloxide (long polling, `TelegramFront`).
//! - [`web`]: the local web chat, the operator page, `/healthz` and `/metrics`.

pub mod discord;
pub mod download;
#[doc(hidden)]
pub mod fuzzing;
pub mod telegram;
pub mod web;
