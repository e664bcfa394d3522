//! Error tickets: how a failed call's details reach TypeScript.
//!
//! A failing export stores an [`ErrorDetail`] here and returns `-ticket`. Tickets are global
//! rather than thread-local because `nonblocking` calls run on Deno's worker threads while
//! the details are fetched from the main thread. Only the newest [`MAX_PENDING`] tickets are
//! kept, so details nobody fetches cannot grow without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use krepis_kernel::KernelError;
use krepis_kernel::proto::ErrorDetail;
use parking_lot::Mutex;

/// How many unfetched error details are kept.
pub const MAX_PENDING: usize = 1024;

static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);
static PENDING: Mutex<VecDeque<(u64, ErrorDetail)>> = Mutex::new(VecDeque::new());

/// Stores the details of `error` raised by `function` and returns its ticket (> 0).
pub fn report(function: &str, error: &KernelError) -> u64 {
    krepis_kernel::stats::record_error();
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    let detail = ErrorDetail {
        code: error.code() as i32,
        message: error.to_string(),
        function: function.to_string(),
    };
    let mut pending = PENDING.lock();
    if pending.len() >= MAX_PENDING {
        pending.pop_front();
    }
    pending.push_back((ticket, detail));
    ticket
}

/// Runs `f` on the details of `ticket`; removes them when `f` returns true.
pub fn with_detail<R>(ticket: u64, f: impl FnOnce(&ErrorDetail) -> (R, bool)) -> Option<R> {
    let mut pending = PENDING.lock();
    let index = pending.iter().position(|(t, _)| *t == ticket)?;
    let (result, consumed) = f(&pending[index].1);
    if consumed {
        pending.remove(index);
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_fetched_once() {
        let ticket = report("f", &KernelError::invalid("bad"));
        let message = with_detail(ticket, |d| (d.message.clone(), true)).unwrap();
        assert_eq!(message, "invalid argument: bad");
        assert!(with_detail(ticket, |_| ((), true)).is_none());
    }

    #[test]
    fn old_tickets_are_dropped() {
        let first = report("f", &KernelError::invalid("old"));
        for _ in 0..MAX_PENDING {
            report("f", &KernelError::invalid("new"));
        }
        assert!(with_detail(first, |_| ((), false)).is_none());
    }
}
