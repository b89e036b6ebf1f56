//! Durable engine throughput and selfie-to-"queued" latency with a no-op generator.
//!
//! Every job is flushed to disk before its acknowledgement, generated, stored with its outbox
//! entry in one transaction, delivered and marked delivered: the engine's full durable path.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headshot::models::{
    Framing, GenerateError, Generated, Generator, IntakeError, IntakeReport, Output, Progress, Request,
};
use headshot::{
    Button, ChatRef, Config, Event, FrontEnd, Inbound, Limits, MessageId, Outbound, Platform, SendError,
    Service, Store, SystemClock, Upload, UserKey,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

struct NoopGenerator;

impl Generator for NoopGenerator {
    fn name(&self) -> &str {
        "noop"
    }
    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        Ok(IntakeReport {
            width: 1,
            height: 1,
            score: 1.0,
            clean: upload.to_vec(),
        })
    }
    fn generate(
        &self,
        r: &Request,
        _: &mut dyn FnMut(Progress),
        _: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        Ok(Generated {
            outputs: vec![Output {
                file_name: format!("{}.png", r.stem),
                mime: "image/png".into(),
                bytes: vec![0; 64],
                framing: Framing::Master,
                variant: 1,
                width: 1,
                height: 1,
                checks: Vec::new(),
            }],
            checklist: String::new(),
            engine: "noop".into(),
        })
    }
}

/// Counts albums: one per delivered job.
#[derive(Default)]
struct CountingFront {
    albums: std::sync::atomic::AtomicUsize,
    changed: Notify,
}

#[async_trait]
impl FrontEnd for CountingFront {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }
    fn limits(&self) -> Limits {
        Limits {
            edit_interval: Duration::from_secs(1),
            ..Limits::TELEGRAM
        }
    }
    async fn send(&self, _: &ChatRef, m: Outbound) -> Result<Option<MessageId>, SendError> {
        if matches!(m, Outbound::Album { .. }) {
            self.albums.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.changed.notify_waiters();
        }
        Ok(Some("1".into()))
    }
    async fn edit(&self, _: &ChatRef, _: &MessageId, _: &str, _: Vec<Vec<Button>>) -> Result<(), SendError> {
        Ok(())
    }
}

struct Running {
    service: Service,
    front: Arc<CountingFront>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

fn start(rt: &tokio::runtime::Runtime) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default_for_laptop();
    config.require_consent = false;
    config.jobs.workers = 2.try_into().unwrap();
    config.jobs.max_queue = 1_000_000.try_into().unwrap();
    config.jobs.max_queued_per_user = 1_000_000.try_into().unwrap();
    config.jobs.daily_per_user = 1_000_000.try_into().unwrap();
    config.delivery.send_documents = false;
    let store = Store::open(dir.path()).unwrap();
    let service = Service::new(
        config,
        headshot::models::Catalog::builtin(),
        Arc::new(NoopGenerator),
        store,
        Arc::new(SystemClock),
    );
    let front = Arc::new(CountingFront::default());
    service.attach(front.clone());
    let stop = CancellationToken::new();
    let (runner, token) = (service.clone(), stop.clone());
    rt.spawn(async move { runner.run(token.cancelled_owned()).await.unwrap() });
    Running {
        service,
        front,
        stop,
        _dir: dir,
    }
}

fn photo(user: usize) -> Inbound {
    Inbound {
        user: UserKey::new(Platform::Telegram, user.to_string()),
        chat: ChatRef::private(Platform::Telegram, user.to_string()),
        event: Event::Photos {
            uploads: vec![Upload {
                bytes: vec![7; 2048],
                file_name: None,
                message_id: None,
            }],
            caption: None,
        },
    }
}

/// Sends `n` selfies from 50 users concurrently and waits until all are delivered.
async fn batch(r: &Running, n: usize) -> Vec<Duration> {
    let start = r.front.albums.load(std::sync::atomic::Ordering::SeqCst);
    let mut tasks = Vec::new();
    for i in 0..n {
        let service = r.service.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            service.handle(photo(i % 50)).await;
            t.elapsed()
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.push(t.await.unwrap());
    }
    loop {
        let notified = r.front.changed.notified();
        if r.front.albums.load(std::sync::atomic::Ordering::SeqCst) >= start + n {
            break;
        }
        if tokio::time::timeout(Duration::from_millis(2000), notified)
            .await
            .is_err()
        {
            eprintln!(
                "waiting: {} of {} albums",
                r.front.albums.load(std::sync::atomic::Ordering::SeqCst) - start,
                n
            );
        }
    }
    acks
}

fn engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let running = start(&rt);

    // Acknowledgement latency percentiles, printed once (criterion reports means only): 500
    // selfies one after another while a burst of 1000 others is queued, generated and delivered.
    let t = Instant::now();
    let mut acks = rt.block_on(async {
        let background = {
            let r = Running {
                service: running.service.clone(),
                front: running.front.clone(),
                stop: running.stop.clone(),
                _dir: tempfile::tempdir().unwrap(),
            };
            tokio::spawn(async move { batch(&r, 1000).await })
        };
        let mut acks = Vec::new();
        for i in 0..500 {
            let t = Instant::now();
            running.service.handle(photo(2000 + i % 50)).await;
            acks.push(t.elapsed());
        }
        background.await.unwrap();
        acks
    });
    println!(
        "1500 selfies acknowledged, generated and delivered in {:?}",
        t.elapsed()
    );
    acks.sort();
    let pct = |p: f64| acks[((acks.len() as f64 * p) as usize).min(acks.len() - 1)];
    println!(
        "selfie -> queued acknowledgement under load: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        acks.last().unwrap()
    );

    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    const N: usize = 200;
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("durable_jobs_end_to_end", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                rt.block_on(batch(&running, N));
            }
            t.elapsed()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("selfie_to_queued", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let t = Instant::now();
                rt.block_on(running.service.handle(photo(1000 + i as usize % 50)));
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
    running.stop.cancel();
}

criterion_group!(benches, engine);
criterion_main!(benches);
