//! The intake gate: whether new photos are taken (operator pause, shutdown) and how many
//! intake checks run at once.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::text;

pub(crate) struct Gate {
    paused: Mutex<Option<String>>,
    closed: AtomicBool,
    checks: Semaphore,
}

impl Gate {
    pub fn new(parallel_checks: usize) -> Gate {
        Gate {
            paused: Mutex::new(None),
            closed: AtomicBool::new(false),
            checks: Semaphore::new(parallel_checks.max(1)),
        }
    }

    pub fn pause(&self, reason: &str) {
        *self.paused.lock() = Some(reason.to_string());
    }

    pub fn resume(&self) {
        *self.paused.lock() = None;
    }

    pub fn paused(&self) -> Option<String> {
        self.paused.lock().clone()
    }

    /// No more photos from now on (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// What to tell a user who sends photos now, if they cannot be taken.
    pub fn refusal(&self) -> Option<String> {
        if let Some(reason) = self.paused() {
            return Some(text::paused(&reason));
        }
        self.closed.load(Ordering::SeqCst).then(text::busy)
    }

    /// A slot for one message's intake checks.
    pub async fn check_slot(&self) -> SemaphorePermit<'_> {
        self.checks.acquire().await.expect("never closed")
    }
}
