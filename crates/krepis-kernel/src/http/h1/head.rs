//! Heads between `deno_http_h1` and the kernel's `http` types: a parsed request head as an
//! `http::Request`, a response's `HeaderMap` as the field list the crate writes, and the
//! `date` field.

use bytes::{Bytes, BytesMut};
use deno_http_h1::{BodyKind, Header, Version};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use smallvec::SmallVec;

use super::super::clock;

/// What the driver keeps of a request head once the parser's borrow ends, besides the
/// request itself (as `http` types from [`to_http`], or the lane's record). Small: it is
/// moved several times on its way out of the parser.
pub struct Head {
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the client keeps the connection open after this exchange.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
    /// Whether the request asks for a protocol upgrade (it has no body then).
    pub upgrade: bool,
    /// The request's version, which the answer uses.
    pub version: Version,
    /// A `HEAD` request: the answer has no body.
    pub head_only: bool,
}

impl Head {
    /// What the driver needs of `request`'s head.
    pub fn new(request: &deno_http_h1::Request<'_>) -> Self {
        let head_only = request.method == b"HEAD";
        Self {
            body: request.body,
            keep_alive: request.keep_alive,
            expect_continue: request.expect_continue,
            upgrade: request.upgrade.is_some(),
            version: request.version,
            head_only,
        }
    }
}

/// The head as `http` types (`None`: a target or field `http` cannot hold, answered 400).
/// Field values and the target are copied once, into one buffer the `http` values share.
pub fn to_http(request: &deno_http_h1::Request<'_>) -> Option<Request<()>> {
    let size = request.target.len() + request.headers.iter().map(|h| h.value.len()).sum::<usize>();
    let mut text = BytesMut::with_capacity(size);
    text.extend_from_slice(request.target);
    for field in request.headers {
        text.extend_from_slice(field.value);
    }
    let mut text: Bytes = text.freeze();
    let target = text.split_to(request.target.len());
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers {
        let value = text.split_to(field.value.len());
        let name = HeaderName::from_bytes(field.name).ok()?;
        let value = HeaderValue::from_maybe_shared(value).ok()?;
        headers.append(name, value);
    }
    let mut typed = Request::new(());
    *typed.method_mut() = Method::from_bytes(request.method).ok()?;
    *typed.uri_mut() = Uri::from_maybe_shared(target).ok()?;
    *typed.version_mut() = match request.version {
        Version::Http10 => http::Version::HTTP_10,
        Version::Http11 => http::Version::HTTP_11,
    };
    *typed.headers_mut() = headers;
    Some(typed)
}

/// Fields a response head holds inline (most have a handful); more spill to the heap. Kept
/// small and uninitialised: the list is made, and moved, for every response.
const INLINE_FIELDS: usize = 12;

/// A response's fields as the crate writes them, `date` last.
pub struct Fields<'a>(SmallVec<[Header<'a>; INLINE_FIELDS]>);

impl<'a> Fields<'a> {
    /// The fields of `headers` but `connection` (the crate writes it from the keep-alive
    /// decision) unless `keep_connection` (a 101 names the upgrade there), then `date`.
    /// `content-length` and `transfer-encoding` are left to the crate, which skips them.
    pub fn new(headers: &'a HeaderMap, keep_connection: bool, date: &'a [u8]) -> Self {
        let pairs = headers
            .iter()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()));
        Self::from_pairs(pairs, keep_connection, date)
    }

    /// [`Fields::new`] for fields given as lower-case names and values.
    pub fn from_pairs(
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        keep_connection: bool,
        date: &'a [u8],
    ) -> Self {
        let mut fields = Self(SmallVec::new());
        let mut dated = false;
        for (name, value) in pairs {
            if name == b"connection" && !keep_connection {
                continue;
            }
            dated |= name == b"date";
            fields.0.push(Header { name, value });
        }
        if !dated {
            fields.0.push(Header {
                name: b"date",
                value: date,
            });
        }
        fields
    }

    /// The list.
    pub fn as_slice(&self) -> &[Header<'a>] {
        &self.0
    }
}

/// Whether a response's `connection` field asks to close.
pub fn asks_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|value| says_close(value.as_bytes()))
}

/// Whether a `connection` field's value holds the `close` token.
pub fn says_close(value: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// The `content-length` a response names itself (what a `HEAD` answer announces).
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The `date` field's value, formatted once a second per connection (as hyper and
/// `Deno.serve` do, without a thread-local).
pub struct DateCache {
    second: u64,
    text: [u8; 29],
}

impl Default for DateCache {
    fn default() -> Self {
        Self {
            second: u64::MAX,
            text: [b' '; 29],
        }
    }
}

impl DateCache {
    /// Now (the turn's reading, see [`clock`]), as an HTTP date.
    pub fn now(&mut self) -> &[u8; 29] {
        let now = clock::now();
        let second = (now.epoch_ms / 1000.0) as u64;
        if second != self.second {
            let text = httpdate::fmt_http_date(now.wall);
            if text.len() == self.text.len() {
                self.text.copy_from_slice(text.as_bytes());
            }
            self.second = second;
        }
        &self.text
    }
}

/// Test support: `f` applied to the head `deno_http_h1` parses from `raw` (a missing Host
/// allowed, as the driver does; no upgrade), or `None` when the head is not complete or
/// valid.
#[cfg(test)]
pub fn with_parsed<R>(raw: &[u8], f: impl FnOnce(&deno_http_h1::Request<'_>) -> R) -> Option<R> {
    let mut conn = deno_http_h1::Protocol::new();
    conn.set_allow_missing_host(true);
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; deno_http_h1::MAX_HEADERS];
    let mut scratch = [const { std::mem::MaybeUninit::uninit() }; deno_http_h1::MAX_HEADERS];
    let Ok(deno_http_h1::RequestStatus::Complete { request, .. }) =
        conn.next_request_uninit_all(raw, &mut headers, &mut scratch)
    else {
        return None;
    };
    let request = deno_http_h1::Request {
        method: request.method,
        target: request.target,
        version: request.version,
        headers: request.headers,
        body: request.body,
        keep_alive: request.keep_alive,
        expect_continue: request.expect_continue,
        upgrade: None,
    };
    Some(f(&request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> (Head, Option<Request<()>>) {
        with_parsed(raw, |request| (Head::new(request), to_http(request))).expect("parsed")
    }

    #[test]
    fn a_head_becomes_http_types_with_repeated_fields_kept() {
        let (head, request) = parsed(b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: b=2\r\nContent-Length: 3\r\n\r\n");
        let request = request.unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/a?b=1");
        assert_eq!(request.headers()["host"], "x");
        assert_eq!(request.headers().get_all("cookie").iter().count(), 2);
        assert!(matches!(head.body, BodyKind::ContentLength(3)));
        assert!(head.keep_alive && !head.head_only);
        let (old, request) = parsed(b"HEAD / HTTP/1.0\r\n\r\n");
        assert!(!old.keep_alive && old.head_only);
        assert_eq!(request.unwrap().version(), http::Version::HTTP_10);
    }

    #[test]
    fn response_fields_leave_connection_to_the_writer_and_add_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("connection", HeaderValue::from_static("close"));
        for i in 0..30 {
            headers.append("x-n", HeaderValue::from(i));
        }
        let fields = Fields::new(&headers, false, b"Mon, 30 Nov 2026 18:00:00 GMT");
        let names: Vec<_> = fields.as_slice().iter().map(|f| f.name).collect();
        assert_eq!(names.len(), 32);
        assert!(!names.contains(&&b"connection"[..]));
        assert_eq!(*names.last().unwrap(), b"date");
        assert!(asks_close(&headers));
        let upgrade = Fields::new(&headers, true, b"d");
        assert_eq!(upgrade.as_slice().len(), 33);
    }
}
