//! The transactional file system: journaled file changes with undo, redo and crash safety.
//!
//! Every change goes through a [`Transaction`]. Before a change is applied, the prior state
//! of each path it touches (content and mode, or absence) is recorded in a sled database in
//! `<root>/.krepis/journal` and flushed; then the change is applied atomically (new content
//! goes to a temporary file that is renamed into place). Committing marks the transaction
//! done. A process killed at any point leaves each file as it was before or after, and the
//! next session rolls an unfinished transaction back (or finishes an interrupted undo/redo).
//!
//! Content is stored once per SHA-256, however many transactions refer to it. Paths are
//! confined to the root. Access is serialized across processes by `.krepis/journal.lock`,
//! held only for the span of a transaction or an undo/redo/history call.
//!
//! ```
//! use krepis_kernel::journal::Journal;
//! let dir = tempfile::tempdir().unwrap();
//! let journal = Journal::open(dir.path()).unwrap();
//! let mut tx = journal.begin("scaffold").unwrap();
//! tx.write("src/main.ts", b"console.log(1);\n", None).unwrap();
//! tx.commit().unwrap();
//! assert!(dir.path().join("src/main.ts").exists());
//! journal.undo(1, false).unwrap();
//! assert!(!dir.path().join("src").exists());
//! journal.redo(1, false).unwrap();
//! assert_eq!(journal.history().unwrap()[0].files, ["src", "src/main.ts"]);
//! ```

mod history;
mod lock;
pub mod path;
mod session;
mod shared;
pub mod state;
mod store;
mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use history::{TxInfo, history_message};
pub use shared::SharedTransaction;
pub use tx::{DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, Expect, Transaction, now_ms};

use crate::{KernelError, Result};
use history::Direction;
use session::{Idle, Session};

/// How a journal behaves.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Also fsync new file content before it is renamed into place, for durability across
    /// power loss. The journal's own records are always flushed; without this, files are
    /// safe against a killed process (the page cache survives it) but a power cut may lose
    /// the newest content.
    pub sync: bool,
    /// How long to wait for another process's transaction to finish.
    pub lock_timeout: Duration,
    /// How many committed transactions the history keeps; older ones are forgotten.
    pub keep: usize,
    /// How long the lock and the open database are kept after a call, for the next one;
    /// zero releases them at once.
    pub linger: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            sync: false,
            lock_timeout: Duration::from_secs(10),
            keep: 100,
            linger: Duration::from_millis(100),
        }
    }
}

/// A journal over one project root.
pub struct Journal {
    root: PathBuf,
    data: PathBuf,
    options: JournalOptions,
    idle: Idle,
}

impl Journal {
    /// Opens the journal of `root` with default options; see [`Journal::with_options`].
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(root, JournalOptions::default())
    }

    /// Opens the journal of `root` (which must be a directory), creating `.krepis/` when
    /// needed, and rolls back whatever a killed process left unfinished.
    pub fn with_options(root: impl AsRef<Path>, options: JournalOptions) -> Result<Self> {
        let given = root.as_ref();
        let root = given
            .canonicalize()
            .map_err(|e| KernelError::io(format!("open project root {}", given.display()), e))?;
        if !root.is_dir() {
            return Err(KernelError::invalid(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        if options.keep == 0 {
            return Err(KernelError::invalid(
                "the journal must keep at least 1 transaction",
            ));
        }
        let data = root.join(path::DATA_DIR);
        std::fs::create_dir_all(&data)
            .map_err(|e| KernelError::io(format!("create {}", data.display()), e))?;
        let idle = Idle::default();
        if !options.linger.is_zero() {
            idle.reap_after(options.linger);
        }
        let journal = Self {
            root,
            data,
            options,
            idle,
        };
        journal.with_session(|_| Ok(()))?;
        Ok(journal)
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `input` (relative to the root, or absolute inside it) is on disk, refusing
    /// escapes exactly as the journal's operations do; for reading through the journal.
    pub fn resolve(&self, input: &str) -> Result<PathBuf> {
        Ok(path::resolve(&self.root, input)?.abs)
    }

    /// Starts a transaction labelled `label`, waiting for another process's to finish.
    pub fn begin(&self, label: &str) -> Result<Transaction> {
        let session = Session::acquire(&self.root, &self.data, &self.options, &self.idle)?;
        let idle = (!self.options.linger.is_zero()).then(|| self.idle.clone());
        Transaction::begin(session, idle, label, self.options.keep)
    }

    /// Undoes the newest `steps` committed transactions; see [`Journal::redo`] for the way back.
    pub fn undo(&self, steps: usize, force: bool) -> Result<Vec<TxInfo>> {
        self.with_session(|s| history::step(s, Direction::Undo, steps, force))
    }

    /// Redoes the oldest `steps` undone transactions.
    pub fn redo(&self, steps: usize, force: bool) -> Result<Vec<TxInfo>> {
        self.with_session(|s| history::step(s, Direction::Redo, steps, force))
    }

    /// Committed and undone transactions, newest first.
    pub fn history(&self) -> Result<Vec<TxInfo>> {
        self.with_session(history::history)
    }

    /// Runs `f` in a session. The session is kept for the next call when `f` succeeds;
    /// after a failure it is closed, so the next session starts with recovery.
    fn with_session<R>(&self, f: impl FnOnce(&Session) -> Result<R>) -> Result<R> {
        let session = Session::acquire(&self.root, &self.data, &self.options, &self.idle)?;
        let result = f(&session);
        if result.is_ok() && !self.options.linger.is_zero() {
            self.idle.park(session);
        }
        result
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Let other processes in at once rather than after the linger time.
        self.idle.clear();
    }
}

#[cfg(all(test, unix))]
mod race_tests;
#[cfg(test)]
mod tests;
