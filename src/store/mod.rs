//! The sled store: the one place that knows the trees and their keys.
//!
//! Trees (every key but `meta`'s starts with `platform:user:`, so users are isolated and
//! `/forget` is a prefix scan):
//! - `users`:   `p:u:`             -> [`UserRecord`] (JSON)
//! - `selfies`: `p:u:<selfie-id>`  -> metadata-free image bytes
//! - `jobs`:    `p:u:<job-id>`     -> [`Job`] (JSON)
//! - `results`: `p:u:<job-id>:NN`  -> output header (JSON) + image bytes
//! - `outbox`:  `p:u:<job-id>:<kind>` -> [`OutboxEntry`] (JSON)
//! - `chats`:   `p:u:<name>`       -> written-at ms (u64, big endian) + an adapter's bytes: what a
//!   front end keeps about its conversations across restarts (the web chat's transcript,
//!   Discord's threads and messages); `/forget` and retention reach it like the rest
//! - `meta`:    `schema_version`   -> u32 (big endian)
//!
//! Every write takes the shared side of a gate; flushes, backups and `/forget` take the
//! exclusive side. That makes a backup consistent across trees while the service runs, and it
//! keeps sled 0.34's flush from running beside a transaction: the two can deadlock inside sled
//! (a flush holds its concurrency-control read lock while waiting for the log, a transaction
//! queues for the write lock, and the log writer then queues behind it). For the same reason
//! sled's own background flusher is off and [`Store::flush`] is the only flusher, with group
//! commit: one fsync covers every write that finished before it started.
//!
//! `backup` holds the backup file format, `codec` the record encodings, `deletion` what
//! `/forget`, retention and `headshot data` remove and count.

mod backup;
mod chats;
mod codec;
mod deletion;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sled::transaction::{TransactionError, Transactional};

use headshot_models::Output;

use crate::chat::{Platform, UserKey};
use crate::job::{Job, OutboxEntry, UserRecord, job_key};
pub use chats::ChatRecord;
use codec::{decode, decode_output, encode, encode_output};

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 1;

const TREES: [&str; 6] = ["users", "selfies", "jobs", "results", "outbox", "chats"];
const BACKUP_MAGIC: &[u8] = b"HEADSHOT-BACKUP\n";

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, I/O error, or the directory is in use by another process).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A record does not decode.
    #[error("store: a record is corrupt: {0}")]
    Corrupt(String),
    /// The data was written by a newer headshot.
    #[error(
        "store: the data has schema version {found}, newer than this build supports ({supported}); \
         run the newer headshot or restore a backup"
    )]
    SchemaTooNew {
        /// On disk.
        found: u32,
        supported: u32,
    },
    /// Reading or writing a backup file failed.
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// The backup file is not one of ours.
    #[error("backup file: not a headshot backup or damaged")]
    BadBackup,
    /// The store's own files are damaged (sled found them corrupt, or failed reading them).
    #[error(
        "store: the data in {dir} is damaged ({detail}); stop headshot and restore your latest backup \
         with `headshot data restore BACKUP` (backups are made by `headshot data backup`), or move the \
         directory aside to start with an empty store"
    )]
    Damaged {
        /// The data directory.
        dir: String,
        /// What sled said.
        detail: String,
    },
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    selfies: sled::Tree,
    jobs: sled::Tree,
    results: sled::Tree,
    outbox: sled::Tree,
    chats: sled::Tree,
    meta: sled::Tree,
    /// The data directory (`None` for a temporary store).
    dir: Option<Arc<std::path::PathBuf>>,
    gate: Arc<RwLock<()>>,
    flushing: Arc<tokio::sync::Mutex<()>>,
    /// Writes finished so far (a counter, for group commit).
    written: Arc<AtomicU64>,
    /// Writes known durable.
    durable: Arc<AtomicU64>,
}

/// Counts for `headshot data stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Users known.
    pub users: usize,
    /// Selfies kept.
    pub selfies: usize,
    /// Job records.
    pub jobs: usize,
    /// Result images kept.
    pub results: usize,
    /// Deliveries waiting.
    pub outbox: usize,
    /// Conversation records of the front ends (transcripts, threads).
    pub chats: usize,
    /// Bytes on disk.
    pub disk_bytes: u64,
}

type TxResult<T> = Result<T, TransactionError<StoreError>>;

impl Store {
    /// Opens (or creates) the store in `dir`, migrating older schemas forward.
    /// Damaged files give [`StoreError::Damaged`], never a panic: sled 0.34 panics on some
    /// damage it finds while recovering, so the opening runs under `catch_unwind` with the panic
    /// message kept for the error instead of printed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let damaged = |detail: String| StoreError::Damaged {
            dir: dir.display().to_string(),
            detail,
        };
        // The panic hook is process-wide: openings take turns swapping it.
        static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let previous_hook = std::panic::take_hook();
        let message = Arc::new(std::sync::Mutex::new(String::new()));
        let kept = message.clone();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = kept.lock() {
                *m = info.to_string();
            }
        }));
        let opened = std::panic::catch_unwind(|| {
            let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
            let mut store = Store::from_db(db)?;
            store.dir = Some(Arc::new(dir.to_path_buf()));
            Ok(store)
        });
        std::panic::set_hook(previous_hook);
        match opened {
            Ok(Err(StoreError::Sled(sled::Error::Corruption { .. }))) => {
                Err(damaged("sled found corrupt data".into()))
            }
            Ok(Err(StoreError::Sled(sled::Error::ReportableBug(m)))) => Err(damaged(m)),
            Ok(Err(StoreError::Sled(sled::Error::Unsupported(m)))) => Err(damaged(m)),
            Ok(Err(StoreError::Corrupt(m))) => Err(damaged(m)),
            Ok(result) => result,
            Err(_) => {
                let m = message.lock().map(|m| m.clone()).unwrap_or_default();
                Err(damaged(format!("reading it failed: {m}")))
            }
        }
    }

    /// A store in a temporary directory removed on drop (tests and benches).
    pub fn temporary() -> Result<Store, StoreError> {
        Store::from_db(sled::Config::new().temporary(true).flush_every_ms(None).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Store, StoreError> {
        let store = Store {
            users: db.open_tree("users")?,
            selfies: db.open_tree("selfies")?,
            jobs: db.open_tree("jobs")?,
            results: db.open_tree("results")?,
            outbox: db.open_tree("outbox")?,
            chats: db.open_tree("chats")?,
            meta: db.open_tree("meta")?,
            dir: None,
            db,
            gate: Arc::new(RwLock::new(())),
            flushing: Arc::new(tokio::sync::Mutex::new(())),
            written: Arc::new(AtomicU64::new(0)),
            durable: Arc::new(AtomicU64::new(0)),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Free space for an unprivileged writer on the data directory's file system, in bytes;
    /// `None` for a temporary store or when the file system does not say.
    pub fn free_space(&self) -> Option<u64> {
        let stat = rustix::fs::statvfs(self.dir.as_deref()?.as_path()).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// The stored schema version.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .meta
            .get("schema_version")?
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])))
            .unwrap_or(0))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut version = self.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        while version < SCHEMA_VERSION {
            // Version 0 is an empty or pre-release store: nothing to rewrite. Each later version
            // adds one arm here that rewrites records from `version` to `version + 1`.
            version += 1;
            self.meta.insert("schema_version", &version.to_be_bytes())?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// Makes everything written so far durable. Concurrent callers share one fsync.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let mine = self.written.load(Ordering::SeqCst);
        let _turn = self.flushing.lock().await;
        if self.durable.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.flush_blocking())
            .await
            .map_err(|e| StoreError::Corrupt(format!("flush task: {e}")))?
    }

    /// [`Store::flush`] for synchronous callers.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let _g = self.exclusive();
        let covered = self.written.load(Ordering::SeqCst);
        self.db.flush()?;
        self.durable.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    fn read(&self) -> WriteGuard<'_> {
        WriteGuard {
            _gate: self.gate.read().unwrap_or_else(|e| e.into_inner()),
            written: &self.written,
        }
    }

    fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The user's record.
    pub fn user(&self, user: &UserKey) -> Result<Option<UserRecord>, StoreError> {
        self.users.get(user.prefix())?.map(|v| decode(&v)).transpose()
    }

    /// Writes the user's record.
    pub fn put_user(&self, user: &UserKey, record: &UserRecord) -> Result<(), StoreError> {
        let _g = self.read();
        self.users.insert(user.prefix(), encode(record))?;
        Ok(())
    }

    /// A stored selfie.
    pub fn selfie(&self, user: &UserKey, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .selfies
            .get(format!("{}{id}", user.prefix()))?
            .map(|v| v.to_vec()))
    }

    /// Stores a new job and its selfies in one transaction (flush separately before acknowledging).
    pub fn create_job(&self, job: &Job, selfies: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let _g = self.read();
        let record = encode(job);
        let prefix = job.user.prefix();
        let done: TxResult<()> = (&self.jobs, &self.selfies).transaction(|(jobs, sel)| {
            for (id, bytes) in selfies {
                sel.insert(format!("{prefix}{id}").as_bytes(), bytes.as_slice())?;
            }
            jobs.insert(job.key().as_bytes(), record.as_slice())?;
            Ok(())
        });
        flatten(done)
    }

    pub fn job(&self, user: &UserKey, id: &str) -> Result<Option<Job>, StoreError> {
        self.jobs.get(job_key(user, id))?.map(|v| decode(&v)).transpose()
    }

    /// Writes a job record.
    pub fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        let _g = self.read();
        self.jobs.insert(job.key(), encode(job))?;
        Ok(())
    }

    /// Changes a job atomically: `change` edits it and says whether to keep the edit. Returns the
    /// job as stored afterwards (`None` if it does not exist).
    pub fn update_job(
        &self,
        user: &UserKey,
        id: &str,
        mut change: impl FnMut(&mut Job) -> bool,
    ) -> Result<Option<Job>, StoreError> {
        let _g = self.read();
        let key = job_key(user, id);
        let mut result = None;
        let mut failure = None;
        self.jobs.update_and_fetch(key, |old| {
            let old = old?;
            match decode::<Job>(old) {
                Ok(mut job) => {
                    if change(&mut job) {
                        let bytes = encode(&job);
                        result = Some(job);
                        Some(bytes)
                    } else {
                        result = Some(job);
                        Some(old.to_vec())
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    Some(old.to_vec())
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// Bans or unbans a user. Bans are the operator's records: `/forget` keeps them.
    pub fn set_banned(&self, user: &UserKey, banned: bool) -> Result<(), StoreError> {
        let _g = self.read();
        let key = format!("ban:{user}");
        if banned {
            self.meta.insert(key, &[1u8])?;
        } else {
            self.meta.remove(key)?;
        }
        Ok(())
    }

    /// A server-wide setting (e.g. a Discord server's delivery policy), kept in `meta` under
    /// `server:<platform>:<server>:<name>`; `/forget` of a user keeps it.
    pub fn server_setting(
        &self,
        platform: Platform,
        server: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = format!("server:{platform}:{server}:{name}");
        Ok(self
            .meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Sets (or with `None` clears) a server-wide setting.
    pub fn set_server_setting(
        &self,
        platform: Platform,
        server: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let _g = self.read();
        let key = format!("server:{platform}:{server}:{name}");
        match value {
            Some(v) => self.meta.insert(key, v.as_bytes())?,
            None => self.meta.remove(key)?,
        };
        Ok(())
    }

    /// Whether the user is banned.
    pub fn is_banned(&self, user: &UserKey) -> Result<bool, StoreError> {
        Ok(self.meta.contains_key(format!("ban:{user}"))?)
    }

    /// Every job of a user, oldest first.
    pub fn jobs_of(&self, user: &UserKey) -> Result<Vec<Job>, StoreError> {
        self.jobs
            .scan_prefix(user.prefix())
            .map(|kv| decode(&kv?.1))
            .collect()
    }

    /// A user's jobs created at or after `since_ms`, oldest first. Job ids are ULIDs, so this is
    /// a range scan: a long history costs nothing.
    pub fn jobs_since(&self, user: &UserKey, since_ms: u64) -> Result<Vec<Job>, StoreError> {
        let start = format!("{}{}", user.prefix(), ulid::Ulid::from_parts(since_ms, 0));
        let end = format!("{}~", user.prefix());
        self.jobs.range(start..end).map(|kv| decode(&kv?.1)).collect()
    }

    /// Every job, in key order.
    pub fn all_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs.iter().map(|kv| decode(&kv?.1)).collect()
    }

    /// Marks a job generated, stores its outputs and its outbox entry, in one transaction.
    pub fn store_generated(
        &self,
        job: &Job,
        outputs: &[Output],
        entry: &OutboxEntry,
    ) -> Result<(), StoreError> {
        let _g = self.read();
        let record = encode(job);
        let encoded: Vec<(String, Vec<u8>)> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("{}:{i:02}", job.key()), encode_output(o)))
            .collect();
        let entry_bytes = encode(entry);
        let done: TxResult<()> = (&self.jobs, &self.results, &self.outbox).transaction(|(jobs, res, out)| {
            for (k, v) in &encoded {
                res.insert(k.as_bytes(), v.as_slice())?;
            }
            jobs.insert(job.key().as_bytes(), record.as_slice())?;
            out.insert(outbox_key(entry).as_bytes(), entry_bytes.as_slice())?;
            Ok(())
        });
        flatten(done)
    }

    /// Writes a job and an outbox entry in one transaction (failures, extra deliveries).
    pub fn put_job_with_entry(&self, job: &Job, entry: &OutboxEntry) -> Result<(), StoreError> {
        let _g = self.read();
        let record = encode(job);
        let entry_bytes = encode(entry);
        let done: TxResult<()> = (&self.jobs, &self.outbox).transaction(|(jobs, out)| {
            jobs.insert(job.key().as_bytes(), record.as_slice())?;
            out.insert(outbox_key(entry).as_bytes(), entry_bytes.as_slice())?;
            Ok(())
        });
        flatten(done)
    }

    /// A job's stored outputs, in order.
    pub fn results(&self, user: &UserKey, job: &str) -> Result<Vec<Output>, StoreError> {
        self.results
            .scan_prefix(format!("{}:", job_key(user, job)))
            .map(|kv| decode_output(&kv?.1))
            .collect()
    }

    /// Every outbox entry.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox.iter().map(|kv| decode(&kv?.1)).collect()
    }

    /// Updates an outbox entry (progress or retry time), unless it was removed meanwhile.
    pub fn update_entry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let _g = self.read();
        let key = outbox_key(entry);
        let new = encode(entry);
        let _ = self
            .outbox
            .fetch_and_update(key, |old| old.map(|_| new.clone()))?;
        Ok(())
    }

    /// Removes a delivered (or abandoned) entry and writes the job's final record, atomically.
    pub fn finish_entry(&self, entry: &OutboxEntry, job: Option<&Job>) -> Result<(), StoreError> {
        let _g = self.read();
        let key = outbox_key(entry);
        let record = job.map(encode);
        let done: TxResult<()> = (&self.jobs, &self.outbox).transaction(|(jobs, out)| {
            out.remove(key.as_bytes())?;
            if let (Some(job), Some(record)) = (job, &record)
                && jobs.get(job.key().as_bytes())?.is_some()
            {
                jobs.insert(job.key().as_bytes(), record.as_slice())?;
            }
            Ok(())
        });
        flatten(done)
    }

    fn user_trees(&self) -> [sled::Tree; 6] {
        [
            self.users.clone(),
            self.selfies.clone(),
            self.jobs.clone(),
            self.results.clone(),
            self.outbox.clone(),
            self.chats.clone(),
        ]
    }
}

/// Held by every write: the shared side of the gate; counts the write when dropped.
struct WriteGuard<'a> {
    _gate: std::sync::RwLockReadGuard<'a, ()>,
    written: &'a AtomicU64,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.written.fetch_add(1, Ordering::SeqCst);
    }
}

/// The key of an outbox entry.
pub fn outbox_key(entry: &OutboxEntry) -> String {
    let kind = match &entry.what {
        crate::job::Delivery::Results => "results".to_string(),
        crate::job::Delivery::Squares => format!("squares-{}", entry.created_ms),
        crate::job::Delivery::Notice(_) => format!("notice-{}", entry.created_ms),
    };
    format!("{}:{kind}", job_key(&entry.user, &entry.job))
}

fn flatten(result: TxResult<()>) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
    }
}
