//! Process-wide counters reported by [`crate::info::kernel_stats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use once_cell::sync::Lazy;

static LOADED_AT: Lazy<Instant> = Lazy::new(Instant::now);
static ERRORS_REPORTED: AtomicU64 = AtomicU64::new(0);
static PANICS_CAUGHT: AtomicU64 = AtomicU64::new(0);

/// Marks the moment the kernel was loaded; later calls are no-ops.
pub fn mark_loaded() {
    Lazy::force(&LOADED_AT);
}

/// Milliseconds since [`mark_loaded`] (or the first stats call).
pub fn uptime_ms() -> u64 {
    LOADED_AT.elapsed().as_millis() as u64
}

/// Counts one error reported across the boundary.
pub fn record_error() {
    ERRORS_REPORTED.fetch_add(1, Ordering::Relaxed);
}

/// Counts one panic caught at the boundary.
pub fn record_panic() {
    PANICS_CAUGHT.fetch_add(1, Ordering::Relaxed);
}

/// Errors reported since load.
pub fn errors_reported() -> u64 {
    ERRORS_REPORTED.load(Ordering::Relaxed)
}

/// Panics caught since load.
pub fn panics_caught() -> u64 {
    PANICS_CAUGHT.load(Ordering::Relaxed)
}
