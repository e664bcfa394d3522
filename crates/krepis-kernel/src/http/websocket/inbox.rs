//! One event queue for all of a server's WebSockets, drained by TypeScript in batches.
//!
//! Every socket's task pushes its [`Event`]s here; TypeScript copies as many as fit into its
//! buffer with one synchronous [`Inbox::poll`] after each turn of the server (see
//! `Server::turn`), and the server's park also ends when events arrive ([`Inbox::ready`]):
//! events are taken on the thread that drives the runtime, with no waiter of their own and
//! no thread hand-off under load, however many sockets are open. A socket has [`CREDIT`] events in the queue at most: its task waits for TypeScript
//! to take them before it reads more frames, which pushes back on a client sending faster
//! than the handler keeps up.
//!
//! Record layout written by `poll` (little endian), one after the other:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | socket id (request id), f64 |
//! | 8 | 4 | kind, u32 ([`Event::kind`]) |
//! | 12 | 4 | payload length, u32 |
//! | 16 | len | payload ([`Event::write_payload`]) |

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};

use super::Event;

/// Events of one socket the queue holds at most.
pub const CREDIT: usize = 16;
/// Bytes of a record head.
pub const HEAD: usize = 16;

/// One socket's share of the queue: a permit per event it may have waiting.
pub type Credit = Arc<Semaphore>;

/// A new socket's credit.
pub fn credit() -> Credit {
    Arc::new(Semaphore::new(CREDIT))
}

struct Queued {
    id: u64,
    event: Event,
    /// Returned when TypeScript takes the event (none for events pushed without one).
    credit: Option<Credit>,
}

#[derive(Default)]
struct State {
    events: VecDeque<Queued>,
    closed: bool,
}

/// The shared queue; see the module docs.
#[derive(Default)]
pub struct Inbox {
    state: Mutex<State>,
    /// Rung when the queue stops being empty (or closes), for [`Inbox::ready`].
    bell: Notify,
}

impl Inbox {
    /// Queues `event` of socket `id` once `credit` allows another one, so a socket never
    /// has more than [`CREDIT`] events waiting.
    pub async fn push(&self, id: u64, event: Event, credit: &Credit) {
        // The semaphore is never closed, so acquiring only waits.
        if let Ok(permit) = credit.acquire().await {
            permit.forget();
        }
        self.push_now(id, event, Some(Arc::clone(credit)));
    }

    /// Queues `event` without waiting for credit: for the last event of a socket (and its
    /// first), which TypeScript must see even while it is behind.
    pub fn push_now(&self, id: u64, event: Event, credit: Option<Credit>) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        let was_empty = state.events.is_empty();
        state.events.push_back(Queued { id, event, credit });
        drop(state);
        // Only the first event of a batch rings: `ready` checks the queue after it enabled
        // its wait, so no event goes unnoticed.
        if was_empty {
            self.bell.notify_one();
        }
    }

    /// Moves as many whole events as fit into `out` (see the module docs for the layout)
    /// and returns the bytes written, 0 when none waits; when the first one does not fit,
    /// returns the bytes it needs (more than `out` holds, so never a byte count). `taken` is called with the id of every event
    /// taken, with whether it was the socket's last.
    pub fn poll(&self, out: &mut [u8], mut taken: impl FnMut(u64, bool)) -> usize {
        let mut batch = Vec::new();
        {
            let mut state = self.state.lock();
            let mut room = out.len();
            while let Some(next) = state.events.front() {
                let need = HEAD + next.event.payload_len();
                if need > room {
                    if batch.is_empty() {
                        return need;
                    }
                    break;
                }
                room -= need;
                batch.extend(state.events.pop_front());
            }
        }
        // Copied outside the lock: a large message must not hold up the socket tasks.
        let mut at = 0;
        for queued in batch {
            let len = queued.event.payload_len();
            write_head(&mut out[at..at + HEAD], &queued, len);
            queued
                .event
                .write_payload(&mut out[at + HEAD..at + HEAD + len]);
            at += HEAD + len;
            if let Some(credit) = queued.credit {
                credit.add_permits(1);
            }
            taken(queued.id, queued.event.is_last());
        }
        at
    }

    /// Moves the first event into `head` (its [`HEAD`] bytes) and `payload` when its
    /// payload is exactly `payload.len()` bytes, as the result of a [`Inbox::poll`] that
    /// found it too large said; returns [`HEAD`], or 0 when the first event is not that one
    /// (none waits, or `head` is short). A large message then goes straight into the buffer
    /// TypeScript hands to the handler, instead of through the poll buffer and a copy.
    pub fn take(
        &self,
        head: &mut [u8],
        payload: &mut [u8],
        taken: impl FnOnce(u64, bool),
    ) -> usize {
        if head.len() < HEAD {
            return 0;
        }
        let queued = {
            let mut state = self.state.lock();
            match state.events.front() {
                Some(next) if next.event.payload_len() == payload.len() => state.events.pop_front(),
                _ => None,
            }
        };
        let Some(queued) = queued else {
            return 0;
        };
        write_head(head, &queued, payload.len());
        queued.event.write_payload(payload);
        if let Some(credit) = &queued.credit {
            credit.add_permits(1);
        }
        taken(queued.id, queued.event.is_last());
        HEAD
    }

    /// Resolves once an event waits or the inbox is closed: what the server's park waits
    /// for besides requests.
    pub async fn ready(&self) {
        loop {
            let rung = self.bell.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            {
                let state = self.state.lock();
                if state.closed || !state.events.is_empty() {
                    return;
                }
            }
            rung.await;
        }
    }

    /// Closes the inbox: a parked `wait` returns [`Woken::Closed`], events are dropped.
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.events.clear();
        drop(state);
        self.bell.notify_waiters();
    }
}

/// Writes the record head of `queued` (payload `len` bytes) into `out[..HEAD]`.
fn write_head(out: &mut [u8], queued: &Queued, len: usize) {
    out[..8].copy_from_slice(&(queued.id as f64).to_le_bytes());
    out[8..12].copy_from_slice(&u32::from(queued.event.kind()).to_le_bytes());
    out[12..16].copy_from_slice(&(len as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn text(s: &'static str) -> Event {
        Event::Text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn poll_writes_whole_records_and_asks_for_room() {
        let inbox = Inbox::default();
        inbox.push_now(7, Event::Open, None);
        inbox.push_now(7, text("hello"), None);
        inbox.push_now(9, Event::Close(1000, "bye".into()), None);
        let mut out = [0u8; HEAD + HEAD + 5 + 3];
        let mut taken = Vec::new();
        let n = inbox.poll(&mut out, |id, last| taken.push((id, last)));
        // The open and the text fit; the close (16 + 5 bytes) waits for the next poll.
        assert_eq!(n, HEAD + HEAD + 5);
        assert_eq!(taken, [(7, false), (7, false)]);
        assert_eq!(f64::from_le_bytes(out[16..24].try_into().unwrap()), 7.0);
        assert_eq!(out[24], 2);
        assert_eq!(out[28], 5);
        assert_eq!(&out[32..37], b"hello");
        let mut small = [0u8; 4];
        assert_eq!(inbox.poll(&mut small, |_, _| {}), HEAD + 5);
        let n = inbox.poll(&mut out, |id, last| taken.push((id, last)));
        assert_eq!(n, HEAD + 5);
        assert_eq!(&out[16..21], [0x03, 0xe8, b'b', b'y', b'e']);
        assert_eq!(taken[2], (9, true));
        assert_eq!(inbox.poll(&mut out, |_, _| {}), 0);
    }

    #[test]
    fn take_moves_a_large_first_event_into_its_own_buffer() {
        let inbox = Inbox::default();
        inbox.push_now(4, Event::Binary(Bytes::from_static(b"large")), None);
        inbox.push_now(4, text("next"), None);
        let mut head = [0u8; HEAD];
        // The poll says the first event needs 16 + 5 bytes.
        assert_eq!(inbox.poll(&mut [0u8; 8], |_, _| {}), HEAD + 5);
        assert_eq!(
            inbox.take(&mut head, &mut [0u8; 4], |_, _| {}),
            0,
            "wrong size"
        );
        let mut payload = [0u8; 5];
        let mut taken = Vec::new();
        let n = inbox.take(&mut head, &mut payload, |id, last| taken.push((id, last)));
        assert_eq!(n, HEAD);
        assert_eq!(f64::from_le_bytes(head[..8].try_into().unwrap()), 4.0);
        assert_eq!((head[8], head[12]), (3, 5));
        assert_eq!(&payload, b"large");
        assert_eq!(taken, [(4, false)]);
        // The next one stays for the poll.
        let mut out = [0u8; 64];
        assert_eq!(inbox.poll(&mut out, |_, _| {}), HEAD + 4);
        assert_eq!(&out[16..20], b"next");
    }

    #[tokio::test]
    async fn credit_limits_what_one_socket_has_queued() {
        let inbox = Arc::new(Inbox::default());
        let credit = credit();
        for _ in 0..CREDIT {
            inbox.push(1, text("x"), &credit).await;
        }
        let more = {
            let (inbox, credit) = (Arc::clone(&inbox), Arc::clone(&credit));
            tokio::spawn(async move { inbox.push(1, text("y"), &credit).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!more.is_finished(), "a 17th event waits for credit");
        let mut out = vec![0u8; 1 << 10];
        let n = inbox.poll(&mut out, |_, _| {});
        assert_eq!(n, CREDIT * (HEAD + 1));
        more.await.unwrap();
        assert_eq!(inbox.poll(&mut out, |_, _| {}), HEAD + 1);
    }

    #[tokio::test]
    async fn ready_resolves_on_events_and_on_close() {
        let inbox = Arc::new(Inbox::default());
        let waiter = {
            let inbox = Arc::clone(&inbox);
            tokio::spawn(async move { inbox.ready().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "nothing queued yet");
        inbox.push_now(3, Event::Open, None);
        waiter.await.unwrap();
        // Still queued: ready again at once, until it is taken.
        inbox.ready().await;
        assert_eq!(inbox.poll(&mut [0u8; HEAD], |_, _| {}), HEAD);
        let waiter = {
            let inbox = Arc::clone(&inbox);
            tokio::spawn(async move { inbox.ready().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        inbox.close();
        waiter.await.unwrap();
    }
}
