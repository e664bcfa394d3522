//! The compact binary form of an atomic operation, as the TypeScript side sends it.
//!
//! A sequence of records, little-endian:
//! - check: `1`, key length (u16), key, has-versionstamp (u8), versionstamp (u64) when set
//! - set: `2`, key length (u16), key, expire-in milliseconds (u64, 0 = never), value length (u32), value
//! - delete: `3`, key length (u16), key

use super::key;
use crate::{KernelError, Result};

/// Largest value accepted, as in Deno KV.
pub const MAX_VALUE_BYTES: usize = 65536;
/// Most checks in one atomic operation.
pub const MAX_CHECKS: usize = 100;
/// Most mutations in one atomic operation, as in Deno KV.
pub const MAX_MUTATIONS: usize = 1000;

/// "The key holds this versionstamp", or "the key is absent" when `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check<'a> {
    /// Encoded key.
    pub key: &'a [u8],
    /// Expected versionstamp, `None` for "absent".
    pub versionstamp: Option<u64>,
}

/// A change applied when every check holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation<'a> {
    /// Store `value` under `key`, expiring after `expire_in_ms` when given.
    Set {
        /// Encoded key.
        key: &'a [u8],
        /// Opaque value bytes.
        value: &'a [u8],
        /// Milliseconds until the entry expires.
        expire_in_ms: Option<u64>,
    },
    /// Remove `key`.
    Delete {
        /// Encoded key.
        key: &'a [u8],
    },
}

/// Checks that `value` is small enough to store.
pub fn validate_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KernelError::LimitExceeded(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(KernelError::invalid("atomic operation is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn key(&mut self) -> Result<&'a [u8]> {
        let len = self.u16()? as usize;
        let key = self.take(len)?;
        key::validate(key)?;
        Ok(key)
    }
}

/// Decodes and validates an atomic operation.
pub fn decode(bytes: &[u8]) -> Result<(Vec<Check<'_>>, Vec<Mutation<'_>>)> {
    let mut reader = Reader(bytes);
    let (mut checks, mut mutations) = (Vec::new(), Vec::new());
    while !reader.0.is_empty() {
        match reader.u8()? {
            1 => {
                let key = reader.key()?;
                let versionstamp = match reader.u8()? {
                    0 => None,
                    _ => Some(reader.u64()?),
                };
                checks.push(Check { key, versionstamp });
            }
            2 => {
                let key = reader.key()?;
                let expire_in_ms = Some(reader.u64()?).filter(|ms| *ms > 0);
                let len = reader.u32()? as usize;
                let value = reader.take(len)?;
                validate_value(value)?;
                mutations.push(Mutation::Set {
                    key,
                    value,
                    expire_in_ms,
                });
            }
            3 => mutations.push(Mutation::Delete { key: reader.key()? }),
            other => {
                return Err(KernelError::invalid(format!(
                    "unknown atomic record type {other}"
                )));
            }
        }
    }
    if checks.len() > MAX_CHECKS || mutations.len() > MAX_MUTATIONS {
        return Err(KernelError::LimitExceeded(format!(
            "an atomic operation holds at most {MAX_CHECKS} checks and {MAX_MUTATIONS} mutations"
        )));
    }
    Ok((checks, mutations))
}

#[cfg(test)]
mod tests {
    use super::super::key::{KeyPart, encode};
    use super::*;

    #[test]
    fn decodes_every_record_type_and_refuses_garbage() {
        let key = encode(&[KeyPart::String("k".into())]);
        let mut ops = vec![1u8];
        ops.extend((key.len() as u16).to_le_bytes());
        ops.extend(&key);
        ops.extend([1]);
        ops.extend(7u64.to_le_bytes());
        ops.push(2);
        ops.extend((key.len() as u16).to_le_bytes());
        ops.extend(&key);
        ops.extend(5u64.to_le_bytes());
        ops.extend(2u32.to_le_bytes());
        ops.extend(b"hi");
        ops.push(3);
        ops.extend((key.len() as u16).to_le_bytes());
        ops.extend(&key);
        let (checks, mutations) = decode(&ops).unwrap();
        assert_eq!(checks[0].versionstamp, Some(7));
        assert_eq!(
            mutations[0],
            Mutation::Set {
                key: &key,
                value: b"hi",
                expire_in_ms: Some(5)
            }
        );
        assert_eq!(mutations[1], Mutation::Delete { key: &key });
        assert!(decode(&ops[..ops.len() - 1]).is_err());
        assert!(decode(&[9]).is_err());
        assert!(decode(&[3, 1, 0, 0x99]).is_err(), "bad key");
    }
}
