//! A key-value store with Deno KV's contract: tuple keys, versionstamps, atomic
//! operations with checks and `sum`/`min`/`max`, list selectors and cursors, queues and
//! change notification — durable by default.
//!
//! The semantics a caller sees are decided here and in the modules beside it (key
//! encoding in [`key`], the atomic write format and limits in [`ops`] and [`limits`],
//! `sum`/`min`/`max` in [`sum`], selectors and cursors in [`select`], result layout in
//! [`page`]); the engine that holds
//! the bytes is a [`backend::KvBackend`]. [`embedded::Embedded`] (sled, one process per
//! directory) is the first; [`postgres::Postgres`] (one database shared by many
//! instances) is the second.
//!
//! ```
//! use krepis_kernel::kv::{Kv, backend::Durability, key::{encode, KeyPart}};
//! use krepis_kernel::kv::ops::{AtomicWrite, Mutation, MutationKind, Value, ValueKind};
//! let dir = tempfile::tempdir().unwrap();
//! let kv = Kv::open(dir.path()).unwrap();
//! let key = encode(&[KeyPart::String("users".into()), KeyPart::int(1)]);
//! let value = Value { kind: ValueKind::Bytes, bytes: b"ada".to_vec() };
//! let write = AtomicWrite {
//!     mutations: vec![Mutation { key: key.clone(), kind: MutationKind::Set(value), expire_in_ms: None }],
//!     ..Default::default()
//! };
//! let stamp = kv.commit(write, Durability::Sync).unwrap().unwrap();
//! let mut found = None;
//! kv.get(&key, &mut |_, vs, _, bytes| { found = Some((vs, bytes.to_vec())); true }).unwrap();
//! assert_eq!(found, Some((stamp, b"ada".to_vec())));
//! ```

pub mod backend;
pub mod embedded;
pub mod key;
pub mod limits;
pub mod ops;
pub mod page;
pub mod postgres;
pub mod select;
pub mod sum;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::Result;
use backend::{Durability, KvBackend, Message, Versionstamp, Visit, VisitMany};
use ops::AtomicWrite;

/// A handle on an open store; clones share it.
#[derive(Clone)]
pub struct Kv {
    backend: Arc<dyn KvBackend>,
}

impl Kv {
    /// Opens (or creates) the embedded store in directory `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::with_backend(embedded::Embedded::open(path)?))
    }

    /// Opens the store `target` names: a PostgreSQL URL (`postgres://…`, see
    /// [`postgres::Postgres`]) or else a directory for the embedded store.
    pub fn open_target(target: &str) -> Result<Self> {
        if postgres::is_url(target) {
            Ok(Self::with_backend(postgres::Postgres::open(target)?))
        } else {
            Self::open(target.as_ref())
        }
    }

    /// How many connections the store has across the network (PostgreSQL), 0 for a
    /// local one: a remote store's reads should run off the caller's event-loop thread,
    /// at most this many at once.
    pub fn remote_connections(&self) -> usize {
        self.backend.remote_connections()
    }

    /// A store on `backend`.
    pub fn with_backend(backend: Arc<dyn KvBackend>) -> Self {
        Self { backend }
    }

    /// Visits the live entry under `key` (checked against the read-key limit).
    pub fn get(&self, key: &[u8], visit: Visit<'_>) -> Result<bool> {
        user_key(key)?;
        self.backend.get(key, visit)
    }

    /// Visits the live entries under `keys` (each checked as by [`Kv::get`]); see
    /// [`KvBackend::get_many`].
    pub fn get_many(&self, keys: &[&[u8]], visit: VisitMany<'_>) -> Result<()> {
        for key in keys {
            user_key(key)?;
        }
        self.backend.get_many(keys, visit)
    }

    /// See [`KvBackend::scan`].
    pub fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
        visit: Visit<'_>,
    ) -> Result<usize> {
        self.backend.scan(start, end, reverse, limit, visit)
    }

    /// Validates `write` against Deno KV's limits and commits it (see [`KvBackend::commit`]).
    pub fn commit(
        &self,
        write: AtomicWrite,
        durability: Durability,
    ) -> Result<Option<Versionstamp>> {
        ops::validate(&write)?;
        self.backend.commit(write, durability)
    }

    /// See [`KvBackend::dequeue`].
    pub fn dequeue(&self, wait: Duration, cancel: &AtomicBool) -> Result<Option<Message>> {
        self.backend.dequeue(wait, cancel)
    }

    /// See [`KvBackend::finish`].
    pub fn finish(&self, id: u64, success: bool) -> Result<()> {
        self.backend.finish(id, success)
    }

    /// See [`KvBackend::change_epoch`].
    pub fn change_epoch(&self) -> u64 {
        self.backend.change_epoch()
    }

    /// See [`KvBackend::wait_change`].
    pub fn wait_change(&self, since: u64, wait: Duration, cancel: &AtomicBool) -> u64 {
        self.backend.wait_change(since, wait, cancel)
    }

    /// See [`KvBackend::wake_all`].
    pub fn wake_all(&self) {
        self.backend.wake_all()
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<()> {
        self.backend.flush()
    }
}

/// Checks a key read by a caller against the read-key limit; user keys start with a type
/// code, internal records (`0xff`) are never read this way.
fn user_key(key: &[u8]) -> Result<()> {
    limits::point_key(key)?;
    if key.first() == Some(&0xff) {
        return Err(crate::KernelError::invalid("malformed key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
