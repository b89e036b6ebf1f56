//! Load harness (not criterion: one long run): 1,000 simulated Discord users each run
//! `/headshot` with a selfie through the real serenity client (gateway and REST) and the fake
//! Discord; the real core with a fast generator and raised caps. Prints interaction-to-defer
//! latency p50/p99 (Discord allows 3 s), how many users got their album, and peak memory.
//!
//! Run: `cargo bench -p headshot-bots --bench discord_load`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headshot::Store;
use serde_json::json;
use support::config;
use support::discord::DiscordBot;
use support::discord_fake::{DiscordFake, GUILD_ID, opt_attachment};

const USERS: u64 = 1000;
const CHANNEL: u64 = 1_300_000_000_000_000_010;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let fake = Arc::new(DiscordFake::start().await);
    let mut c = config(false);
    c.jobs.workers = 2.try_into().unwrap();
    c.jobs.max_queue = 100_000.try_into().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bot = DiscordBot::start_with(fake.clone(), Store::open(dir.path()).unwrap(), c, 1).await;
    fake.register_attachment("me.png", support::selfie(), "image/png");
    let started = Instant::now();
    let mut sent_at = HashMap::new();
    for i in 0..USERS {
        let (id, _) = fake.slash_command(
            1_400_000_000_000_000_000 + i,
            CHANNEL,
            Some(GUILD_ID),
            "headshot",
            json!([opt_attachment("selfie", "me.png")]),
        );
        sent_at.insert(id, Instant::now());
    }
    let albums = || {
        fake.requests()
            .iter()
            .filter(|r| r.is("POST", "/channels/*/messages") && r.ok() && r.files.len() == 2)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    let delivered = loop {
        let n = albums();
        if n >= USERS as usize || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let total = started.elapsed();
    let mut latencies: Vec<Duration> = fake
        .requests()
        .iter()
        .filter(|r| r.callback_type() == Some(5))
        .filter_map(|r| {
            let id: u64 = r.path.split('/').nth(2)?.parse().ok()?;
            Some(r.at.duration_since(*sent_at.get(&id)?))
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "users: {USERS}; deferred: {}; albums delivered: {delivered}; wall time {total:?}",
        latencies.len()
    );
    println!(
        "interaction -> defer latency: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        latencies.last()
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!(
        "peak memory (whole process, fake server included): {}",
        peak.trim_start_matches("VmHWM:").trim()
    );
    bot.stop().await;
    assert_eq!(delivered, USERS as usize, "every user got their album");
}
