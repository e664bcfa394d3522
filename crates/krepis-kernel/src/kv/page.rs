//! Read results laid out in one caller buffer, so TypeScript decodes a whole batch in one
//! pass after one FFI call.
//!
//! Little-endian throughout. An entry's value part is: kind (u8), value length (u32),
//! commit number (u64), value bytes.
//!
//! - **Point reads** (`get`, `getMany`): for each key, in order, `0` (absent) or `1` and
//!   the value part.
//! - **List pages**: the selector's common prefix length (u16), whether the buffer filled
//!   before `limit` entries were read (u8), then entries back to back: key length (u16),
//!   key, value part. A page holds as many whole entries as fit.

use super::Kv;
use super::backend::Versionstamp;
use super::ops::ValueKind;
use crate::{KernelError, Result};

/// Bytes a value part takes besides the value.
pub const VALUE_OVERHEAD: usize = 1 + 4 + 8;

fn number(stamp: Versionstamp) -> u64 {
    u64::from_be_bytes(stamp[..8].try_into().expect("8 bytes"))
}

fn put_value(slot: &mut [u8], stamp: Versionstamp, kind: ValueKind, value: &[u8]) {
    slot[0] = kind as u8;
    slot[1..5].copy_from_slice(&(value.len() as u32).to_le_bytes());
    slot[5..13].copy_from_slice(&number(stamp).to_le_bytes());
    slot[13..13 + value.len()].copy_from_slice(value);
}

fn too_small(cap: usize, need: usize) -> KernelError {
    KernelError::LimitExceeded(format!(
        "read buffer of {cap} bytes cannot hold a result of {need} bytes"
    ))
}

/// Reads `keys` into `out` (point-read layout); returns the bytes used.
pub fn read(kv: &Kv, keys: &[&[u8]], out: &mut [u8]) -> Result<usize> {
    let mut used = 0;
    for key in keys {
        let mut need = 0;
        let at = used;
        let found = kv.get(key, &mut |_, stamp, kind, value| {
            need = 1 + VALUE_OVERHEAD + value.len();
            if at + need <= out.len() {
                out[at] = 1;
                put_value(&mut out[at + 1..at + need], stamp, kind, value);
            }
            true
        })?;
        if !found {
            need = 1;
            if at < out.len() {
                out[at] = 0;
            }
        }
        if at + need > out.len() {
            return Err(too_small(out.len(), at + need));
        }
        used += need;
    }
    Ok(used)
}

/// Fills `out` with live entries in `[start, end)` (see [`Kv::scan`]), after a header
/// naming `common_prefix`'s length; returns the bytes used (just the header when none is
/// left). Fails when even the first entry does not fit.
pub fn list(
    kv: &Kv,
    out: &mut [u8],
    range: (&[u8], &[u8]),
    common_prefix: usize,
    reverse: bool,
    limit: usize,
) -> Result<usize> {
    const HEAD: usize = 3;
    if out.len() < HEAD {
        return Err(too_small(out.len(), HEAD));
    }
    out[..2].copy_from_slice(&(common_prefix as u16).to_le_bytes());
    out[2] = 0;
    let mut used = HEAD;
    let mut full = false;
    let mut too_big = None;
    kv.scan(
        range.0,
        range.1,
        reverse,
        limit,
        &mut |key, stamp, kind, value| {
            let size = 2 + key.len() + VALUE_OVERHEAD + value.len();
            if used + size > out.len() {
                if used == HEAD {
                    too_big = Some(size);
                }
                full = true;
                return false;
            }
            let slot = &mut out[used..used + size];
            slot[..2].copy_from_slice(&(key.len() as u16).to_le_bytes());
            slot[2..2 + key.len()].copy_from_slice(key);
            put_value(&mut slot[2 + key.len()..], stamp, kind, value);
            used += size;
            true
        },
    )?;
    match too_big {
        Some(size) => Err(too_small(out.len(), size + HEAD)),
        None => {
            out[2] = u8::from(full);
            Ok(used)
        }
    }
}
