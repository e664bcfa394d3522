//! A session: the lock held, the database open, unfinished work recovered.
//!
//! The journal takes the cross-process lock and opens sled only for the span of one
//! transaction, undo, redo or history call, so an app holding a journal and `krepis undo`
//! in a terminal take turns instead of failing on sled's own exclusive lock.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::JournalOptions;
use parking_lot::Mutex;

use super::lock::{self, FileLock};
use super::path::{self, Beneath, RootPath};
use super::state::PathState;
use super::store::{Entry, Store, TxState};
use crate::{KernelError, Result};

/// A session kept open for a moment after use, so that a burst of transactions (or an
/// `undo` right after a `history`) shares one lock and one database open. Other processes
/// wait at most the linger time longer.
#[derive(Clone, Default)]
pub struct Idle(Arc<Mutex<Option<(Session, Instant)>>>);

impl Idle {
    /// The parked session, if any.
    pub fn take(&self) -> Option<Session> {
        self.0.lock().take().map(|(session, _)| session)
    }

    /// Keeps `session` for the next use. Its knowledge of directories is dropped: a
    /// transaction may leave a directory it removed in the cache.
    pub fn park(&self, session: Session) {
        session.dirs.lock().clear();
        *self.0.lock() = Some((session, Instant::now()));
    }

    /// Closes the parked session now.
    pub fn clear(&self) {
        self.0.lock().take();
    }

    /// Closes a parked session once it has been idle for `linger`, until this `Idle` is
    /// dropped by everyone else.
    pub fn reap_after(&self, linger: Duration) {
        let slot = Arc::downgrade(&self.0);
        std::thread::spawn(move || {
            while let Some(slot) = slot.upgrade() {
                let expired = {
                    let mut parked = slot.lock();
                    match parked.as_ref() {
                        Some((_, since)) if since.elapsed() >= linger => parked.take(),
                        _ => None,
                    }
                };
                // Closed outside the mutex: closing flushes and may take a moment.
                drop(expired);
                drop(slot);
                std::thread::sleep(linger / 2);
            }
        });
    }
}

/// Open database plus lock. Field order matters: the store closes before the lock goes.
pub struct Session {
    /// The journal database.
    pub store: Store,
    /// The canonical project root.
    pub root: PathBuf,
    /// The root as an open handle: every change is applied through it.
    pub fs: Beneath,
    sync: bool,
    next_tmp: AtomicU64,
    /// Directories (relative to the root) known to be real directories during this session;
    /// the session holds the lock, so only this session changes them.
    dirs: Mutex<HashSet<String>>,
    _lock: FileLock,
}

impl Session {
    /// The journal's session: the one `idle` keeps if any, or a new one — the lock on
    /// the journal in `data` (the `.krepis` directory of `root`) taken, the database opened,
    /// and whatever a killed process left behind finished or rolled back.
    pub fn acquire(
        root: &Path,
        data: &Path,
        options: &JournalOptions,
        idle: &Idle,
    ) -> Result<Self> {
        let path = data.join("journal.lock");
        let lock = lock::wait_for(&path, options.lock_timeout, || {
            if let Some(session) = idle.take() {
                return Ok(Some(Err(session)));
            }
            Ok(FileLock::try_acquire(&path)?.map(Ok))
        })?;
        let lock = match lock {
            Ok(lock) => lock,
            Err(reused) => return Ok(reused),
        };
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
            fs: Beneath::open(root)?,
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
            self.store.maybe_gc()?;
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

    /// A fresh temporary file name (relative to the root) on the same file system.
    fn temp_path(&self) -> String {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        format!("{}/tmp/{n}", path::DATA_DIR)
    }

    /// Makes `rel` a file holding `content` with `mode`. An existing file is replaced
    /// atomically (temporary file + rename), so a reader sees the old or the new content.
    /// A `fresh` path (absent before) is created in place, refusing anything that appeared
    /// there meanwhile: should the process die half-way, recovery removes it again, because
    /// its "absent" state was recorded first.
    pub fn put_file(&self, rel: &str, content: &[u8], mode: u32, fresh: bool) -> Result<()> {
        if fresh {
            return self.fs.create_file(rel, content, mode, self.sync);
        }
        let tmp = self.temp_path();
        self.fs.create_file(&tmp, content, mode, self.sync)?;
        self.fs.rename(&tmp, rel)
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
    /// Safe against symlinks swapped in meanwhile: every step goes through [`Beneath`].
    pub fn restore(&self, rel: &str, target: &PathState) -> Result<()> {
        let rel = path::lexical(&self.root, rel)?.rel;
        let rel = rel.as_str();
        self.note_dir(rel, false);
        let current = self.fs.is_dir(rel)?;
        match target {
            PathState::Absent => {
                // A directory someone filled since is left alone rather than emptied.
                self.fs.remove(rel)?;
            }
            PathState::Dir { mode } => {
                if current == Some(true) {
                    self.fs.set_mode(rel, *mode)?;
                } else {
                    if current.is_some() {
                        self.fs.remove(rel)?;
                    }
                    self.fs.create_dir(rel, *mode)?;
                }
            }
            PathState::File { hash, mode, .. } => {
                if current == Some(true) && !self.fs.remove(rel)? {
                    return Err(KernelError::Conflict(format!(
                        "cannot restore file {rel}: a non-empty directory is in its place"
                    )));
                }
                let content = self.store.blob(hash)?;
                self.put_file(rel, &content, *mode, current.is_none())?;
            }
        }
        Ok(())
    }
}
