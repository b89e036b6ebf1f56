//! The intake gate: whether new photos are taken (operator pause, shutdown) and how many
//! intake checks run at once.

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::text;

pub(crate) struct Gate {
    paused: Mutex<Option<String>>,
    closed: Mutex<bool>,
    checks: Semaphore,
}

impl Gate {
    pub fn new(parallel_checks: usize) -> Gate {
        Gate {
            paused: Mutex::new(None),
            closed: Mutex::new(false),
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
        *self.closed.lock() = true;
    }

    /// What to tell a user who sends photos now, if they cannot be taken.
    pub fn refusal(&self) -> Option<String> {
        if let Some(reason) = self.paused() {
            return Some(text::paused(&reason));
        }
        (*self.closed.lock()).then(text::busy)
    }

    /// A slot for one message's intake checks.
    pub async fn check_slot(&self) -> SemaphorePermit<'_> {
        self.checks.acquire().await.expect("never closed")
    }
}
