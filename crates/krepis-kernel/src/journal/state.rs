//! What a path looks like on disk, and how to put it back.
//!
//! A [`PathState`] is all the journal needs to restore a path exactly: absent, a directory
//! with its mode, or a regular file with its mode and the SHA-256 of its content (the
//! content itself lives once in the blob store, keyed by that hash).

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{KernelError, Result};

/// The state of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PathState {
    /// Nothing exists at the path.
    Absent,
    /// A directory with these permission bits.
    Dir {
        /// Permission bits (`0o7777` mask); 0 where the platform has none.
        mode: u32,
    },
    /// A regular file.
    File {
        /// Hex SHA-256 of the content.
        hash: String,
        /// Permission bits (`0o7777` mask); 0 where the platform has none.
        mode: u32,
        /// Length in bytes.
        size: u64,
    },
}

impl PathState {
    /// The file state for `content` with `mode`.
    pub fn file(content: &[u8], mode: u32) -> Self {
        Self::File {
            hash: hash_hex(content),
            mode,
            size: content.len() as u64,
        }
    }

    /// Whether `current` matches this state closely enough that nobody changed it: same
    /// kind, and for files the same content and mode. Directory modes are not compared
    /// because tools and umasks adjust them freely.
    pub fn matches(&self, current: &PathState) -> bool {
        match (self, current) {
            (Self::Dir { .. }, Self::Dir { .. }) => true,
            (a, b) => a == b,
        }
    }

    /// How `found` differs from this expected state, for conflict messages: what
    /// happened to the path rather than two descriptions that may read the same.
    ///
    /// ```
    /// use krepis_kernel::journal::state::PathState;
    /// let want = PathState::file(b"abc", 0o644);
    /// let found = PathState::file(b"abd", 0o644);
    /// assert_eq!(want.difference(&found), "its content was edited (3 bytes before and after)");
    /// ```
    pub fn difference(&self, found: &PathState) -> String {
        match (self, found) {
            (Self::Absent, other) => format!("a {} was created there", other.kind()),
            (want, Self::Absent) => format!("the {} was deleted", want.kind()),
            (
                Self::File {
                    hash: a,
                    mode: ma,
                    size: sa,
                },
                Self::File {
                    hash: b,
                    mode: mb,
                    size: sb,
                },
            ) => {
                if a != b && sa == sb {
                    format!("its content was edited ({sa} bytes before and after)")
                } else if a != b {
                    format!("its content was edited ({sa} bytes, now {sb})")
                } else {
                    format!("its mode changed from {ma:o} to {mb:o}")
                }
            }
            (want, other) => format!("the {} was replaced by a {}", want.kind(), other.kind()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Absent => "nothing",
            Self::Dir { .. } => "directory",
            Self::File { .. } => "file",
        }
    }

    /// A short description for messages, e.g. `file (12 bytes)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Absent => "absent".into(),
            Self::Dir { .. } => "directory".into(),
            Self::File { size, .. } => format!("file ({size} bytes)"),
        }
    }
}

/// Hex SHA-256 of `content`.
pub fn hash_hex(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The current state of `abs`; for a file also its content, so the caller can keep it.
pub fn capture(abs: &Path) -> Result<(PathState, Option<Vec<u8>>)> {
    let meta = match fs::symlink_metadata(abs) {
        Ok(meta) => meta,
        Err(e) if super::path::is_missing(&e) => return Ok((PathState::Absent, None)),
        Err(e) => return Err(KernelError::io(format!("inspect {}", abs.display()), e)),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        Ok((
            PathState::Dir {
                mode: mode_of(&meta),
            },
            None,
        ))
    } else if kind.is_file() {
        let content =
            fs::read(abs).map_err(|e| KernelError::io(format!("read {}", abs.display()), e))?;
        Ok((PathState::file(&content, mode_of(&meta)), Some(content)))
    } else {
        Err(KernelError::PermissionDenied(format!(
            "{} is neither a regular file nor a directory; the journal does not record it",
            abs.display()
        )))
    }
}

/// Permission bits of `meta`.
pub fn mode_of(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Sets the permission bits of `abs` (a no-op where the platform has none).
pub fn set_mode(abs: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(abs, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| KernelError::io(format!("chmod {}", abs.display()), e))
    }
    #[cfg(not(unix))]
    {
        let _ = (abs, mode);
        Ok(())
    }
}

/// Writes `content` to the new file `tmp` with exactly `mode` (the umask does not apply).
/// With `sync`, the data reaches the disk before returning.
pub fn write_temp(tmp: &Path, content: &[u8], mode: u32, sync: bool) -> Result<()> {
    let io = |e| KernelError::io(format!("write {}", tmp.display()), e);
    let mut file = fs::File::create(tmp).map_err(io)?;
    file.write_all(content).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
            .map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    if sync {
        file.sync_all().map_err(io)?;
    }
    Ok(())
}

/// Atomically replaces `abs` with the finished file `tmp`: a reader (or a crash) sees the
/// old content or the new one, never a mix.
pub fn install(tmp: &Path, abs: &Path) -> Result<()> {
    fs::rename(tmp, abs)
        .map_err(|e| KernelError::io(format!("rename {} to {}", tmp.display(), abs.display()), e))
}

/// Removes whatever is at `abs` if it is a file or an empty directory. A directory that
/// still holds entries is left in place and reported by returning `false`.
pub fn remove(abs: &Path) -> Result<bool> {
    let meta = match fs::symlink_metadata(abs) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(KernelError::io(format!("inspect {}", abs.display()), e)),
    };
    let result = if meta.is_dir() {
        fs::remove_dir(abs)
    } else {
        fs::remove_file(abs)
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(_) if meta.is_dir() && has_entries(abs) => Ok(false),
        Err(e) => Err(KernelError::io(format!("remove {}", abs.display()), e)),
    }
}

fn has_entries(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_sees_files_dirs_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert_eq!(capture(&f).unwrap().0, PathState::Absent);
        let tmp = dir.path().join("t");
        write_temp(&tmp, b"hi", 0o640, false).unwrap();
        install(&tmp, &f).unwrap();
        let mode = mode_of(&fs::metadata(&f).unwrap());
        let (state, content) = capture(&f).unwrap();
        assert_eq!(content.as_deref(), Some(&b"hi"[..]));
        assert_eq!(state, PathState::file(b"hi", mode));
        assert!(matches!(
            capture(dir.path()).unwrap().0,
            PathState::Dir { .. }
        ));
        #[cfg(unix)]
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn remove_keeps_non_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("x"), b"x").unwrap();
        assert!(!remove(&sub).unwrap());
        assert!(remove(&sub.join("x")).unwrap());
        assert!(remove(&sub).unwrap());
        assert!(remove(&sub).unwrap(), "removing an absent path is fine");
    }
}
