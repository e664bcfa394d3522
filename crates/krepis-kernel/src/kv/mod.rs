//! An embedded key-value store shaped like Deno KV, on sled.
//!
//! Keys are tuples encoded by [`key`] so that sled's byte order is Deno KV's key order.
//! Values are opaque bytes (the TypeScript API stores structured-clone serializations).
//! Every write gets a versionstamp — a number that grows with each commit, shown to users
//! as 20 hex digits like Deno KV's — and atomic operations check versionstamps before
//! applying their mutations all together.
//!
//! sled allows one process per database; inside a process, every open of the same path
//! shares one store (so Deno workers that open it contend on the same atomic commits).
//!
//! ```
//! use krepis_kernel::kv::{Kv, KvOptions, key::{encode, KeyPart}};
//! let dir = tempfile::tempdir().unwrap();
//! let kv = Kv::open(dir.path(), KvOptions::default()).unwrap();
//! let key = encode(&[KeyPart::String("users".into()), KeyPart::int(1)]);
//! let stamp = kv.set(&key, b"ada", None).unwrap();
//! let entry = kv.get(&key).unwrap().unwrap();
//! assert_eq!((entry.versionstamp, &entry.value[..]), (stamp, &b"ada"[..]));
//! ```

pub mod key;
pub mod ops;
pub mod page;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use crate::{KernelError, Result};
pub use ops::{Check, Mutation};

/// How a store behaves.
#[derive(Debug, Clone, Default)]
pub struct KvOptions {
    /// Flush to disk before each write returns. Without it sled flushes every 100 ms, so
    /// a crash may lose the newest writes (never corrupting older ones).
    pub sync: bool,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Encoded key.
    pub key: sled::IVec,
    /// The versionstamp of the commit that wrote it.
    pub versionstamp: u64,
    /// The value bytes.
    pub value: Vec<u8>,
}

struct Store {
    db: sled::Db,
    /// Serializes commits so checks and the versionstamp order are atomic.
    write: Mutex<()>,
    sync: bool,
}

/// A handle on an open store; clones and re-opens of the same path share it.
#[derive(Clone)]
pub struct Kv {
    store: Arc<Store>,
}

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<Store>>>> = LazyLock::new(Default::default);

/// Header before each stored value: versionstamp, then expiry (ms since epoch, 0 = never).
const HEADER: usize = 16;

fn db_err(e: sled::Error) -> KernelError {
    match e {
        sled::Error::Io(io) => KernelError::io("kv database", io),
        other => KernelError::Internal(format!("kv database: {other}")),
    }
}

fn now_ms() -> u64 {
    crate::journal::now_ms()
}

/// Splits a stored record into (versionstamp, value) unless it has expired by `now`.
fn live(record: &[u8], now: u64) -> Option<(u64, &[u8])> {
    let versionstamp = u64::from_be_bytes(record[..8].try_into().ok()?);
    let expires = u64::from_be_bytes(record[8..HEADER].try_into().ok()?);
    (expires == 0 || expires > now).then(|| (versionstamp, &record[HEADER..]))
}

/// Clears what a killed process left of sled's snapshot writing, if no process has the
/// store open (sled locks its `db` file while open).
fn remove_unfinished_snapshots(dir: &Path) -> Result<()> {
    use fs2::FileExt;
    let Ok(file) = std::fs::File::open(dir.join("db")) else {
        return Ok(()); // a new store
    };
    if file.try_lock_exclusive().is_ok() {
        crate::sled_open::remove_unfinished(dir)?;
        let _ = FileExt::unlock(&file);
    }
    Ok(())
}

impl Kv {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: &Path, options: KvOptions) -> Result<Self> {
        std::fs::create_dir_all(path)
            .map_err(|e| KernelError::io(format!("create {}", path.display()), e))?;
        let canonical = path
            .canonicalize()
            .map_err(|e| KernelError::io(format!("open {}", path.display()), e))?;
        let mut open = OPEN.lock();
        if let Some(store) = open.get(&canonical).and_then(Weak::upgrade) {
            return Ok(Self { store });
        }
        remove_unfinished_snapshots(&canonical)?;
        let config = sled::Config::new()
            .path(&canonical)
            .flush_every_ms(Some(100));
        // A short wait covers a store this process just closed; another process keeps it.
        let db = crate::sled_open::open(&config, std::time::Duration::from_millis(500))
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("lock") => KernelError::Conflict(format!(
                    "KV store {} is open in another process (a store serves one process at a time)",
                    canonical.display()
                )),
                other => db_err(other),
            })?;
        let store = Arc::new(Store {
            db,
            write: Mutex::new(()),
            sync: options.sync,
        });
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(canonical, Arc::downgrade(&store));
        let kv = Self { store };
        kv.purge_expired()?;
        Ok(kv)
    }

    /// The live entry under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        key::validate(key)?;
        let record = self.store.db.get(key).map_err(db_err)?;
        Ok(record.and_then(|record| {
            live(&record, now_ms()).map(|(versionstamp, value)| Entry {
                key: key.into(),
                versionstamp,
                value: value.to_vec(),
            })
        }))
    }

    /// Calls `visit` with (versionstamp, value) of the live entry under `key`, without
    /// copying the value; returns false when there is none.
    pub fn get_with(&self, key: &[u8], visit: impl FnOnce(u64, &[u8])) -> Result<bool> {
        key::validate(key)?;
        let Some(record) = self.store.db.get(key).map_err(db_err)? else {
            return Ok(false);
        };
        match live(&record, now_ms()) {
            Some((versionstamp, value)) => {
                visit(versionstamp, value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Stores `value` under `key`; returns the new versionstamp.
    pub fn set(&self, key: &[u8], value: &[u8], expire_in_ms: Option<u64>) -> Result<u64> {
        let set = Mutation::Set {
            key,
            value,
            expire_in_ms,
        };
        key::validate(key)?;
        ops::validate_value(value)?;
        Ok(self.commit(&[], &[set])?.expect("no checks to fail"))
    }

    /// Removes `key` (no error when absent).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        key::validate(key)?;
        self.commit(&[], &[Mutation::Delete { key }]).map(drop)
    }

    /// Applies `mutations` if every check holds, all together, and returns the commit's
    /// versionstamp; returns `None` (changing nothing) when a check fails.
    pub fn commit(&self, checks: &[Check], mutations: &[Mutation]) -> Result<Option<u64>> {
        let _guard = self.store.write.lock();
        let now = now_ms();
        for check in checks {
            let current = self.store.db.get(check.key).map_err(db_err)?;
            let current = current
                .as_deref()
                .and_then(|r| live(r, now))
                .map(|(vs, _)| vs);
            if current != check.versionstamp {
                return Ok(None);
            }
        }
        let versionstamp = self.store.db.generate_id().map_err(db_err)? + 1;
        let mut batch = sled::Batch::default();
        for mutation in mutations {
            match mutation {
                Mutation::Set {
                    key,
                    value,
                    expire_in_ms,
                } => {
                    let expires = expire_in_ms.map_or(0, |ms| now.saturating_add(ms.max(1)));
                    let mut record = Vec::with_capacity(HEADER + value.len());
                    record.extend_from_slice(&versionstamp.to_be_bytes());
                    record.extend_from_slice(&expires.to_be_bytes());
                    record.extend_from_slice(value);
                    batch.insert(*key, record);
                }
                Mutation::Delete { key } => batch.remove(*key),
            }
        }
        self.store.db.apply_batch(batch).map_err(db_err)?;
        if self.store.sync {
            self.store.db.flush().map_err(db_err)?;
        }
        Ok(Some(versionstamp))
    }

    /// Visits live entries with `start <= key < end` in key order (reversed with
    /// `reverse`), at most `limit`, until `visit` returns false.
    pub fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
        mut visit: impl FnMut(&[u8], u64, &[u8]) -> bool,
    ) -> Result<usize> {
        if start >= end || limit == 0 {
            return Ok(0);
        }
        let now = now_ms();
        let range = self.store.db.range(start..end);
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut seen = 0;
        for item in iter {
            let (key, record) = item.map_err(db_err)?;
            let Some((versionstamp, value)) = live(&record, now) else {
                continue;
            };
            if !visit(&key, versionstamp, value) {
                break;
            }
            seen += 1;
            if seen == limit {
                break;
            }
        }
        Ok(seen)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<()> {
        self.store.db.flush().map(drop).map_err(db_err)
    }

    fn purge_expired(&self) -> Result<()> {
        let now = now_ms();
        let _guard = self.store.write.lock();
        for item in self.store.db.iter() {
            let (key, record) = item.map_err(db_err)?;
            if live(&record, now).is_none() {
                self.store.db.remove(key).map_err(db_err)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
