//! The job queue: which stored jobs wait to run, handed to generation slots fairly.
//!
//! A trait so the place that holds the queue can change: [`SledQueue`] keeps it in the job
//! records of the local store (a restart finds every waiting job again), [`MemoryQueue`] keeps
//! nothing across restarts. Both hand jobs out in the [`Scheduler`]'s round-robin order with a
//! per-user running cap; the contract test at the bottom runs one body against both.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::chat::UserKey;
use crate::job::{JobId, JobState};
use crate::scheduler::{QueueStats, Scheduler};
use crate::store::{Store, StoreError};

/// Waiting jobs, handed out fairly across users.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Takes back the jobs that were waiting or running when the process stopped, so they run
    /// again; returns how many.
    fn recover(&self) -> Result<usize, StoreError>;
    /// A stored job in the queued state becomes runnable.
    fn push(&self, user: &UserKey, job: &str);
    /// Waits for the next job that may run now; `None` once `stop` is cancelled.
    async fn next(&self, stop: &CancellationToken) -> Option<(UserKey, JobId)>;
    /// A job handed out by [`JobQueue::next`] ended, whatever its outcome.
    fn finished(&self, user: &UserKey);
    /// Takes a waiting job out (cancel, forget); true if it was waiting.
    fn remove(&self, user: &UserKey, job: &str) -> bool;
    /// 1-based position of a waiting job.
    fn position(&self, user: &UserKey, job: &str) -> Option<usize>;
    /// The position a new job of `user` would get.
    fn position_if_pushed(&self, user: &UserKey) -> usize;
    /// Jobs waiting and running.
    fn stats(&self) -> QueueStats;
}

/// The in-memory queue: fair order and the running cap, nothing durable.
pub struct MemoryQueue {
    sched: Mutex<Scheduler>,
    ready: Notify,
    cap: usize,
}

impl MemoryQueue {
    /// A queue that lets each user run at most `max_running_per_user` jobs at once.
    pub fn new(max_running_per_user: usize) -> MemoryQueue {
        MemoryQueue {
            sched: Mutex::new(Scheduler::default()),
            ready: Notify::new(),
            cap: max_running_per_user.max(1),
        }
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    fn recover(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    fn push(&self, user: &UserKey, job: &str) {
        self.sched.lock().push(user, job.to_string());
        self.ready.notify_one();
    }

    async fn next(&self, stop: &CancellationToken) -> Option<(UserKey, JobId)> {
        loop {
            let notified = self.ready.notified();
            if let Some(next) = self.sched.lock().next(self.cap) {
                return Some(next);
            }
            tokio::select! {
                _ = notified => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    fn finished(&self, user: &UserKey) {
        self.sched.lock().finished(user);
        self.ready.notify_one();
    }

    fn remove(&self, user: &UserKey, job: &str) -> bool {
        self.sched.lock().remove(user, job)
    }

    fn position(&self, user: &UserKey, job: &str) -> Option<usize> {
        self.sched.lock().position(user, job)
    }

    fn position_if_pushed(&self, user: &UserKey) -> usize {
        self.sched.lock().position_if_pushed(user)
    }

    fn stats(&self) -> QueueStats {
        let s = self.sched.lock();
        QueueStats {
            queued: s.queued(),
            running: s.running(),
        }
    }
}

/// The queue of a single process: the job records in the local store are the durable queue
/// (state `queued` or `running`), the fair order is kept in memory and rebuilt on start.
pub struct SledQueue {
    store: Store,
    order: MemoryQueue,
}

impl SledQueue {
    /// The queue over `store`'s job records.
    pub fn new(store: Store, max_running_per_user: usize) -> SledQueue {
        SledQueue {
            store,
            order: MemoryQueue::new(max_running_per_user),
        }
    }
}

#[async_trait]
impl JobQueue for SledQueue {
    /// Jobs left running by a stopped process are queued again; all go back in creation order.
    fn recover(&self) -> Result<usize, StoreError> {
        let mut jobs: Vec<_> = self
            .store
            .all_jobs()?
            .into_iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Running))
            .collect();
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        for mut job in jobs.iter().cloned() {
            if job.state == JobState::Running {
                job.state = JobState::Queued;
                self.store.put_job(&job)?;
            }
            self.order.push(&job.user, &job.id);
        }
        Ok(jobs.len())
    }

    fn push(&self, user: &UserKey, job: &str) {
        self.order.push(user, job);
    }

    async fn next(&self, stop: &CancellationToken) -> Option<(UserKey, JobId)> {
        self.order.next(stop).await
    }

    fn finished(&self, user: &UserKey) {
        self.order.finished(user);
    }

    fn remove(&self, user: &UserKey, job: &str) -> bool {
        self.order.remove(user, job)
    }

    fn position(&self, user: &UserKey, job: &str) -> Option<usize> {
        self.order.position(user, job)
    }

    fn position_if_pushed(&self, user: &UserKey) -> usize {
        self.order.position_if_pushed(user)
    }

    fn stats(&self) -> QueueStats {
        self.order.stats()
    }
}

/// A queue shared by the conversation and the workers.
pub type SharedQueue = Arc<dyn JobQueue>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::{ChatRef, Platform};
    use crate::job::{Job, Settings};

    fn user(n: &str) -> UserKey {
        UserKey::new(Platform::Web, n)
    }

    /// What every queue promises, whatever holds it.
    async fn contract(q: &dyn JobQueue) {
        let stop = CancellationToken::new();
        for i in 0..3 {
            q.push(&user("a"), &format!("a{i}"));
        }
        q.push(&user("b"), "b0");
        assert_eq!(
            q.stats(),
            QueueStats {
                queued: 4,
                running: 0
            }
        );
        assert_eq!(q.position(&user("b"), "b0"), Some(2));
        assert_eq!(q.position_if_pushed(&user("c")), 3, "one turn after a and b");

        // Round-robin: b does not wait behind all of a's jobs; the cap (1) holds a back.
        assert_eq!(q.next(&stop).await, Some((user("a"), "a0".to_string())));
        assert_eq!(q.next(&stop).await, Some((user("b"), "b0".to_string())));
        assert_eq!(
            q.stats(),
            QueueStats {
                queued: 2,
                running: 2
            }
        );
        let held = tokio::time::timeout(Duration::from_millis(50), q.next(&stop)).await;
        assert!(held.is_err(), "a already runs a job: nothing may start");

        // Removing a waiting job, and a job that is not waiting.
        assert!(q.remove(&user("a"), "a2"));
        assert!(!q.remove(&user("a"), "a2"));
        assert!(!q.remove(&user("b"), "b0"), "b0 runs; it is not waiting");

        // A finished job wakes a waiting `next`.
        let waiter = q.next(&stop);
        let (got, ()) = tokio::join!(waiter, async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            q.finished(&user("a"));
        });
        assert_eq!(got, Some((user("a"), "a1".to_string())));
        q.finished(&user("b"));
        q.finished(&user("a"));
        assert_eq!(
            q.stats(),
            QueueStats {
                queued: 0,
                running: 0
            }
        );

        // A push wakes a waiting `next`; a stop ends it.
        let (got, ()) = tokio::join!(q.next(&stop), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            q.push(&user("c"), "c0");
        });
        assert_eq!(got, Some((user("c"), "c0".to_string())));
        let (got, ()) = tokio::join!(q.next(&stop), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stop.cancel();
        });
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn the_memory_queue_keeps_the_contract() {
        contract(&MemoryQueue::new(1)).await;
        assert_eq!(MemoryQueue::new(1).recover().unwrap(), 0);
    }

    #[tokio::test]
    async fn the_sled_queue_keeps_the_contract() {
        contract(&SledQueue::new(Store::temporary().unwrap(), 1)).await;
    }

    fn job(id: &str, u: &str, state: JobState) -> Job {
        let settings = Settings {
            style: "corporate".into(),
            background: None,
            mode: headshot_models::Mode::Headshot,
            crop: None,
            variants: 1,
            private_delivery: false,
            public_thread: false,
        };
        Job::new(
            id.into(),
            user(u),
            ChatRef::private(Platform::Web, u),
            state,
            0,
            settings,
        )
    }

    #[tokio::test]
    async fn the_sled_queue_finds_waiting_and_interrupted_jobs_after_a_restart() {
        let store = Store::temporary().unwrap();
        store.put_job(&job("01A", "a", JobState::Queued)).unwrap();
        store.put_job(&job("01B", "b", JobState::Running)).unwrap();
        store.put_job(&job("01C", "a", JobState::Delivered)).unwrap();
        let q = SledQueue::new(store.clone(), 1);
        assert_eq!(q.recover().unwrap(), 2);
        assert_eq!(
            q.stats(),
            QueueStats {
                queued: 2,
                running: 0
            }
        );
        let stop = CancellationToken::new();
        assert_eq!(q.next(&stop).await, Some((user("a"), "01A".to_string())));
        assert_eq!(q.next(&stop).await, Some((user("b"), "01B".to_string())));
        let again = store.job(&user("b"), "01B").unwrap().unwrap();
        assert_eq!(again.state, JobState::Queued, "an interrupted job runs again");
    }
}
