//! Restart backoff for a crashing app: doubles from 250 ms up to 10 s, and
//! starts over once the app stayed up for a while.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(10);
/// An app that ran this long before crashing is restarted at once.
const STABLE: Duration = Duration::from_secs(10);

/// Exponential restart delay.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before restarting an app that crashed after `uptime`.
    pub fn next(&mut self, uptime: Duration) -> Duration {
        if uptime >= STABLE {
            self.failures = 0;
        }
        let delay = FIRST.saturating_mul(1 << self.failures.min(10)).min(MAX);
        self.failures += 1;
        delay
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
    fn doubles_up_to_the_cap_and_resets_after_a_stable_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(50);
        let delays: Vec<u128> = (0..8).map(|_| b.next(quick).as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(b.next(Duration::from_secs(60)), FIRST);
        b.reset();
        assert_eq!(b.next(quick), FIRST);
    }
}
