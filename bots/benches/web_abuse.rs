//! The web port under abuse (a harness, not criterion: one run of about a minute). Starts the
//! real `headshot serve` binary on loopback with the default limits (512 connections, 10 s for a
//! request head, 30 s of body silence) and measures, with wrk (Debian's `wrk`) as the load tool:
//! 1. baseline: wrk on `/healthz` (2 threads, 32 connections, 8 s): requests/s and p99;
//! 2. a flood of 1,000 idle connections: how many are held, how many are answered 503 and how
//!    fast, the server's open descriptors and memory, and how long until the held ones are
//!    closed;
//! 3. 200 slowloris clients (a header byte a second) while wrk runs again: wrk's requests/s
//!    and p99 beside the baseline, and when the slow clients are cut;
//! 4. 200 requests declaring a 1 GB body: all answered 413 without reading it;
//!
//! and after each the server's RSS and descriptor count (from /proc).
//!
//! Run: `cargo bench -p headshot-bots --bench web_abuse` (needs `wrk` on PATH).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::web::until_closed;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// RSS in MB and open descriptors of a process.
fn usage(pid: u32) -> (f64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

fn report(what: &str, pid: u32) {
    let (rss, fds) = usage(pid);
    println!("  server after {what}: RSS {rss:.0} MB, {fds} open descriptors");
}

/// Runs wrk against `url` and returns (requests/s, p99 text, non-2xx count).
fn wrk(url: &str, seconds: u32) -> (f64, String, u64) {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (rps, p99, non2xx)
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.toml"), "require_consent = false\n").unwrap();
    let (mut child, url) = support::web::serve_web(dir.path(), &["--config", "web.toml"], &[]);
    let pid = child.id();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let healthz = format!("http://{addr}/healthz");
    println!("headshot serve (pid {pid}) at {url}; limits: 512 connections, head 10 s, body 30 s");
    report("start", pid);

    let (rps, p99, non2xx) = wrk(&healthz, 8);
    println!("1. baseline wrk /healthz: {rps:.0} requests/s, p99 {p99}, non-2xx {non2xx}");
    report("baseline", pid);

    // 2. 1,000 idle connections at once.
    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..1000 {
        match TcpStream::connect(&addr).await {
            Ok(mut s) => flood.push(tokio::spawn(async move {
                until_closed(&mut s, Duration::from_secs(20)).await
            })),
            Err(e) => println!("  connect failed: {e}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    report("opening 1,000 idle connections", pid);
    let mut refused = Vec::new();
    let mut held = Vec::new();
    let mut never = 0;
    for f in flood {
        let (answer, closed) = f.await.unwrap();
        match closed {
            Some(at) if answer.starts_with(b"HTTP/1.1 503") => refused.push(at),
            Some(at) => held.push(at),
            None => never += 1,
        }
    }
    refused.sort();
    held.sort();
    let pct = |v: &[Duration], q: f64| {
        v.get(((v.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "2. 1,000 idle connections: {} answered 503 (p50 {:?}, p99 {:?} after connecting), {} held and \
         closed silently at {:?}..{:?}, {never} still open at 20 s; all done {:?} after the flood began",
        refused.len(),
        pct(&refused, 0.5),
        pct(&refused, 0.99),
        held.len(),
        held.first().copied().unwrap_or_default(),
        held.last().copied().unwrap_or_default(),
        started.elapsed()
    );
    report("the idle connections were closed", pid);

    // 3. 200 slowloris clients while wrk runs.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let addr = addr.clone();
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut s = TcpStream::connect(&addr).await.ok()?;
            let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
            for byte in head {
                if s.write_all(&[*byte]).await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let (_, closed) = until_closed(&mut s, Duration::from_secs(5)).await;
            closed.map(|_| started.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wrk_addr = healthz.clone();
    let load = tokio::task::spawn_blocking(move || wrk(&wrk_addr, 8));
    tokio::time::sleep(Duration::from_secs(4)).await;
    report("200 slow clients connected, wrk running", pid);
    let (rps, p99, non2xx) = load.await.unwrap();
    println!("3. wrk /healthz with 200 slowloris clients: {rps:.0} requests/s, p99 {p99}, non-2xx {non2xx}");
    let mut cut = Vec::new();
    for s in slow {
        if let Some(at) = s.await.unwrap() {
            cut.push(at);
        }
    }
    cut.sort();
    println!(
        "   slow clients cut: {} of 200, at {:?}..{:?} after connecting",
        cut.len(),
        cut.first().copied().unwrap_or_default(),
        cut.last().copied().unwrap_or_default()
    );
    report("the slow clients", pid);

    // 4. Declared 1 GB bodies.
    let started = Instant::now();
    let mut big = Vec::new();
    for i in 0..200 {
        let addr = addr.clone();
        big.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.ok()?;
            let path = if i % 2 == 0 { "/api/upload" } else { "/api/send" };
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: {}\r\n\r\n",
                1u64 << 30
            );
            s.write_all(head.as_bytes()).await.ok()?;
            let (answer, _) = until_closed(&mut s, Duration::from_secs(5)).await;
            Some(answer.starts_with(b"HTTP/1.1 413"))
        }));
    }
    let mut refused_413 = 0;
    for b in big {
        if b.await.unwrap() == Some(true) {
            refused_413 += 1;
        }
    }
    println!(
        "4. 200 requests declaring 1 GB bodies: {refused_413} answered 413, all within {:?}",
        started.elapsed()
    );
    report("the oversized bodies", pid);
    let (rps, p99, non2xx) = wrk(&healthz, 5);
    println!("   wrk /healthz afterwards: {rps:.0} requests/s, p99 {p99}, non-2xx {non2xx}");

    let _ = child.kill();
    let _ = child.wait();
}
