//! An atomic write — checks, mutations and enqueues — in the compact binary form the
//! TypeScript side sends, decoded and checked against Deno KV's limits.
//!
//! A sequence of records, little-endian; a key is its length (u16) then its bytes, a
//! value is its kind (u8, see [`ValueKind`]), its length (u32) and its bytes:
//! - check: `1`, key, has-versionstamp (u8), 10 versionstamp bytes when set
//! - mutation: `2`, kind (u8: 1 set, 2 delete, 3 sum, 4 min, 5 max, 6 set with the
//!   commit's versionstamp appended to the key), key, has-expiry (u8), expire-in ms (u64)
//!   when set, then a value unless the kind is delete
//! - enqueue: `3`, delay ms (u64), value, has-backoff (u8), count (u8) and that many u32
//!   intervals when set, key count (u16), keys
//!
//! Error messages are Deno KV's, word for word, so TypeScript can surface them as Deno does.

use super::key;
use super::limits::{self, LIMITS};
use crate::{KernelError, Result};

/// How a value's bytes are to be read, as in Deno KV plus a JSON fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueKind {
    /// V8 structured-clone serialization (what `Deno.Kv` stores).
    V8 = 1,
    /// A `Uint8Array`, stored as is.
    Bytes = 2,
    /// A `KvU64`: 8 bytes little-endian.
    U64 = 3,
    /// UTF-8 JSON of a value JSON represents exactly (a faster form of V8's).
    Json = 4,
}

impl ValueKind {
    /// The kind with tag `tag`.
    pub fn from_tag(tag: u8) -> Result<Self> {
        Ok(match tag {
            1 => Self::V8,
            2 => Self::Bytes,
            3 => Self::U64,
            4 => Self::Json,
            other => return Err(KernelError::invalid(format!("unknown value kind {other}"))),
        })
    }
}

/// A typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// How to read `bytes`.
    pub kind: ValueKind,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

impl Value {
    /// A `KvU64` value.
    pub fn u64(n: u64) -> Self {
        Self {
            kind: ValueKind::U64,
            bytes: n.to_le_bytes().to_vec(),
        }
    }

    /// The number of a `KvU64` value.
    pub fn as_u64(&self) -> Option<u64> {
        match self.kind {
            ValueKind::U64 => Some(u64::from_le_bytes(self.bytes.as_slice().try_into().ok()?)),
            _ => None,
        }
    }
}

/// "The key holds this versionstamp", or "the key is absent" when `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Encoded key.
    pub key: Vec<u8>,
    /// Expected versionstamp (10 bytes, see [`super::Versionstamp`]), `None` for "absent".
    pub versionstamp: Option<[u8; 10]>,
}

/// What a mutation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationKind {
    /// Store the value.
    Set(Value),
    /// Remove the key.
    Delete,
    /// Add to a `KvU64` (wrapping), or set it when absent.
    Sum(Value),
    /// Keep the smaller `KvU64`, or set it when absent.
    Min(Value),
    /// Keep the larger `KvU64`, or set it when absent.
    Max(Value),
    /// Store the value under the key with the commit's versionstamp appended as a string part.
    SetVersionstampedKey(Value),
}

impl MutationKind {
    fn value(&self) -> Option<&Value> {
        match self {
            Self::Set(v)
            | Self::Sum(v)
            | Self::Min(v)
            | Self::Max(v)
            | Self::SetVersionstampedKey(v) => Some(v),
            Self::Delete => None,
        }
    }
}

/// A change applied when every check holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Encoded key.
    pub key: Vec<u8>,
    /// What to do.
    pub kind: MutationKind,
    /// Milliseconds until the entry expires (sets only).
    pub expire_in_ms: Option<u64>,
}

/// A queue message written by the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The message.
    pub payload: Value,
    /// Milliseconds before it is delivered.
    pub delay_ms: u64,
    /// Keys that receive the message when every delivery attempt failed.
    pub keys_if_undelivered: Vec<Vec<u8>>,
    /// Waits between retries; `None` for Deno's default.
    pub backoff_schedule: Option<Vec<u32>>,
}

/// Checks, mutations and enqueues applied together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtomicWrite {
    /// Must all hold.
    pub checks: Vec<Check>,
    /// Applied in order.
    pub mutations: Vec<Mutation>,
    /// Messages to enqueue.
    pub enqueues: Vec<Enqueue>,
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
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn key(&mut self) -> Result<Vec<u8>> {
        let len = self.u16()? as usize;
        let key = self.take(len)?;
        key::decode(key)?; // well-formed; sizes are checked with the limits
        Ok(key.to_vec())
    }
    fn value(&mut self) -> Result<Value> {
        let kind = ValueKind::from_tag(self.u8()?)?;
        let len = self.u32()? as usize;
        let bytes = self.take(len)?.to_vec();
        if kind == ValueKind::U64 && bytes.len() != 8 {
            return Err(KernelError::invalid("a KvU64 value is 8 bytes"));
        }
        Ok(Value { kind, bytes })
    }
}

fn mutation(reader: &mut Reader<'_>) -> Result<Mutation> {
    let tag = reader.u8()?;
    let key = reader.key()?;
    let expire_in_ms = match reader.u8()? {
        0 => None,
        _ => Some(reader.u64()?),
    };
    let kind = match tag {
        1 => MutationKind::Set(reader.value()?),
        2 => MutationKind::Delete,
        3 => MutationKind::Sum(reader.value()?),
        4 => MutationKind::Min(reader.value()?),
        5 => MutationKind::Max(reader.value()?),
        6 => MutationKind::SetVersionstampedKey(reader.value()?),
        other => {
            return Err(KernelError::invalid(format!(
                "unknown mutation kind {other}"
            )));
        }
    };
    Ok(Mutation {
        key,
        kind,
        expire_in_ms,
    })
}

fn enqueue(reader: &mut Reader<'_>) -> Result<Enqueue> {
    let delay_ms = reader.u64()?;
    let payload = reader.value()?;
    let backoff_schedule = match reader.u8()? {
        0 => None,
        _ => {
            let n = reader.u8()?;
            Some((0..n).map(|_| reader.u32()).collect::<Result<_>>()?)
        }
    };
    let n = reader.u16()?;
    let keys_if_undelivered = (0..n).map(|_| reader.key()).collect::<Result<_>>()?;
    Ok(Enqueue {
        payload,
        delay_ms,
        keys_if_undelivered,
        backoff_schedule,
    })
}

/// Decodes an atomic write (its limits are checked by [`validate`]).
pub fn decode(bytes: &[u8]) -> Result<AtomicWrite> {
    let mut reader = Reader(bytes);
    let mut write = AtomicWrite::default();
    while !reader.0.is_empty() {
        match reader.u8()? {
            1 => {
                let key = reader.key()?;
                let versionstamp = match reader.u8()? {
                    0 => None,
                    _ => Some(reader.array()?),
                };
                write.checks.push(Check { key, versionstamp });
            }
            2 => write.mutations.push(mutation(&mut reader)?),
            3 => write.enqueues.push(enqueue(&mut reader)?),
            other => {
                return Err(KernelError::invalid(format!(
                    "unknown atomic record type {other}"
                )));
            }
        }
    }
    Ok(write)
}

/// Applies Deno KV's limits to a write.
pub fn validate(write: &AtomicWrite) -> Result<()> {
    if write.checks.len() > LIMITS.max_checks {
        return Err(limits::error(format!(
            "Too many checks (max {})",
            LIMITS.max_checks
        )));
    }
    if write.mutations.len() + write.enqueues.len() > LIMITS.max_mutations {
        return Err(limits::error(format!(
            "Too many mutations (max {})",
            LIMITS.max_mutations
        )));
    }
    let now = limits::now_ms();
    for m in &write.mutations {
        if let Some(ms) = m.expire_in_ms {
            limits::expiry(now, ms)?;
        }
    }
    let mut total = 0usize;
    let mut total_keys = 0usize;
    let keys = write.checks.iter().map(|c| &c.key);
    for key in keys.chain(write.mutations.iter().map(|m| &m.key)) {
        if key.is_empty() {
            return Err(limits::error("key cannot be empty"));
        }
        total += limits::write_key(key)?;
    }
    for m in &write.mutations {
        if let Some(value) = m.kind.value() {
            let key = limits::write_key(&m.key)?;
            total += limits::value(value)? + key;
            total_keys += key;
        }
    }
    for e in &write.enqueues {
        if e.payload.bytes.len() > LIMITS.max_value_bytes {
            return Err(limits::error(format!(
                "enqueue payload too large (max {} bytes)",
                LIMITS.max_value_bytes
            )));
        }
        total += e.payload.bytes.len() + 4 * e.backoff_schedule.as_ref().map_or(0, Vec::len);
    }
    if total > LIMITS.max_total_mutation_bytes {
        return Err(limits::error(format!(
            "Total mutation size too large (max {} bytes)",
            LIMITS.max_total_mutation_bytes
        )));
    }
    if total_keys > LIMITS.max_total_key_bytes {
        return Err(limits::error(format!(
            "Total key size too large (max {} bytes)",
            LIMITS.max_total_key_bytes
        )));
    }
    Ok(())
}

/// Appends the binary form of `write` to `out` (the inverse of [`decode`]; used by tests
/// and by Rust callers).
pub fn encode(write: &AtomicWrite) -> Vec<u8> {
    fn key(out: &mut Vec<u8>, key: &[u8]) {
        out.extend((key.len() as u16).to_le_bytes());
        out.extend(key);
    }
    fn value(out: &mut Vec<u8>, value: &Value) {
        out.push(value.kind as u8);
        out.extend((value.bytes.len() as u32).to_le_bytes());
        out.extend(&value.bytes);
    }
    let mut out = Vec::new();
    for c in &write.checks {
        out.push(1);
        key(&mut out, &c.key);
        match c.versionstamp {
            None => out.push(0),
            Some(vs) => {
                out.push(1);
                out.extend(vs);
            }
        }
    }
    for m in &write.mutations {
        out.push(2);
        out.push(match m.kind {
            MutationKind::Set(_) => 1,
            MutationKind::Delete => 2,
            MutationKind::Sum(_) => 3,
            MutationKind::Min(_) => 4,
            MutationKind::Max(_) => 5,
            MutationKind::SetVersionstampedKey(_) => 6,
        });
        key(&mut out, &m.key);
        match m.expire_in_ms {
            None => out.push(0),
            Some(ms) => {
                out.push(1);
                out.extend(ms.to_le_bytes());
            }
        }
        if let Some(v) = m.kind.value() {
            value(&mut out, v);
        }
    }
    for e in &write.enqueues {
        out.push(3);
        out.extend(e.delay_ms.to_le_bytes());
        value(&mut out, &e.payload);
        match &e.backoff_schedule {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.push(s.len() as u8);
                for i in s {
                    out.extend(i.to_le_bytes());
                }
            }
        }
        out.extend((e.keys_if_undelivered.len() as u16).to_le_bytes());
        for k in &e.keys_if_undelivered {
            key(&mut out, k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::key::{KeyPart, encode as key_of};
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        key_of(&[KeyPart::String(s.into())])
    }

    #[test]
    fn encode_and_decode_are_inverse() {
        let write = AtomicWrite {
            checks: vec![
                Check {
                    key: k("a"),
                    versionstamp: Some([7; 10]),
                },
                Check {
                    key: k("b"),
                    versionstamp: None,
                },
            ],
            mutations: vec![
                Mutation {
                    key: k("a"),
                    kind: MutationKind::Set(Value {
                        kind: ValueKind::V8,
                        bytes: b"hi".to_vec(),
                    }),
                    expire_in_ms: Some(5),
                },
                Mutation {
                    key: k("b"),
                    kind: MutationKind::Sum(Value::u64(3)),
                    expire_in_ms: None,
                },
                Mutation {
                    key: k("c"),
                    kind: MutationKind::Delete,
                    expire_in_ms: None,
                },
            ],
            enqueues: vec![Enqueue {
                payload: Value {
                    kind: ValueKind::Json,
                    bytes: b"1".to_vec(),
                },
                delay_ms: 9,
                keys_if_undelivered: vec![k("dead")],
                backoff_schedule: Some(vec![1, 2]),
            }],
        };
        let bytes = encode(&write);
        assert_eq!(decode(&bytes).unwrap(), write);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(decode(&[9]).is_err(), "unknown record");
    }

    #[test]
    fn limits_use_deno_messages() {
        let big = Value {
            kind: ValueKind::Bytes,
            bytes: vec![0; 65537],
        };
        let write = AtomicWrite {
            mutations: vec![Mutation {
                key: k("a"),
                kind: MutationKind::Set(big),
                expire_in_ms: None,
            }],
            ..Default::default()
        };
        let err = validate(&write).unwrap_err().to_string();
        assert!(err.ends_with("Value too large (max 65536 bytes)"), "{err}");
        let empty = AtomicWrite {
            mutations: vec![Mutation {
                key: vec![],
                kind: MutationKind::Delete,
                expire_in_ms: None,
            }],
            ..Default::default()
        };
        assert!(
            validate(&empty)
                .unwrap_err()
                .to_string()
                .ends_with("key cannot be empty")
        );
        let checks = AtomicWrite {
            checks: vec![
                Check {
                    key: k("a"),
                    versionstamp: None
                };
                101
            ],
            ..Default::default()
        };
        assert!(
            validate(&checks)
                .unwrap_err()
                .to_string()
                .ends_with("Too many checks (max 100)")
        );
    }
}
