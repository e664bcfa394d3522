//! Driver errors as kernel errors, with the server's own message.

use crate::KernelError;

/// A driver error as a kernel error naming PostgreSQL: a serialization failure or a
/// deadlock is a [`KernelError::Conflict`] (retried, see [`super::conflict`]).
pub fn db_err(e: postgres::Error) -> KernelError {
    let message = format!("PostgreSQL: {}", detail(&e));
    if super::conflict::is_conflict(&e) {
        KernelError::Conflict(message)
    } else {
        KernelError::Internal(message)
    }
}

/// The server's message when there is one (the driver's own `Display` hides it), else
/// the driver's message with its cause (e.g. the TLS error behind a failed handshake).
pub fn detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}
