//! End-to-end tests of the binary and the front ends against local fakes.
//!
//! One test binary for the whole crate (each file is a module), so the support code and
//! the dependencies are compiled and linked once.

mod support;

mod cli;
mod diffusion_serve;
mod discord_flow;
mod discord_serve;
mod fuzz_replay;
mod telegram_flow;
mod telegram_rules;
mod telegram_serve;
mod telegram_webhook;
mod web_browser;
mod web_http;
