//! The queue in front of TypeScript: at most `limit` calls run at once; the rest wait,
//! highest priority first (then oldest), and a call whose deadline passes while it waits
//! leaves the queue without ever running.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

struct Waiter {
    priority: u32,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Max-heap: higher priority first, then the lower (older) sequence number.
        self.priority
            .cmp(&other.priority)
            .then(other.seq.cmp(&self.seq))
    }
}

struct State {
    running: usize,
    seq: u64,
    queue: BinaryHeap<Waiter>,
}

/// See the module docs.
pub struct Dispatch {
    limit: usize,
    state: Arc<Mutex<State>>,
}

/// The right to run one call; hands itself to the next waiter on drop.
pub struct Ticket {
    state: Arc<Mutex<State>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        while let Some(next) = state.queue.pop() {
            // A waiter whose deadline passed has dropped its receiver: skip it.
            if next.wake.send(()).is_ok() {
                return;
            }
        }
        state.running -= 1;
    }
}

impl Dispatch {
    /// A queue letting `limit` calls run at once.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Arc::new(Mutex::new(State {
                running: 0,
                seq: 0,
                queue: BinaryHeap::new(),
            })),
        }
    }

    /// Waits for a turn; `None` when `deadline` passes first.
    pub async fn admit(&self, priority: u32, deadline: Option<Instant>) -> Option<Ticket> {
        let rx = {
            let mut state = self.state.lock();
            if state.running < self.limit && state.queue.is_empty() {
                state.running += 1;
                return Some(self.ticket());
            }
            let (wake, rx) = oneshot::channel();
            state.seq += 1;
            let seq = state.seq;
            state.queue.push(Waiter {
                priority,
                seq,
                wake,
            });
            rx
        };
        let woken = match deadline {
            Some(at) => tokio::time::timeout_at(at, rx).await.ok(),
            None => Some(rx.await),
        };
        // A ticket handed over is ours even if the deadline raced it: `Ok(Ok(()))` only.
        matches!(woken, Some(Ok(()))).then(|| self.ticket())
    }

    /// Calls waiting for a turn (including ones whose deadline already passed).
    pub fn queued(&self) -> usize {
        self.state.lock().queue.len()
    }

    fn ticket(&self) -> Ticket {
        Ticket {
            state: Arc::clone(&self.state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn higher_priority_goes_first_and_expired_waiters_never_run() {
        let dispatch = Arc::new(Dispatch::new(1));
        let first = dispatch.admit(0, None).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (priority, expires) in [(1, None), (5, None), (9, Some(10)), (3, None)] {
            let d = Arc::clone(&dispatch);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let deadline = expires.map(|ms| Instant::now() + Duration::from_millis(ms));
                match d.admit(priority, deadline).await {
                    Some(ticket) => {
                        order.lock().push(priority);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        drop(ticket);
                    }
                    None => order.lock().push(100 + priority),
                }
            }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock(), vec![109, 5, 3, 1]);
        assert_eq!(dispatch.queued(), 0);
        assert_eq!(dispatch.state.lock().running, 0);
    }
}
