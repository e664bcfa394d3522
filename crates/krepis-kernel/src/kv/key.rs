//! Tuple keys in Deno KV's encoding, so that sled's byte order is Deno KV's key order.
//!
//! Each part is a type code followed by its payload (the FoundationDB tuple layout that
//! Deno KV uses):
//!
//! | part | code | payload |
//! |---|---|---|
//! | `Uint8Array` | `0x01` | bytes, `0x00` escaped as `0x00 0xff`, then `0x00` |
//! | `string` | `0x02` | UTF-8, escaped the same way |
//! | `bigint` | `0x0b`–`0x1d` | length-prefixed big-endian magnitude, one's complement when negative |
//! | `number` | `0x21` | IEEE-754 bits, sign-flipped so byte order is numeric order |
//! | `false` / `true` | `0x26` / `0x27` | none |
//!
//! So types order as Uint8Array < string < bigint < number < boolean, which is what
//! `Deno.openKv` does (checked by the TypeScript tests against the real thing; Deno's
//! manual lists number before bigint, but the implementation orders bigint first).

use crate::{KernelError, Result};

/// Longest encoded key accepted, as in Deno KV.
pub const MAX_KEY_BYTES: usize = 2048;

const BYTES: u8 = 0x01;
const STRING: u8 = 0x02;
const NEG_INT_BIG: u8 = 0x0b;
const INT_ZERO: u8 = 0x14;
const POS_INT_BIG: u8 = 0x1d;
const DOUBLE: u8 = 0x21;
const FALSE: u8 = 0x26;
const TRUE: u8 = 0x27;

/// One part of a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPart {
    /// A byte string (`Uint8Array`).
    Bytes(Vec<u8>),
    /// A string.
    String(String),
    /// An arbitrary-precision integer (`bigint`): sign and big-endian magnitude without
    /// leading zeros (empty for zero).
    Int {
        /// True for values below zero.
        negative: bool,
        /// Big-endian magnitude, no leading zero bytes.
        magnitude: Vec<u8>,
    },
    /// A double (`number`).
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl KeyPart {
    /// A `bigint` part from an `i64`.
    pub fn int(value: i64) -> Self {
        let magnitude = value.unsigned_abs().to_be_bytes();
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        Self::Int {
            negative: value < 0,
            magnitude: magnitude[skip..].to_vec(),
        }
    }
}

/// Encodes `parts` into the ordered byte form.
pub fn encode(parts: &[KeyPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            KeyPart::Bytes(bytes) => escaped(&mut out, BYTES, bytes),
            KeyPart::String(s) => escaped(&mut out, STRING, s.as_bytes()),
            KeyPart::Int {
                negative,
                magnitude,
            } => int(&mut out, *negative, magnitude),
            KeyPart::Float(f) => {
                out.push(DOUBLE);
                let bits = f.to_bits();
                let ordered = if bits >> 63 == 1 {
                    !bits
                } else {
                    bits ^ (1 << 63)
                };
                out.extend_from_slice(&ordered.to_be_bytes());
            }
            KeyPart::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        }
    }
    out
}

fn escaped(out: &mut Vec<u8>, code: u8, bytes: &[u8]) {
    out.push(code);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.push(0);
}

fn int(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let len = magnitude.len();
    if len == 0 {
        out.push(INT_ZERO);
        return;
    }
    if len <= 8 {
        out.push(if negative {
            INT_ZERO - len as u8
        } else {
            INT_ZERO + len as u8
        });
    } else if negative {
        out.extend_from_slice(&[NEG_INT_BIG, len as u8 ^ 0xff]);
    } else {
        out.extend_from_slice(&[POS_INT_BIG, len as u8]);
    }
    out.extend(magnitude.iter().map(|b| if negative { !b } else { *b }));
}

/// Decodes an encoded key, refusing anything [`encode`] would not have produced.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<KeyPart>> {
    let bad = |why: &str| KernelError::invalid(format!("malformed key: {why}"));
    let mut parts = Vec::new();
    while let Some((&code, rest)) = bytes.split_first() {
        bytes = rest;
        let part = match code {
            BYTES | STRING => {
                let mut value = Vec::new();
                loop {
                    let (&b, rest) = bytes
                        .split_first()
                        .ok_or_else(|| bad("unterminated part"))?;
                    bytes = rest;
                    if b != 0 {
                        value.push(b);
                    } else if bytes.first() == Some(&0xff) {
                        value.push(0);
                        bytes = &bytes[1..];
                    } else {
                        break;
                    }
                }
                if code == BYTES {
                    KeyPart::Bytes(value)
                } else {
                    KeyPart::String(
                        String::from_utf8(value).map_err(|_| bad("string is not UTF-8"))?,
                    )
                }
            }
            NEG_INT_BIG..=POS_INT_BIG => {
                let negative = code < INT_ZERO;
                let len = match code {
                    NEG_INT_BIG | POS_INT_BIG => {
                        let (&l, rest) = bytes.split_first().ok_or_else(|| bad("bigint length"))?;
                        bytes = rest;
                        let l = if negative { l ^ 0xff } else { l } as usize;
                        if l <= 8 {
                            return Err(bad("non-canonical bigint length"));
                        }
                        l
                    }
                    _ => code.abs_diff(INT_ZERO) as usize,
                };
                if bytes.len() < len {
                    return Err(bad("truncated bigint"));
                }
                let magnitude: Vec<u8> = bytes[..len]
                    .iter()
                    .map(|b| if negative { !b } else { *b })
                    .collect();
                bytes = &bytes[len..];
                if magnitude.first() == Some(&0) {
                    return Err(bad("non-canonical bigint"));
                }
                KeyPart::Int {
                    negative,
                    magnitude,
                }
            }
            DOUBLE => {
                let raw: [u8; 8] = bytes
                    .get(..8)
                    .ok_or_else(|| bad("truncated number"))?
                    .try_into()
                    .map_err(|_| bad("truncated number"))?;
                bytes = &bytes[8..];
                let ordered = u64::from_be_bytes(raw);
                let bits = if ordered >> 63 == 1 {
                    ordered ^ (1 << 63)
                } else {
                    !ordered
                };
                KeyPart::Float(f64::from_bits(bits))
            }
            FALSE => KeyPart::Bool(false),
            TRUE => KeyPart::Bool(true),
            other => return Err(bad(&format!("unknown type code {other:#04x}"))),
        };
        parts.push(part);
    }
    Ok(parts)
}

/// Checks that `bytes` is a well-formed, non-empty key of acceptable size.
pub fn validate(bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_KEY_BYTES {
        return Err(KernelError::LimitExceeded(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            bytes.len()
        )));
    }
    if decode(bytes)?.is_empty() {
        return Err(KernelError::invalid("key is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(negative: bool, len: usize) -> KeyPart {
        KeyPart::Int {
            negative,
            magnitude: vec![1; len],
        }
    }

    /// Parts listed in the order `Deno.openKv` lists them.
    fn ordered() -> Vec<KeyPart> {
        vec![
            KeyPart::Bytes(vec![]),
            KeyPart::Bytes(vec![0]),
            KeyPart::Bytes(vec![0, 0]),
            KeyPart::Bytes(vec![1]),
            KeyPart::String(String::new()),
            KeyPart::String("a".into()),
            KeyPart::String("a\0b".into()),
            KeyPart::String("b".into()),
            KeyPart::String("é".into()),
            big(true, 20),
            big(true, 9),
            KeyPart::int(i64::MIN),
            KeyPart::int(-256),
            KeyPart::int(-255),
            KeyPart::int(-1),
            KeyPart::int(0),
            KeyPart::int(1),
            KeyPart::int(255),
            KeyPart::int(256),
            KeyPart::int(i64::MAX),
            big(false, 9),
            big(false, 20),
            KeyPart::Float(f64::NEG_INFINITY),
            KeyPart::Float(-2.5),
            KeyPart::Float(-0.0),
            KeyPart::Float(0.0),
            KeyPart::Float(f64::MIN_POSITIVE),
            KeyPart::Float(2.5),
            KeyPart::Float(f64::INFINITY),
            KeyPart::Float(f64::NAN),
            KeyPart::Bool(false),
            KeyPart::Bool(true),
        ]
    }

    #[test]
    fn byte_order_is_deno_kv_order() {
        let encoded: Vec<Vec<u8>> = ordered()
            .iter()
            .map(|p| encode(std::slice::from_ref(p)))
            .collect();
        for pair in encoded.windows(2) {
            assert!(pair[0] < pair[1], "{:?} !< {:?}", pair[0], pair[1]);
        }
        // A shorter tuple sorts before its extensions, whatever the next part is.
        let a = encode(&[KeyPart::String("a".into())]);
        let ab = encode(&[KeyPart::String("a".into()), KeyPart::Bytes(vec![])]);
        assert!(a < ab);
    }

    #[test]
    fn decode_inverts_encode() {
        let parts = ordered();
        let decoded = decode(&encode(&parts)).unwrap();
        assert_eq!(decoded.len(), parts.len());
        for (a, b) in parts.iter().zip(&decoded) {
            match (a, b) {
                (KeyPart::Float(x), KeyPart::Float(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                _ => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            &[0x02, b'a'][..],
            &[0x99],
            &[0x15],
            &[0x21, 0, 0],
            &[0x02, 0xff, 0],
        ] {
            assert!(decode(bad).is_err() || validate(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&[]).is_err());
        let long = encode(&[KeyPart::String("x".repeat(MAX_KEY_BYTES))]);
        assert!(matches!(
            validate(&long),
            Err(KernelError::LimitExceeded(_))
        ));
    }
}
