//! The single path by which CLI commands change an app's files: one journal
//! transaction per command, so `krepis undo` reverts a whole generation and
//! a failure half-way leaves nothing behind.

use std::fmt::Write as _;
use std::path::Path;

use krepis_kernel::KernelError;
use krepis_kernel::journal::{Expect, Journal};
use sha2::{Digest, Sha256};

use crate::error::{CliError, Result};

/// What a file must hold for a change to go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The file must not exist.
    Absent,
    /// The file's content must have this lower-case hex SHA-256.
    Hash(String),
}

impl Expected {
    /// What `content` (or no file, for `None`) is expected as.
    pub fn of(content: Option<&[u8]>) -> Self {
        match content {
            None => Self::Absent,
            Some(bytes) => Self::Hash(
                Sha256::digest(bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
        }
    }
}

/// One file to write: path relative to the app root, and its new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative, `/`-separated path inside the root.
    pub path: String,
    /// The complete new content.
    pub content: Vec<u8>,
    /// What the file held when the change was planned; `None`: write regardless.
    pub expected: Option<Expected>,
}

fn journal_error(error: KernelError) -> CliError {
    match error {
        KernelError::Conflict(why) => CliError::Conflict(why),
        other => CliError::Failed(format!("journal: {other}")),
    }
}

/// Writes `changes` under `root` as one committed journal transaction
/// labelled `label`; returns the transaction id. Nothing is written unless
/// every change is; a file that no longer holds what a change expects is a
/// [`CliError::Conflict`].
pub fn apply(root: &Path, label: &str, changes: &[FileChange]) -> Result<u64> {
    let journal = Journal::open(root).map_err(journal_error)?;
    let mut tx = journal.begin(label).map_err(journal_error)?;
    for change in changes {
        // On error the transaction is dropped uncommitted, which rolls back
        // the files it already wrote.
        let result = match &change.expected {
            None => tx.write(&change.path, &change.content, None),
            Some(Expected::Absent) => {
                tx.write_checked(&change.path, &change.content, None, Expect::Absent)
            }
            Some(Expected::Hash(hash)) => {
                tx.write_checked(&change.path, &change.content, None, Expect::Sha256(hash))
            }
        };
        result.map_err(journal_error)?;
    }
    tx.commit().map_err(journal_error)
}

/// A unified diff of what `changes` would do under `root` (new files against
/// `/dev/null`), for `--dry-run`.
pub fn diff(root: &Path, changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        let old = std::fs::read(root.join(&change.path)).ok();
        let old_text = old
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let new_text = String::from_utf8_lossy(&change.content);
        if old.is_some() && old_text == new_text {
            continue;
        }
        let from = if old.is_some() {
            format!("a/{}", change.path)
        } else {
            "/dev/null".to_string()
        };
        let _ = write!(
            out,
            "{}",
            similar::TextDiff::from_lines(old_text.as_ref(), new_text.as_ref())
                .unified_diff()
                .context_radius(3)
                .header(&from, &format!("b/{}", change.path))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, content: &str) -> FileChange {
        FileChange {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            expected: None,
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

    #[test]
    fn a_file_changed_since_planning_is_a_conflict_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.ts"), "planned against\n").unwrap();
        let planned = Expected::of(Some(b"planned against\n"));
        std::fs::write(dir.path().join("app.ts"), "someone else's edit\n").unwrap();
        let err = apply(
            dir.path(),
            "gen",
            &[
                FileChange {
                    expected: Some(Expected::Absent),
                    ..change("src/new.ts", "x")
                },
                FileChange {
                    expected: Some(planned.clone()),
                    ..change("app.ts", "registered\n")
                },
            ],
        )
        .unwrap_err();
        assert!(matches!(err, CliError::Conflict(_)), "{err}");
        assert!(
            err.to_string().contains("app.ts changed since it was read"),
            "{err}"
        );
        assert!(!dir.path().join("src/new.ts").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.ts")).unwrap(),
            "someone else's edit\n"
        );
        // Against the current content it goes through.
        let current = Expected::of(Some(b"someone else's edit\n"));
        apply(
            dir.path(),
            "gen",
            &[FileChange {
                expected: Some(current),
                ..change("app.ts", "registered\n")
            }],
        )
        .unwrap();
    }

    #[test]
    fn the_dry_run_diff_shows_new_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.ts"), "a\nb\n").unwrap();
        let text = diff(
            dir.path(),
            &[change("new.ts", "x\n"), change("app.ts", "a\nc\n")],
        );
        assert!(text.contains("--- /dev/null\n+++ b/new.ts\n"), "{text}");
        assert!(text.contains("+x\n"), "{text}");
        assert!(text.contains("--- a/app.ts\n+++ b/app.ts\n"), "{text}");
        assert!(text.contains("-b\n+c\n"), "{text}");
    }
}
