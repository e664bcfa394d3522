//! The header logic of a static response (RFC 9110): validators, conditional requests,
//! byte ranges and the choice of a precompressed variant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{self, HeaderValue};

/// What identifies one version of a file: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time.
    pub modified: SystemTime,
}

impl Stamp {
    /// The strong entity tag of this version; `encoding` tells variants apart.
    pub fn etag(&self, encoding: Option<&str>) -> String {
        let nanos = self
            .modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        match encoding {
            Some(enc) => format!("\"{:x}-{nanos:x}-{enc}\"", self.len),
            None => format!("\"{:x}-{nanos:x}\"", self.len),
        }
    }

    /// `Last-Modified` (whole seconds, as HTTP dates are).
    pub fn last_modified(&self) -> String {
        httpdate::fmt_http_date(self.modified)
    }

    fn modified_secs(&self) -> u64 {
        self.modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn opaque(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

/// Whether the client's cached copy is current, so the answer is 304 (GET and HEAD only).
/// `If-None-Match` (weak comparison) wins over `If-Modified-Since`.
pub fn not_modified(headers: &HeaderMap, etag: &str, stamp: &Stamp) -> bool {
    if let Some(list) = text(headers, header::IF_NONE_MATCH) {
        return list
            .split(',')
            .any(|tag| tag.trim() == "*" || opaque(tag) == etag);
    }
    text(headers, header::IF_MODIFIED_SINCE)
        .and_then(|date| httpdate::parse_http_date(date).ok())
        .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
        .is_some_and(|since| stamp.modified_secs() <= since.as_secs())
}

/// The outcome of a `Range` header against a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// Send everything (no range, a range we do not honour, or a stale `If-Range`).
    Whole,
    /// Send bytes `start..end` with 206.
    Part(u64, u64),
    /// 416: no byte of the range exists.
    Unsatisfiable,
}

/// Applies `Range` (a single `bytes=` range; multiple ranges are served whole, which RFC
/// 9110 allows) and `If-Range`.
pub fn range(headers: &HeaderMap, len: u64, etag: &str, stamp: &Stamp) -> Ranged {
    let Some(spec) = text(headers, header::RANGE) else {
        return Ranged::Whole;
    };
    if let Some(validator) = text(headers, header::IF_RANGE) {
        let validator = validator.trim();
        let fresh = if validator.starts_with('"') {
            validator == etag
        } else {
            httpdate::parse_http_date(validator).is_ok_and(|d| {
                d.duration_since(UNIX_EPOCH)
                    .is_ok_and(|d| d.as_secs() == stamp.modified_secs())
            })
        };
        if !fresh {
            return Ranged::Whole;
        }
    }
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (number(first), number(last)) {
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(len - suffix.min(len), len)
            }
        }
        (Some(start), None) if last.is_empty() => {
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(start, len)
            }
        }
        (Some(start), Some(end)) if start <= end => {
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(start, end.min(len - 1) + 1)
            }
        }
        // Syntactically invalid: ignore the header.
        _ => Ranged::Whole,
    }
}

/// Precompressed variants, best first: (content coding, file suffix).
pub const VARIANTS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// Whether `Accept-Encoding` accepts `coding` (an explicit `q=0` refuses it; `*` counts).
pub fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    let mut verdict = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if name.eq_ignore_ascii_case(coding) {
                return q > 0.0;
            }
            if name == "*" {
                verdict = Some(q > 0.0);
            }
        }
    }
    verdict.unwrap_or(false)
}

/// A header value from text the kernel itself produced.
pub fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn stamp() -> Stamp {
        Stamp {
            len: 100,
            modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn ranges() {
        let s = stamp();
        let etag = s.etag(None);
        let r = |spec: &str| range(&headers(&[("range", spec)]), 100, &etag, &s);
        assert_eq!(r("bytes=0-9"), Ranged::Part(0, 10));
        assert_eq!(r("bytes=90-"), Ranged::Part(90, 100));
        assert_eq!(r("bytes=-10"), Ranged::Part(90, 100));
        assert_eq!(r("bytes=-1000"), Ranged::Part(0, 100));
        assert_eq!(r("bytes=50-5000"), Ranged::Part(50, 100));
        assert_eq!(r("bytes=100-"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=200-300"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=9-0"), Ranged::Whole);
        assert_eq!(r("bytes=0-1,5-6"), Ranged::Whole);
        assert_eq!(r("items=0-1"), Ranged::Whole);
        assert_eq!(r("bytes=x-1"), Ranged::Whole);
        let stale = headers(&[("range", "bytes=0-9"), ("if-range", "\"other\"")]);
        assert_eq!(range(&stale, 100, &etag, &s), Ranged::Whole);
        let fresh = headers(&[("range", "bytes=0-9"), ("if-range", &etag)]);
        assert_eq!(range(&fresh, 100, &etag, &s), Ranged::Part(0, 10));
        let by_date = headers(&[("range", "bytes=0-9"), ("if-range", &s.last_modified())]);
        assert_eq!(range(&by_date, 100, &etag, &s), Ranged::Part(0, 10));
    }

    #[test]
    fn conditionals() {
        let s = stamp();
        let etag = s.etag(None);
        assert!(not_modified(
            &headers(&[("if-none-match", &etag)]),
            &etag,
            &s
        ));
        let weak = format!("\"x\", W/{etag}");
        assert!(not_modified(
            &headers(&[("if-none-match", &weak)]),
            &etag,
            &s
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"x\"")]),
            &etag,
            &s
        ));
        let since = s.last_modified();
        assert!(not_modified(
            &headers(&[("if-modified-since", &since)]),
            &etag,
            &s
        ));
        let before = httpdate::fmt_http_date(s.modified - Duration::from_secs(1));
        assert!(!not_modified(
            &headers(&[("if-modified-since", &before)]),
            &etag,
            &s
        ));
        // If-None-Match decides alone when present.
        let both = headers(&[("if-none-match", "\"x\""), ("if-modified-since", &since)]);
        assert!(!not_modified(&both, &etag, &s));
        assert_ne!(s.etag(Some("br")), etag);
    }

    #[test]
    fn accept_encoding() {
        let h = headers(&[("accept-encoding", "gzip, deflate, br;q=0")]);
        assert!(accepts(&h, "gzip"));
        assert!(!accepts(&h, "br"));
        assert!(accepts(&headers(&[("accept-encoding", "*")]), "br"));
        assert!(!accepts(&headers(&[("accept-encoding", "*;q=0")]), "br"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }
}
