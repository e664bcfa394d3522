//! Automatic response compression, following `Deno.serve`'s rules: gzip or brotli as the
//! request's `Accept-Encoding` prefers, for compressible content types, never for bodies
//! under 64 bytes, ranges (`Content-Range`), bodies that already carry a
//! `Content-Encoding`, or `Cache-Control: no-transform`. A compressed response gets
//! `Content-Encoding`, `Vary: Accept-Encoding`, a weak `ETag` and no `Content-Length`.
//! Streamed bodies are compressed chunk by chunk, each flushed so the client sees data
//! as soon as the handler writes it.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use hyper::body::{Body, Frame, SizeHint};

/// Bodies shorter than this are sent as they are (headers would eat the gain).
pub const MIN_LENGTH: u64 = 64;
const BROTLI_QUALITY: u32 = 6;
const BROTLI_WINDOW: u32 = 22;

/// A content coding the kernel can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
        }
    }
}

/// The coding `Accept-Encoding` prefers among gzip and brotli: the highest q-value wins,
/// the first listed on a tie; `identity` (or `*` meaning it) preferred means none. The
/// browsers' usual `gzip, deflate, br[, zstd]` picks brotli, as in Deno.
pub fn negotiate(method: &Method, headers: &HeaderMap) -> Option<Coding> {
    if method == Method::HEAD {
        return None;
    }
    preferred(headers.get(header::ACCEPT_ENCODING)?.to_str().ok()?)
}

/// The coding an `Accept-Encoding` value prefers (see [`negotiate`], which applies it to a
/// request other than `HEAD`).
pub fn preferred(accept: &str) -> Option<Coding> {
    if matches!(accept, "gzip, deflate, br" | "gzip, deflate, br, zstd") {
        return Some(Coding::Brotli);
    }
    let mut best: Option<(Option<Coding>, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
        let Some(q) = q.filter(|q| *q > 0.0) else {
            continue;
        };
        let coding = match token.as_str() {
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            "br" => Some(Coding::Brotli),
            "identity" | "*" => None,
            _ => continue,
        };
        if best.is_none_or(|(_, top)| q > top) {
            best = Some((coding, q));
        }
    }
    best.and_then(|(coding, _)| coding)
}

/// Whether a response with `status`, `headers` and a body of `length` bytes (if known)
/// may be compressed.
pub fn compressible(status: StatusCode, headers: &HeaderMap, length: Option<u64>) -> bool {
    if length.is_some_and(|n| n < MIN_LENGTH)
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || headers.contains_key(header::CONTENT_ENCODING)
        || headers.contains_key(header::CONTENT_RANGE)
    {
        return false;
    }
    let no_transform = headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    !no_transform
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible_type)
}

/// Whether a media type is worth compressing: text, JSON, XML, JavaScript and their kin
/// (the types the mime database marks compressible that responses commonly carry).
pub fn compressible_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    if kind == "text" && sub != "event-stream" {
        return true;
    }
    if sub.ends_with("+json") || sub.ends_with("+xml") || sub.ends_with("+text") {
        return true;
    }
    matches!(
        essence.as_str(),
        "application/json"
            | "application/javascript"
            | "application/x-javascript"
            | "application/ecmascript"
            | "application/xml"
            | "application/xhtml+xml"
            | "application/wasm"
            | "application/graphql"
            | "application/x-www-form-urlencoded"
            | "application/x-ndjson"
            | "application/manifest+json"
            | "application/vnd.ms-fontobject"
            | "font/otf"
            | "font/ttf"
            | "image/bmp"
            | "image/svg+xml"
            | "image/x-icon"
            | "image/vnd.microsoft.icon"
    )
}

/// Compresses `response` with `coding` when it qualifies, adjusting its headers.
pub fn apply<B: Body<Data = Bytes> + Unpin>(
    coding: Option<Coding>,
    response: Response<B>,
) -> Response<Encoded<B>> {
    let Some(coding) = coding else {
        return response.map(Encoded::identity);
    };
    let length = response.body().size_hint().exact();
    if response.body().is_end_stream()
        || !compressible(response.status(), response.headers(), length)
    {
        return response.map(Encoded::identity);
    }
    let (mut parts, body) = response.into_parts();
    let headers = &mut parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    vary_on_accept_encoding(headers);
    weaken_etag(headers);
    Response::from_parts(parts, Encoded::new(body, coding))
}

fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let present = headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding")
        })
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

fn weaken_etag(headers: &mut HeaderMap) {
    if let Some(etag) = headers.get_mut(header::ETAG) {
        if !etag.as_bytes().starts_with(b"W/") {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(etag.as_bytes());
            if let Ok(value) = HeaderValue::from_bytes(&weak) {
                *etag = value;
            }
        }
    }
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: Coding) -> Self {
        match coding {
            Coding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Coding::Brotli => Self::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
        }
    }

    /// Compresses `data` and returns what is ready, flushed so a streaming client gets it.
    fn push(&mut self, data: &[u8]) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        let out = match self {
            Self::Gzip(e) => e
                .write_all(data)
                .and_then(|()| e.flush())
                .map(|()| e.get_mut()),
            Self::Brotli(e) => e
                .write_all(data)
                .and_then(|()| e.flush())
                .map(|()| e.get_mut()),
        };
        out.map(std::mem::take).expect("compressing into memory")
    }

    /// Ends the stream and returns the last bytes.
    fn finish(self) -> Vec<u8> {
        match self {
            Self::Gzip(e) => e.finish().expect("compressing into memory"),
            Self::Brotli(e) => e.into_inner(),
        }
    }
}

/// A response body, compressed on the way out or passed through.
pub struct Encoded<B> {
    inner: B,
    encoder: Option<Encoder>,
    compressing: bool,
}

impl<B> Encoded<B> {
    /// `inner` unchanged.
    pub fn identity(inner: B) -> Self {
        Self {
            inner,
            encoder: None,
            compressing: false,
        }
    }

    /// The body inside when it goes out as it is (not compressed).
    pub fn unencoded(&self) -> Option<&B> {
        (!self.compressing).then_some(&self.inner)
    }

    fn new(inner: B, coding: Coding) -> Self {
        Self {
            inner,
            encoder: Some(Encoder::new(coding)),
            compressing: true,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Encoded<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if !this.compressing {
            return Pin::new(&mut this.inner).poll_frame(cx);
        }
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers are not sent with a compressed body
                    };
                    if this.inner.is_end_stream() {
                        let mut last = encoder.push(&data);
                        if let Some(encoder) = this.encoder.take() {
                            last.extend_from_slice(&encoder.finish());
                        }
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(last)))));
                    }
                    let out = encoder.push(&data);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let last = this.encoder.take().map(Encoder::finish).unwrap_or_default();
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(last)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.compressing {
            self.encoder.is_none()
        } else {
            self.inner.is_end_stream()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.compressing {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use http_body_util::{BodyExt, Full};

    use super::*;

    fn accept(value: &str) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        negotiate(&Method::GET, &headers)
    }

    #[test]
    fn negotiation_follows_q_values_then_order() {
        assert_eq!(accept("gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br"), Some(Coding::Brotli));
        assert_eq!(accept("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(accept("gzip, br"), Some(Coding::Gzip));
        assert_eq!(accept("br, gzip"), Some(Coding::Brotli));
        assert_eq!(accept("gzip;q=0.5, br"), Some(Coding::Brotli));
        assert_eq!(accept("gzip;q=0, deflate"), None);
        assert_eq!(accept("identity, gzip;q=0.9"), None);
        assert_eq!(accept("deflate"), None);
        assert_eq!(negotiate(&Method::GET, &HeaderMap::new()), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(negotiate(&Method::HEAD, &headers), None);
    }

    #[test]
    fn only_compressible_responses_qualify() {
        let with = |pairs: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(
                    header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            headers
        };
        let text = [("content-type", "text/plain;charset=UTF-8")];
        assert!(compressible(StatusCode::OK, &with(&text), Some(64)));
        assert!(compressible(StatusCode::OK, &with(&text), None));
        assert!(!compressible(StatusCode::OK, &with(&text), Some(63)));
        assert!(!compressible(
            StatusCode::PARTIAL_CONTENT,
            &with(&text),
            None
        ));
        for extra in [
            ("content-encoding", "gzip"),
            ("content-range", "bytes 0-99/200"),
            ("cache-control", "public, no-transform"),
        ] {
            assert!(!compressible(
                StatusCode::OK,
                &with(&[text[0], extra]),
                None
            ));
        }
        assert!(!compressible(StatusCode::OK, &HeaderMap::new(), None));
        for ct in [
            "application/json",
            "image/svg+xml",
            "application/vnd.api+json",
        ] {
            assert!(compressible_type(ct), "{ct}");
        }
        for ct in [
            "image/png",
            "application/octet-stream",
            "text/event-stream",
            "x",
        ] {
            assert!(!compressible_type(ct), "{ct}");
        }
    }

    #[tokio::test]
    async fn bodies_round_trip_and_headers_follow() {
        let text = "compress me ".repeat(200);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let response = Response::builder()
                .header("content-type", "application/json")
                .header("content-length", text.len())
                .header("etag", "\"v1\"")
                .header("vary", "Origin")
                .body(Full::new(Bytes::from(text.clone())))
                .unwrap();
            let response = apply(Some(coding), response);
            let headers = response.headers();
            assert_eq!(headers["content-encoding"], coding.token());
            assert!(!headers.contains_key("content-length"));
            assert_eq!(headers["etag"], "W/\"v1\"");
            let vary: Vec<_> = headers.get_all("vary").iter().collect();
            assert_eq!(vary, ["Origin", "Accept-Encoding"]);
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            assert!(bytes.len() < text.len() / 4);
            let mut plain = String::new();
            match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_string(&mut plain)
                    .unwrap(),
                Coding::Brotli => brotli::Decompressor::new(&bytes[..], 4096)
                    .read_to_string(&mut plain)
                    .unwrap(),
            };
            assert_eq!(plain, text);
        }
    }
}
