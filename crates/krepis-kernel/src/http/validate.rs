//! Request validity and header semantics, settled before any TypeScript runs.
//!
//! [`check`] refuses (400) what `Deno.serve` refuses — `*` on a method other than OPTIONS,
//! more than one Host and an upgrade request that also carries a body (on HTTP/1.1, body
//! framing `Deno.serve` refuses — `Content-Length` with `Transfer-Encoding` — is refused by
//! its parser, which the kernel's driver uses, see [`super::h1`]) — and, going
//! further than Deno (which lets them through into `req.url`), a Host that is not a plain
//! `host[:port]` (RFC 9112 §3.2 asks for a 400). An empty Host counts as none, as in Deno:
//! the URL then uses the server's own address.
//!
//! [`normalize`] joins repeated `Cookie` fields (HTTP/1 clients, and HTTP/2's split
//! cookies, RFC 9113 §8.2.3) into one value with `"; "`, as Deno does.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::uri::Authority;
use http::{Method, Version};

/// Why a request was refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// `*` as the target of a method other than OPTIONS.
    AsteriskTarget,
    /// More than one Host field.
    RepeatedHost,
    /// A Host that is not `host[:port]`.
    MalformedHost,
    /// An upgrade request (Upgrade + `Connection: upgrade`) with a body.
    UpgradeWithBody,
}

/// Checks the head of a request; `Err` means answer 400 and close.
pub fn check(parts: &Parts) -> Result<(), Invalid> {
    if parts.uri.path() == "*" && parts.uri.authority().is_none() && parts.method != Method::OPTIONS
    {
        return Err(Invalid::AsteriskTarget);
    }
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    if let Some(host) = hosts.next() {
        if hosts.next().is_some() {
            return Err(Invalid::RepeatedHost);
        }
        if !host.is_empty() && host_authority(host).is_none() {
            return Err(Invalid::MalformedHost);
        }
    }
    if parts.version == Version::HTTP_11 && is_upgrade(&parts.headers) && has_body(&parts.headers) {
        return Err(Invalid::UpgradeWithBody);
    }
    Ok(())
}

/// The authority a Host value names, when it is a plain `host[:port]` (no user info, path,
/// query or stray characters, a numeric port).
pub fn host_authority(value: &HeaderValue) -> Option<Authority> {
    let authority = Authority::try_from(value.as_bytes()).ok()?;
    let text = authority.as_str();
    if text.contains('@') {
        return None;
    }
    // `Authority` accepts an empty or non-numeric port text after the colon; Host must not.
    let port = text
        .rsplit_once(':')
        .filter(|_| !text.ends_with(']'))
        .map(|(_, p)| p);
    if port.is_some_and(|p| p.is_empty() || p.parse::<u16>().is_err()) {
        return None;
    }
    Some(authority)
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|value| {
            value
                .as_bytes()
                .split(|b| *b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        })
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// Joins repeated `Cookie` fields into one, separated by `"; "`.
pub fn normalize(headers: &mut HeaderMap) {
    let mut cookies = headers.get_all(header::COOKIE).iter();
    if cookies.next().is_none() || cookies.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    // Each part was a valid field value, and "; " is too, so this cannot fail.
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, target: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(target);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn asterisk_is_only_for_options() {
        assert_eq!(
            check(&parts("GET", "*", &[("host", "a")])),
            Err(Invalid::AsteriskTarget)
        );
        assert_eq!(check(&parts("OPTIONS", "*", &[("host", "a")])), Ok(()));
    }

    #[test]
    fn hosts_must_be_single_and_plain() {
        for good in ["a", "a:80", "[::1]:8080", "[::1]", "127.0.0.1:1", ""] {
            assert_eq!(
                check(&parts("GET", "/", &[("host", good)])),
                Ok(()),
                "{good}"
            );
        }
        for bad in [
            "a b", "a:xx", "a:", "x/hello?", "a@b", "a?b", "a#b", "a:99999",
        ] {
            assert_eq!(
                check(&parts("GET", "/", &[("host", bad)])),
                Err(Invalid::MalformedHost),
                "{bad}"
            );
        }
        assert_eq!(
            check(&parts("GET", "/", &[("host", "a"), ("host", "b")])),
            Err(Invalid::RepeatedHost)
        );
    }

    #[test]
    fn upgrades_carry_no_body() {
        let upgrade = [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
        ];
        assert_eq!(check(&parts("GET", "/", &upgrade)), Ok(()));
        let with_body = [upgrade[0], upgrade[1], ("content-length", "0")];
        assert_eq!(
            check(&parts("GET", "/", &with_body)),
            Err(Invalid::UpgradeWithBody)
        );
        // Without `Connection: upgrade` it is no upgrade (Deno lets it through too).
        let plain = [upgrade[0], ("content-length", "3")];
        assert_eq!(check(&parts("POST", "/", &plain)), Ok(()));
    }

    #[test]
    fn cookies_join_with_semicolons() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1"));
        normalize(&mut headers);
        assert_eq!(headers[header::COOKIE], "a=1");
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        normalize(&mut headers);
        assert_eq!(headers.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(headers[header::COOKIE], "a=1; b=2; c=3");
    }
}
