//! Soak harness (one long run, not criterion): jobs through the web chat over HTTP, with the
//! real core on sled (in a temporary directory), a fast fake generator and short retention, paced
//! for a long run. Every 30 s it samples the process's resident memory and open files, the
//! store's size and record counts, and how many albums were delivered; at the end it prints the
//! curve and the verdicts: memory flat after warm-up (growth at most 5 %), no growth in open files,
//! the store bounded by retention, every acknowledged job delivered.
//!
//! Run: `cargo bench -p headshot-bots --bench soak --profile dev` (defaults: 10,000 jobs over
//! 31 minutes). `SOAK_JOBS` and `SOAK_MINUTES` change the size, for a short try.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use headshot::Store;
use headshot_bots::web;
use support::web::web_options;
use support::{FakeGenerator, Running, config, selfie};

const BROWSERS: usize = 100;
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// `headshot_delivery_seconds_count` from `/metrics`: albums delivered.
async fn delivered(http: &reqwest::Client, base: &str) -> u64 {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|l| l.strip_prefix("headshot_delivery_seconds_count "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

struct Sample {
    at_s: u64,
    sent: usize,
    accepted: usize,
    delivered: u64,
    rss_kb: u64,
    fds: usize,
    store_bytes: u64,
    jobs: usize,
    results: usize,
    chats: usize,
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let jobs = env_or("SOAK_JOBS", 10_000) as usize;
    let minutes = env_or("SOAK_MINUTES", 31);
    let mut c = config(false);
    c.jobs.workers = 2.try_into().unwrap();
    c.jobs.max_queue = 100_000.try_into().unwrap();
    c.jobs.daily_per_user = 1_000_000.try_into().unwrap();
    c.delivery.send_documents = false;
    // Short retention, so that a bounded store is visible within the run.
    c.retention.selfies = Duration::from_secs(60);
    c.retention.results = Duration::from_secs(60);
    c.retention.jobs = Duration::from_secs(120);
    c.retention.sweep_every = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let running = Running::start(c, FakeGenerator::new(1, Duration::from_millis(5)), store);
    let service = running.service.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = web_options();
    options.bounds.keep = Duration::from_secs(60);
    let stop = running.stop_token();
    let server = tokio::spawn(web::serve(
        service.clone(),
        listener,
        options,
        stop.clone().cancelled_owned(),
    ));

    // Browsers: each gets its cookie once, then sends selfies in turn.
    let http = reqwest::Client::new();
    let mut cookies = Vec::new();
    for _ in 0..BROWSERS {
        let r = http.get(format!("{base}/")).send().await.unwrap();
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .collect::<Vec<_>>()
            .join("; ");
        cookies.push(cookie);
    }
    let photo = Arc::new(selfie());
    let sent = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs(minutes * 60).div_f64(jobs as f64);
    eprintln!(
        "soak: {jobs} jobs over {minutes} min ({:.1} jobs/s), {BROWSERS} browsers",
        1.0 / interval.as_secs_f64()
    );
    let start = Instant::now();
    let sender = {
        let (http, base, photo, sent, accepted) = (
            http.clone(),
            base.clone(),
            photo.clone(),
            sent.clone(),
            accepted.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            let mut inflight = tokio::task::JoinSet::new();
            for i in 0..jobs {
                tick.tick().await;
                let (http, base, photo, cookie, sent, accepted) = (
                    http.clone(),
                    base.clone(),
                    photo.clone(),
                    cookies[i % BROWSERS].clone(),
                    sent.clone(),
                    accepted.clone(),
                );
                inflight.spawn(async move {
                    let part = reqwest::multipart::Part::bytes(photo.to_vec())
                        .file_name("me.png")
                        .mime_str("image/png")
                        .unwrap();
                    let form = reqwest::multipart::Form::new().part("photo", part);
                    sent.fetch_add(1, Ordering::SeqCst);
                    let r = http
                        .post(format!("{base}/api/upload"))
                        .header("cookie", cookie)
                        .header("origin", &base)
                        .multipart(form)
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().as_u16() == 202) {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                });
                while inflight.try_join_next().is_some() {}
            }
            while inflight.join_next().await.is_some() {}
        })
    };

    let mut samples: Vec<Sample> = Vec::new();
    let take = |samples: &mut Vec<Sample>, delivered: u64| {
        let stats = service.store().stats().unwrap_or_default();
        let s = Sample {
            at_s: start.elapsed().as_secs(),
            sent: sent.load(Ordering::SeqCst),
            accepted: accepted.load(Ordering::SeqCst),
            delivered,
            rss_kb: status_field("VmRSS:"),
            fds: open_files(),
            store_bytes: stats.disk_bytes,
            jobs: stats.jobs,
            results: stats.results,
            chats: stats.chats,
        };
        eprintln!(
            "{:>5}s sent {:>6} accepted {:>6} delivered {:>6} | RSS {:>7} kB | fds {:>4} | store {:>6} kB, {:>5} jobs, {:>5} results, {:>5} chat records",
            s.at_s,
            s.sent,
            s.accepted,
            s.delivered,
            s.rss_kb,
            s.fds,
            s.store_bytes / 1024,
            s.jobs,
            s.results,
            s.chats
        );
        samples.push(s);
    };
    take(&mut samples, 0);
    loop {
        let done = sender.is_finished();
        tokio::time::sleep(if done {
            Duration::from_secs(2)
        } else {
            SAMPLE_EVERY
        })
        .await;
        let d = delivered(&http, &base).await;
        if done {
            let acc = accepted.load(Ordering::SeqCst) as u64;
            if d >= acc || start.elapsed() > Duration::from_secs(minutes * 60 + 300) {
                take(&mut samples, d);
                break;
            }
            continue;
        }
        take(&mut samples, d);
    }
    let _ = sender.await;

    // Verdicts. Warm-up: the first ten minutes (or a third of a short run): the store fills to
    // its retention steady state (jobs live 120 s, results 60 s, the sweep runs every 10 s) and
    // sled's cache with it. Growth is the trend, compared as means of the first and last five
    // minutes after warm-up (single samples move by a megabyte either way).
    let warm = samples
        .iter()
        .position(|s| s.at_s >= 600.min(minutes * 20))
        .unwrap_or(0);
    let after: Vec<&Sample> = samples[warm..].iter().collect();
    let window = after.len().clamp(1, 10);
    let mean = |xs: &[&Sample]| xs.iter().map(|s| s.rss_kb as f64).sum::<f64>() / xs.len().max(1) as f64;
    let rss_first = mean(&after[..window]);
    let rss_last = mean(&after[after.len() - window..]);
    let rss_min = after.iter().map(|s| s.rss_kb).min().unwrap_or(0);
    let rss_max = after.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let fd0 = after.first().map(|s| s.fds).unwrap_or(0);
    let fd_max = after.iter().map(|s| s.fds).max().unwrap_or(0);
    let store_first = after.first().map(|s| s.store_bytes).unwrap_or(0);
    let store_max = after.iter().map(|s| s.store_bytes).max().unwrap_or(0);
    let last = samples.last().unwrap();
    println!(
        "soak: {} jobs sent, {} acknowledged, {} delivered in {} s",
        last.sent, last.accepted, last.delivered, last.at_s
    );
    println!(
        "soak: RSS after warm-up: first five minutes {:.0} kB, last five {:.0} kB ({:+.1} %); samples {rss_min}-{rss_max} kB",
        rss_first,
        rss_last,
        (rss_last / rss_first - 1.0) * 100.0
    );
    println!("soak: open files after warm-up {fd0}, max {fd_max}");
    println!(
        "soak: store after warm-up {} kB, max {} kB; at the end {} jobs, {} results, {} chat records (retention 60-120 s)",
        store_first / 1024,
        store_max / 1024,
        last.jobs,
        last.results,
        last.chats
    );
    let verdicts = [
        (
            "every acknowledged job delivered",
            last.delivered >= last.accepted as u64 && last.accepted == last.sent,
        ),
        ("memory flat after warm-up (<= 5 %)", rss_last <= rss_first * 1.05),
        ("no growth in open files", fd_max <= fd0 + 8),
        (
            "store bounded by retention (<= 1.5x its size after warm-up)",
            store_max as f64 <= store_first as f64 * 1.5,
        ),
    ];
    for (what, ok) in verdicts {
        println!("soak: {} {what}", if ok { "PASS" } else { "FAIL" });
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    running.stop().await;
}
