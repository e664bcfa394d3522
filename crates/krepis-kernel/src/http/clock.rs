//! The time a request is stamped with, read once per turn rather than per request.
//!
//! A laned request reads the clock for its deadline (monotonic), for the deadline
//! TypeScript sees (wall clock, ms since the epoch) and for its response's `date` field.
//! Inside a [`Turn`] — the synchronous call in which TypeScript drives the runtime and
//! which, under load, serves every request of a batch — one reading of both clocks, taken
//! when the turn starts, serves them all. A turn is short (it runs what is ready, polls the
//! sockets once and returns), so a deadline is early by at most the part of the turn run
//! before the request came: microseconds to about a millisecond under load, against
//! deadlines of seconds and a watcher that looks every sixteenth of the timeout. Outside a
//! turn (a parked runtime woken by a socket, the watchdog, multi-thread runtimes) every
//! call reads the clocks afresh.

use std::cell::Cell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Both clocks, read together.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    /// Monotonic time, for deadlines the kernel watches.
    pub instant: Instant,
    /// Wall-clock time, for what clients and TypeScript see.
    pub wall: SystemTime,
    /// `wall` in ms since the Unix epoch.
    pub epoch_ms: f64,
}

impl Reading {
    fn read() -> Self {
        let wall = SystemTime::now();
        Self {
            instant: Instant::now(),
            wall,
            epoch_ms: wall
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        }
    }
}

thread_local! {
    static TURN: Cell<Option<Reading>> = const { Cell::new(None) };
}

/// Now: the reading of the turn running on this thread, or a fresh one outside a turn.
pub fn now() -> Reading {
    TURN.get().unwrap_or_else(Reading::read)
}

/// A turn in progress on this thread, from [`Turn::start`] until dropped (also when the
/// turn's future is dropped unfinished).
pub struct Turn(());

impl Turn {
    /// Reads the clocks for the turn starting on this thread.
    pub fn start() -> Self {
        TURN.set(Some(Reading::read()));
        Self(())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        TURN.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_turn_reads_the_clocks_once_and_only_while_it_lasts() {
        let before = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            now().instant > before.instant,
            "outside a turn: fresh readings"
        );
        let turn = Turn::start();
        let first = now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(now().instant, first.instant, "one reading per turn");
        assert_eq!(now().wall, first.wall);
        drop(turn);
        assert!(now().instant > first.instant, "the turn is over");
        let other = std::thread::spawn(|| {
            let _turn = Turn::start();
            now()
        });
        let _mine = Turn::start();
        let theirs = other.join().unwrap();
        assert_ne!(
            theirs.instant,
            now().instant,
            "a turn belongs to its thread"
        );
    }

    #[test]
    fn epoch_ms_is_the_wall_clock() {
        let reading = now();
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
        assert!((ms - reading.epoch_ms).abs() < 1000.0);
        assert!(reading.epoch_ms > 1.7e12, "after 2023");
    }
}
