//! Request and W3C trace-context ids, made by the kernel so they exist before TypeScript runs.
//!
//! The format matches `packages/core/src/context/trace.ts`: lower-case hex, 32 characters for
//! a trace id, 16 for span and request ids; all-zero ids are invalid and never generated.

/// The ids of one request, as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// Unique id of this request (16 hex).
    pub request_id: String,
    /// The trace this request belongs to (32 hex): the caller's, or a new one.
    pub trace_id: String,
    /// This request's own span (16 hex), always new.
    pub span_id: String,
    /// The caller's span from `traceparent` (16 hex), empty when the trace starts here.
    pub parent_span_id: String,
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
        let (trace_id, parent_span_id) = match traceparent.and_then(parse_traceparent) {
            Some((trace, parent)) => (trace, parent),
            None => (hex_id(2), String::new()),
        };
        Self {
            request_id: hex_id(1),
            trace_id,
            span_id: hex_id(1),
            parent_span_id,
        }
    }
}

/// Parses `version-traceid-parentid-flags`; returns the trace and parent span ids.
fn parse_traceparent(raw: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(raw).ok()?.trim().to_ascii_lowercase();
    let mut parts = text.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = parts.next().is_none()
        && hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then(|| (trace.to_string(), span.to_string()))
}

/// A random non-zero id of `words` × 64 bits as hex.
fn hex_id(words: usize) -> String {
    let mut out = String::with_capacity(words * 16);
    for _ in 0..words {
        // Never all zero: the low bit of each word is forced on.
        out.push_str(&format!("{:016x}", fastrand::u64(..) | 1));
    }
    out
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
        assert!(a.trace_id.bytes().all(|c| c.is_ascii_hexdigit()));
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
        assert!(parse_traceparent(upper.as_bytes()).is_some());
    }
}
