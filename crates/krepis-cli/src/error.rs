//! The CLI's error type: every failure becomes one `error: ...` line and an
//! exit code, never a panic or a backtrace.

use std::io;
use std::path::PathBuf;

/// Why a `krepis` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments were well-formed but unusable (e.g. a non-empty target directory).
    #[error("{0}")]
    Usage(String),
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path the operation was about.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A required program (deno, cargo) could not be started.
    #[error("cannot run `{program}`: {source}{hint}")]
    Spawn {
        /// The program name.
        program: String,
        /// The underlying error.
        source: io::Error,
        /// What to do about it (empty or starting with a newline).
        hint: String,
    },
    /// A file changed between planning and writing; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// A step ran but failed; the message says which and why.
    #[error("{0}")]
    Failed(String),
    /// A child tool already reported its failure; exit with its code quietly.
    #[error("exited with code {0}")]
    Exit(i32),
}

impl CliError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error: 2 for usage errors, the child's
    /// code for [`CliError::Exit`], 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 2,
            Self::Exit(code) => *code,
            _ => 1,
        }
    }
}

/// Result alias for CLI operations.
pub type Result<T> = std::result::Result<T, CliError>;
