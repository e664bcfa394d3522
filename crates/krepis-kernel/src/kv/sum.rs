//! What `sum`, `min` and `max` mutations compute, for every backend: on `KvU64` values
//! (wrapping sum), and — as recent Deno KV does — `sum` of JavaScript numbers and bigints,
//! read from their V8 (or JSON) form and stored as V8: a number stays a number, a bigint
//! a bigint of any size.

use super::limits;
use super::ops::{MutationKind, Value, ValueKind};
use crate::Result;

/// The new value of a `sum`/`min`/`max` mutation on a key holding `old` (`None`: absent),
/// or Deno's error; `None` for other mutation kinds.
pub fn combine(kind: &MutationKind, old: Option<&Value>) -> Option<Result<Value>> {
    let (name, op, operand): (&str, fn(u64, u64) -> u64, &Value) = match kind {
        MutationKind::Sum(v) if v.kind != ValueKind::U64 => return Some(sum(old, v)),
        MutationKind::Sum(v) => ("sum", u64::wrapping_add, v),
        MutationKind::Min(v) => ("min", u64::min, v),
        MutationKind::Max(v) => ("max", u64::max, v),
        _ => return None,
    };
    let Some(operand) = operand.as_u64() else {
        return Some(Err(limits::error(format!(
            "Failed to perform '{name}' mutation on a non-U64 operand"
        ))));
    };
    Some(match old {
        None => Ok(Value::u64(operand)),
        Some(old) => match old.as_u64() {
            Some(old) => Ok(Value::u64(op(old, operand))),
            None => Err(limits::error(format!(
                "Failed to perform '{name}' mutation on a non-U64 value in the database"
            ))),
        },
    })
}

/// A value `sum` works on.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A JavaScript number.
    Number(f64),
    /// A bigint: sign and magnitude as little-endian 64-bit limbs, no high zero limbs.
    BigInt {
        /// Below zero.
        negative: bool,
        /// Magnitude.
        limbs: Vec<u64>,
    },
    /// A `KvU64`.
    U64(u64),
}

impl Operand {
    fn name(&self) -> &'static str {
        match self {
            Self::Number(_) => "Number",
            Self::BigInt { .. } => "BigInt",
            Self::U64(_) => "KvU64",
        }
    }

    /// Reads a number, bigint or `KvU64`; the error is Deno's wording for anything else.
    pub fn parse(value: &Value) -> std::result::Result<Self, &'static str> {
        match value.kind {
            ValueKind::U64 => value.as_u64().map(Self::U64).ok_or("invalid v8 value"),
            ValueKind::Json => std::str::from_utf8(&value.bytes)
                .ok()
                .filter(|t| t.starts_with(|c: char| c == '-' || c.is_ascii_digit()))
                .and_then(|t| t.parse().ok())
                .map(Self::Number)
                .ok_or("unsupported value type"),
            ValueKind::V8 => parse_v8(&value.bytes),
            ValueKind::Bytes => Err("unsupported value type"),
        }
    }

    /// The stored form of the value.
    pub fn encode(&self) -> Value {
        let mut bytes = vec![0xff, 0x0f];
        match self {
            Self::U64(n) => return Value::u64(*n),
            Self::Number(n) => {
                bytes.push(b'N');
                bytes.extend(n.to_le_bytes());
            }
            Self::BigInt { negative, limbs } => {
                bytes.push(b'Z');
                varint(
                    &mut bytes,
                    ((limbs.len() as u64 * 8) << 1) | u64::from(*negative),
                );
                for limb in limbs {
                    bytes.extend(limb.to_le_bytes());
                }
            }
        }
        Value {
            kind: ValueKind::V8,
            bytes,
        }
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

fn parse_v8(bytes: &[u8]) -> std::result::Result<Operand, &'static str> {
    const INVALID: &str = "invalid v8 value";
    let mut at = 0;
    if bytes.first() == Some(&0xff) {
        at = 1;
        read_varint(bytes, &mut at).ok_or(INVALID)?;
    }
    while bytes.get(at) == Some(&0) {
        at += 1; // padding
    }
    let tag = *bytes.get(at).ok_or(INVALID)?;
    at += 1;
    match tag {
        b'I' => {
            let z = read_varint(bytes, &mut at).ok_or(INVALID)?;
            Ok(Operand::Number(
                ((z >> 1) as i64 ^ -((z & 1) as i64)) as f64,
            ))
        }
        b'U' => Ok(Operand::Number(
            read_varint(bytes, &mut at).ok_or(INVALID)? as f64
        )),
        b'N' => {
            let raw = bytes.get(at..at + 8).ok_or(INVALID)?;
            Ok(Operand::Number(f64::from_le_bytes(
                raw.try_into().expect("8 bytes"),
            )))
        }
        b'Z' => {
            let bitfield = read_varint(bytes, &mut at).ok_or(INVALID)?;
            let len = (bitfield >> 1) as usize;
            let digits = bytes.get(at..at + len).ok_or(INVALID)?;
            let mut limbs: Vec<u64> = digits
                .chunks(8)
                .map(|c| {
                    let mut limb = [0; 8];
                    limb[..c.len()].copy_from_slice(c);
                    u64::from_le_bytes(limb)
                })
                .collect();
            trim(&mut limbs);
            Ok(Operand::BigInt {
                negative: bitfield & 1 == 1 && !limbs.is_empty(),
                limbs,
            })
        }
        _ => Err("unsupported value type"),
    }
}

fn trim(limbs: &mut Vec<u64>) {
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
}

fn cmp_mag(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn add_mag(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = false;
    for i in 0..a.len().max(b.len()) {
        let (s, c1) = a
            .get(i)
            .copied()
            .unwrap_or(0)
            .overflowing_add(b.get(i).copied().unwrap_or(0));
        let (s, c2) = s.overflowing_add(u64::from(carry));
        out.push(s);
        carry = c1 || c2;
    }
    if carry {
        out.push(1);
    }
    out
}

/// `a - b` for `a >= b` in magnitude.
fn sub_mag(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = false;
    for (i, &x) in a.iter().enumerate() {
        let (d, b1) = x.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out.push(d);
        borrow = b1 || b2;
    }
    trim(&mut out);
    out
}

fn add_big(an: bool, a: &[u64], bn: bool, b: &[u64]) -> Operand {
    let (negative, mut limbs) = if an == bn {
        (an, add_mag(a, b))
    } else if cmp_mag(a, b).is_ge() {
        (an, sub_mag(a, b))
    } else {
        (bn, sub_mag(b, a))
    };
    trim(&mut limbs);
    Operand::BigInt {
        negative: negative && !limbs.is_empty(),
        limbs,
    }
}

/// Adds `operand` (not a `KvU64`) to the stored value `old` (absent: the operand itself),
/// with Deno's errors for mismatched types.
pub fn sum(old: Option<&Value>, operand: &Value) -> Result<Value> {
    let operand = Operand::parse(operand)
        .map_err(|_| limits::error("Some of the parameters are not valid V8 values"))?;
    let Some(old) = old else {
        return Ok(operand.encode());
    };
    let old = Operand::parse(old).map_err(limits::error)?;
    let result = match (&old, &operand) {
        (Operand::Number(a), Operand::Number(b)) => Operand::Number(a + b),
        (
            Operand::BigInt {
                negative: an,
                limbs: a,
            },
            Operand::BigInt {
                negative: bn,
                limbs: b,
            },
        ) => add_big(*an, a, *bn, b),
        // A bigint added to a KvU64 keeps it a KvU64 when it fits, as Deno does.
        (
            Operand::U64(a),
            Operand::BigInt {
                negative: false,
                limbs,
            },
        ) if limbs.len() <= 1 => Operand::U64(a.wrapping_add(limbs.first().copied().unwrap_or(0))),
        _ => {
            return Err(limits::error(format!(
                "Cannot sum {} with {}",
                old.name(),
                operand.name()
            )));
        }
    };
    Ok(result.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(negative: bool, limbs: &[u64]) -> Value {
        Operand::BigInt {
            negative,
            limbs: limbs.to_vec(),
        }
        .encode()
    }

    #[test]
    fn bigints_add_with_carries_and_signs() {
        let max = big(false, &[u64::MAX]);
        let one = big(false, &[1]);
        assert_eq!(sum(Some(&max), &one).unwrap(), big(false, &[0, 1]));
        let minus_two = big(true, &[2]);
        assert_eq!(sum(Some(&one), &minus_two).unwrap(), big(true, &[1]));
        assert_eq!(
            sum(Some(&minus_two), &big(false, &[2])).unwrap(),
            big(false, &[])
        );
        let json = Value {
            kind: ValueKind::Json,
            bytes: b"2.5".to_vec(),
        };
        assert_eq!(
            sum(Some(&json), &json).unwrap(),
            Operand::Number(5.0).encode()
        );
        let err = sum(Some(&json), &one).unwrap_err().to_string();
        assert!(err.ends_with("Cannot sum Number with BigInt"), "{err}");
    }
}
