//! The HTTP/1.1 lane: what `Deno.serve` does for a plain request, without `http` types.
//!
//! A request whose head needs none of the service's other work (no upgrade, no static
//! mount, a plain origin-form target and Host, one Cookie at most, within the head limit)
//! and that has no body, or a `Content-Length` body the service would buffer whole (within
//! `maxBodySize` and the buffering limit, no `Expect`), has its bridge record encoded
//! straight from the parsed head ([`encode`]) while the parser still lends it, and is
//! handed to TypeScript by [`answer`], a future a fraction of the size of
//! [`super::super::service::handle`]'s. The body is taken only if it all came with its
//! head; when it has not, the head is rebuilt from the record ([`unlane`]) and goes the
//! `http` way, which reads the body as it arrives. A whole small response
//! comes back as the record TypeScript wrote, which the driver writes in place (see
//! [`super::output::write_record`]) unless the coding the request negotiated applies to
//! it: then, as every other answer, it is built and compressed as `service::handle` does.
//!
//! Every other head goes the `http` way (`service::handle`), which makes the same checks
//! in full: the lane only takes heads those checks pass, so statuses and errors are the
//! same on both paths.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deno_http_h1::{BodyKind, Header, Request};

use super::super::bridge::{Answer, Mailbox, Reply, status_response};
use super::super::compress::{self, Coding};
use super::super::limits::Charge;
use super::super::record::{self, FLAG_BODY_BUFFERED, FLAG_TLS, HeadFields, OwnedResponse};
use super::super::service::{self, AbandonOnDrop, Peer};
use super::super::shared::Shared;
use super::super::trace::{TraceHeaders, TraceIds};
use super::super::{clock, deadline, websocket};
use super::head::{self, Head};
use crate::KernelError;

/// What the lane got for its request.
pub enum Outcome {
    /// The response record, to be written in place, with its body charged to the budget.
    Record(OwnedResponse, Option<Charge>),
    /// A response built the usual way (to be compressed with the negotiated coding). Boxed
    /// as [`Answer::Built`] is: what the lane answers is moved on its way to the writer.
    Built(Box<Reply>),
}

/// A request the lane took: the coding its `Accept-Encoding` negotiated, if any.
pub struct Laned {
    /// The coding responses may be compressed with.
    pub coding: Option<Coding>,
    /// Whether the request has a body (to be taken whole, see [`unlane`]).
    pub body: bool,
    /// Length of the request target, the URL's last part (for [`unlane`]).
    target_len: usize,
    /// The trace headers of the ids in the record, for its slot.
    pub trace: TraceHeaders,
}

/// The parsed head's fields, as a record encodes them.
struct Fields<'a>(&'a [Header<'a>]);

impl HeadFields for Fields<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn each(&self, mut each: impl FnMut(&[u8], &[u8])) {
        for field in self.0 {
            each(field.name, field.value);
        }
    }
}

/// Encodes the bridge record of `request` into `out` (id and deadline left to stamp) when
/// the lane takes it; `None` (and `out` left as it was) otherwise.
pub fn encode(
    request: &Request<'_>,
    shared: &Shared,
    peer: &Peer,
    out: &mut Vec<u8>,
) -> Option<Laned> {
    let config = &shared.config;
    // A body `service::process` buffers whole and lends as it is: anything else (413 past
    // the limit, streamed past the buffering limit, chunked, `100 Continue`) goes there.
    let body_len = match request.body {
        BodyKind::Empty | BodyKind::ContentLength(0) => 0,
        BodyKind::ContentLength(n)
            if !request.expect_continue
                && n <= config.max_body_size
                && n <= config.buffer_body_limit =>
        {
            n
        }
        _ => return None,
    };
    if request.upgrade.is_some() {
        return None;
    }
    let target = request.target;
    if target.first() != Some(&b'/') || !target.iter().all(|b| plain_target_byte(*b)) {
        return None;
    }
    if let Some(files) = &config.static_files {
        let path = target.split(|b| *b == b'?').next().unwrap_or(target);
        if files.claims(path) {
            return None;
        }
    }
    // The head's size as `service` counts it: request line and field lines.
    let mut size = request.method.len() + target.len() + 14;
    let (mut host, mut traceparent, mut cookie, mut accept) = (None, None, false, None);
    for field in request.headers {
        size += field.name.len() + field.value.len() + 4;
        let name = field.name;
        if name.eq_ignore_ascii_case(b"host") {
            if host.replace(field.value).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"cookie") {
            // Several are joined into one (`validate::normalize`): the `http` way does it.
            if std::mem::replace(&mut cookie, true) {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"traceparent") {
            traceparent.get_or_insert(field.value);
        } else if name.eq_ignore_ascii_case(b"accept-encoding") {
            accept.get_or_insert(field.value);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            return None;
        }
    }
    if size > config.max_header_size {
        return None;
    }
    let authority = match host {
        None | Some(b"") => &*peer.authority,
        Some(host) if plain_host(host) => ascii(host),
        Some(_) => return None,
    };
    // As `compress::negotiate` reads the first field (a value that is not visible ASCII
    // negotiates nothing).
    let coding = accept
        .filter(|accept| config.compression && request.method != b"HEAD" && accept.is_ascii())
        .and_then(|accept| compress::preferred(ascii(accept)));
    let ids = TraceIds::for_request(traceparent);
    let mut flags = if peer.tls { FLAG_TLS } else { 0 };
    if body_len > 0 {
        flags |= FLAG_BODY_BUFFERED;
    }
    let head = record::RequestHead {
        id: 0,
        flags,
        body_addr: 0,
        body_len: body_len as f64,
        deadline_ms: 0.0,
        method: ascii(request.method),
        url: [
            if peer.tls { "https://" } else { "http://" },
            authority,
            ascii(target),
        ],
        remote_ip: &peer.remote_ip,
        remote_port: peer.remote.port(),
        ids: ids.as_fields(),
        headers: &Fields(request.headers),
    };
    out.clear();
    record::encode_request(&head, out).ok()?;
    Some(Laned {
        coding,
        body: body_len > 0,
        target_len: target.len(),
        trace: TraceHeaders::new(&ids),
    })
}

/// The `http` way's request for a head [`encode`] took into `record`, when its body did not
/// all come with it: the method, target and fields as the client sent them (names in lower
/// case, as `http` keeps them anyway), so the service checks and serves it as if the lane
/// had never seen it. `None` only for a record [`encode`] did not write.
pub fn unlane(record: &[u8], laned: &Laned, head: &Head) -> Option<http::Request<()>> {
    let view = record::decode_requests(record).ok()?.pop()?;
    let target = view
        .url
        .as_bytes()
        .get(view.url.len().checked_sub(laned.target_len)?..)?;
    let fields: Vec<Header<'_>> = view
        .headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_bytes(),
            value,
        })
        .collect();
    head::to_http(&Request {
        method: view.method.as_bytes(),
        target,
        version: head.version,
        headers: &fields,
        body: head.body,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
        upgrade: None,
    })
}

/// Hands the request whose record [`encode`] wrote to TypeScript (with the coding and trace
/// headers of its [`Laned`]), with its whole `body` if it has one, and waits for its answer; dropping the future (the client left) abandons the
/// request. The checks and answers are those of `service::process` for a request without
/// a body or with one that came whole.
pub async fn answer(
    shared: &Arc<Shared>,
    record: &mut Vec<u8>,
    mailbox: &Arc<Mailbox>,
    (coding, trace): (Option<Coding>, TraceHeaders),
    body: Option<Vec<u8>>,
    spare: Vec<u8>,
) -> Outcome {
    // As `service::process`: 503 when lending the body would pass the memory ceiling. No
    // reservation is held: the slot counts the body as lent as soon as it is submitted.
    let size = body.as_ref().map_or(0, |body| body.len() as u64);
    let lent = shared.bridge.stats.body_bytes.load(Ordering::Relaxed);
    if shared.budget.try_charge(lent, size).is_none() {
        return Outcome::Built(Box::new(service::reject(shared, 503)));
    }
    let (watched, deadline_ms) = match shared.config.request_timeout {
        None => (None, 0.0),
        Some(timeout) => {
            deadline::watch(shared, timeout);
            let now = clock::now();
            let ms = now.epoch_ms + timeout.as_secs_f64() * 1000.0;
            (Some(now.instant + timeout), ms)
        }
    };
    let id = match shared
        .bridge
        .submit_lane(
            record,
            trace,
            body.map(Vec::into_boxed_slice),
            (watched, deadline_ms),
            mailbox,
            spare,
        )
        .await
    {
        Ok(submitted) => submitted,
        Err(KernelError::Timeout(_)) => {
            return Outcome::Built(Box::new(deadline::timed_out(
                shared,
                &AtomicBool::new(true),
            )));
        }
        Err(_) => return Outcome::Built(Box::new(service::reject(shared, 503))),
    };
    let guard = AbandonOnDrop { shared, id };
    let answer = poll_fn(|cx| mailbox.poll_take(cx)).await;
    std::mem::forget(guard);
    match answer {
        Some(Answer::Record(owned)) => {
            let size = owned.body().len() as u64;
            if coding.is_some() && size >= compress::MIN_LENGTH {
                // Compression may apply: the response is built and goes the usual way.
                // (Its buffer goes: the next record gets a new one, on this rare path.)
                let reply = shared.bridge.build(&owned);
                return Outcome::Built(Box::new(reply));
            }
            if size == 0 {
                return Outcome::Record(owned, None);
            }
            let lent = shared.bridge.stats.body_bytes.load(Ordering::Relaxed);
            match shared.budget.try_charge(lent, size) {
                Some(charge) => Outcome::Record(owned, Some(charge)),
                None => Outcome::Built(Box::new(service::reject(shared, 503))),
            }
        }
        Some(Answer::Built(reply)) => {
            Outcome::Built(Box::new(websocket::refuse_stray_upgrade(*reply)))
        }
        None => Outcome::Built(Box::new(status_response(500))),
    }
}

/// A byte an origin-form target may hold for `http::Uri` to keep it as it is (a subset:
/// anything else takes the `http` way, which decides).
fn plain_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// A Host of letters, digits, dots and dashes with an optional numeric port: a subset of
/// what `validate::host_authority` accepts (the rest takes the `http` way).
fn plain_host(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|b| *b == b':') {
        Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
        None => (value, None),
    };
    !host.is_empty()
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && port.is_none_or(|port| {
            (1..=5).contains(&port.len())
                && port.iter().all(u8::is_ascii_digit)
                && ascii(port).parse::<u16>().is_ok()
        })
}

/// Bytes already checked to be ASCII (method tokens, and targets and Hosts that passed the
/// checks above), as text.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::bridge::Bridge;
    use crate::http::config::ServerConfig;
    use crate::http::h1::head::{to_http, with_parsed};
    use crate::http::record::{RequestView, decode_requests};
    use crate::http::validate;
    use crate::proto::ServeOptions;

    fn shared() -> Shared {
        let config = ServerConfig::from_options(&ServeOptions::default()).unwrap();
        Shared::new(config, Bridge::new(4096, 4096).unwrap())
    }

    fn peer() -> Peer {
        Peer {
            remote: "127.0.0.1:5555".parse().unwrap(),
            remote_ip: "127.0.0.1".into(),
            tls: false,
            authority: "127.0.0.1:8000".into(),
            socket: None,
            files: None,
        }
    }

    /// The record the lane encodes for `raw` (`None`: it leaves the head to the `http`
    /// way, or the parser refused it), and the one the `http` way encodes (`None`: it
    /// refuses the head), decoded.
    fn both(raw: &[u8]) -> (Option<(RequestView, Laned)>, Option<RequestView>) {
        with_parsed(raw, both_of).unwrap_or((None, None))
    }

    fn both_of(request: &Request<'_>) -> (Option<(RequestView, Laned)>, Option<RequestView>) {
        let (shared, peer) = (shared(), peer());
        let mut out = Vec::new();
        let laned = encode(request, &shared, &peer, &mut out)
            .map(|laned| (decode_requests(&out).unwrap().remove(0), laned));
        // As `service::process` encodes a body it buffered whole.
        let body_len = match request.body {
            BodyKind::ContentLength(n) => n,
            _ => 0,
        };
        let typed = to_http(request).and_then(|typed| {
            let (mut parts, ()) = typed.into_parts();
            validate::check(&parts).ok()?;
            validate::normalize(&mut parts.headers);
            let mut out = Vec::new();
            let ids = TraceIds::for_request(None);
            let head = record::RequestHead {
                id: 0,
                flags: if body_len > 0 { FLAG_BODY_BUFFERED } else { 0 },
                body_addr: 0,
                body_len: body_len as f64,
                deadline_ms: 0.0,
                method: parts.method.as_str(),
                url: service::absolute_url(&parts, &peer),
                remote_ip: &peer.remote_ip,
                remote_port: peer.remote.port(),
                ids: [&ids.request_id, &ids.trace_id, &ids.span_id, ""],
                headers: &parts.headers,
            };
            record::encode_request(&head, &mut out).unwrap();
            Some(decode_requests(&out).unwrap().remove(0))
        });
        (laned, typed)
    }

    #[test]
    fn the_lane_hands_typescript_what_the_http_way_does() {
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"[..],
            b"GET /a/b?c=d&e=%20f HTTP/1.1\r\nHOST: x\r\nX-Custom: One\r\nx-custom: two\r\nCookie: a=1\r\n\r\n",
            b"DELETE /items/7 HTTP/1.0\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost:\r\nAccept-Encoding: gzip, br\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nhost: h\r\nContent-Length: 0\r\nAccept-Encoding: gzip\r\n\r\n",
            // Bodies the service would buffer whole.
            b"POST /todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"title\":\"a\"}",
            b"PUT /a?b HTTP/1.0\r\nContent-Length: 1\r\n\r\nz",
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\nCookie: c=1\r\n\r\nabc",
        ] {
            let (laned, typed) = both(raw);
            let text = String::from_utf8_lossy(raw);
            let ((lane, _), typed) = (laned.expect(&text), typed.expect(&text));
            assert_eq!(lane.method, typed.method, "{text}");
            assert_eq!(lane.url, typed.url, "{text}");
            assert_eq!(lane.headers, typed.headers, "{text}");
            assert_eq!(lane.remote, typed.remote, "{text}");
            assert_eq!(lane.flags, typed.flags, "{text}");
            assert_eq!(lane.body_len, typed.body_len, "{text}");
            assert_eq!(lane.ids[0].len(), 16, "the lane draws the ids");
        }
    }

    #[test]
    fn a_laned_head_whose_body_is_still_coming_goes_the_http_way_unchanged() {
        let raw = b"POST /a/b?c=%20d HTTP/1.1\r\nHost: example.com:81\r\nX-One: A b\r\nx-one: c\r\nContent-Length: 5\r\n\r\n";
        with_parsed(raw, |request| {
            let mut record = Vec::new();
            let laned = encode(request, &shared(), &peer(), &mut record).expect("laned");
            assert!(laned.body);
            let head = Head::new(request);
            let rebuilt = unlane(&record, &laned, &head).expect("rebuilt");
            let direct = to_http(request).unwrap();
            assert_eq!(rebuilt.method(), direct.method());
            assert_eq!(rebuilt.uri(), direct.uri());
            assert_eq!(rebuilt.version(), direct.version());
            assert_eq!(rebuilt.headers(), direct.headers());
            let listed = |r: &http::Request<()>| -> Vec<_> {
                r.headers()
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect()
            };
            assert_eq!(listed(&rebuilt), listed(&direct), "order kept");
        })
        .expect("parsed");
    }

    #[test]
    fn the_lane_negotiates_codings_as_the_service_does() {
        let coding = |raw: &[u8]| both(raw).0.unwrap().1.coding;
        assert_eq!(
            coding(b"GET / HTTP/1.1\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"),
            Some(Coding::Brotli)
        );
        assert_eq!(
            coding(b"GET / HTTP/1.1\r\nAccept-Encoding: gzip;q=0.5, identity\r\n\r\n"),
            None
        );
        assert_eq!(
            coding(b"HEAD / HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"),
            None
        );
    }

    #[test]
    fn heads_the_lane_leaves_alone_go_the_http_way() {
        for raw in [
            // Refused there with 400, as before the lane.
            &b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"[..],
            b"GET * HTTP/1.1\r\n\r\n",
            // Served there: joined cookies, odd but valid Hosts and targets, bodies.
            b"GET / HTTP/1.1\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            b"GET /a#frag HTTP/1.1\r\n\r\n",
            b"GET http://x/a HTTP/1.1\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            // Bodies the service does not buffer whole, or answers itself.
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 9000000\r\n\r\n",
        ] {
            let text = String::from_utf8_lossy(raw);
            assert!(both(raw).0.is_none(), "{text}");
        }
    }

    #[test]
    fn plain_hosts_are_a_subset_of_valid_ones() {
        for good in ["a", "a:80", "127.0.0.1:1", "x-y.z:65535", "a:0"] {
            assert!(plain_host(good.as_bytes()), "{good}");
            let value = http::HeaderValue::from_static(good);
            assert!(validate::host_authority(&value).is_some(), "{good}");
        }
        for other in [
            "a b", "a:xx", "a:", "x/hello?", "a@b", "a:99999", ":80", "[::1]", "a_b",
        ] {
            assert!(!plain_host(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn plain_targets_keep_their_bytes_through_http_uri() {
        let target = "/a/b;c=d?e=f&g=%20h:i@j~k!$'()*+,";
        assert!(target.bytes().all(plain_target_byte));
        let uri: http::Uri = target.parse().unwrap();
        assert_eq!(uri.path_and_query().unwrap().as_str(), target);
        for other in [b'#', b' ', b'"', b'<', b'{', b'\\', 0x80] {
            assert!(!plain_target_byte(other), "{other}");
        }
    }
}
