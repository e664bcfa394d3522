//! Restart backoff for a crashing app: doubles from 250 ms up to 10 s, and
//! starts over once the app stayed up for a while. An app that keeps dying
//! right after starting (a port in use, a missing file) is given up on after
//! a few tries instead of looping forever.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(10);
/// An app that ran this long before crashing is restarted at once.
const STABLE: Duration = Duration::from_secs(10);
/// Quick crashes in a row after which restarting stops until something changes.
pub const GIVE_UP: u32 = 5;

/// Exponential restart delay.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before restarting an app that crashed after `uptime`, or
    /// `None` after [`GIVE_UP`] quick crashes in a row.
    pub fn next(&mut self, uptime: Duration) -> Option<Duration> {
        if uptime >= STABLE {
            self.failures = 0;
        }
        if self.failures + 1 >= GIVE_UP {
            return None;
        }
        let delay = FIRST.saturating_mul(1 << self.failures.min(10)).min(MAX);
        self.failures += 1;
        Some(delay)
    }

    /// Forgets earlier crashes (after a successful reload).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_gives_up_on_quick_crashes_and_resets_after_a_stable_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(50);
        let delays: Vec<Option<u128>> = (0..6)
            .map(|_| b.next(quick).map(|d| d.as_millis()))
            .collect();
        assert_eq!(
            delays,
            [Some(250), Some(500), Some(1000), Some(2000), None, None]
        );
        assert_eq!(b.next(Duration::from_secs(60)), Some(FIRST));
        b.reset();
        assert_eq!(b.next(quick), Some(FIRST));
        // Crashes after stable runs never give up and are capped.
        let mut b = Backoff::default();
        for _ in 0..20 {
            assert_eq!(b.next(STABLE), Some(FIRST));
        }
    }
}
