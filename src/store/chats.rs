//! The `chats` tree: what a front end keeps about its conversations across restarts (the web
//! chat's transcript, Discord's job threads and the messages its Delete button removes).
//!
//! The core does not read these records; it owns their lifetime. Keys start with the user's
//! prefix, so `/forget` removes them with the rest, and every value carries the time it was
//! written, so the retention sweep drops records older than the results' retention whether or
//! not the adapter ever looks at them again.

use super::*;
use crate::clock::{Clock, SystemClock};

/// A record of the `chats` tree, as an adapter reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRecord {
    /// The adapter's name for it (the key after the user's prefix).
    pub name: String,
    /// When it was last written (ms since the epoch).
    pub written_ms: u64,
    /// The adapter's bytes.
    pub bytes: Vec<u8>,
}

fn split(value: &[u8]) -> Option<(u64, &[u8])> {
    let (stamp, rest) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*stamp), rest))
}

impl Store {
    /// Writes (or replaces) the record `name` of `user`, stamped with the time now.
    pub fn put_chat(&self, user: &UserKey, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let _g = self.read();
        let mut value = Vec::with_capacity(8 + bytes.len());
        value.extend_from_slice(&SystemClock.now_ms().to_be_bytes());
        value.extend_from_slice(bytes);
        self.chats.insert(format!("{}{name}", user.prefix()), value)?;
        Ok(())
    }

    /// The record `name` of `user`.
    pub fn chat(&self, user: &UserKey, name: &str) -> Result<Option<ChatRecord>, StoreError> {
        let Some(value) = self.chats.get(format!("{}{name}", user.prefix()))? else {
            return Ok(None);
        };
        let (written_ms, bytes) =
            split(&value).ok_or_else(|| StoreError::Corrupt(format!("chat record {name}")))?;
        Ok(Some(ChatRecord {
            name: name.to_string(),
            written_ms,
            bytes: bytes.to_vec(),
        }))
    }

    /// The records of `user` whose names start with `prefix`, in name order.
    pub fn chats_of(&self, user: &UserKey, prefix: &str) -> Result<Vec<ChatRecord>, StoreError> {
        let user_prefix = user.prefix();
        let mut out = Vec::new();
        for kv in self.chats.scan_prefix(format!("{user_prefix}{prefix}")) {
            let (k, v) = kv?;
            let name = String::from_utf8_lossy(&k[user_prefix.len()..]).into_owned();
            let (written_ms, bytes) =
                split(&v).ok_or_else(|| StoreError::Corrupt(format!("chat record {name}")))?;
            out.push(ChatRecord {
                name,
                written_ms,
                bytes: bytes.to_vec(),
            });
        }
        Ok(out)
    }

    /// The names of the records of `user` that start with `prefix`, without reading them.
    pub fn chat_names(&self, user: &UserKey, prefix: &str) -> Result<Vec<String>, StoreError> {
        let user_prefix = user.prefix();
        self.chats
            .scan_prefix(format!("{user_prefix}{prefix}"))
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?[user_prefix.len()..]).into_owned()))
            .collect()
    }

    /// Removes the record `name` of `user`.
    pub fn remove_chat(&self, user: &UserKey, name: &str) -> Result<(), StoreError> {
        let _g = self.read();
        self.chats.remove(format!("{}{name}", user.prefix()))?;
        Ok(())
    }

    /// Removes the records of `user` whose names start with `prefix`; returns how many.
    pub fn remove_chats(&self, user: &UserKey, prefix: &str) -> Result<usize, StoreError> {
        let _g = self.read();
        let keys: Vec<sled::IVec> = self
            .chats
            .scan_prefix(format!("{}{prefix}", user.prefix()))
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.chats.remove(k)?;
        }
        Ok(keys.len())
    }

    /// Removes every record (of every user) last written before `before_ms` (retention);
    /// returns how many.
    pub fn sweep_chats(&self, before_ms: u64) -> Result<usize, StoreError> {
        let _g = self.read();
        let mut removed = 0;
        for kv in self.chats.iter() {
            let (k, v) = kv?;
            // A record too short to carry its time is not ours to keep either.
            if split(&v).is_none_or(|(at, _)| at < before_ms) {
                self.chats.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Number of `chats` records of the user.
    pub fn count_chat_keys(&self, user: &UserKey) -> usize {
        self.chats.scan_prefix(user.prefix()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Platform;

    #[test]
    fn records_are_per_user_forgotten_and_swept_by_age() {
        let store = Store::temporary().unwrap();
        let a = UserKey::new(Platform::Web, "a");
        let b = UserKey::new(Platform::Web, "b");
        store.put_chat(&a, "t:1", b"one").unwrap();
        store.put_chat(&a, "t:2", b"two").unwrap();
        store.put_chat(&a, "f:1:0", b"file").unwrap();
        store.put_chat(&b, "t:1", b"theirs").unwrap();
        let listed: Vec<(String, Vec<u8>)> = store
            .chats_of(&a, "t:")
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.bytes))
            .collect();
        assert_eq!(
            listed,
            vec![("t:1".into(), b"one".to_vec()), ("t:2".into(), b"two".to_vec())]
        );
        assert_eq!(store.chat(&b, "t:1").unwrap().unwrap().bytes, b"theirs");
        assert!(store.chat(&b, "t:2").unwrap().is_none());
        assert_eq!(store.remove_chats(&a, "f:").unwrap(), 1);
        assert_eq!(store.count_chat_keys(&a), 2);

        // /forget of one user leaves the other's records.
        store.forget(&a).unwrap();
        assert_eq!(store.count_chat_keys(&a), 0);
        assert_eq!(store.count_chat_keys(&b), 1);

        // Retention: records written before the cutoff go, newer ones stay.
        let written = store.chat(&b, "t:1").unwrap().unwrap().written_ms;
        assert_eq!(store.sweep_chats(written).unwrap(), 0);
        assert_eq!(store.sweep_chats(written + 1).unwrap(), 1);
        assert_eq!(store.count_chat_keys(&b), 0);
    }

    #[test]
    fn backups_carry_the_records_and_old_backups_still_restore() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let a = UserKey::new(Platform::Discord, "7");
        store.put_chat(&a, "target:1:2", b"{}").unwrap();
        let file = dir.path().join("backup");
        store.backup(&file).unwrap();
        store.remove_chats(&a, "").unwrap();
        store.restore(&file).unwrap();
        assert_eq!(store.chat(&a, "target:1:2").unwrap().unwrap().bytes, b"{}");
    }
}
