//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and the inputs that once failed
//! (`fuzz/regressions/<target>/`) through the fuzz targets' entry points, so CI checks every
//! input the fuzzers kept without running a fuzzer. `fuzz/README.md` says how to fuzz.

use std::path::{Path, PathBuf};

use headshot::models::{Generator, Studio};
use headshot::{Config, Store};

use crate::support::{FakeGenerator, Running, config};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 5,
        "the {target} corpus is committed (found {} inputs)",
        out.len()
    );
    out
}

/// Runs `f` on every input of `target`, naming the input that panics, on a thread with the
/// 8 MiB stack the service's threads have (`bots/src/main.rs`).
fn replay(target: &str, f: impl Fn(&[u8]) + Send + Sync) -> usize {
    let all = inputs(target);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(scope, || {
                for (path, data) in &all {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(data)));
                    assert!(result.is_ok(), "{target}: {} fails", path.display());
                }
            })
            .unwrap()
            .join()
            .unwrap();
    });
    all.len()
}

#[test]
fn fuzz_corpus_command() {
    replay("command", headshot::fuzzing::command);
}

#[test]
fn fuzz_corpus_config() {
    replay("config", headshot::fuzzing::config);
}

#[test]
fn fuzz_corpus_telegram_update() {
    replay("telegram_update", headshot_bots::fuzzing::telegram_update);
}

#[test]
fn fuzz_corpus_discord_interaction() {
    replay("discord_interaction", headshot_bots::fuzzing::discord_interaction);
}

#[test]
fn fuzz_corpus_intake() {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/weights");
    let studio = Studio::load(Some(&weights), Config::default_for_laptop().decode_limits()).unwrap();
    let generator: &dyn Generator = &studio;
    replay("intake", |data| headshot::fuzzing::intake(generator, data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_corpus_web_request() {
    let running = Running::start(
        config(false),
        FakeGenerator::new(1, std::time::Duration::from_millis(1)),
        Store::temporary().unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = running.stop_token();
    let server = tokio::spawn(headshot_bots::web::serve(
        running.service.clone(),
        listener,
        headshot_bots::web::Options::from_config(running.service.config()),
        stop.clone().cancelled_owned(),
    ));
    let all = inputs("web_request");
    for (path, data) in &all {
        let status = headshot_bots::fuzzing::web_request(addr, data).await;
        assert!(
            (200..500).contains(&status) || status == 503,
            "web_request: {} got {status}",
            path.display()
        );
    }
    stop.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    running.stop().await;
}
