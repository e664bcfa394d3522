//! The embedded KV store.

use krepis_ffi_macros::export;
use krepis_kernel::kv::{Kv, KvOptions, ops, page};
use krepis_kernel::{HandleKind, HandleTable, KernelError, Result};

use crate::guard::{self, handle_arg, handle_ret, int_arg, len_arg};

static STORES: HandleTable<Kv> = HandleTable::new(HandleKind::Kv);

fn store(handle: f64) -> Result<std::sync::Arc<Kv>> {
    STORES.get(handle_arg(handle)?)
}

/// Borrows the caller's output buffer.
///
/// # Safety
///
/// `out` must be valid for writes of `cap` bytes.
unsafe fn out_buffer<'a>(out: *mut u8, cap: f64) -> Result<&'a mut [u8]> {
    let cap = len_arg(cap, "output capacity")?;
    if cap == 0 {
        return Ok(&mut []);
    }
    if out.is_null() {
        return Err(KernelError::invalid("null output buffer"));
    }
    // SAFETY: non-null and valid for `cap` bytes per the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(out, cap) })
}

/// Opens (or creates) the store in directory `path`; `sync` (0/1) flushes every write.
#[export]
fn krepis_kv_open(path: *const u8, path_len: f64, sync: u32) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let kv = Kv::open(path.as_ref(), KvOptions { sync: sync != 0 })?;
    Ok(handle_ret(STORES.insert(kv)?))
}

/// Flushes and releases a store handle.
#[export]
fn krepis_kv_close(kv: f64) -> Result<f64> {
    STORES.remove(handle_arg(kv)?)?.flush()?;
    Ok(0.0)
}

/// Reads `key`: writes versionstamp (u64 LE) and value into `out` when they fit and
/// returns their length (8 + value), or 0 when the key is absent.
#[export]
fn krepis_kv_get(kv: f64, key: *const u8, key_len: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let key = unsafe { guard::bytes(key, key_len) }?;
    let out = unsafe { out_buffer(out, cap) }?;
    let mut len = 0;
    store(kv)?.get_with(key, |versionstamp, value| {
        len = 8 + value.len();
        if len <= out.len() {
            out[..8].copy_from_slice(&versionstamp.to_le_bytes());
            out[8..len].copy_from_slice(value);
        }
    })?;
    Ok(len as f64)
}

/// Stores `value` under `key` (expiring after `expire_in_ms` unless 0); returns the versionstamp.
#[export]
fn krepis_kv_set(
    kv: f64,
    key: *const u8,
    key_len: f64,
    value: *const u8,
    value_len: f64,
    expire_in_ms: f64,
) -> Result<f64> {
    let key = unsafe { guard::bytes(key, key_len) }?;
    let value = unsafe { guard::bytes(value, value_len) }?;
    let expire = Some(int_arg(expire_in_ms, "expireIn")?).filter(|ms| *ms > 0);
    Ok(store(kv)?.set(key, value, expire)? as f64)
}

/// Removes `key`.
#[export]
fn krepis_kv_delete(kv: f64, key: *const u8, key_len: f64) -> Result<f64> {
    let key = unsafe { guard::bytes(key, key_len) }?;
    store(kv)?.delete(key)?;
    Ok(0.0)
}

/// Commits an atomic operation (see `krepis_kernel::kv::ops`); returns the versionstamp,
/// or 0 when a check failed and nothing changed.
#[export]
fn krepis_kv_commit(kv: f64, ops: *const u8, ops_len: f64) -> Result<f64> {
    let bytes = unsafe { guard::bytes(ops, ops_len) }?;
    let (checks, mutations) = ops::decode(bytes)?;
    Ok(store(kv)?.commit(&checks, &mutations)?.unwrap_or(0) as f64)
}

/// Fills `out` with a page of entries in `[start, end)` (see `krepis_kernel::kv::page`);
/// returns the bytes used, 0 at the end.
#[export]
fn krepis_kv_list(
    kv: f64,
    start: *const u8,
    start_len: f64,
    end: *const u8,
    end_len: f64,
    reverse: u32,
    limit: f64,
    out: *mut u8,
    cap: f64,
) -> Result<f64> {
    let start = unsafe { guard::bytes(start, start_len) }?;
    let end = unsafe { guard::bytes(end, end_len) }?;
    let out = unsafe { out_buffer(out, cap) }?;
    let used = page::fill(
        &*store(kv)?,
        out,
        start,
        end,
        reverse != 0,
        len_arg(limit, "limit")?,
    )?;
    Ok(used as f64)
}
