//! Fair scheduling: round-robin across users, with a cap on each user's running jobs.
//!
//! In memory only: on start the engine rebuilds it from the jobs tree, in creation order.

use std::collections::{HashMap, VecDeque};

use crate::chat::UserKey;
use crate::job::JobId;

/// Queue figures for `/status`, admin pages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Jobs waiting for a worker.
    pub queued: usize,
    /// Jobs generating now.
    pub running: usize,
}

/// The queue of runnable jobs.
#[derive(Debug, Default)]
pub struct Scheduler {
    queues: HashMap<UserKey, VecDeque<JobId>>,
    ring: VecDeque<UserKey>,
    running: HashMap<UserKey, usize>,
    queued: usize,
}

impl Scheduler {
    /// Adds a job at the end of its user's queue.
    pub fn push(&mut self, user: &UserKey, job: JobId) {
        let queue = self.queues.entry(user.clone()).or_default();
        if queue.is_empty() && !self.ring.contains(user) {
            self.ring.push_back(user.clone());
        }
        queue.push_back(job);
        self.queued += 1;
    }

    /// Takes the next job: the first user in rotation with a queued job and fewer than
    /// `max_running_per_user` running. The user moves to the back of the rotation.
    pub fn next(&mut self, max_running_per_user: usize) -> Option<(UserKey, JobId)> {
        for _ in 0..self.ring.len() {
            let user = self.ring.pop_front()?;
            let running = self.running.get(&user).copied().unwrap_or(0);
            let queue = self.queues.get_mut(&user);
            match queue {
                Some(q) if running < max_running_per_user && !q.is_empty() => {
                    let job = q.pop_front().expect("non-empty");
                    self.queued -= 1;
                    if q.is_empty() {
                        self.queues.remove(&user);
                    } else {
                        self.ring.push_back(user.clone());
                    }
                    *self.running.entry(user.clone()).or_default() += 1;
                    return Some((user, job));
                }
                Some(q) if !q.is_empty() => self.ring.push_back(user),
                _ => {
                    self.queues.remove(&user);
                }
            }
        }
        None
    }

    /// A job of `user` finished running.
    pub fn finished(&mut self, user: &UserKey) {
        if let Some(n) = self.running.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(user);
            }
        }
    }

    /// Removes a queued job; true if it was queued.
    pub fn remove(&mut self, user: &UserKey, job: &str) -> bool {
        let Some(queue) = self.queues.get_mut(user) else {
            return false;
        };
        let before = queue.len();
        queue.retain(|j| j != job);
        let removed = before != queue.len();
        if removed {
            self.queued -= 1;
        }
        if queue.is_empty() {
            self.queues.remove(user);
            self.ring.retain(|u| u != user);
        }
        removed
    }

    /// Jobs waiting.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Jobs running.
    pub fn running(&self) -> usize {
        self.running.values().sum()
    }

    /// Jobs waiting for this user.
    pub fn queued_for(&self, user: &UserKey) -> usize {
        self.queues.get(user).map_or(0, VecDeque::len)
    }

    /// 1-based position of a queued job: how many jobs start before it, plus one, if the
    /// rotation goes on as now.
    pub fn position(&self, user: &UserKey, job: &str) -> Option<usize> {
        let index = self.queues.get(user)?.iter().position(|j| j == job)?;
        let turn = self.ring.iter().position(|u| u == user)?;
        Some(self.position_at(user, index, turn))
    }

    /// The position a job of `user` would get if it were pushed now.
    pub fn position_if_pushed(&self, user: &UserKey) -> usize {
        let turn = self
            .ring
            .iter()
            .position(|u| u == user)
            .unwrap_or(self.ring.len());
        self.position_at(user, self.queued_for(user), turn)
    }

    fn position_at(&self, user: &UserKey, index: usize, my_turn: usize) -> usize {
        let ahead: usize = self
            .ring
            .iter()
            .enumerate()
            .filter(|(_, u)| *u != user)
            .map(|(turn, u)| {
                let rounds = if turn < my_turn { index + 1 } else { index };
                self.queues.get(u).map_or(0, |q| q.len().min(rounds))
            })
            .sum();
        ahead + index + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Platform;

    fn user(n: &str) -> UserKey {
        UserKey::new(Platform::Telegram, n)
    }

    #[test]
    fn round_robin_does_not_let_one_user_starve_another() {
        let mut s = Scheduler::default();
        for i in 0..5 {
            s.push(&user("a"), format!("a{i}"));
        }
        s.push(&user("b"), "b0".into());
        s.push(&user("c"), "c0".into());
        let mut order = Vec::new();
        while let Some((u, j)) = s.next(10) {
            order.push(j);
            s.finished(&u);
        }
        assert_eq!(order, ["a0", "b0", "c0", "a1", "a2", "a3", "a4"]);
    }

    #[test]
    fn running_cap_holds_back_a_busy_user() {
        let mut s = Scheduler::default();
        s.push(&user("a"), "a0".into());
        s.push(&user("a"), "a1".into());
        assert_eq!(s.next(1).unwrap().1, "a0");
        assert!(s.next(1).is_none(), "a already runs one job");
        s.push(&user("b"), "b0".into());
        assert_eq!(s.next(1).unwrap().1, "b0");
        s.finished(&user("a"));
        assert_eq!(s.next(1).unwrap().1, "a1");
    }

    #[test]
    fn positions_follow_the_rotation_and_removal() {
        let mut s = Scheduler::default();
        s.push(&user("a"), "a0".into());
        s.push(&user("a"), "a1".into());
        s.push(&user("b"), "b0".into());
        assert_eq!(s.position(&user("a"), "a0"), Some(1));
        assert_eq!(s.position(&user("b"), "b0"), Some(2));
        assert_eq!(s.position(&user("a"), "a1"), Some(3));
        assert_eq!(s.position_if_pushed(&user("c")), 3);
        assert_eq!(s.position_if_pushed(&user("b")), 4);
        assert!(s.remove(&user("a"), "a0"));
        assert_eq!(s.position(&user("a"), "a1"), Some(1));
        assert_eq!(s.queued(), 2);
        assert!(!s.remove(&user("a"), "a0"));
    }
}
