//! A session: the lock held, the database open, unfinished work recovered.
//!
//! The journal takes the cross-process lock and opens sled only for the span of one
//! transaction, undo, redo or history call, so an app holding a journal and `krepis undo`
//! in a terminal take turns instead of failing on sled's own exclusive lock.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::JournalOptions;
use parking_lot::Mutex;

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
    /// Directories (relative to the root) known to be real directories during this session;
    /// the session holds the lock, so only this session changes them.
    dirs: Mutex<HashSet<String>>,
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
            dirs: Mutex::new(HashSet::new()),
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
        path::resolve_cached(&self.root, input, &mut self.dirs.lock())
    }

    /// Whether `rel` is known to be a directory (see [`Session::resolve`]).
    pub fn known_dir(&self, rel: &str) -> bool {
        self.dirs.lock().contains(rel)
    }

    /// Records that `rel` is, or no longer is, a directory.
    pub fn note_dir(&self, rel: &str, is_dir: bool) {
        let mut dirs = self.dirs.lock();
        if is_dir {
            dirs.insert(rel.to_string());
        } else {
            dirs.remove(rel);
        }
    }

    /// A fresh temporary file name on the same file system as the root.
    fn temp_path(&self) -> PathBuf {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{n}"))
    }

    /// Makes `abs` a file holding `content` with `mode`. An existing file is replaced
    /// atomically (temporary file + rename), so a reader sees the old or the new content.
    /// A `fresh` path (absent before) is written in place: should the process die half-way,
    /// recovery removes it again, because its "absent" state was recorded first.
    pub fn put_file(&self, abs: &Path, content: &[u8], mode: u32, fresh: bool) -> Result<()> {
        if fresh {
            return state::write_temp(abs, content, mode, self.sync);
        }
        let tmp = self.temp_path();
        state::write_temp(&tmp, content, mode, self.sync)?;
        state::install(&tmp, abs)
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
        self.note_dir(rel, false);
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
                self.put_file(&abs, &content, *mode, current.is_none())?;
            }
        }
        Ok(())
    }
}
