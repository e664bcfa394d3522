//! Serialization failures (SQLSTATE `40001`) and deadlocks (`40P01`) retried in the kernel.
//!
//! PostgreSQL rolls back the whole transaction on either, so running it again is safe and
//! is what the server asks for. At READ COMMITTED (PostgreSQL's default) the commit
//! counter serializes writers and these are rare; on a database whose default isolation
//! is SERIALIZABLE (CockroachDB always, PostgreSQL when configured so) concurrent commits
//! hit `40001` routinely. As on Deno KV, `atomic().commit()` then only fails its checks
//! (`{ ok: false }`, decided by the attempt that commits) or for a real error; a conflict
//! is retried after a random pause that grows with each attempt, so racing writers spread
//! out instead of colliding again in step.

use std::time::Duration;

use crate::{KernelError, Result};

/// Attempts before a conflict is reported (as [`KernelError::Conflict`]).
pub const MAX_ATTEMPTS: u32 = 32;
/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Whether `e` is a serialization failure or a deadlock (the transaction was rolled back).
pub fn is_conflict(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// Runs `op` until it ends other than in a conflict, at most [`MAX_ATTEMPTS`] times,
/// pausing a random time up to 1 ms, 2 ms, 4 ms, … ([`MAX_PAUSE`] at most) in between.
pub fn retry<T>(mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(KernelError::Conflict(_)) if attempt < MAX_ATTEMPTS => {
                let ceiling = Duration::from_millis(1 << (attempt - 1).min(8)).min(MAX_PAUSE);
                std::thread::sleep(ceiling.mul_f64(fastrand::f64()));
                attempt += 1;
            }
            Err(KernelError::Conflict(message)) => {
                return Err(KernelError::Conflict(format!(
                    "{message} (still conflicting after {MAX_ATTEMPTS} attempts)"
                )));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_run_again_then_reported_other_errors_at_once() {
        let mut calls = 0;
        let value = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(KernelError::Conflict("PostgreSQL: ERROR: busy".into()))
            } else {
                Ok(7)
            }
        });
        assert_eq!((value.unwrap(), calls), (7, 3));
        calls = 0;
        let e = retry::<()>(|| {
            calls += 1;
            Err(KernelError::Conflict("PostgreSQL: ERROR: busy".into()))
        })
        .unwrap_err();
        assert_eq!(calls, MAX_ATTEMPTS);
        assert!(e.to_string().contains("still conflicting after"), "{e}");
        calls = 0;
        let e = retry::<()>(|| {
            calls += 1;
            Err(KernelError::Internal("PostgreSQL: ERROR: other".into()))
        })
        .unwrap_err();
        assert_eq!(calls, 1, "{e}");
    }
}
