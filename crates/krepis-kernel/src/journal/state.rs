//! What a path looks like on disk (see [`super::path::Beneath`] for reading and restoring it).
//!
//! A [`PathState`] is all the journal needs to restore a path exactly: absent, a directory
//! with its mode, or a regular file with its mode and the SHA-256 of its content (the
//! content itself lives once in the blob store, keyed by that hash).

use std::fs;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_says_what_happened() {
        let file = PathState::file(b"abc", 0o644);
        assert_eq!(
            PathState::Absent.difference(&file),
            "a file was created there"
        );
        assert_eq!(file.difference(&PathState::Absent), "the file was deleted");
        assert_eq!(
            file.difference(&PathState::file(b"abcd", 0o644)),
            "its content was edited (3 bytes, now 4)"
        );
        assert_eq!(
            file.difference(&PathState::file(b"abc", 0o755)),
            "its mode changed from 644 to 755"
        );
        assert_eq!(
            file.difference(&PathState::Dir { mode: 0o755 }),
            "the file was replaced by a directory"
        );
    }
}
