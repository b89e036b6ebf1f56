//! Load harness (not criterion: one long run): 1,000 simulated Telegram users each send a selfie
//! through the real teloxide client and the fake Bot API; the real core with a fast generator and
//! raised caps and rate limits. Prints selfie-to-"queued" latency p50/p99, how many users got
//! their album, and the process's peak memory.
//!
//! Run: `cargo bench -p headshot-bots --bench telegram_load`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headshot::models::Catalog;
use headshot::{Service, Store, SystemClock};
use headshot_bots::telegram;
use support::fake::Fake;
use support::{FakeGenerator, config, options, selfie};
use tokio_util::sync::CancellationToken;

const USERS: i64 = 1000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let fake = Fake::start().await;
    let mut c = config(false);
    c.jobs.workers = 2.try_into().unwrap();
    c.jobs.max_queue = 100_000.try_into().unwrap();
    c.delivery.send_documents = false;
    let dir = tempfile::tempdir().unwrap();
    let generator = FakeGenerator::new(1, Duration::ZERO);
    let service = Service::new(
        c,
        Catalog::builtin(),
        generator,
        Store::open(dir.path()).unwrap(),
        Arc::new(SystemClock),
    );
    let stop = CancellationToken::new();
    let runner = service.clone();
    let core = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop.cancelled_owned()).await.unwrap() }
    });
    let front = tokio::spawn(telegram::run_with(
        service,
        fake.token.clone(),
        Some(fake.url.clone()),
        options(),
        stop.clone().cancelled_owned(),
    ));
    fake.wait("connected", |f| {
        f.calls().iter().any(|c| c.method == "getupdates")
    })
    .await;
    let peers: Vec<_> = (0..USERS).map(|i| fake.private(100_000 + i)).collect();
    let started = Instant::now();
    let mut sent_at = HashMap::new();
    for peer in &peers {
        sent_at.insert(peer.chat_id, Instant::now());
        fake.photo(peer, selfie(), None, None);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let delivered = loop {
        let albums = fake
            .calls()
            .iter()
            .filter(|c| c.method == "sendmediagroup" && c.status == 200)
            .count();
        if albums >= USERS as usize || Instant::now() > deadline {
            break albums;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let total = started.elapsed();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut first_queued = HashMap::new();
    for call in fake.calls() {
        if call.method == "sendmessage" && call.str("text").is_some_and(|t| t.starts_with("Queued")) {
            first_queued
                .entry(call.chat_id().unwrap_or_default())
                .or_insert(call.at);
        }
    }
    for (chat, at) in &first_queued {
        latencies.push(at.duration_since(sent_at[chat]));
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "users: {USERS}; acknowledged: {}; albums delivered: {delivered}; wall time {total:?}",
        latencies.len()
    );
    println!(
        "selfie -> \"queued\" latency: p50 {:?}, p99 {:?}, max {:?}",
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
    stop.cancel();
    let _ = front.await;
    let _ = core.await;
    assert_eq!(delivered, USERS as usize, "every user got their album");
}
