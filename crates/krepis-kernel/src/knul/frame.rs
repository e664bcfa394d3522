//! KNUL frames (`docs/knul.md` §2): a type byte, a big-endian u32 length, the payload; and
//! the status codes of §4.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use quinn::{ReadExactError, RecvStream};

use crate::proto::KnulStatus;

/// The ALPN protocol id of this version of the protocol.
pub const ALPN: &[u8] = b"knul/1";
/// Frame type of the call header (client → server, first).
pub const HEADER: u8 = 0x01;
/// Frame type of one message (both directions).
pub const MESSAGE: u8 = 0x02;
/// Frame type of the final status (server → client, last).
pub const STATUS: u8 = 0x03;
/// Bytes before a frame's payload.
pub const PREFIX: usize = 5;
/// Application error code of `STOP_SENDING` after a protocol error or an oversize frame.
pub const STOP_PROTOCOL: u32 = 0x4b01;
/// Application error code a client uses to cancel a call (reset / stop sending).
pub const CANCEL: u32 = 0x4b00;

/// Status codes (gRPC numbering).
pub mod code {
    /// Success.
    pub const OK: u32 = 0;
    /// Cancelled by the client.
    pub const CANCELLED: u32 = 1;
    /// An error with no better mapping.
    pub const UNKNOWN: u32 = 2;
    /// Bad input or malformed frames.
    pub const INVALID_ARGUMENT: u32 = 3;
    /// The deadline passed.
    pub const DEADLINE_EXCEEDED: u32 = 4;
    /// Not found.
    pub const NOT_FOUND: u32 = 5;
    /// Already exists.
    pub const ALREADY_EXISTS: u32 = 6;
    /// Forbidden.
    pub const PERMISSION_DENIED: u32 = 7;
    /// A limit was hit.
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    /// The system is not in a state to run the call.
    pub const FAILED_PRECONDITION: u32 = 9;
    /// No such method.
    pub const UNIMPLEMENTED: u32 = 12;
    /// A server bug or a crashed handler.
    pub const INTERNAL: u32 = 13;
    /// The server is unreachable or shutting down.
    pub const UNAVAILABLE: u32 = 14;
}

/// Appends a frame of `kind` with `payload` to `out`.
pub fn put(out: &mut BytesMut, kind: u8, payload: &[u8]) {
    out.reserve(PREFIX + payload.len());
    out.put_u8(kind);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

/// A complete `STATUS` frame for `code` with `message`.
pub fn status(code: u32, message: impl Into<String>) -> Bytes {
    let body = KnulStatus {
        code,
        message: message.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut out = BytesMut::new();
    put(&mut out, STATUS, &body);
    out.freeze()
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended cleanly before the frame started (the normal end of input).
    End,
    /// The stream ended inside a frame.
    Truncated,
    /// The frame's type is not one of the three.
    UnknownType(u8),
    /// The payload is larger than allowed; nothing of it was read.
    TooLarge(usize),
    /// The peer reset the stream or the connection is gone.
    Gone,
}

/// Reads one frame's type and payload length; refuses lengths over `max` before reading.
pub async fn read_prefix(recv: &mut RecvStream, max: usize) -> Result<(u8, usize), FrameError> {
    let mut prefix = [0u8; PREFIX];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Err(FrameError::End),
        Err(ReadExactError::FinishedEarly(_)) => return Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(_)) => return Err(FrameError::Gone),
    }
    let kind = prefix[0];
    if !matches!(kind, HEADER | MESSAGE | STATUS) {
        return Err(FrameError::UnknownType(kind));
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len));
    }
    Ok((kind, len))
}

/// Reads a payload of exactly `len` bytes into an allocation of exactly that size.
pub async fn read_payload(recv: &mut RecvStream, len: usize) -> Result<Box<[u8]>, FrameError> {
    let mut payload = vec![0u8; len].into_boxed_slice();
    match recv.read_exact(&mut payload).await {
        Ok(()) => Ok(payload),
        Err(ReadExactError::FinishedEarly(_)) => Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(_)) => Err(FrameError::Gone),
    }
}

/// Walks the frames in `bytes` (e.g. a response TypeScript wrote); returns the type and
/// payload of each, or `None` when the bytes are not a whole number of frames.
pub fn split(mut bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < PREFIX {
            return None;
        }
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let end = PREFIX.checked_add(len).filter(|end| *end <= bytes.len())?;
        frames.push((bytes[0], &bytes[PREFIX..end]));
        bytes = &bytes[end..];
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_truncation_is_seen() {
        let mut out = BytesMut::new();
        put(&mut out, MESSAGE, b"{}");
        out.extend_from_slice(&status(code::NOT_FOUND, "no"));
        let frames = split(&out).unwrap();
        assert_eq!(frames[0], (MESSAGE, &b"{}"[..]));
        assert_eq!(frames[1].0, STATUS);
        let st = KnulStatus::decode(frames[1].1).unwrap();
        assert_eq!((st.code, st.message.as_str()), (code::NOT_FOUND, "no"));
        assert!(split(&out[..out.len() - 1]).is_none());
        assert!(split(&out[..3]).is_none());
    }
}
