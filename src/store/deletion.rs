//! Deleting and counting: `/forget` (every key of a user, atomically), the retention sweep's
//! removals, and the figures of `headshot data stats`.

use super::*;

impl Store {
    /// Deletes every key of the user from every tree, atomically. Returns how many were removed.
    pub fn forget(&self, user: &UserKey) -> Result<usize, StoreError> {
        let _g = self.exclusive();
        let prefix = user.prefix();
        let trees = self.user_trees();
        let mut keys: Vec<Vec<sled::IVec>> = Vec::new();
        for tree in &trees {
            keys.push(tree.scan_prefix(&prefix).keys().collect::<Result<_, _>>()?);
        }
        let removed = keys.iter().map(Vec::len).sum();
        let done: TxResult<()> = (
            &self.users,
            &self.selfies,
            &self.jobs,
            &self.results,
            &self.outbox,
            &self.chats,
        )
            .transaction(|(a, b, c, d, e, f)| {
                for (tree, ks) in [a, b, c, d, e, f].into_iter().zip(&keys) {
                    for k in ks {
                        tree.remove(k)?;
                    }
                }
                Ok(())
            });
        flatten(done)?;
        self.db.flush()?;
        Ok(removed)
    }

    /// Number of keys of the user in the core's trees and `meta` (0 after [`Store::forget`]).
    /// The front ends' conversation records are counted by [`Store::count_chat_keys`]: a reply
    /// sent after `/forget` (its confirmation) starts a new one.
    pub fn count_user_keys(&self, user: &UserKey) -> usize {
        self.user_trees()
            .iter()
            .filter(|t| t.name() != self.chats.name())
            .map(|t| t.scan_prefix(user.prefix()).count())
            .sum::<usize>()
            + self
                .meta
                .iter()
                .keys()
                .filter_map(Result::ok)
                .filter(|k| k.starts_with(user.prefix().as_bytes()))
                .count()
    }

    /// Deletes a selfie (retention).
    pub fn remove_selfie_key(&self, key: &[u8]) -> Result<(), StoreError> {
        let _g = self.read();
        self.selfies.remove(key)?;
        Ok(())
    }

    /// Ids of every selfie key (`p:u:<ulid>`), for the retention sweep.
    pub fn selfie_keys(&self) -> Result<Vec<sled::IVec>, StoreError> {
        Ok(self.selfies.iter().keys().collect::<Result<_, _>>()?)
    }

    /// Deletes a job's stored results.
    pub fn remove_results(&self, user: &UserKey, job: &str) -> Result<usize, StoreError> {
        let _g = self.read();
        let keys: Vec<_> = self
            .results
            .scan_prefix(format!("{}:", job_key(user, job)))
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.results.remove(k)?;
        }
        Ok(keys.len())
    }

    /// Deletes a job record.
    pub fn remove_job(&self, user: &UserKey, job: &str) -> Result<(), StoreError> {
        let _g = self.read();
        self.jobs.remove(job_key(user, job))?;
        Ok(())
    }

    /// Counts per tree and disk size.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            users: self.users.len(),
            selfies: self.selfies.len(),
            jobs: self.jobs.len(),
            results: self.results.len(),
            outbox: self.outbox.len(),
            chats: self.chats.len(),
            disk_bytes: self.db.size_on_disk()?,
        })
    }
}
