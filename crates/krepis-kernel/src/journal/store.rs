//! The journal's sled layout: transaction records, their entries, and content blobs.
//!
//! Trees:
//! - `txs`: transaction id (u64, big-endian) → [`TxRecord`] (JSON)
//! - `entries`: transaction id ++ sequence (u32, big-endian) → [`Entry`] (JSON)
//! - `blobs`: SHA-256 (hex) → file content, stored once however many entries refer to it
//! - `meta`: `gc_debt` → entries forgotten since the last blob collection (u64)

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::state::PathState;
use crate::{KernelError, Result};

/// Where a transaction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// Started, not committed: rolled back when found on open.
    Pending,
    /// Committed and in effect.
    Committed,
    /// An undo was started; finished when found on open.
    Undoing,
    /// Undone; can be redone.
    Undone,
    /// A redo was started; finished when found on open.
    Redoing,
}

/// One transaction's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Monotonic id.
    pub id: u64,
    /// The caller's label, e.g. `gen component Button`.
    pub label: String,
    /// Start time, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Commit time, milliseconds since the Unix epoch.
    pub committed_ms: Option<u64>,
    /// Life-cycle state.
    pub state: TxState,
}

/// One path's change inside a transaction, recorded before the change is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The path relative to the root (`/`-separated).
    pub path: String,
    /// State before the change.
    pub before: PathState,
    /// State after the change.
    pub after: PathState,
}

/// The journal's sled database.
pub struct Store {
    db: sled::Db,
    txs: sled::Tree,
    entries: sled::Tree,
    blobs: sled::Tree,
    meta: sled::Tree,
}

/// Forgotten entries after which [`Store::maybe_gc`] collects blobs. Collecting scans every
/// entry, so it runs once per this many forgotten ones rather than on every prune.
pub const GC_DEBT: u64 = 4096;
const GC_DEBT_KEY: &str = "gc_debt";
const LAST_COMMITTED_KEY: &str = "last_committed";

/// A big-endian u64 key or value (0 when malformed).
fn u64_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// Maps a sled error to a kernel error.
pub fn db_err(e: sled::Error) -> KernelError {
    match e {
        sled::Error::Io(io) => KernelError::io("journal database", io),
        other => KernelError::Internal(format!("journal database: {other}")),
    }
}

fn json_err(e: serde_json::Error) -> KernelError {
    KernelError::Internal(format!("journal record is corrupt: {e}"))
}

fn entry_key(tx: u64, seq: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&tx.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl Store {
    /// Opens (or creates) the database in `dir`; the caller holds the journal lock.
    pub fn open(dir: &Path) -> Result<Self> {
        crate::sled_open::remove_unfinished(dir)?;
        let config = sled::Config::new()
            .path(dir)
            // Durability points are explicit flushes; no background flusher is needed.
            .flush_every_ms(None);
        // The journal lock is held, so only this process's previous session can still hold
        // sled's lock, and only for a moment.
        let db =
            crate::sled_open::open(&config, std::time::Duration::from_secs(5)).map_err(db_err)?;
        Ok(Self {
            txs: db.open_tree("txs").map_err(db_err)?,
            entries: db.open_tree("entries").map_err(db_err)?,
            blobs: db.open_tree("blobs").map_err(db_err)?,
            meta: db.open_tree("meta").map_err(db_err)?,
            db,
        })
    }

    /// A new transaction id: one more than the newest transaction recorded or ever
    /// committed, so ids count 1, 2, 3 … across restarts and never reuse a committed one
    /// (only a rolled-back transaction's id, which no history ever showed, comes again).
    /// Sessions are exclusive, so nobody else allocates meanwhile.
    pub fn next_id(&self) -> Result<u64> {
        let newest = match self.txs.last().map_err(db_err)? {
            Some((key, _)) => u64_of(&key),
            None => 0,
        };
        let committed = match self.meta.get(LAST_COMMITTED_KEY).map_err(db_err)? {
            Some(value) => u64_of(&value),
            None => 0,
        };
        Ok(newest.max(committed) + 1)
    }

    /// Remembers that transaction `id` was committed (see [`Store::next_id`]).
    pub fn note_committed(&self, id: u64) -> Result<()> {
        self.meta
            .fetch_and_update(LAST_COMMITTED_KEY, |old| {
                let old = old.map_or(0, u64_of);
                Some(old.max(id).to_be_bytes().to_vec())
            })
            .map(drop)
            .map_err(db_err)
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(db_err)
    }

    /// Writes a transaction header.
    pub fn put_tx(&self, tx: &TxRecord) -> Result<()> {
        let value = serde_json::to_vec(tx).map_err(json_err)?;
        self.txs
            .insert(tx.id.to_be_bytes(), value)
            .map(drop)
            .map_err(db_err)
    }

    /// All transaction headers, oldest first.
    pub fn txs(&self) -> Result<Vec<TxRecord>> {
        self.txs
            .iter()
            .values()
            .map(|v| serde_json::from_slice(&v.map_err(db_err)?).map_err(json_err))
            .collect()
    }

    /// Records entry `seq` of transaction `tx`.
    pub fn put_entry(&self, tx: u64, seq: u32, entry: &Entry) -> Result<()> {
        let value = serde_json::to_vec(entry).map_err(json_err)?;
        self.entries
            .insert(entry_key(tx, seq), value)
            .map(drop)
            .map_err(db_err)
    }

    /// The entries of transaction `tx`, in the order they were recorded.
    pub fn entries(&self, tx: u64) -> Result<Vec<Entry>> {
        self.entries
            .scan_prefix(tx.to_be_bytes())
            .values()
            .map(|v| serde_json::from_slice(&v.map_err(db_err)?).map_err(json_err))
            .collect()
    }

    /// Forgets transaction `tx` and its entries (their blobs go in a later [`Store::gc`]).
    pub fn delete_tx(&self, tx: u64) -> Result<()> {
        let mut forgotten = 0;
        for key in self.entries.scan_prefix(tx.to_be_bytes()).keys() {
            self.entries.remove(key.map_err(db_err)?).map_err(db_err)?;
            forgotten += 1;
        }
        self.set_debt(self.debt()? + forgotten)?;
        self.txs.remove(tx.to_be_bytes()).map(drop).map_err(db_err)
    }

    fn debt(&self) -> Result<u64> {
        let raw = self.meta.get(GC_DEBT_KEY).map_err(db_err)?;
        Ok(raw.map_or(0, |v| {
            u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8]))
        }))
    }

    fn set_debt(&self, debt: u64) -> Result<()> {
        self.meta
            .insert(GC_DEBT_KEY, &debt.to_be_bytes())
            .map(drop)
            .map_err(db_err)
    }

    /// Runs [`Store::gc`] once [`GC_DEBT`] entries were forgotten since the last one.
    pub fn maybe_gc(&self) -> Result<usize> {
        if self.debt()? >= GC_DEBT {
            self.gc()
        } else {
            Ok(0)
        }
    }

    /// Stores `content` under its hash unless it is there already.
    pub fn put_blob(&self, hash: &str, content: &[u8]) -> Result<()> {
        if !self.blobs.contains_key(hash).map_err(db_err)? {
            self.blobs.insert(hash, content).map_err(db_err)?;
        }
        Ok(())
    }

    /// The content stored under `hash`.
    pub fn blob(&self, hash: &str) -> Result<sled::IVec> {
        self.blobs
            .get(hash)
            .map_err(db_err)?
            .ok_or_else(|| KernelError::Internal(format!("journal blob {hash} is missing")))
    }

    /// Deletes blobs no entry refers to any more; returns how many went.
    pub fn gc(&self) -> Result<usize> {
        let mut live = HashSet::new();
        for value in self.entries.iter().values() {
            let entry: Entry = serde_json::from_slice(&value.map_err(db_err)?).map_err(json_err)?;
            for state in [entry.before, entry.after] {
                if let PathState::File { hash, .. } = state {
                    live.insert(hash);
                }
            }
        }
        let mut removed = 0;
        for key in self.blobs.iter().keys() {
            let key = key.map_err(db_err)?;
            if !live.contains(std::str::from_utf8(&key).unwrap_or_default()) {
                self.blobs.remove(key).map_err(db_err)?;
                removed += 1;
            }
        }
        self.set_debt(0)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            before: PathState::Absent,
            after: PathState::file(content, 0o644),
        }
    }

    #[test]
    fn blobs_of_forgotten_entries_are_collected_once_enough_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let shared = entry("shared", b"kept");
        store
            .put_blob(&crate::journal::state::hash_hex(b"kept"), b"kept")
            .unwrap();
        store.put_entry(1, 0, &shared).unwrap();
        for tx in 2..(2 + GC_DEBT) {
            let content = tx.to_be_bytes();
            store
                .put_blob(&crate::journal::state::hash_hex(&content), &content)
                .unwrap();
            store.put_entry(tx, 0, &entry("f", &content)).unwrap();
            store.put_entry(tx, 1, &shared).unwrap();
        }
        for tx in 2..(1 + GC_DEBT / 2) {
            store.delete_tx(tx).unwrap();
        }
        assert_eq!(store.maybe_gc().unwrap(), 0, "not enough debt yet");
        for tx in (1 + GC_DEBT / 2)..(2 + GC_DEBT) {
            store.delete_tx(tx).unwrap();
        }
        assert_eq!(store.maybe_gc().unwrap(), GC_DEBT as usize);
        assert_eq!(
            &store
                .blob(&crate::journal::state::hash_hex(b"kept"))
                .unwrap()[..],
            b"kept"
        );
        assert_eq!(store.maybe_gc().unwrap(), 0, "the debt was paid");
    }
}
