//! Crash recovery with a real process: the engine runs in a child process that is killed with
//! SIGKILL at random points during a batch of jobs, then restarted; every acknowledged job must
//! reach a terminal state and be delivered, with duplicates only in the documented window.
//!
//! The child is this test binary itself, re-run with `HEADSHOT_CRASH_DIR` set (see
//! `crash_child`, ignored in normal runs).

use crate::util;

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use headshot::{
    Button, ChatRef, Event, FrontEnd, Limits, MessageId, Outbound, Platform, SendError, Service, Store,
    SystemClock, Upload,
};
use rand::Rng;
use util::{FakeGenerator, config, inbound, selfie};

const JOBS: usize = 24;
const USERS: usize = 6;

/// The "platform" of the child: appends every album it is sent to a log, durably, before
/// answering, like a chat server that has accepted a message.
struct LogFront(PathBuf);

#[async_trait]
impl FrontEnd for LogFront {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }
    fn limits(&self) -> Limits {
        Limits::TELEGRAM
    }
    async fn send(&self, _chat: &ChatRef, message: Outbound) -> Result<Option<MessageId>, SendError> {
        if let Outbound::Album { photos, .. } = &message {
            append(&self.0, &format!("album {}", photos[0].name));
        }
        Ok(Some("1".into()))
    }
    async fn edit(&self, _: &ChatRef, _: &MessageId, _: &str, _: Vec<Vec<Button>>) -> Result<(), SendError> {
        Ok(())
    }
}

fn append(path: &Path, line: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
    f.sync_all().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "the child process of kill_9_at_random_points_loses_no_acknowledged_job"]
fn crash_child() {
    let Ok(dir) = std::env::var("HEADSHOT_CRASH_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Store::open(&dir.join("db")).unwrap();
        let service = Service::new(
            config(false),
            headshot::models::Catalog::builtin(),
            FakeGenerator::new(3, Duration::from_millis(15)),
            store.clone(),
            Arc::new(SystemClock),
        );
        service.attach(Arc::new(LogFront(dir.join("platform.log"))));
        let runner = service.clone();
        tokio::spawn(async move { runner.run(std::future::pending()).await.unwrap() });
        let acks = dir.join("acks.log");
        for i in lines(&acks).len()..JOBS {
            let user = format!("u{}", i % USERS);
            let upload = Upload {
                bytes: selfie(90),
                file_name: Some(format!("s{i}.png")),
                message_id: None,
            };
            service
                .handle(inbound(
                    &user,
                    Event::Photos {
                        uploads: vec![upload],
                        caption: None,
                    },
                ))
                .await;
            let key = headshot::UserKey::new(Platform::Telegram, user.as_str());
            if store
                .jobs_of(&key)
                .unwrap()
                .iter()
                .any(|j| j.stem == format!("s{i}"))
            {
                append(&acks, &format!("s{i}"));
            }
        }
        loop {
            let jobs = store.all_jobs().unwrap();
            if jobs.iter().all(|j| j.state.is_terminal()) && store.stats().unwrap().outbox == 0 {
                store.flush().await.unwrap();
                append(&dir.join("idle"), "idle");
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

fn child(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HEADSHOT_CRASH_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn kill_9_at_random_points_loses_no_acknowledged_job() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    for _ in 0..5 {
        let mut c = child(dir.path());
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..700)));
        if c.try_wait().unwrap().is_none() {
            c.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        c.wait().unwrap();
    }
    let mut c = child(dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    while c.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the final run did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("idle").exists(), "the final run reached idle");

    let acked: HashSet<String> = lines(&dir.path().join("acks.log")).into_iter().collect();
    assert_eq!(acked.len(), JOBS, "every photo was eventually acknowledged");
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines(&dir.path().join("platform.log")) {
        let name = line.trim_start_matches("album ");
        let stem = name.split('-').next().unwrap().to_string();
        *delivered.entry(stem).or_default() += 1;
    }
    for stem in &acked {
        assert!(
            delivered.contains_key(stem),
            "acknowledged job {stem} was never delivered: {delivered:?}"
        );
    }
    let duplicates: usize = delivered.values().map(|n| n - 1).sum();
    eprintln!(
        "{kills} kills, {} jobs delivered, {duplicates} duplicates",
        delivered.len()
    );
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills: {delivered:?}"
    );
    let store = Store::open(&dir.path().join("db")).unwrap();
    let jobs = store.all_jobs().unwrap();
    assert!(jobs.iter().all(|j| j.state.is_terminal()), "every job ended");
    assert!(kills >= 1, "at least one run was killed mid-way");
}
