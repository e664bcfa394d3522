//! Request deadlines without a timer per request.
//!
//! A request without a body, once handed to TypeScript, waits for nothing but its answer,
//! so it needs no tokio timer of its own (arming and clearing one costs more than the rest
//! of the bridge's bookkeeping for a small request). Its slot carries the deadline instead,
//! and one watcher task per server looks at the slots every sixteenth of the timeout
//! (1 ms to 250 ms): a request still unanswered past its deadline gets the same answer a
//! timer would have given (503, connection closed) and TypeScript hears it was abandoned.
//! When no slot has a deadline the watcher parks until one does. Requests with a body keep
//! a timer, which also bounds the time their body takes to arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderValue, header};

use super::bridge::{Reply, status_response};
use super::shared::Shared;

const PERIOD_MIN: Duration = Duration::from_millis(1);
const PERIOD_MAX: Duration = Duration::from_millis(250);

/// Starts the server's watcher the first time a request relies on it.
pub fn watch(shared: &Arc<Shared>, timeout: Duration) {
    if shared.bridge.start_watching() {
        tokio::spawn(sweep(Arc::clone(shared), timeout));
    }
}

async fn sweep(shared: Arc<Shared>, timeout: Duration) {
    let period = (timeout / 16).clamp(PERIOD_MIN, PERIOD_MAX);
    let bridge = &shared.bridge;
    let answered = AtomicBool::new(true);
    loop {
        let armed = bridge.armed().notified();
        let mut armed = std::pin::pin!(armed);
        armed.as_mut().enable();
        // Parked from here on as far as new requests know: one that arrives during the
        // scan either is seen by it or wakes `armed`.
        bridge.set_sweeping(false);
        let (expired, watched) = bridge.expired(Instant::now());
        for id in expired {
            bridge.reject(id, timed_out(&shared, &answered));
        }
        if watched {
            bridge.set_sweeping(true);
            tokio::time::sleep(period).await;
        } else {
            armed.await;
        }
    }
}

/// The answer to a request whose deadline passed: 408 while the client was still sending
/// its body, 503 when the handler was too slow; the connection closes either way.
pub fn timed_out(shared: &Shared, body_done: &AtomicBool) -> Reply {
    shared.timeouts.fetch_add(1, Ordering::Relaxed);
    let status = if body_done.load(Ordering::Relaxed) {
        503
    } else {
        408
    };
    let mut response = status_response(status);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
