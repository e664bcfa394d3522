//! The single path by which CLI commands change an app's files: one journal
//! transaction per command, so `krepis undo` reverts a whole generation and
//! a failure half-way leaves nothing behind.

use std::path::Path;

use krepis_kernel::journal::Journal;

use crate::error::{CliError, Result};

/// One file to write: path relative to the app root, and its new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative, `/`-separated path inside the root.
    pub path: String,
    /// The complete new content.
    pub content: Vec<u8>,
}

fn journal_error(error: krepis_kernel::KernelError) -> CliError {
    CliError::Failed(format!("journal: {error}"))
}

/// Writes `changes` under `root` as one committed journal transaction
/// labelled `label`; returns the transaction id. Nothing is written unless
/// every change is.
pub fn apply(root: &Path, label: &str, changes: &[FileChange]) -> Result<u64> {
    let journal = Journal::open(root).map_err(journal_error)?;
    let mut tx = journal.begin(label).map_err(journal_error)?;
    for change in changes {
        // On error the transaction is dropped uncommitted, which rolls back
        // the files it already wrote.
        tx.write(&change.path, &change.content, None)
            .map_err(journal_error)?;
    }
    tx.commit().map_err(journal_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, content: &str) -> FileChange {
        FileChange {
            path: path.into(),
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn one_undo_reverts_every_file_of_a_generation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.ts"), "old\n").unwrap();
        apply(
            dir.path(),
            "gen command X",
            &[
                change("src/x.ts", "new file\n"),
                change("app.ts", "edited\n"),
            ],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/x.ts")).unwrap(),
            "new file\n"
        );
        let journal = Journal::open(dir.path()).unwrap();
        assert_eq!(journal.history().unwrap()[0].label, "gen command X");
        journal.undo(1, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.ts")).unwrap(),
            "old\n"
        );
        assert!(!dir.path().join("src").exists());
    }

    #[test]
    fn a_failing_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = apply(
            dir.path(),
            "gen",
            &[change("src/ok.ts", "x"), change("../escape.ts", "y")],
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("journal: "), "{err}");
        assert!(!dir.path().join("src/ok.ts").exists());
    }
}
