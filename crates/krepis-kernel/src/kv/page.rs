//! Read results laid out in one caller buffer, so TypeScript decodes a whole batch in one
//! pass after one FFI call.
//!
//! Little-endian throughout. A page starts with a header, then records, then the values
//! of JSON kind gathered into one JSON array text (`[v1,v2,…]`, or nothing when there are
//! none) so TypeScript parses them all with one `JSON.parse`. An entry's value part is:
//! kind (u8), value length (u32; 0 for JSON values, which are in the array), commit number
//! (u64), value bytes.
//!
//! - **Point reads** (`get`, `getMany`): header = offset of the JSON array (u32); then
//!   for each key, in order, `0` (absent) or `1` and the value part.
//! - **List pages**: header = offset of the JSON array (u32), the selector's common
//!   prefix length (u16), whether the buffer filled before `limit` entries were read
//!   (u8); then entries: key length (u16), key, value part. A page holds as many whole
//!   entries as fit.

use super::Kv;
use super::backend::Versionstamp;
use super::ops::ValueKind;
use crate::{KernelError, Result};

/// Bytes a value part takes besides the value.
pub const VALUE_OVERHEAD: usize = 1 + 4 + 8;

fn too_small(cap: usize, need: usize) -> KernelError {
    KernelError::LimitExceeded(format!(
        "read buffer of {cap} bytes cannot hold a result of {need} bytes"
    ))
}

/// Fills a page: records from the front, JSON values into a side buffer appended last.
struct Page<'a> {
    out: &'a mut [u8],
    used: usize,
    json: Vec<u8>,
}

impl<'a> Page<'a> {
    fn new(out: &'a mut [u8], header: usize) -> Result<Self> {
        if out.len() < header + 2 {
            return Err(too_small(out.len(), header + 2));
        }
        Ok(Self {
            out,
            used: header,
            json: Vec::new(),
        })
    }

    /// Room left for records, keeping space for the JSON array's text.
    fn room(&self) -> usize {
        self.out.len() - self.used - self.json.len() - 2
    }

    /// Appends `prefix` bytes then a value part; false (writing nothing) when it does not fit.
    fn entry(
        &mut self,
        prefix: &[&[u8]],
        stamp: Versionstamp,
        kind: ValueKind,
        value: &[u8],
    ) -> bool {
        let is_json = kind == ValueKind::Json;
        let inline = if is_json { 0 } else { value.len() };
        let head: usize = prefix.iter().map(|p| p.len()).sum();
        let json_cost = if is_json { value.len() + 1 } else { 0 };
        if head + VALUE_OVERHEAD + inline + json_cost > self.room() {
            return false;
        }
        for part in prefix {
            self.out[self.used..self.used + part.len()].copy_from_slice(part);
            self.used += part.len();
        }
        let slot = &mut self.out[self.used..self.used + VALUE_OVERHEAD + inline];
        slot[0] = kind as u8;
        slot[1..5].copy_from_slice(&(inline as u32).to_le_bytes());
        let number = u64::from_be_bytes(stamp[..8].try_into().expect("8 bytes"));
        slot[5..13].copy_from_slice(&number.to_le_bytes());
        if !is_json {
            slot[13..].copy_from_slice(value);
        } else {
            self.json
                .push(if self.json.is_empty() { b'[' } else { b',' });
            self.json.extend_from_slice(value);
        }
        self.used += VALUE_OVERHEAD + inline;
        true
    }

    fn byte(&mut self, b: u8) -> bool {
        if self.room() < 1 {
            return false;
        }
        self.out[self.used] = b;
        self.used += 1;
        true
    }

    /// Writes the JSON array after the records and its offset at the start; returns the
    /// bytes used.
    fn finish(mut self) -> usize {
        let at = self.used;
        self.out[..4].copy_from_slice(&(at as u32).to_le_bytes());
        if !self.json.is_empty() {
            self.json.push(b']');
            self.out[at..at + self.json.len()].copy_from_slice(&self.json);
            self.used += self.json.len();
        }
        self.used
    }
}

/// Reads `keys` into `out` (point-read layout); returns the bytes used.
pub fn read(kv: &Kv, keys: &[&[u8]], out: &mut [u8]) -> Result<usize> {
    let cap = out.len();
    let mut page = Page::new(out, 4)?;
    let mut short = None;
    kv.get_many(keys, &mut |_, entry| {
        let (fits, need) = match entry {
            Some((stamp, kind, value)) => (
                page.byte(1) && page.entry(&[], stamp, kind, value),
                1 + VALUE_OVERHEAD + value.len(),
            ),
            None => (page.byte(0), 1),
        };
        if !fits {
            short = Some(need);
        }
        fits
    })?;
    if let Some(need) = short {
        return Err(too_small(cap, cap + need));
    }
    Ok(page.finish())
}

/// Fills `out` with live entries in `[start, end)` (see [`Kv::scan`]) after the list
/// header; returns the bytes used. Fails when even the first entry does not fit.
pub fn list(
    kv: &Kv,
    out: &mut [u8],
    range: (&[u8], &[u8]),
    common_prefix: usize,
    reverse: bool,
    limit: usize,
) -> Result<usize> {
    const HEAD: usize = 7;
    let cap = out.len();
    let mut page = Page::new(out, HEAD)?;
    page.out[4..6].copy_from_slice(&(common_prefix as u16).to_le_bytes());
    page.out[6] = 0;
    let mut full = false;
    let mut too_big = None;
    kv.scan(
        range.0,
        range.1,
        reverse,
        limit,
        &mut |key, stamp, kind, value| {
            let len = (key.len() as u16).to_le_bytes();
            if page.entry(&[&len, key], stamp, kind, value) {
                return true;
            }
            if page.used == HEAD {
                too_big = Some(2 + key.len() + VALUE_OVERHEAD + value.len());
            }
            full = true;
            false
        },
    )?;
    if let Some(size) = too_big {
        return Err(too_small(cap, size + HEAD + 2));
    }
    page.out[6] = u8::from(full);
    Ok(page.finish())
}
