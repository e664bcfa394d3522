//! Deno KV's limits, with its error messages (TypeScript turns these into `TypeError`s).

use super::ops::{Value, ValueKind};
use crate::{KernelError, Result};

/// The sizes and counts a store accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest key written.
    pub max_write_key_bytes: usize,
    /// Longest key read (range bounds carry one more byte).
    pub max_read_key_bytes: usize,
    /// Largest value (of its serialized form).
    pub max_value_bytes: usize,
    /// Most keys in one `getMany`.
    pub max_read_ranges: usize,
    /// Most entries one read may return.
    pub max_read_entries: usize,
    /// Most checks in one atomic operation.
    pub max_checks: usize,
    /// Most mutations plus enqueues in one atomic operation.
    pub max_mutations: usize,
    /// Most keys one `watch` follows.
    pub max_watched_keys: usize,
    /// Largest sum of key and value sizes in one atomic operation.
    pub max_total_mutation_bytes: usize,
    /// Largest sum of mutated key sizes in one atomic operation.
    pub max_total_key_bytes: usize,
}

/// Deno KV's limits.
pub const LIMITS: Limits = Limits {
    max_write_key_bytes: 2048,
    max_read_key_bytes: 2049,
    max_value_bytes: 65536,
    max_read_ranges: 10,
    max_read_entries: 1000,
    max_checks: 100,
    max_mutations: 1000,
    max_watched_keys: 10,
    max_total_mutation_bytes: 800 * 1024,
    max_total_key_bytes: 80 * 1024,
};

/// The latest expiry time Deno KV can represent (ms since the epoch, end of year 262142).
pub const MAX_EXPIRY_MS: u64 = 8_210_266_876_799_999;

/// A limit error: an invalid argument carrying Deno KV's message.
pub fn error(message: impl Into<String>) -> KernelError {
    KernelError::InvalidArgument(message.into())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    crate::journal::now_ms()
}

/// The size of a key to be written, or Deno's error.
pub fn write_key(key: &[u8]) -> Result<usize> {
    if key.len() > LIMITS.max_write_key_bytes {
        return Err(error(format!(
            "Key too large for write (max {} bytes)",
            LIMITS.max_write_key_bytes
        )));
    }
    Ok(key.len())
}

/// Checks the size of a key (or range bound) to be read.
pub fn read_key(key: &[u8]) -> Result<()> {
    read_len(key.len())
}

/// Checks a key read on its own: Deno reads it as the range `[key, key + 0x00)`, so the
/// bound one byte longer must fit.
pub fn point_key(key: &[u8]) -> Result<()> {
    read_len(key.len() + 1)
}

fn read_len(len: usize) -> Result<()> {
    if len > LIMITS.max_read_key_bytes {
        return Err(error(format!(
            "Key too large for read (max {} bytes)",
            LIMITS.max_read_key_bytes
        )));
    }
    Ok(())
}

/// The size a value counts for, or Deno's error when it is too large.
pub fn value(value: &Value) -> Result<usize> {
    if value.kind == ValueKind::U64 {
        return Ok(8);
    }
    if value.bytes.len() > LIMITS.max_value_bytes {
        return Err(error(format!(
            "Value too large (max {} bytes)",
            LIMITS.max_value_bytes
        )));
    }
    Ok(value.bytes.len())
}

/// The absolute expiry of an entry written at `now` to expire in `ms`, or Deno's error.
pub fn expiry(now: u64, ms: u64) -> Result<u64> {
    match now.checked_add(ms) {
        Some(at) if at <= MAX_EXPIRY_MS && ms <= i64::MAX as u64 / 1000 => Ok(at),
        _ => Err(error(format!(
            "Invalid mutation: expireIn is too large: {ms}"
        ))),
    }
}
