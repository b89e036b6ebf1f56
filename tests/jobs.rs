//! The job engine: fairness, caps, busy answers, retention with a controlled clock, graceful
//! shutdown and restart, backup and restore while running, schema versions.

use crate::util;

use std::sync::Arc;
use std::time::Duration;

use headshot::clock::ManualClock;
use headshot::control::{self, Request};
use headshot::{JobState, Service, Store, StoreError};
use tokio_util::sync::CancellationToken;
use util::{FakeGenerator, Harness, Recorder, config, selfie, user};

#[tokio::test]
async fn one_busy_user_does_not_starve_the_others() {
    let mut c = config(false);
    c.jobs.max_queued_per_user = 10.try_into().unwrap();
    let h = Harness::start(c, FakeGenerator::new(2, Duration::from_millis(20))).await;
    h.photo("a", selfie(90)).await;
    h.front
        .wait_until("a's first job runs", |f| !f.edits("a").is_empty())
        .await;
    for _ in 0..4 {
        h.photo("a", selfie(90)).await;
    }
    h.photo("b", selfie(90)).await;
    h.photo("c", selfie(90)).await;
    h.front
        .wait_until("all albums", |f| {
            f.albums("a").len() == 5 && f.albums("b").len() == 1 && f.albums("c").len() == 1
        })
        .await;
    let order: Vec<String> = h
        .service
        .store()
        .all_jobs()
        .unwrap()
        .into_iter()
        .map(|j| (j.finished_ms.unwrap(), j.user.id))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    let b = order.iter().position(|u| u == "b").unwrap();
    let c = order.iter().position(|u| u == "c").unwrap();
    assert!(
        b <= 2 && c <= 3,
        "b and c run among the first jobs, not after all of a's: {order:?}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn per_user_and_global_caps_refuse_politely() {
    let mut c = config(false);
    c.jobs.max_queue = 4.try_into().unwrap();
    let h = Harness::start(c, FakeGenerator::new(100, Duration::from_millis(20))).await;
    h.photo("a", selfie(90)).await;
    h.front
        .wait_until("a's first job runs", |f| !f.edits("a").is_empty())
        .await;
    for _ in 0..4 {
        h.photo("a", selfie(90)).await;
    }
    let texts = h.front.texts("a");
    // One running plus three waiting; the fifth is refused.
    assert!(texts[3].starts_with("Queued"), "{texts:?}");
    assert!(texts[4].contains("already have 3 jobs waiting"), "{texts:?}");
    h.photo("b", selfie(90)).await;
    assert!(
        h.front.texts("b")[0].starts_with("Queued: position 2"),
        "{:?}",
        h.front.texts("b")
    );
    h.photo("c", selfie(90)).await;
    assert!(
        h.front.texts("c")[0].contains("very busy"),
        "{:?}",
        h.front.texts("c")
    );
    h.command("b", "/status").await;
    assert!(
        h.front.texts("b").last().unwrap().contains("position"),
        "{:?}",
        h.front.texts("b")
    );
    h.command("a", "/cancel").await;
    h.shutdown().await;
}

#[tokio::test]
async fn retention_deletes_selfies_results_and_records_on_time() {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::temporary().unwrap();
    let service = Service::new(
        config(false),
        headshot::models::Catalog::builtin(),
        FakeGenerator::new(1, Duration::ZERO),
        store.clone(),
        Arc::new(clock.clone()),
    );
    let front = Recorder::new(headshot::Platform::Telegram);
    service.attach(front.clone());
    let stop = CancellationToken::new();
    let runner = service.clone();
    let token = stop.clone();
    let task = tokio::spawn(async move { runner.run(token.cancelled_owned()).await.unwrap() });
    service
        .handle(util::inbound(
            "r",
            headshot::Event::Photos {
                uploads: vec![headshot::Upload {
                    bytes: selfie(90),
                    file_name: None,
                    message_id: None,
                }],
                caption: None,
            },
        ))
        .await;
    front
        .wait_until("delivered", |_| {
            store.jobs_of(&user("r")).unwrap()[0].state == JobState::Delivered
        })
        .await;
    let job = store.jobs_of(&user("r")).unwrap().remove(0);
    assert_eq!(
        service.sweep_retention().unwrap(),
        Default::default(),
        "nothing is old yet"
    );
    clock.advance(Duration::from_secs(6 * 86_400));
    assert_eq!(service.sweep_retention().unwrap().selfies, 0);
    clock.advance(Duration::from_secs(2 * 86_400));
    let swept = service.sweep_retention().unwrap();
    assert_eq!((swept.selfies, swept.results, swept.jobs), (1, 2, 0));
    assert!(store.selfie(&user("r"), &job.selfies[0]).unwrap().is_none());
    assert!(store.results(&user("r"), &job.id).unwrap().is_empty());
    assert_eq!(store.job(&user("r"), &job.id).unwrap().unwrap().results, 0);
    clock.advance(Duration::from_secs(23 * 86_400));
    assert_eq!(service.sweep_retention().unwrap().jobs, 1);
    assert_eq!(
        store.count_user_keys(&user("r")),
        1,
        "only the settings record remains"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_job_cut_by_shutdown_is_finished_or_resumed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Harness::start_with(
        config(false),
        FakeGenerator::new(5, Duration::from_millis(40)),
        store,
    )
    .await;
    h.photo("s", selfie(90)).await;
    h.photo("t", selfie(90)).await;
    h.front.wait_until("running", |f| !f.edits("s").is_empty()).await;
    h.service.store().flush().await.unwrap();
    let front_before = h.front.clone();
    h.shutdown().await;
    // The graceful shutdown let the running job finish; the queued one stays queued.
    let store = Store::open(dir.path()).unwrap();
    let states: Vec<JobState> = store.all_jobs().unwrap().iter().map(|j| j.state).collect();
    assert!(states.contains(&JobState::Queued), "{states:?}");
    assert!(!states.contains(&JobState::Running), "{states:?}");
    let h = Harness::start_with(config(false), FakeGenerator::new(1, Duration::ZERO), store).await;
    h.front
        .wait_until("both delivered after restart", |f| {
            front_before.albums("s").len() + f.albums("s").len() == 1 && f.albums("t").len() == 1
        })
        .await;
    h.shutdown().await;
}

#[tokio::test]
async fn backup_while_running_restores_to_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let h = Harness::start_with(
        config(false),
        FakeGenerator::new(1, Duration::ZERO),
        store.clone(),
    )
    .await;
    let stop = CancellationToken::new();
    let control_task = tokio::spawn(control::serve(
        store.clone(),
        dir.path().to_path_buf().leak(),
        stop.clone(),
    ));
    for u in ["x", "y"] {
        h.photo(u, selfie(90)).await;
    }
    h.front
        .wait_until("delivered", |f| {
            !f.albums("x").is_empty() && !f.albums("y").is_empty()
        })
        .await;
    let backup = dir.path().join("backup.bin");
    let mut reply = None;
    for _ in 0..50 {
        reply = control::call(dir.path(), &Request::Backup { path: backup.clone() })
            .await
            .unwrap();
        if reply.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let records = reply.expect("the control socket answers").unwrap()["records"]
        .as_u64()
        .unwrap();
    assert!(records >= 8, "{records}");
    let export = control::call(
        dir.path(),
        &Request::Export {
            user: "telegram:x".into(),
        },
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    assert_eq!(export["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(export["results"].as_array().unwrap().len(), 2);
    let stats = store.stats().unwrap();
    stop.cancel();
    control_task.await.unwrap().unwrap();
    h.shutdown().await;

    let other = Store::temporary().unwrap();
    assert_eq!(other.restore(&backup).unwrap(), records);
    let restored = other.stats().unwrap();
    assert_eq!(
        (
            restored.users,
            restored.selfies,
            restored.jobs,
            restored.results,
            restored.outbox
        ),
        (
            stats.users,
            stats.selfies,
            stats.jobs,
            stats.results,
            stats.outbox
        )
    );
    assert_eq!(other.jobs_of(&user("x")).unwrap()[0].state, JobState::Delivered);
    std::fs::write(dir.path().join("junk.bin"), b"not a backup").unwrap();
    assert!(matches!(
        other.restore(&dir.path().join("junk.bin")),
        Err(StoreError::BadBackup)
    ));
}

#[tokio::test]
async fn a_store_from_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(
        err,
        StoreError::SchemaTooNew {
            found: 99,
            supported: 1
        }
    ));
    assert!(err.to_string().contains("newer"), "{err}");
    let fresh = tempfile::tempdir().unwrap();
    assert_eq!(
        Store::open(fresh.path()).unwrap().schema_version().unwrap(),
        headshot::store::SCHEMA_VERSION
    );
}

/// A small file system of its own (tmpfs; the tests run as root, as CI does), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a {megabytes} MB tmpfs failed: this test needs root (CI runs as root)"
        );
        SmallDisk { dir }
    }

    fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.dir.path()).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    /// Writes a filler file until at most `left` bytes are free.
    fn fill_to(&self, left: u64) -> std::path::PathBuf {
        let path = self.dir.path().join("filler");
        let need = self.free().saturating_sub(left);
        std::fs::write(&path, vec![0u8; need as usize]).unwrap();
        assert!(self.free() <= left, "{} free", self.free());
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_disk_refuses_new_photos_keeps_delivering_and_recovers() {
    let disk = SmallDisk::mount(48);
    let dir = disk.dir.path().join("data");
    let mut c = config(false);
    c.intake.max_bytes = 1 << 20;
    c.intake.min_free_disk = 8 << 20;
    let h = Harness::start_with(
        c,
        FakeGenerator::new(25, Duration::from_millis(40)),
        Store::open(&dir).unwrap(),
    )
    .await;
    // Acknowledged and running when the disk runs short.
    h.photo("a", selfie(90)).await;
    h.front
        .wait_until("a running", |f| !f.edits("a").is_empty())
        .await;
    let filler = disk.fill_to(4 << 20);

    h.photo("b", selfie(90)).await;
    let told = h.front.texts("b");
    assert_eq!(
        told,
        vec![headshot::text::cannot_store()],
        "refused, not acknowledged"
    );
    assert!(
        h.service.store().jobs_of(&user("b")).unwrap().is_empty(),
        "nothing queued"
    );
    let mut metrics = String::new();
    h.service.metrics().render(&mut metrics);
    assert!(
        metrics.contains("headshot_intake_refused_disk_total 1"),
        "{metrics}"
    );

    // What was acknowledged is still delivered while the disk is short.
    h.front
        .wait_until("a delivered", |f| f.albums("a").len() == 1)
        .await;

    // Space returns: photos are taken again.
    std::fs::remove_file(filler).unwrap();
    h.photo("b", selfie(90)).await;
    h.front
        .wait_until("b delivered", |f| f.albums("b").len() == 1)
        .await;
    assert_eq!(h.front.texts("b")[0], headshot::text::cannot_store());
    h.shutdown().await;
    // Nothing acknowledged was lost: both jobs are on disk as delivered.
    let store = Store::open(&dir).unwrap();
    let done: Vec<JobState> = store.all_jobs().unwrap().iter().map(|j| j.state).collect();
    assert_eq!(done.len(), 2, "{done:?}");
}
