//! A page of list results in one caller buffer.
//!
//! Entries are packed back to back, little-endian: key length (u16), key, value length
//! (u32), versionstamp (u64), value. A page holds as many whole entries as fit; the caller
//! asks for the next page starting after the last key it got.

use super::Kv;
use crate::{KernelError, Result};

/// Bytes a page entry takes besides its key and value.
pub const ENTRY_OVERHEAD: usize = 2 + 4 + 8;

/// Fills `out` with live entries in `[start, end)` (see [`Kv::scan`]) and returns the
/// number of bytes used; 0 means there are no more entries. Fails when even the first
/// entry does not fit, naming the size it needs.
pub fn fill(
    kv: &Kv,
    out: &mut [u8],
    start: &[u8],
    end: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<usize> {
    let mut used = 0;
    let mut too_big = None;
    kv.scan(start, end, reverse, limit, |key, versionstamp, value| {
        let size = ENTRY_OVERHEAD + key.len() + value.len();
        if used + size > out.len() {
            if used == 0 {
                too_big = Some(size);
            }
            return false;
        }
        let slot = &mut out[used..used + size];
        slot[..2].copy_from_slice(&(key.len() as u16).to_le_bytes());
        slot[2..2 + key.len()].copy_from_slice(key);
        let rest = &mut slot[2 + key.len()..];
        rest[..4].copy_from_slice(&(value.len() as u32).to_le_bytes());
        rest[4..12].copy_from_slice(&versionstamp.to_le_bytes());
        rest[12..].copy_from_slice(value);
        used += size;
        true
    })?;
    match too_big {
        Some(size) => Err(KernelError::LimitExceeded(format!(
            "list buffer of {} bytes cannot hold an entry of {size} bytes",
            out.len()
        ))),
        None => Ok(used),
    }
}
