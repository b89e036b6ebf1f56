//! A map that forgets its oldest entries past a capacity: what the adapter remembers about
//! conversations (original responses in use, result targets, DM channels, messages for Delete)
//! stays bounded however long the bot runs. Forgetting costs little: an interaction token lives
//! 15 minutes, a forgotten target is made again, a forgotten DM channel is looked up again.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use parking_lot::Mutex;

/// A thread-safe map with insertion-order eviction.
pub struct Bounded<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
}

struct Inner<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V: Clone> Bounded<K, V> {
    /// A map of at most `capacity` entries.
    pub fn new(capacity: usize) -> Bounded<K, V> {
        Bounded {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// A copy of the value under `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.inner.lock().map.get(key).cloned()
    }

    /// Sets `key`, forgetting the oldest entries past the capacity.
    pub fn insert(&self, key: K, value: V) {
        self.update(key, |slot| *slot = Some(value));
    }

    /// Changes the value under `key` in place (`None`: absent); returns what `change` returns.
    pub fn update<R>(&self, key: K, change: impl FnOnce(&mut Option<V>) -> R) -> R {
        let mut inner = self.inner.lock();
        let mut slot = inner.map.remove(&key);
        let existed = slot.is_some();
        let out = change(&mut slot);
        match slot {
            Some(v) => {
                if !existed {
                    inner.order.push_back(key.clone());
                }
                inner.map.insert(key, v);
                while inner.map.len() > self.capacity {
                    let Some(old) = inner.order.pop_front() else { break };
                    inner.map.remove(&old);
                }
            }
            None if existed => inner.order.retain(|k| *k != key),
            None => {}
        }
        out
    }

    /// Takes the value under `key` out.
    pub fn remove(&self, key: &K) -> Option<V> {
        let mut inner = self.inner.lock();
        let v = inner.map.remove(key)?;
        inner.order.retain(|k| k != key);
        Some(v)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_past_the_capacity() {
        let m = Bounded::new(3);
        for i in 0..10 {
            m.insert(i, i * 10);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&6), None);
        assert_eq!(m.get(&9), Some(90));
        m.insert(7, 1);
        assert_eq!(m.len(), 3, "replacing keeps the size");
        assert_eq!(m.remove(&8), Some(80));
        m.insert(11, 110);
        m.insert(12, 120);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&7), None, "7 was the oldest");
        assert_eq!(m.update(12, |v| v.take()), Some(120));
        assert_eq!(m.len(), 2);
    }
}
