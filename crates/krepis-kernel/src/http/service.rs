//! What the kernel does with one request: enforce limits, read the body, hand the request
//! to TypeScript through the bridge and wait for its answer (or the deadline).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use hyper::body::Body;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::body::{
    self, BodyError, Collected, Forwarded, Lifeline, RequestBody, ResponseBody,
    STREAM_CHANNEL_CHUNKS,
};
use super::bridge::{BodyIn, Reply, status_response};
use super::compress::{self, Encoded};
use super::limits::{Busy, Charge, Intake, Outgoing, Pace};
use super::record::{
    self, FLAG_BODY_BUFFERED, FLAG_BODY_STREAMED, FLAG_HTTP2, FLAG_TLS, FLAG_WEBSOCKET,
};
use super::shared::Shared;
use super::socket::PeerSocket;
use super::static_files::StaticFiles;
use super::static_files::sendfile::FileSlot;
use super::trace::{TraceHeaders, TraceIds};
use super::upgrade::OnUpgrade;
use super::{clock, deadline, validate, websocket};
use crate::KernelError;

/// Facts about the connection a request arrived on.
#[derive(Clone)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The client's IP as text, formatted once per connection.
    pub remote_ip: Arc<str>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// `host:port` the server listens on, for requests without a Host header.
    pub authority: Arc<str>,
    /// The connection's socket, watched while a streamed upload waits for its reader.
    pub socket: Option<PeerSocket>,
    /// Where static file bodies go to be sent with `sendfile` (plain connections only).
    pub files: Option<Arc<FileSlot>>,
}

/// What goes out (through hyper on HTTP/2, the kernel's driver on HTTP/1.1): the reply's body, compressed when the client and the response allow
/// it, keeping its connection busy and charged to the memory budget while on its way.
pub type Outbound = Response<OutBody>;

/// The body of an [`Outbound`] response.
pub type OutBody = Outgoing<Encoded<ResponseBody>>;

/// Answers one request; never fails (every problem becomes a status code). `busy` marks
/// the request in flight on its connection until the response body is sent. `peer` is
/// shared by the connection's requests (one reference count per request, not one per
/// field).
pub async fn handle(
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    req: Request<RequestBody>,
    busy: Busy,
) -> Result<Outbound, Infallible> {
    // Without mounts the request is not even moved through the static check.
    let req = match shared.config.static_files.as_ref() {
        None => req,
        Some(files) => match serve_static(files, &shared, &peer, req) {
            (_, Some(reply)) => {
                // Files carry their own encodings (.br/.gz siblings) and ranges, so they are
                // never compressed on the fly; chunks are charged to the budget as they go out.
                let budget = Arc::clone(&shared.budget);
                let identity = |body| Outgoing::new(Encoded::identity(body), budget, None, busy);
                return Ok(reply.map(identity));
            }
            (req, None) => req,
        },
    };
    let coding = if shared.config.compression {
        compress::negotiate(req.method(), req.headers())
    } else {
        None
    };
    // The deadline is awaited here rather than in a function of its own: every level of
    // `async fn` moves the (2.5 KiB) request future once more when it starts it.
    let body_done = AtomicBool::new(false);
    let reply = match shared.config.request_timeout {
        None => process(&shared, &peer, req, 0.0, None, &body_done).await,
        // Without a body the request waits only on the bridge, whose deadline watcher
        // answers it in time: no timer per request (see `deadline`).
        Some(timeout) if req.body().is_end_stream() => {
            deadline::watch(&shared, timeout);
            let now = clock::now();
            let deadline_ms = now.epoch_ms + timeout.as_secs_f64() * 1000.0;
            let watched = Some(now.instant + timeout);
            process(&shared, &peer, req, deadline_ms, watched, &body_done).await
        }
        Some(timeout) => {
            let now = clock::now();
            let deadline_ms = now.epoch_ms + timeout.as_secs_f64() * 1000.0;
            // Pinned where it is made: handing the future itself to `timeout_at` would copy
            // it once more.
            let work = std::pin::pin!(process(&shared, &peer, req, deadline_ms, None, &body_done));
            match tokio::time::timeout_at(Instant::from_std(now.instant) + timeout, work).await {
                Ok(reply) => reply,
                Err(_) => deadline::timed_out(&shared, &body_done),
            }
        }
    };
    let (reply, prepaid) = admit_reply(&shared, reply);
    let reply = compress::apply(coding, reply);
    let budget = Arc::clone(&shared.budget);
    Ok(reply.map(|body| Outgoing::new(body, budget, prepaid, busy)))
}

/// The kernel's own answer when `req` falls under a static mount of `files` and passes the
/// head checks every request gets (a request failing them goes on, to be refused as usual).
fn serve_static(
    files: &StaticFiles,
    shared: &Shared,
    peer: &Peer,
    req: Request<RequestBody>,
) -> (Request<RequestBody>, Option<Reply>) {
    let (parts, body) = req.into_parts();
    let sound =
        head_size(&parts) <= shared.config.max_header_size && validate::check(&parts).is_ok();
    let req = Request::from_parts(parts, body);
    let reply = sound
        .then(|| files.serve(&req, peer.files.as_ref()))
        .flatten();
    (req, reply)
}

/// Charges a whole response body to the memory budget before hyper gets it, or answers
/// 503 instead (dropping the body) when it would pass the ceiling.
pub(super) fn admit_reply(shared: &Shared, reply: Reply) -> (Reply, Option<Charge>) {
    let size = reply.body().size_hint().exact().unwrap_or(0);
    if size == 0 {
        return (reply, None);
    }
    let lent = shared.bridge.stats.body_bytes.load(Ordering::Relaxed);
    match shared.budget.try_charge(lent, size) {
        Some(charge) => (reply, Some(charge)),
        None => (reject(shared, 503), None),
    }
}

async fn process(
    shared: &Arc<Shared>,
    peer: &Peer,
    req: Request<RequestBody>,
    deadline_ms: f64,
    watched: Option<std::time::Instant>,
    body_done: &AtomicBool,
) -> Reply {
    let config = &shared.config;
    let (mut parts, incoming) = req.into_parts();
    if head_size(&parts) > config.max_header_size {
        return reject(shared, 431);
    }
    if validate::check(&parts).is_err() {
        return reject(shared, 400);
    }
    validate::normalize(&mut parts.headers);
    let on_upgrade = websocket::is_request(&parts)
        .then(|| parts.extensions.remove::<OnUpgrade>())
        .flatten();
    let expected = incoming.size_hint().exact();
    if expected.is_some_and(|len| len > config.max_body_size) {
        return reject(shared, 413);
    }
    // Past the memory ceiling nothing new is admitted. A body of known length is reserved
    // (up to the buffering limit) before it is read, one of unknown length charged as it
    // arrives; once submitted, the bridge counts it as lent.
    let lent_now = shared.bridge.stats.body_bytes.load(Ordering::Relaxed);
    let reserve = if incoming.is_end_stream() {
        0
    } else {
        expected.map_or(0, |len| len.min(config.buffer_body_limit))
    };
    let Some(reservation) = shared.budget.try_charge(lent_now, reserve) else {
        return reject(shared, 503);
    };
    // A request without a body reads no clock for a pace and holds no collecting future.
    let (buffered, streamed, intake) = if incoming.is_end_stream() {
        (Vec::new(), None, None)
    } else {
        let pace = Pace::new(config.body_timeout, config.min_body_rate);
        let mut intake = Intake::new(pace, reservation, lent_now);
        if expected.is_some_and(|len| len > config.buffer_body_limit) {
            (Vec::new(), Some(incoming), Some(intake))
        } else {
            // Boxed: inline, this future would grow every request's future (which is moved
            // several times on its way into hyper) by ≈0.5 KiB.
            let collected = Box::pin(body::collect(
                incoming,
                expected,
                config.buffer_body_limit,
                config.max_body_size,
                &mut intake,
            ))
            .await;
            match collected {
                Ok(Collected::Whole(data)) => (data, None, Some(intake)),
                Ok(Collected::Partial(prefix, rest)) => (prefix, Some(rest), Some(intake)),
                Err(BodyError::TooLarge) => return reject(shared, 413),
                Err(BodyError::Broken) => return reject(shared, 400),
                Err(BodyError::Slow) => return reject(shared, 408),
                Err(BodyError::Memory) => return reject(shared, 503),
            }
        }
    };
    body_done.store(streamed.is_none(), Ordering::Relaxed);

    let mut flags = 0;
    if parts.version == http::Version::HTTP_2 {
        flags |= FLAG_HTTP2;
    }
    if peer.tls {
        flags |= FLAG_TLS;
    }
    if on_upgrade.is_some() {
        flags |= FLAG_WEBSOCKET;
    }
    let mut forward = None;
    let (lent, input, body_len) = match streamed {
        None if buffered.is_empty() => (None, None, 0.0),
        None => {
            flags |= FLAG_BODY_BUFFERED;
            let len = buffered.len() as f64;
            (Some(buffered.into_boxed_slice()), None, len)
        }
        Some(rest) => {
            flags |= FLAG_BODY_STREAMED;
            let (tx, rx) = mpsc::channel(STREAM_CHANNEL_CHUNKS);
            let (stop, stopped) = oneshot::channel();
            forward = Some((rest, tx, buffered.len() as u64, stopped));
            let announced = expected.map_or(-1.0, |len| len as f64);
            (
                None,
                Some(BodyIn::new(Bytes::from(buffered), rx).stopping(stop)),
                announced,
            )
        }
    };

    // Registered before TypeScript can see the request, so `upgradeWebSocket` finds it.
    let offer = on_upgrade.map(|upgrade| websocket::Offer::new(&shared.sockets, upgrade));
    let encode = |id: u64, body_addr: usize, out: &mut Vec<u8>| {
        if let Some(offer) = &offer {
            offer.register(id);
        }
        // Made here rather than before `submit`: what is live across an `await` makes the
        // request future (moved several times per request) bigger.
        let traceparent = parts.headers.get("traceparent").map(HeaderValue::as_bytes);
        let ids = TraceIds::for_request(traceparent);
        let url = absolute_url(&parts, peer);
        let encoded = record::encode_request(
            &record::RequestHead {
                id,
                flags,
                body_addr,
                body_len,
                deadline_ms,
                method: parts.method.as_str(),
                url,
                remote_ip: &peer.remote_ip,
                remote_port: peer.remote.port(),
                ids: ids.as_fields(),
                headers: &parts.headers,
            },
            out,
        );
        encoded.map(|()| TraceHeaders::new(&ids))
    };
    let submitted = match shared
        .bridge
        .submit_request(lent, input, watched, encode)
        .await
    {
        Ok(submitted) => submitted,
        Err(KernelError::Timeout(_)) => return deadline::timed_out(shared, body_done),
        Err(_) => return reject(shared, 503),
    };
    if offer.is_none() {
        // The response reuses the request's header map (a WebSocket answer still reads it).
        let headers = std::mem::take(&mut parts.headers);
        shared.bridge.recycle(submitted.id, headers);
    }
    let pace = intake.map(Intake::into_pace);
    if let (Some((rest, tx, already, stop)), Some(pace)) = (forward, pace) {
        let shared = Arc::clone(shared);
        let (id, limit) = (submitted.id, config.max_body_size);
        let life = Lifeline {
            peer: peer.socket,
            stop,
        };
        tokio::spawn(async move {
            let refuse = |status| shared.bridge.reject(id, reject(&shared, status));
            let forwarded = body::forward(rest, tx, already, limit, pace, refuse, life).await;
            if forwarded == Forwarded::Broken {
                // The request can never complete: tell TypeScript now (its signal fires)
                // rather than when the handler happens to return.
                shared.bridge.abandon(id);
            }
        });
    }
    // Until the reply arrives, dropping this future (client gone, deadline) abandons the
    // request so TypeScript hears about it and frees the slot.
    let guard = AbandonOnDrop {
        shared,
        id: submitted.id,
    };
    let response = submitted.reply.await;
    std::mem::forget(guard);
    let response = response.unwrap_or_else(|_| status_response(500));
    match offer {
        Some(offer) => offer.answer(&parts, response),
        None => websocket::refuse_stray_upgrade(response),
    }
}

/// The kernel's own refusal with `status` (counted; the connection closes after a refused
/// head or body).
pub(super) fn reject(shared: &Shared, status: u16) -> Reply {
    shared.rejected.fetch_add(1, Ordering::Relaxed);
    let mut response = status_response(status);
    if matches!(status, 400 | 408 | 413 | 431) {
        // The unread rest of the request makes the connection unusable.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Abandons request `id` when dropped, unless forgotten once its answer arrived.
pub(super) struct AbandonOnDrop<'a> {
    /// The server's state.
    pub shared: &'a Shared,
    /// The request.
    pub id: u64,
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        self.shared.bridge.abandon(self.id);
    }
}

/// The request's absolute URL as scheme (with `://`), authority and path with query.
pub(super) fn absolute_url<'a>(parts: &'a http::request::Parts, peer: &'a Peer) -> [&'a str; 3] {
    let scheme = if peer.tls { "https://" } else { "http://" };
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            // `validate::check` refused malformed Hosts; an empty one counts as none.
            parts
                .headers
                .get(header::HOST)
                .filter(|h| !h.is_empty())
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or(&peer.authority);
    let path = match parts.uri.path_and_query().map_or("/", |p| p.as_str()) {
        // `OPTIONS *` (the only asterisk-form allowed through) reads as `/*`, as in Deno.
        "*" => "/*",
        path => path,
    };
    [scheme, authority, path]
}

/// Bytes of the request head as sent: request line and header lines.
fn head_size(parts: &http::request::Parts) -> usize {
    let uri = parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len());
    let line = parts.method.as_str().len() + uri + 12;
    let fields: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + fields + 2
}
