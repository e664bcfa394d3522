//! The KV key codec against the golden vectors shared with the TypeScript codec
//! (`testdata/kv_key_vectors.json`, also checked by
//! `packages/core/src/storage/kv_key_vectors_test.ts`): a change to either codec alone
//! fails one of the two tests.

use krepis_kernel::KernelError;
use krepis_kernel::kv::key::{KeyPart, decode, encode};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/kv_key_vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("golden vectors file");
    serde_json::from_str(&text).expect("golden vectors are JSON")
}

fn hex(text: &str) -> Vec<u8> {
    let text = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A part as the vectors file writes it (`{"bigint": "-0x100"}`, `{"number": "-0"}`, ...).
fn part(value: &Value) -> KeyPart {
    let (kind, v) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a part is a one-entry object");
    match kind.as_str() {
        "bytes" => KeyPart::Bytes(hex(v.as_str().unwrap())),
        "string" => KeyPart::String(v.as_str().unwrap().to_string()),
        "bigint" => {
            let text = v.as_str().unwrap();
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let mut magnitude = hex(digits.strip_prefix("0x").expect("hex bigint"));
            let zeros = magnitude.iter().take_while(|b| **b == 0).count();
            magnitude.drain(..zeros);
            KeyPart::Int {
                negative,
                magnitude,
            }
        }
        "number" => KeyPart::Float(v.as_str().unwrap().parse().expect("number literal")),
        "boolean" => KeyPart::Bool(v.as_bool().unwrap()),
        other => panic!("unknown part type {other}"),
    }
}

/// Equality that tells -0 from 0 and accepts NaN = NaN.
fn same(a: &KeyPart, b: &KeyPart) -> bool {
    match (a, b) {
        (KeyPart::Float(x), KeyPart::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn encode_and_decode_match_the_golden_vectors() {
    let vectors = vectors();
    let keys = vectors["keys"].as_array().unwrap();
    assert!(keys.len() > 40, "the vectors file lost entries");
    for vector in keys {
        let name = vector["name"].as_str().unwrap();
        let key: Vec<KeyPart> = vector["key"].as_array().unwrap().iter().map(part).collect();
        let bytes = hex(vector["hex"].as_str().unwrap());
        assert_eq!(encode(&key), bytes, "encode: {name}");
        let decoded = decode(&bytes).unwrap_or_else(|e| panic!("decode {name}: {e}"));
        assert_eq!(decoded.len(), key.len(), "decode: {name}");
        assert!(
            decoded.iter().zip(&key).all(|(a, b)| same(a, b)),
            "decode: {name}: {decoded:?}"
        );
    }
}

#[test]
fn golden_keys_ascend_in_deno_kv_order() {
    let vectors = vectors();
    let encoded: Vec<(String, Vec<u8>)> = vectors["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let key: Vec<KeyPart> = v["key"].as_array().unwrap().iter().map(part).collect();
            (v["name"].as_str().unwrap().to_string(), encode(&key))
        })
        .collect();
    for pair in encoded.windows(2) {
        assert!(pair[0].1 < pair[1].1, "{} !< {}", pair[0].0, pair[1].0);
    }
}

#[test]
fn malformed_golden_keys_are_refused_with_their_reason() {
    let vectors = vectors();
    let malformed = vectors["malformed"].as_array().unwrap();
    assert!(
        malformed.len() > 20,
        "the vectors file lost malformed entries"
    );
    for vector in malformed {
        let name = vector["name"].as_str().unwrap();
        let bytes = hex(vector["hex"].as_str().unwrap());
        let err = decode(&bytes).expect_err(name);
        assert!(
            matches!(err, KernelError::InvalidArgument(_)),
            "{name}: {err:?}"
        );
        let why = vector["error"].as_str().unwrap();
        assert_eq!(
            err.to_string(),
            format!("invalid argument: malformed key: {why}"),
            "{name}"
        );
    }
}
