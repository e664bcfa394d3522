//! Request and W3C trace-context ids, made by the kernel so they exist before TypeScript runs.
//!
//! The format matches `packages/core/src/context/trace.ts`: lower-case hex, 32 characters for
//! a trace id, 16 for span and request ids; all-zero ids are invalid and never generated.

use std::cell::RefCell;

/// The ids of one request, as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// Unique id of this request (16 hex).
    pub request_id: HexId,
    /// The trace this request belongs to (32 hex): the caller's, or a new one.
    pub trace_id: HexId,
    /// This request's own span (16 hex), always new.
    pub span_id: HexId,
    /// The caller's span from `traceparent` (16 hex), empty when the trace starts here.
    pub parent_span_id: HexId,
}

impl TraceIds {
    /// The four ids as a record carries them: request, trace, span, parent span.
    pub fn as_fields(&self) -> [&str; 4] {
        [
            &self.request_id,
            &self.trace_id,
            &self.span_id,
            &self.parent_span_id,
        ]
    }
}

/// Up to 32 lower-case hex digits, held inline: every request gets four ids, and making
/// them must not cost allocations.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexId {
    digits: [u8; 32],
    len: u8,
}

/// The two lower-case hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    pairs
};

impl HexId {
    const EMPTY: Self = Self {
        digits: [0; 32],
        len: 0,
    };

    /// The id whose digits are `words` (each made non-zero: its low bit is forced on).
    fn from_words(words: &[u64]) -> Self {
        let mut id = Self::EMPTY;
        for (word, digits) in words.iter().zip(id.digits.chunks_exact_mut(16)) {
            // A byte at a time, two digits per lookup: four ids per request make this show.
            for (byte, pair) in (word | 1)
                .to_be_bytes()
                .iter()
                .zip(digits.chunks_exact_mut(2))
            {
                pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
            }
        }
        id.len = (words.len().min(2) * 16) as u8;
        id
    }

    /// `hex` (already checked to be at most 32 hex digits) in lower case.
    fn lowered(hex: &str) -> Self {
        let mut id = Self::EMPTY;
        for b in hex.bytes() {
            id.push(b.to_ascii_lowercase());
        }
        id
    }

    fn push(&mut self, digit: u8) {
        self.digits[usize::from(self.len)] = digit;
        self.len += 1;
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        let digits = &self.digits[..usize::from(self.len)];
        debug_assert!(digits.is_ascii());
        // SAFETY: `from_words` writes ASCII hex digits and `lowered` copies a `&str`
        // changing only the case of ASCII bytes, so the bytes are UTF-8. Not checked again
        // here: the record encoder reads the four ids of every request.
        unsafe { std::str::from_utf8_unchecked(digits) }
    }
}

impl std::ops::Deref for HexId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for HexId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for HexId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TraceIds {
    /// Ids for a request carrying `traceparent` (or not): a valid header continues the
    /// caller's trace; a missing or malformed one starts a new trace instead of failing.
    ///
    /// ```
    /// use krepis_kernel::http::trace::TraceIds;
    /// let ids = TraceIds::for_request(Some(
    ///     b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// ));
    /// assert_eq!(ids.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(ids.parent_span_id, "00f067aa0ba902b7");
    /// assert_eq!(TraceIds::for_request(Some(b"junk")).parent_span_id, "");
    /// ```
    pub fn for_request(traceparent: Option<&[u8]>) -> Self {
        // Four random words from one access to the thread's generator (a thread-local
        // access costs more than the arithmetic in a shared library).
        let [a, b, c, d] =
            RNG.with_borrow_mut(|rng| [rng.u64(..), rng.u64(..), rng.u64(..), rng.u64(..)]);
        let (trace_id, parent_span_id) = match traceparent.and_then(parse_traceparent) {
            Some((trace, parent)) => (trace, parent),
            None => (HexId::from_words(&[a, b]), HexId::EMPTY),
        };
        Self {
            request_id: HexId::from_words(&[c]),
            trace_id,
            span_id: HexId::from_words(&[d]),
            parent_span_id,
        }
    }
}

thread_local! {
    /// The generator of this thread's ids: wyrand (`fastrand`), a few ns a draw, seeded from
    /// the OS once per thread. `fastrand`'s own thread generator seeds itself from a hash
    /// with fixed keys of the monotonic clock and the thread id, which a client could narrow
    /// down; ids are identifiers, not secrets (TypeScript's draw from a pool of
    /// `getRandomValues` bytes for the same reason), but should not be guessable from the
    /// time a server started.
    static RNG: RefCell<fastrand::Rng> = RefCell::new(fastrand::Rng::with_seed(os_seed()));
}

/// A seed from the OS (`getrandom`), or `fastrand`'s own when the OS has none to give.
fn os_seed() -> u64 {
    let mut seed = [0; 8];
    match getrandom::getrandom(&mut seed) {
        Ok(()) => u64::from_ne_bytes(seed),
        Err(_) => fastrand::u64(..),
    }
}

/// The trace headers a response carries when TypeScript asks the kernel to write them
/// ([`super::record::FLAG_TRACE_HEADERS`]): `traceparent: 00-<trace id>-<span id>-01` and
/// `x-request-id: <request id>`, the bytes `KrepisContext.traceparent()` and
/// `ctx.requestId` give. Kept inline in the request's slot (no allocation), made from the
/// ids its request record carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceHeaders {
    traceparent: [u8; TRACEPARENT_LEN],
    request_id: [u8; 16],
}

/// Length of a version-00 `traceparent` value.
const TRACEPARENT_LEN: usize = 55;

impl TraceHeaders {
    /// Name of the first field.
    pub const TRACEPARENT: &'static str = "traceparent";
    /// Name of the second field.
    pub const REQUEST_ID: &'static str = "x-request-id";

    /// The headers for a request's `ids`, made from them as they are: the encoder of the
    /// request's record hands them over, rather than the bridge reading them back out of
    /// the record (checking 64 digits of random hex for being hex cost ≈0.2 µs a request).
    ///
    /// ```
    /// use krepis_kernel::http::trace::{TraceHeaders, TraceIds};
    /// let ids = TraceIds::for_request(Some(
    ///     b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// ));
    /// let headers = TraceHeaders::new(&ids);
    /// let [(name, value), (_, id)] = headers.fields();
    /// assert_eq!(name, b"traceparent");
    /// let expected = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", &*ids.span_id);
    /// assert_eq!(value, expected.as_bytes());
    /// assert_eq!(id, ids.request_id.as_bytes());
    /// ```
    pub fn new(ids: &TraceIds) -> Self {
        let mut traceparent = *b"00-________________________________-________________-01";
        // Lengths are fixed by construction: `for_request` makes (or takes, checked) ids of
        // exactly 32 and 16 lower-case hex digits.
        traceparent[3..35].copy_from_slice(ids.trace_id.as_bytes());
        traceparent[36..52].copy_from_slice(ids.span_id.as_bytes());
        let mut request_id = [0; 16];
        request_id.copy_from_slice(ids.request_id.as_bytes());
        Self {
            traceparent,
            request_id,
        }
    }

    /// `(name, value)` of both fields, in the order TypeScript sends them.
    pub fn fields(&self) -> [(&'static [u8], &[u8]); 2] {
        [
            (Self::TRACEPARENT.as_bytes(), &self.traceparent),
            (Self::REQUEST_ID.as_bytes(), &self.request_id),
        ]
    }
}

impl std::fmt::Debug for TraceHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(_, traceparent), (_, request_id)] = self.fields();
        f.debug_struct("TraceHeaders")
            .field("traceparent", &String::from_utf8_lossy(traceparent))
            .field("request_id", &String::from_utf8_lossy(request_id))
            .finish()
    }
}

/// Parses `version-traceid-parentid-flags` (any case); returns the trace and parent span
/// ids in lower case.
fn parse_traceparent(raw: &[u8]) -> Option<(HexId, HexId)> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let mut parts = text.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = parts.next().is_none()
        && hex(version, 2)
        && !version.eq_ignore_ascii_case("ff")
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then(|| (HexId::lowered(trace), HexId::lowered(span)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_traces_have_well_formed_distinct_ids() {
        let a = TraceIds::for_request(None);
        let b = TraceIds::for_request(None);
        assert_eq!(a.trace_id.len(), 32);
        assert_eq!(a.span_id.len(), 16);
        assert_eq!(a.request_id.len(), 16);
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.request_id, a.span_id);
        assert_eq!(a.parent_span_id, "");
        assert!(a.trace_id.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn each_thread_draws_from_a_generator_of_its_own() {
        let ids: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| TraceIds::for_request(None).request_id))
            .map(|thread| thread.join().unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|other| other != id), "{ids:?}");
        }
    }

    #[test]
    fn words_become_their_hex_digits_with_the_low_bit_on() {
        let id = HexId::from_words(&[0x0123_4567_89ab_cdee, 0xf0]);
        assert_eq!(id, "0123456789abcdef00000000000000f1");
        assert_eq!(HexId::from_words(&[0]), "0000000000000001");
    }

    #[test]
    fn invalid_traceparents_start_a_new_trace() {
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad.as_bytes()), None, "{bad}");
        }
        let upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
        let (trace, span) = parse_traceparent(upper.as_bytes()).unwrap();
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span, "00f067aa0ba902b7");
        assert_eq!(
            parse_traceparent(b"FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
    }
}
