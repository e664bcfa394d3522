//! The storage contract every KV backend implements (sled today, PostgreSQL next).
//!
//! Callers above this trait ([`super::Kv`], the FFI layer, the TypeScript API) never see
//! which engine holds the data: selectors, cursors, limits and value encodings are decided
//! once in [`super`]; a backend stores bytes, orders keys bytewise, applies atomic writes
//! and runs the queue.
//!
//! What an implementation owes (the contract tests in `kv::tests::contract` and the
//! TypeScript `kvContract` suite check it):
//! - keys compare as unsigned bytes; a value keeps its [`ValueKind`] next to its bytes;
//! - [`KvBackend::commit`] is all-or-nothing, evaluates checks against the latest commit,
//!   gives every mutation of a write one versionstamp greater than all before it (across
//!   every process sharing the store), computes `sum`/`min`/`max` with
//!   [`super::sum::combine`], and returns only once `durability` is met;
//! - a queue message is handed to one listener at a time and comes back when its
//!   listener dies without finishing it (the embedded store: on restart; a shared store:
//!   after a lease expires);
//! - [`KvBackend::change_epoch`] grows after every commit any process makes (a shared
//!   store: from notifications or polling, with a bounded staleness).

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::ops::{AtomicWrite, ValueKind};
use crate::Result;

/// A commit's versionstamp: the commit number (big-endian) and two zero bytes, printed as
/// 20 hex digits like Deno KV's.
pub type Versionstamp = [u8; 10];

/// The versionstamp of commit number `n`.
pub fn versionstamp(n: u64) -> Versionstamp {
    let mut out = [0; 10];
    out[..8].copy_from_slice(&n.to_be_bytes());
    out
}

/// Visits one live entry: key, versionstamp, value kind, value bytes; returns whether to go on.
pub type Visit<'a> = &'a mut dyn FnMut(&[u8], Versionstamp, ValueKind, &[u8]) -> bool;

/// Called by [`KvBackend::get_many`] with each key's index and its live entry (`None`
/// when absent), in the keys' order; returns false to stop.
pub type VisitMany<'a> = &'a mut dyn FnMut(usize, Option<(Versionstamp, ValueKind, &[u8])>) -> bool;

/// A queue message handed to a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Identifies the delivery for [`KvBackend::finish`].
    pub id: u64,
    /// The message's kind and bytes.
    pub kind: ValueKind,
    /// The encoded message.
    pub payload: Vec<u8>,
}

/// How long a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Resolve after the data is on disk (fdatasync), sharing one sync among concurrent
    /// commits (group commit).
    #[default]
    Sync,
    /// Resolve once applied; the backend writes to disk shortly after (see the backend
    /// for the window a crash may lose).
    Relaxed,
}

/// A KV storage engine.
pub trait KvBackend: Send + Sync {
    /// How many connections the store has across the network; 0 for a local store. A
    /// remote store's operations must not run on a caller's event-loop thread, and more
    /// of them at once than it has connections only wait for one.
    fn remote_connections(&self) -> usize {
        0
    }

    /// Visits the live entry under `key`; returns whether there was one.
    fn get(&self, key: &[u8], visit: Visit<'_>) -> Result<bool>;

    /// Visits the entries under `keys` in order (see [`VisitMany`]). By default one
    /// [`KvBackend::get`] each; a store across the network reads them in one statement,
    /// which is one round trip and one consistent snapshot.
    fn get_many(&self, keys: &[&[u8]], visit: VisitMany<'_>) -> Result<()> {
        for (i, key) in keys.iter().enumerate() {
            let mut more = true;
            let found = self.get(key, &mut |_, stamp, kind, value| {
                more = visit(i, Some((stamp, kind, value)));
                true
            })?;
            if !found {
                more = visit(i, None);
            }
            if !more {
                break;
            }
        }
        Ok(())
    }

    /// Visits live entries with `start <= key < end` in key order (reversed with
    /// `reverse`), at most `limit`, until `visit` returns false; returns how many it visited.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
        visit: Visit<'_>,
    ) -> Result<usize>;

    /// Applies `write` if every check holds and returns its versionstamp, or `None`
    /// (changing nothing) when a check fails. Returns once `durability` is met.
    fn commit(&self, write: AtomicWrite, durability: Durability) -> Result<Option<Versionstamp>>;

    /// Waits up to `wait` for a queue message that is due and not being handled, and
    /// hands it out; `None` when none came or `cancel` was set.
    fn dequeue(&self, wait: Duration, cancel: &AtomicBool) -> Result<Option<Message>>;

    /// Ends a delivery: removes the message on success; otherwise schedules the next
    /// attempt, or after the last one writes it to its `keysIfUndelivered`.
    fn finish(&self, id: u64, success: bool) -> Result<()>;

    /// A number that grows whenever committed data changes.
    fn change_epoch(&self) -> u64;

    /// Waits up to `wait` until the change epoch exceeds `since` or `cancel` is set;
    /// returns the epoch.
    fn wait_change(&self, since: u64, wait: Duration, cancel: &AtomicBool) -> u64;

    /// Wakes every waiter so it can notice a set `cancel` flag.
    fn wake_all(&self);

    /// Makes every commit so far durable.
    fn flush(&self) -> Result<()>;
}
