//! The KV store: opening is `nonblocking`; reads and list pages of a local store are
//! synchronous calls filling a caller buffer (a remote store calls the same functions
//! through their nonblocking `_async` entries, `#[export(both)]`);
//! commits, queue waits and change waits are `nonblocking` (they park on Deno's blocking
//! pool while the kernel's committer groups concurrent commits under one disk sync).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::kv::backend::Durability;
use krepis_kernel::kv::limits::{self, LIMITS};
use krepis_kernel::kv::select::Selector;
use krepis_kernel::kv::{Kv, ops, page};
use krepis_kernel::{HandleKind, HandleTable, KernelError, Result};

use crate::guard::{self, handle_arg, handle_ret, int_arg, len_arg};

/// One `openKv` of a store: its durability, and a flag that ends its waits on close.
struct Session {
    kv: Kv,
    durability: Durability,
    closed: AtomicBool,
}

static STORES: HandleTable<Session> = HandleTable::new(HandleKind::Kv);

fn session(handle: f64) -> Result<Arc<Session>> {
    STORES.get(handle_arg(handle)?)
}

/// Splits `[u16 LE length][bytes]...` records.
fn records(mut bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = bytes
            .get(..2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| KernelError::invalid("truncated key list"))?;
        let record = bytes
            .get(2..2 + len)
            .ok_or_else(|| KernelError::invalid("truncated key list"))?;
        out.push(record);
        bytes = &bytes[2 + len..];
    }
    Ok(out)
}

/// Opens (or creates) the store in directory `path`, or in the PostgreSQL database a
/// `postgres://` URL names; `durable` (0/1) makes each commit
/// wait for `fdatasync` (1 is the default of the TypeScript API). Off the JavaScript
/// thread: a PostgreSQL login takes round trips (TCP, TLS, authentication, the schema)
/// and, against a stalled server, up to its `connect_timeout`.
#[export(nonblocking)]
fn krepis_kv_open(path: *const u8, path_len: f64, durable: u32) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let session = Session {
        kv: Kv::open_target(path)?,
        durability: if durable != 0 {
            Durability::Sync
        } else {
            Durability::Relaxed
        },
        closed: AtomicBool::new(false),
    };
    Ok(handle_ret(STORES.insert(session)?))
}

/// Releases a store handle; its pending queue and change waits return at once.
#[export]
fn krepis_kv_close(kv: f64) -> Result<f64> {
    let session = STORES.remove(handle_arg(kv)?)?;
    session.closed.store(true, Ordering::Release);
    session.kv.wake_all();
    Ok(0.0)
}

/// The store's connections when it is across the network (PostgreSQL), so TypeScript
/// reads it with the `_async` calls and keeps at most that many calls in flight; 0 for a
/// local store.
#[export]
fn krepis_kv_remote(kv: f64) -> Result<f64> {
    Ok(session(kv)?.kv.remote_connections() as f64)
}

/// Reads the keys in `keys` (`[u16 length][key]` records, at most 10) into `out` (see
/// `krepis_kernel::kv::page`); returns the bytes used. A local store (sled) calls it on the
/// JavaScript thread; a store across the network (PostgreSQL), whose reads must not hold
/// up the event loop, calls it as `krepis_kv_read_async`.
#[export(both)]
fn krepis_kv_read(kv: f64, keys: *const u8, keys_len: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let keys = records(unsafe { guard::bytes(keys, keys_len) }?)?;
    if keys.len() > LIMITS.max_read_ranges {
        return Err(limits::error(format!(
            "Too many ranges (max {})",
            LIMITS.max_read_ranges
        )));
    }
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    Ok(page::read(&session(kv)?.kv, &keys, out)? as f64)
}

/// Fills `out` with a list page (see `krepis_kernel::kv::page`). `selector` holds a flag
/// byte (1 prefix, 2 start, 4 end) then `[u16 length][key]` for each part present;
/// `cursor` is a cursor string (empty for none). Returns the bytes used. A local store
/// (sled) calls it on the JavaScript thread, a store across the network (PostgreSQL) as
/// `krepis_kv_list_async`.
#[export(both)]
#[allow(clippy::too_many_arguments)]
fn krepis_kv_list(
    kv: f64,
    selector: *const u8,
    selector_len: f64,
    cursor: *const u8,
    cursor_len: f64,
    reverse: u32,
    limit: f64,
    out: *mut u8,
    cap: f64,
) -> Result<f64> {
    let selector = unsafe { guard::bytes(selector, selector_len) }?;
    let cursor = unsafe { guard::bytes(cursor, cursor_len) }?;
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    let limit = len_arg(limit, "limit")?;
    if limit == 0 {
        return Err(limits::error("limit must be greater than 0"));
    }
    if limit > LIMITS.max_read_entries {
        return Err(limits::error(format!(
            "Too many entries (max {})",
            LIMITS.max_read_entries
        )));
    }
    let (&flags, parts) = selector
        .split_first()
        .ok_or_else(|| KernelError::invalid("empty selector"))?;
    let mut parts = records(parts)?.into_iter();
    let mut part = |bit: u8| {
        (flags & bit != 0)
            .then(|| parts.next().map(<[u8]>::to_vec))
            .flatten()
    };
    let (prefix, start, end) = (part(1), part(2), part(4));
    let selector = Selector::new(prefix, start, end)?;
    let (first, last) = selector.range(reverse != 0, (!cursor.is_empty()).then_some(cursor))?;
    let used = page::list(
        &session(kv)?.kv,
        out,
        (&first, &last),
        selector.common_prefix().len(),
        reverse != 0,
        limit,
    )?;
    Ok(used as f64)
}

/// Commits an atomic write (see `krepis_kernel::kv::ops`); returns the commit number, or
/// 0 when a check failed and nothing changed. Resolves after the disk sync unless the
/// store was opened relaxed.
#[export(nonblocking)]
fn krepis_kv_commit(kv: f64, ops: *const u8, ops_len: f64) -> Result<f64> {
    let bytes = unsafe { guard::bytes(ops, ops_len) }?;
    let write = ops::decode(bytes)?;
    let session = session(kv)?;
    let stamp = session.kv.commit(write, session.durability)?;
    Ok(stamp.map_or(0.0, |s| {
        u64::from_be_bytes(s[..8].try_into().expect("8 bytes")) as f64
    }))
}

/// Waits up to `wait_ms` for a due queue message and writes `[u64 id][u8 kind][payload]`
/// into `out`; returns its length, or 0 when none came (or the handle was closed).
#[export(nonblocking)]
fn krepis_kv_dequeue(kv: f64, wait_ms: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    let session = session(kv)?;
    let wait = Duration::from_millis(int_arg(wait_ms, "wait")?);
    let Some(message) = session.kv.dequeue(wait, &session.closed)? else {
        return Ok(0.0);
    };
    let len = 9 + message.payload.len();
    if len > out.len() {
        // Not handed out: put it back for the next wait with a large enough buffer.
        session.kv.finish(message.id, false)?;
        return Err(KernelError::LimitExceeded(format!(
            "queue buffer of {} bytes cannot hold a message of {len}",
            out.len()
        )));
    }
    out[..8].copy_from_slice(&message.id.to_le_bytes());
    out[8] = message.kind as u8;
    out[9..len].copy_from_slice(&message.payload);
    Ok(len as f64)
}

/// Ends the delivery `id`: `success` 1 removes the message, 0 schedules a retry (or
/// writes its `keysIfUndelivered` after the last one).
#[export(nonblocking)]
fn krepis_kv_finish(kv: f64, id: f64, success: u32) -> Result<f64> {
    session(kv)?
        .kv
        .finish(int_arg(id, "message id")?, success != 0)?;
    Ok(0.0)
}

/// The store's change epoch: it grows with every commit.
#[export]
fn krepis_kv_epoch(kv: f64) -> Result<f64> {
    Ok(session(kv)?.kv.change_epoch() as f64)
}

/// Wakes every change and queue wait on the store (each returns or re-checks at once).
#[export]
fn krepis_kv_wake(kv: f64) -> Result<f64> {
    session(kv)?.kv.wake_all();
    Ok(0.0)
}

/// Waits up to `wait_ms` until the change epoch exceeds `since` (or the handle closes);
/// returns the epoch.
#[export(nonblocking)]
fn krepis_kv_wait(kv: f64, since: f64, wait_ms: f64) -> Result<f64> {
    let session = session(kv)?;
    let wait = Duration::from_millis(int_arg(wait_ms, "wait")?);
    Ok(session
        .kv
        .wait_change(int_arg(since, "epoch")?, wait, &session.closed) as f64)
}
