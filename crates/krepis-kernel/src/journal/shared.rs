//! A transaction reached through a handle, by calls that may come from several threads.

use parking_lot::Mutex;

use super::Transaction;
use crate::{KernelError, Result};

/// A [`Transaction`] that callers reach through one handle (the FFI boundary): staging calls
/// take turns on it, and the first [`commit`](Self::commit) or [`rollback`](Self::rollback)
/// ends it, so every later call is refused with [`KernelError::Closed`] instead of touching a
/// finished transaction. Dropped unfinished, it rolls back like a [`Transaction`].
pub struct SharedTransaction(Mutex<Option<Transaction>>);

impl SharedTransaction {
    /// Shares `tx`.
    pub fn new(tx: Transaction) -> Self {
        Self(Mutex::new(Some(tx)))
    }

    /// Runs `f` on the transaction while it is open.
    pub fn with<R>(&self, f: impl FnOnce(&mut Transaction) -> Result<R>) -> Result<R> {
        f(self.0.lock().as_mut().ok_or_else(finished)?)
    }

    /// Commits and ends the transaction; returns its id.
    pub fn commit(&self) -> Result<u64> {
        self.take()?.commit()
    }

    /// Rolls back and ends the transaction.
    pub fn rollback(&self) -> Result<()> {
        self.take()?.rollback()
    }

    fn take(&self) -> Result<Transaction> {
        self.0.lock().take().ok_or_else(finished)
    }
}

fn finished() -> KernelError {
    KernelError::Closed("transaction already finished".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    #[test]
    fn the_first_commit_ends_it_for_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let tx = SharedTransaction::new(journal.begin("shared").unwrap());
        tx.with(|tx| tx.write("a.txt", b"a", None)).unwrap();
        let id = tx.commit().unwrap();
        assert_eq!(journal.history().unwrap()[0].id, id);
        assert!(matches!(
            tx.with(|tx| tx.write("b.txt", b"b", None)),
            Err(KernelError::Closed(_))
        ));
        assert!(matches!(tx.commit(), Err(KernelError::Closed(_))));
        assert!(matches!(tx.rollback(), Err(KernelError::Closed(_))));
        assert!(!dir.path().join("b.txt").exists());
    }

    #[test]
    fn rollback_ends_it_and_undoes_the_staged_changes() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let tx = SharedTransaction::new(journal.begin("shared").unwrap());
        tx.with(|tx| {
            tx.write("a.txt", b"a", None)?;
            tx.flush()
        })
        .unwrap();
        assert!(dir.path().join("a.txt").exists());
        tx.rollback().unwrap();
        assert!(!dir.path().join("a.txt").exists());
        assert!(matches!(tx.commit(), Err(KernelError::Closed(_))));
    }
}
