//! The byte layout of the records that cross the HTTP bridge.
//!
//! Both directions use little-endian, 8-byte aligned records that start with their total
//! length, so a reader walks a batch by adding lengths. Numbers TypeScript must read as
//! JavaScript numbers (ids, pointers, lengths, deadlines) are stored as `f64`: they all stay
//! below 2^53, and `DataView.getFloat64` is the cheapest way to read them.
//!
//! Request record (kernel → TypeScript, in the inbox):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u32 | record length |
//! | 4 | u8 | kind: [`KIND_REQUEST`] or [`KIND_ABORT`] (an abort record ends at 16) |
//! | 5 | u8 | flags (`FLAG_*`) |
//! | 6 | u16 | header count |
//! | 8 | f64 | request id |
//! | 16 | f64 | body address (buffered) |
//! | 24 | f64 | body length (buffered), Content-Length or -1 (streamed) |
//! | 32 | f64 | deadline, ms since the Unix epoch, 0 when none |
//! | 40 | u32 | URL length |
//! | 44 | u16 | method length |
//! | 46 | u16 | remote IP length |
//! | 48 | u16 | remote port |
//! | 50 | u8 | parent span id length (0 or 16) |
//! | 51 | u8 | request id length (1 to 128) |
//! | 52 | u32 | text length |
//! | 56 | u32 × 2 × count | header name and value lengths |
//! | … | bytes | text: method, URL, remote IP, request id, trace id (32), span id (16), parent span id, then each header name and value |
//!
//! The offsets are the `AT_*`, `REQ_*` and `RES_*` constants below; `tools/codegen` copies
//! every constant of this file into `bindings/http_records.ts` for TypeScript and folds
//! them into the ABI fingerprint, so a layout change cannot go unnoticed by either side.
//!
//! Response record (TypeScript → kernel, in the outbox):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u32 | record length |
//! | 4 | u8 | kind: [`KIND_RESPOND`], [`KIND_RESPOND_STREAM`] or [`KIND_RELEASE`] |
//! | 5 | u8 | flags: [`FLAG_STAGED_BODY`], [`FLAG_TRACE_HEADERS`] |
//! | 6 | u16 | status |
//! | 8 | f64 | request id |
//! | 16 | u32 | header count |
//! | 20 | u32 | inline body length |
//! | 24 | u32 × 2 × count | header name and value lengths |
//! | … | bytes | header names and values, then the inline body |

use super::trace::TraceHeaders;
use crate::{KernelError, Result};

/// A request for TypeScript to handle.
pub const KIND_REQUEST: u8 = 1;
/// The request with this id was abandoned (client gone or deadline passed).
pub const KIND_ABORT: u8 = 2;
/// A complete response; the body is inline or staged.
pub const KIND_RESPOND: u8 = 1;
/// A response head; the body follows through `write` calls.
pub const KIND_RESPOND_STREAM: u8 = 2;
/// TypeScript is done with an abandoned request; free its slot.
pub const KIND_RELEASE: u8 = 3;

/// The body is in kernel memory at the record's address.
pub const FLAG_BODY_BUFFERED: u8 = 1;
/// The body streams through `read` calls.
pub const FLAG_BODY_STREAMED: u8 = 2;
/// The request arrived over HTTP/2.
pub const FLAG_HTTP2: u8 = 4;
/// The request arrived over TLS.
pub const FLAG_TLS: u8 = 8;
/// Every byte of the text area is ASCII, so it can be decoded once and sliced.
pub const FLAG_ASCII: u8 = 16;
/// The request asks for a WebSocket (`upgradeWebSocket` may accept it).
pub const FLAG_WEBSOCKET: u8 = 32;
/// The response body was handed over beside the record (`Server::send`), not inline.
pub const FLAG_STAGED_BODY: u8 = 1;
/// The kernel adds `traceparent` and `x-request-id` for the request's own ids after the
/// record's fields (see [`super::trace::TraceHeaders`]), so TypeScript need not build them.
pub const FLAG_TRACE_HEADERS: u8 = 2;

/// Offset of the record length (u32), in every record.
pub const AT_LEN: usize = 0;
/// Offset of the kind (u8), in every record.
pub const AT_KIND: usize = 4;
/// Offset of the flags (u8), in every record.
pub const AT_FLAGS: usize = 5;
/// Offset of the request id (f64), in every record.
pub const AT_ID: usize = 8;
/// Offset of a request's header count (u16).
pub const REQ_COUNT: usize = 6;
/// Offset of a request's buffered body address (f64).
pub const REQ_BODY_ADDR: usize = 16;
/// Offset of a request's body length (f64).
pub const REQ_BODY_LEN: usize = 24;
/// Offset of a request's deadline (f64).
pub const REQ_DEADLINE: usize = 32;
/// Offset of a request's URL length (u32).
pub const REQ_URL_LEN: usize = 40;
/// Offset of a request's method length (u16).
pub const REQ_METHOD_LEN: usize = 44;
/// Offset of a request's remote IP length (u16).
pub const REQ_IP_LEN: usize = 46;
/// Offset of a request's remote port (u16).
pub const REQ_PORT: usize = 48;
/// Offset of a request's parent span id length (u8).
pub const REQ_PARENT_LEN: usize = 50;
/// Offset of a request's request id length (u8).
pub const REQ_REQUEST_ID_LEN: usize = 51;
/// Offset of a request's text length (u32).
pub const REQ_TEXT_LEN: usize = 52;
/// Offset of a response's status (u16).
pub const RES_STATUS: usize = 6;
/// Offset of a response's header count (u32).
pub const RES_COUNT: usize = 16;
/// Offset of a response's inline body length (u32).
pub const RES_BODY_LEN: usize = 20;
/// Size of the fixed part of a request record.
pub const REQUEST_FIXED: usize = 56;
/// Size of a notice record: an abort ([`KIND_ABORT`]).
pub const ABORT_LEN: usize = 16;
/// Size of the fixed part of a response record.
pub const RESPONSE_FIXED: usize = 24;

/// Rounds `n` up to the record alignment.
pub fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// A request's header fields, as a record encodes them.
pub trait HeadFields {
    /// How many fields there are.
    fn count(&self) -> usize;
    /// Calls `each` with every field's name and value, in order.
    fn each(&self, each: impl FnMut(&[u8], &[u8]));
}

impl HeadFields for http::HeaderMap {
    fn count(&self) -> usize {
        self.len()
    }

    fn each(&self, mut each: impl FnMut(&[u8], &[u8])) {
        for (name, value) in self {
            each(name.as_str().as_bytes(), value.as_bytes());
        }
    }
}

/// Everything a request record carries, borrowed from the request being encoded.
pub struct RequestHead<'a, H: ?Sized> {
    /// Request id (slot id).
    pub id: u64,
    /// `FLAG_*` bits other than [`FLAG_ASCII`], which the encoder computes.
    pub flags: u8,
    /// Address of a buffered body, 0 otherwise.
    pub body_addr: usize,
    /// Buffered length, or Content-Length / -1 for a streamed body.
    pub body_len: f64,
    /// Deadline in ms since the epoch, 0 when none.
    pub deadline_ms: f64,
    /// Method token.
    pub method: &'a str,
    /// Absolute URL, in pieces written one after the other (scheme with `://`, authority,
    /// path and query), so no request has to join them first.
    pub url: [&'a str; 3],
    /// Remote IP address as text.
    pub remote_ip: &'a str,
    /// Remote port.
    pub remote_port: u16,
    /// The four trace ids as hex: request, trace, span, parent span ("" when none).
    pub ids: [&'a str; 4],
    /// Header names (written in lower case, as `Deno.serve` hands them over) and values.
    pub headers: &'a H,
}

/// Encodes a request record, appending it to `out`.
pub fn encode_request<H: HeadFields + ?Sized>(
    head: &RequestHead<'_, H>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let count = head.headers.count();
    let count16 =
        u16::try_from(count).map_err(|_| KernelError::LimitExceeded(format!("{count} headers")))?;
    let start = out.len();
    out.resize(start + REQUEST_FIXED + count * 8, 0);
    let mut ascii = true;
    let mut text = |bytes: &[u8], out: &mut Vec<u8>| {
        ascii &= bytes.is_ascii();
        out.extend_from_slice(bytes);
    };
    let text_start = out.len();
    text(head.method.as_bytes(), out);
    for piece in head.url {
        text(piece.as_bytes(), out);
    }
    text(head.remote_ip.as_bytes(), out);
    for id in head.ids {
        text(id.as_bytes(), out);
    }
    // Each field's lengths go straight into the table reserved above (no list per request).
    let mut i = 0;
    head.headers.each(|name, value| {
        let at = out.len();
        text(name, out);
        out[at..].make_ascii_lowercase();
        text(value, out);
        let table = &mut out[start + REQUEST_FIXED + i * 8..];
        put_u32(table, 0, name.len() as u32);
        put_u32(table, 4, value.len() as u32);
        i += 1;
    });
    let text_len = out.len() - text_start;
    let total = align8(out.len() - start);
    out.resize(start + total, 0);
    let rec = &mut out[start..];
    let flags = head.flags | if ascii { FLAG_ASCII } else { 0 };
    put_u32(rec, AT_LEN, total as u32);
    rec[AT_KIND] = KIND_REQUEST;
    rec[AT_FLAGS] = flags;
    put_u16(rec, REQ_COUNT, count16);
    put_f64(rec, AT_ID, head.id as f64);
    put_f64(rec, REQ_BODY_ADDR, head.body_addr as f64);
    put_f64(rec, REQ_BODY_LEN, head.body_len);
    put_f64(rec, REQ_DEADLINE, head.deadline_ms);
    let url_len: usize = head.url.iter().map(|piece| piece.len()).sum();
    put_u32(rec, REQ_URL_LEN, url_len as u32);
    put_u16(rec, REQ_METHOD_LEN, head.method.len() as u16);
    put_u16(rec, REQ_IP_LEN, head.remote_ip.len() as u16);
    put_u16(rec, REQ_PORT, head.remote_port);
    rec[REQ_PARENT_LEN] = head.ids[3].len() as u8;
    rec[REQ_REQUEST_ID_LEN] = head.ids[0].len() as u8;
    put_u32(rec, REQ_TEXT_LEN, text_len as u32);
    Ok(())
}

/// Sets the id, deadline and buffered body address of the request record `rec` (encoded
/// before they were known).
pub fn stamp_request(rec: &mut [u8], id: u64, deadline_ms: f64, body_addr: usize) {
    put_f64(rec, AT_ID, id as f64);
    put_f64(rec, REQ_BODY_ADDR, body_addr as f64);
    put_f64(rec, REQ_DEADLINE, deadline_ms);
}

/// Encodes a 16-byte abort record for `id`, appending it to `out`.
pub fn encode_abort(id: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + ABORT_LEN, 0);
    let rec = &mut out[start..];
    put_u32(rec, AT_LEN, ABORT_LEN as u32);
    rec[AT_KIND] = KIND_ABORT;
    put_f64(rec, AT_ID, id as f64);
}

/// One response record decoded from the outbox, borrowing its bytes.
#[derive(Debug)]
pub struct ResponseRecord<'a> {
    /// [`KIND_RESPOND`], [`KIND_RESPOND_STREAM`] or [`KIND_RELEASE`].
    pub kind: u8,
    /// [`FLAG_STAGED_BODY`] and [`FLAG_TRACE_HEADERS`] bits.
    pub flags: u8,
    /// HTTP status.
    pub status: u16,
    /// Request id.
    pub id: u64,
    /// Header names and values.
    pub headers: Fields<'a>,
    /// Inline body.
    pub body: &'a [u8],
    /// The whole record.
    pub raw: &'a [u8],
}

/// The header fields of a response record, read in place (checked when the record was
/// decoded, so iterating cannot fail and allocates nothing).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// The length table: a name and a value length (u32 each) per field.
    table: &'a [u8],
    /// Names and values, one after the other.
    text: &'a [u8],
}

impl<'a> Fields<'a> {
    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.table.len() / 8
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The fields as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        let text = self.text;
        let mut at = 0;
        self.table.chunks_exact(8).map(move |lens| {
            let name_len = get_u32(lens, 0) as usize;
            let value_len = get_u32(lens, 4) as usize;
            let name = &text[at..at + name_len];
            let value = &text[at + name_len..at + name_len + value_len];
            at += name_len + value_len;
            (name, value)
        })
    }
}

/// A whole response record copied out of the outbox (which TypeScript reuses), for the
/// HTTP/1.1 lane to write from in place: names in lower case, as `http` types would give
/// them; fields known to be valid for the writer.
#[derive(Debug)]
pub struct OwnedResponse {
    bytes: Vec<u8>,
    status: u16,
    table: std::ops::Range<usize>,
    text: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
}

impl OwnedResponse {
    /// A copy of `rec` in `bytes` (a spare buffer, emptied first), with the `trace` fields
    /// after the record's own, or `None` when a field name or value could not go on the wire
    /// as it is (the caller then takes the checked path, which answers 500).
    pub fn copy(
        rec: &ResponseRecord<'_>,
        mut bytes: Vec<u8>,
        trace: Option<&TraceHeaders>,
    ) -> Option<Self> {
        let trace = trace.map(TraceHeaders::fields);
        let extra = trace.as_ref().map_or(&[][..], |fields| &fields[..]);
        bytes.clear();
        bytes.extend_from_slice(rec.headers.table);
        for (name, value) in extra {
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        let table = 0..bytes.len();
        bytes.extend_from_slice(rec.headers.text);
        for (name, value) in extra {
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value);
        }
        let text = table.end..bytes.len();
        bytes.extend_from_slice(rec.body);
        let body = text.end..bytes.len();
        let mut at = text.start;
        for field in 0..rec.headers.len() {
            let name_len = get_u32(&bytes, field * 8) as usize;
            let value_len = get_u32(&bytes, field * 8 + 4) as usize;
            let name = &mut bytes[at..at + name_len];
            at += name_len;
            if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
                return None;
            }
            name.make_ascii_lowercase();
            let value = &bytes[at..at + value_len];
            at += value_len;
            if !value
                .iter()
                .all(|b| matches!(b, b'\t' | b' '..=0x7e | 0x80..=0xff))
            {
                return None;
            }
        }
        Some(Self {
            bytes,
            status: rec.status,
            table,
            text,
            body,
        })
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Header names and values.
    pub fn headers(&self) -> Fields<'_> {
        Fields {
            table: &self.bytes[self.table.clone()],
            text: &self.bytes[self.text.clone()],
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.body.clone()]
    }

    /// The buffer, for the next copy.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

/// A token character (RFC 9110 §5.6.2), what a field name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decodes every response record in `batch`; fails on the first malformed record.
pub fn decode_responses(batch: &[u8]) -> Result<Vec<ResponseRecord<'_>>> {
    // Sized for records of about 64 bytes (a small whole response): growing from empty
    // reallocated and copied the list four or five times for a batch of 64 responses.
    let mut records = Vec::with_capacity((batch.len() / 64).clamp(4, 256));
    let mut at = 0;
    while at < batch.len() {
        let (record, len) = decode_response(&batch[at..])
            .map_err(|e| KernelError::invalid(format!("response record at byte {at}: {e}")))?;
        records.push(record);
        at += len;
    }
    Ok(records)
}

fn decode_response(rec: &[u8]) -> std::result::Result<(ResponseRecord<'_>, usize), String> {
    if rec.len() < RESPONSE_FIXED {
        return Err(format!("{} bytes is shorter than a record", rec.len()));
    }
    let len = get_u32(rec, AT_LEN) as usize;
    if len < RESPONSE_FIXED || len > rec.len() || len % 8 != 0 {
        return Err(format!("bad record length {len}"));
    }
    let rec = &rec[..len];
    let kind = rec[AT_KIND];
    if !matches!(kind, KIND_RESPOND | KIND_RESPOND_STREAM | KIND_RELEASE) {
        return Err(format!("unknown record kind {kind}"));
    }
    let id = f64::from_le_bytes(rec[AT_ID..AT_ID + 8].try_into().expect("8 bytes"));
    if !((0.0..9.0e15).contains(&id) && id.fract() == 0.0) {
        return Err(format!("bad request id {id}"));
    }
    let count = get_u32(rec, RES_COUNT) as usize;
    let body_len = get_u32(rec, RES_BODY_LEN) as usize;
    let text_start = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(RESPONSE_FIXED))
        .filter(|n| *n <= len)
        .ok_or_else(|| format!("{count} headers do not fit in {len} bytes"))?;
    let table = &rec[RESPONSE_FIXED..text_start];
    let mut at = text_start;
    for lens in table.chunks_exact(8) {
        take(rec, &mut at, get_u32(lens, 0) as usize)?;
        take(rec, &mut at, get_u32(lens, 4) as usize)?;
    }
    let text = &rec[text_start..at];
    let body = take(rec, &mut at, body_len)?;
    Ok((
        ResponseRecord {
            kind,
            flags: rec[AT_FLAGS],
            status: u16::from_le_bytes([rec[RES_STATUS], rec[RES_STATUS + 1]]),
            id: id as u64,
            headers: Fields { table, text },
            body,
            raw: rec,
        },
        len,
    ))
}

fn take<'a>(rec: &'a [u8], at: &mut usize, len: usize) -> std::result::Result<&'a [u8], String> {
    let end = at
        .checked_add(len)
        .filter(|end| *end <= rec.len())
        .ok_or_else(|| format!("field of {len} bytes overruns the record"))?;
    let out = &rec[*at..end];
    *at = end;
    Ok(out)
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_f64(buf: &mut [u8], at: usize, v: f64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

/// A request or abort record read back from an inbox (the reference reader; TypeScript has
/// its own in `packages/core/src/http/records.ts`).
#[derive(Debug, Clone, Default)]
pub struct RequestView {
    /// [`KIND_REQUEST`] or [`KIND_ABORT`].
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Request id.
    pub id: u64,
    /// Address of a buffered body.
    pub body_addr: usize,
    /// Body length (see the layout table).
    pub body_len: f64,
    /// Deadline in ms since the epoch, 0 when none.
    pub deadline_ms: f64,
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Remote address.
    pub remote: (String, u16),
    /// Request, trace, span and parent span ids.
    pub ids: [String; 4],
    /// Headers in arrival order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads every record of an inbox batch.
pub fn decode_requests(batch: &[u8]) -> Result<Vec<RequestView>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + ABORT_LEN <= batch.len() {
        let len = get_u32(batch, at) as usize;
        if len < ABORT_LEN || at + len > batch.len() {
            return Err(KernelError::invalid(format!(
                "bad request record at byte {at}"
            )));
        }
        let rec = &batch[at..at + len];
        let f = |o: usize| f64::from_le_bytes(rec[o..o + 8].try_into().expect("8 bytes"));
        let mut view = RequestView {
            kind: rec[4],
            flags: rec[5],
            id: f(8) as u64,
            ..Default::default()
        };
        if view.kind == KIND_REQUEST {
            let u16_at = |o: usize| u16::from_le_bytes([rec[o], rec[o + 1]]) as usize;
            let count = u16_at(6);
            view.body_addr = f(16) as usize;
            view.body_len = f(24);
            view.deadline_ms = f(32);
            let mut text = REQUEST_FIXED + count * 8;
            let mut next = |n: usize| {
                let s = &rec[text..text + n];
                text += n;
                s
            };
            let utf8 = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            view.method = utf8(next(u16_at(44)));
            view.url = utf8(next(get_u32(rec, 40) as usize));
            let ip = utf8(next(u16_at(46)));
            view.remote = (ip, u16_at(48) as u16);
            let (parent, request_id) = (rec[50] as usize, rec[51] as usize);
            view.ids = [
                utf8(next(request_id)),
                utf8(next(32)),
                utf8(next(16)),
                utf8(next(parent)),
            ];
            for i in 0..count {
                let name = get_u32(rec, REQUEST_FIXED + i * 8) as usize;
                let value = get_u32(rec, REQUEST_FIXED + i * 8 + 4) as usize;
                let name = utf8(next(name));
                view.headers.push((name, next(value).to_vec()));
            }
        }
        out.push(view);
        at += len;
    }
    Ok(out)
}

/// Encodes a response record, appending it to `out` (what the TypeScript side does; the
/// kernel uses it in tests and in the Rust test consumer).
pub fn encode_response(
    kind: u8,
    status: u16,
    id: u64,
    headers: &[(&str, &str)],
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.resize(start + RESPONSE_FIXED + headers.len() * 8, 0);
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(body);
    let total = align8(out.len() - start);
    out.resize(start + total, 0);
    let rec = &mut out[start..];
    put_u32(rec, 0, total as u32);
    rec[4] = kind;
    put_u16(rec, 6, status);
    put_f64(rec, 8, id as f64);
    put_u32(rec, 16, headers.len() as u32);
    put_u32(rec, 20, body.len() as u32);
    for (i, (name, value)) in headers.iter().enumerate() {
        put_u32(rec, RESPONSE_FIXED + i * 8, name.len() as u32);
        put_u32(rec, RESPONSE_FIXED + i * 8 + 4, value.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_records_round_trip() {
        let mut out = Vec::new();
        encode_response(
            KIND_RESPOND,
            201,
            42,
            &[("a", "1"), ("bb", "22")],
            b"hi",
            &mut out,
        );
        encode_response(KIND_RELEASE, 0, 7, &[], b"", &mut out);
        let records = decode_responses(&out).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].status, 201);
        assert_eq!(records[0].id, 42);
        let headers: Vec<_> = records[0].headers.iter().collect();
        assert_eq!(headers, [(&b"a"[..], &b"1"[..]), (&b"bb"[..], &b"22"[..])]);
        assert_eq!(records[0].body, b"hi");
        assert_eq!(records[1].kind, KIND_RELEASE);
    }

    #[test]
    fn malformed_response_records_are_refused() {
        let mut out = Vec::new();
        encode_response(KIND_RESPOND, 200, 1, &[("a", "1")], b"body", &mut out);
        let mut bad_len = out.clone();
        bad_len[0] = 9;
        assert!(decode_responses(&bad_len).is_err());
        let mut bad_kind = out.clone();
        bad_kind[4] = 77;
        assert!(decode_responses(&bad_kind).is_err());
        let mut overrun = out.clone();
        overrun[20] = 200; // body longer than the record
        let err = decode_responses(&overrun).unwrap_err().to_string();
        assert!(err.contains("overruns"), "{err}");
        assert!(decode_responses(&out[..10]).is_err());
    }

    #[test]
    fn request_records_mark_ascii_text() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x", http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        let head = RequestHead {
            id: 3,
            flags: 0,
            body_addr: 0,
            body_len: 0.0,
            deadline_ms: 0.0,
            method: "GET",
            url: ["http://", "a", "/"],
            remote_ip: "127.0.0.1",
            remote_port: 9,
            ids: ["r", "t", "s", ""],
            headers: &headers,
        };
        let mut out = Vec::new();
        encode_request(&head, &mut out).unwrap();
        assert_eq!(out.len() % 8, 0);
        assert_eq!(out[5] & FLAG_ASCII, 0);
        let empty = http::HeaderMap::new();
        let mut out = Vec::new();
        encode_request(
            &RequestHead {
                headers: &empty,
                ..head
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(out[5] & FLAG_ASCII, FLAG_ASCII);
        assert_eq!(get_u32(&out, 52) as usize, "GEThttp://a/127.0.0.1rts".len());
    }
}
