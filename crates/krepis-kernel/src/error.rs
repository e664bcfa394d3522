//! The kernel's error type and its mapping onto the control-plane [`ErrorCode`].

use crate::proto::ErrorCode;

/// Result alias used throughout the kernel.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// Every way a kernel operation can fail. Each variant maps to one [`ErrorCode`] so the
/// TypeScript side can branch on the code and show the message.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An argument from the caller is out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A handle is unknown, stale (already released), forged or of the wrong kind.
    #[error("invalid handle: {0}")]
    InvalidHandle(String),
    /// A panic was caught before it could cross the FFI boundary.
    #[error("kernel panic: {0}")]
    Panic(String),
    /// The requested item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An operating-system I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What the kernel was doing, e.g. "open /tmp/x".
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The item exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A concurrent or external change conflicts with the operation.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The operation is not available on this platform or build.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The object was closed or shut down.
    #[error("closed: {0}")]
    Closed(String),
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A configured limit (size, count) was exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The operation is not allowed (path outside the root, signature refused, ...).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A bug or an unexpected state inside the kernel.
    #[error("internal error: {0}")]
    Internal(String),
}

impl KernelError {
    /// The control-plane code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::InvalidHandle(_) => ErrorCode::InvalidHandle,
            Self::Panic(_) => ErrorCode::Panic,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorCode::NotFound,
                std::io::ErrorKind::AlreadyExists => ErrorCode::AlreadyExists,
                std::io::ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
                _ => ErrorCode::Io,
            },
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Unsupported(_) => ErrorCode::Unsupported,
            Self::Closed(_) => ErrorCode::Closed,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Wraps an I/O error with what the kernel was doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for [`KernelError::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_kind_and_context() {
        let err = KernelError::io(
            "open /nope",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert!(err.to_string().starts_with("open /nope: "));
    }

    #[test]
    fn every_variant_has_a_specific_code() {
        assert_eq!(KernelError::invalid("x").code(), ErrorCode::InvalidArgument);
        assert_eq!(KernelError::Panic("boom".into()).code(), ErrorCode::Panic);
        assert_eq!(
            KernelError::InvalidHandle("h".into()).code(),
            ErrorCode::InvalidHandle
        );
    }
}
