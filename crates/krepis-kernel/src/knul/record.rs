//! The records KNUL puts through the shared-memory bridge (`crate::http::bridge`, reused
//! as is). Little-endian, 8-byte aligned, starting with their length, like the HTTP records;
//! aborts use the bridge's own 16-byte notices. TypeScript's reader is
//! `packages/core/src/knul/records.ts`.
//!
//! Call record (server → TypeScript):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u32 | record length |
//! | 4 | u8 | kind: [`KIND_CALL`] |
//! | 5 | u8 | flags (`FLAG_*`) |
//! | 6 | u16 | metadata count |
//! | 8 | f64 | call id (bridge slot id) |
//! | 16 | f64 | message address (when [`FLAG_MESSAGE`]) |
//! | 24 | f64 | message length, or -1 when the input streams |
//! | 32 | f64 | deadline, ms since the Unix epoch, 0 when none |
//! | 40 | u32 | priority |
//! | 44 | u16 × 6 | lengths of method, tenant, peer identity, request id, parent span id (0 or 16), encoding |
//! | 56 | u32 × 2 × count | metadata key and value lengths |
//! | … | bytes | text: method, tenant, peer, request id, trace id (32), span id (16), parent span id, encoding, then each key and value |
//!
//! Completion record (client → TypeScript): response frames of a call, lent in place (the
//! slot is released like an HTTP request's). A unary call gets one record with every frame;
//! a streaming call gets one per message as it arrives, then one with the status:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u32 | 40 |
//! | 4 | u8 | kind: [`KIND_DONE`] |
//! | 5 | u8 | [`FLAG_MORE`] when more records of this call follow (streamed responses) |
//! | 8 | f64 | slot id |
//! | 16 | f64 | the call id TypeScript chose |
//! | 24 | f64 | address of the response frames |
//! | 32 | f64 | their length |
//!
//! Responses go back as the bridge's HTTP response records with status 200 and no headers:
//! the body is a sequence of KNUL response frames (`MESSAGE`s and a final `STATUS`) that the
//! kernel writes to the stream as they are.

use crate::http::record::align8;

/// A call for TypeScript to run.
pub const KIND_CALL: u8 = 4;
/// A client call completed.
pub const KIND_DONE: u8 = 5;
/// The single request message is in kernel memory at the record's address.
pub const FLAG_MESSAGE: u8 = 1;
/// The input is a stream of frames read through `read` calls.
pub const FLAG_STREAMED: u8 = 2;
/// The call arrived in 0-RTT early data.
pub const FLAG_EARLY_DATA: u8 = 4;
/// The header declared the call idempotent.
pub const FLAG_IDEMPOTENT: u8 = 8;
/// More completion records of the same call follow.
pub const FLAG_MORE: u8 = 1;
/// Length of a completion record.
pub const DONE_LEN: usize = 40;

/// Everything a call record carries.
#[derive(Clone, Copy)]
pub struct CallHead<'a> {
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Address of the buffered message.
    pub message_addr: usize,
    /// Its length, or -1 for streamed input.
    pub message_len: f64,
    /// Deadline in ms since the epoch, 0 when none.
    pub deadline_ms: f64,
    /// Priority from the header.
    pub priority: u32,
    /// Method, tenant, peer identity, request id, parent span id, encoding.
    pub texts: [&'a str; 6],
    /// Trace id (32 hex) and the call's span id (16 hex).
    pub trace: [&'a str; 2],
    /// Metadata pairs.
    pub metadata: &'a [(&'a str, &'a str)],
}

/// Encodes a call record for slot `id`, appending it to `out`.
pub fn encode_call(id: u64, head: &CallHead<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(KIND_CALL);
    out.push(head.flags);
    out.extend_from_slice(&(head.metadata.len() as u16).to_le_bytes());
    for v in [
        id as f64,
        head.message_addr as f64,
        head.message_len,
        head.deadline_ms,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&head.priority.to_le_bytes());
    for text in head.texts {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    }
    for (k, v) in head.metadata {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    let [method, tenant, peer, request_id, parent, encoding] = head.texts;
    for text in [
        method,
        tenant,
        peer,
        request_id,
        head.trace[0],
        head.trace[1],
    ] {
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(parent.as_bytes());
    out.extend_from_slice(encoding.as_bytes());
    for (k, v) in head.metadata {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    let total = align8(out.len() - start);
    out.resize(start + total, 0);
    out[start..start + 4].copy_from_slice(&(total as u32).to_le_bytes());
}

/// Encodes a completion record, appending it to `out`; `more` sets [`FLAG_MORE`].
pub fn encode_done(slot: u64, call: u64, addr: usize, len: usize, more: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&(DONE_LEN as u32).to_le_bytes());
    let flags = if more { FLAG_MORE } else { 0 };
    out.extend_from_slice(&[KIND_DONE, flags, 0, 0]);
    for v in [slot as f64, call as f64, addr as f64, len as f64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_records_are_aligned_and_carry_their_lengths() {
        let mut out = Vec::new();
        let head = CallHead {
            flags: FLAG_MESSAGE,
            message_addr: 4096,
            message_len: 3.0,
            deadline_ms: 0.0,
            priority: 7,
            texts: ["m.x", "acme", "", "r", "", "json"],
            trace: ["t", "s"],
            metadata: &[("k", "vv")],
        };
        encode_call(9, &head, &mut out);
        assert_eq!(out.len() % 8, 0);
        assert_eq!(
            u32::from_le_bytes(out[0..4].try_into().unwrap()) as usize,
            out.len()
        );
        assert_eq!(out[4], KIND_CALL);
        assert_eq!(f64::from_le_bytes(out[8..16].try_into().unwrap()), 9.0);
        assert_eq!(u32::from_le_bytes(out[40..44].try_into().unwrap()), 7);
        assert_eq!(&out[64..67], b"m.x");
        let mut done = Vec::new();
        encode_done(1, 2, 3, 4, true, &mut done);
        assert_eq!(done[5], FLAG_MORE);
        assert_eq!(done.len(), DONE_LEN);
    }
}
