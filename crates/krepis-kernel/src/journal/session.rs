//! A session: the lock held, the database open, unfinished work recovered.
//!
//! The journal takes the cross-process lock and opens sled only for the span of one
//! transaction, undo, redo or history call, so an app holding a journal and `krepis undo`
//! in a terminal take turns instead of failing on sled's own exclusive lock.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::JournalOptions;
use super::lock::FileLock;
use super::path::{self, RootPath};
use super::state::{self, PathState};
use super::store::{Entry, Store, TxState};
use crate::{KernelError, Result};

/// Open database plus lock. Field order matters: the store closes before the lock goes.
pub struct Session {
    /// The journal database.
    pub store: Store,
    /// The canonical project root.
    pub root: PathBuf,
    tmp: PathBuf,
    sync: bool,
    next_tmp: AtomicU64,
    _lock: FileLock,
}

impl Session {
    /// Locks the journal in `data` (the `.krepis` directory of `root`), opens its database
    /// and finishes or rolls back whatever a killed process left behind.
    pub fn acquire(root: &Path, data: &Path, options: &JournalOptions) -> Result<Self> {
        let lock = FileLock::acquire(&data.join("journal.lock"), options.lock_timeout)?;
        let tmp = data.join("tmp");
        // Only a session creates files in tmp/ and sessions are exclusive: whatever is
        // there belongs to a dead process and recovery works from the blobs, not from it.
        if tmp.exists() {
            fs::remove_dir_all(&tmp)
                .map_err(|e| KernelError::io(format!("clear {}", tmp.display()), e))?;
        }
        fs::create_dir_all(&tmp)
            .map_err(|e| KernelError::io(format!("create {}", tmp.display()), e))?;
        let session = Self {
            store: Store::open(&data.join("journal"))?,
            root: root.to_path_buf(),
            tmp,
            sync: options.sync,
            next_tmp: AtomicU64::new(0),
            _lock: lock,
        };
        session.recover()?;
        Ok(session)
    }

    fn recover(&self) -> Result<()> {
        let mut changed = false;
        for mut tx in self.store.txs()? {
            let entries = || self.store.entries(tx.id);
            match tx.state {
                TxState::Pending => {
                    self.revert(&entries()?)?;
                    self.store.delete_tx(tx.id)?;
                }
                TxState::Undoing => {
                    self.revert(&entries()?)?;
                    tx.state = TxState::Undone;
                    self.store.put_tx(&tx)?;
                }
                TxState::Redoing => {
                    self.replay(&entries()?)?;
                    tx.state = TxState::Committed;
                    self.store.put_tx(&tx)?;
                }
                TxState::Committed | TxState::Undone => continue,
            }
            changed = true;
        }
        if changed {
            self.store.gc()?;
            self.store.flush()?;
        }
        Ok(())
    }

    /// Resolves a caller's path inside the root.
    pub fn resolve(&self, input: &str) -> Result<RootPath> {
        path::resolve(&self.root, input)
    }

    /// A fresh temporary file name on the same file system as the root.
    pub fn temp_path(&self) -> PathBuf {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{n}"))
    }

    /// Writes `content` to a temporary file with `mode`; returns its path.
    pub fn stage(&self, content: &[u8], mode: u32) -> Result<PathBuf> {
        let tmp = self.temp_path();
        state::write_temp(&tmp, content, Some(mode), self.sync)?;
        Ok(tmp)
    }

    /// Puts each touched path back to its state before `entries`, newest change first.
    pub fn revert(&self, entries: &[Entry]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<&Entry> = entries.iter().filter(|e| seen.insert(&e.path)).collect();
        for entry in firsts.into_iter().rev() {
            self.restore(&entry.path, &entry.before)?;
        }
        Ok(())
    }

    /// Puts each touched path into its state after `entries`, oldest change first.
    pub fn replay(&self, entries: &[Entry]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let mut lasts: Vec<&Entry> = entries
            .iter()
            .rev()
            .filter(|e| seen.insert(&e.path))
            .collect();
        lasts.reverse();
        for entry in lasts {
            self.restore(&entry.path, &entry.after)?;
        }
        Ok(())
    }

    /// Makes `rel` look exactly like `target`. Idempotent, so recovery may repeat it.
    pub fn restore(&self, rel: &str, target: &PathState) -> Result<()> {
        let abs = self.resolve(rel)?.abs;
        let current = fs::symlink_metadata(&abs).ok();
        let is_dir = current.as_ref().is_some_and(|m| m.is_dir());
        match target {
            PathState::Absent => {
                // A directory someone filled since is left alone rather than emptied.
                state::remove(&abs)?;
            }
            PathState::Dir { mode } => {
                if !is_dir {
                    if current.is_some() {
                        state::remove(&abs)?;
                    }
                    fs::create_dir(&abs)
                        .map_err(|e| KernelError::io(format!("mkdir {}", abs.display()), e))?;
                }
                state::set_mode(&abs, *mode)?;
            }
            PathState::File { hash, mode, .. } => {
                if is_dir && !state::remove(&abs)? {
                    return Err(KernelError::Conflict(format!(
                        "cannot restore file {rel}: a non-empty directory is in its place"
                    )));
                }
                let content = self.store.blob(hash)?;
                let tmp = self.stage(&content, *mode)?;
                state::install(&tmp, &abs)?;
            }
        }
        Ok(())
    }
}
