//! HTTP/1.1 served on `deno_http_h1` — the parser and writer `Deno.serve` uses — by a
//! connection driver of the kernel's own; hyper serves HTTP/2 only.
//!
//! One task per connection reads a head ([`head`]: the crate parses it once, with Deno's
//! limits: 128 fields, a 64 KiB head, Deno's framing rules), hands the request to
//! [`super::service::handle`] and, while the answer is pending, feeds the request body to
//! it as it is read and otherwise watches for the client hanging up ([`input`]), which
//! abandons the request. The answer is written by [`output`] (a large body's head held
//! back by [`cork`] to leave with it). Then the next head, unless
//! either side (or a graceful shutdown) ends the connection.
//!
//! What the crate has no timers for stays with the kernel: the idle watch closes quiet
//! connections and cuts a head that takes longer than [`HEAD_TIMEOUT`] (see
//! [`super::limits::Activity`]), and the service enforces the body pace.
//!
//! Refused heads get answers as `Deno.serve` gives them: 400 for a malformed head, bad
//! framing or more than 128 fields, and 431 — the kernel's more precise status — for a
//! head past 64 KiB; the connection closes after either.

pub mod cork;
pub mod head;
pub mod input;
pub mod lane;
pub mod output;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use deno_http_h1::{
    BodyKind, Error, Response, ResponseBody, SharedConn, SharedScratch, Version, status_allows_body,
};
use hyper::body::Body;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use self::cork::{Cork, Corked};
use self::head::{DateCache, Head, asks_close, says_close};
use self::input::{Event, Input};
use self::lane::{Laned, Outcome};
use self::output::{Framing, Written};
use super::body::RequestBody;
use super::bridge::Mailbox;
use super::compress;
use super::limits::{Activity, BusyHere, Charge, Outgoing};
use super::record::OwnedResponse;
use super::service::{self, Outbound, Peer};
use super::shared::Shared;
use super::upgrade::{Io, Prefixed, Upgrade};

/// Longest a request head may take to arrive once its first byte has (hyper's default).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Socket reads go into a buffer of this size (a body grows it, see [`input`]).
const READ_CAPACITY: usize = 8 * 1024;
/// A response whose head and body fit in this many bytes goes out in one write.
const WRITE_CAPACITY: usize = 8 * 1024;

/// What a connection's requests share.
pub struct Connection {
    /// The server's state.
    pub shared: Arc<Shared>,
    /// The client.
    pub peer: Arc<Peer>,
    /// The connection's activity, for the idle watch.
    pub activity: Arc<Activity>,
    /// Turns true when the server shuts down gracefully.
    pub stop: watch::Receiver<bool>,
}

/// Serves HTTP/1.x on `io` until the client or the server ends the connection, or an
/// upgrade takes it over.
pub async fn serve<I: Io + 'static>(io: I, connection: Connection) {
    let Connection {
        shared,
        peer,
        activity,
        mut stop,
    } = connection;
    // Marks the value seen, so that `has_changed` tells a shutdown begun since (see
    // `shutting_down`).
    let stopped_before = *stop.borrow_and_update();
    // Made once per connection: awaited afresh for every head, the wait would register
    // with (and leave) the shutdown signal's waiters on every request.
    let mut stopping = stop.clone();
    let mut stopped = pin!(async move {
        let _ = stopping.wait_for(|stopped| *stopped).await;
    });
    let cork = Cork::default();
    let mut conn = SharedConn::new(Corked::new(io, cork.clone()));
    // As `Deno.serve` does: a request without Host is served (the URL gets the server's
    // own address).
    conn.set_allow_missing_host(true);
    let mut scratch = SharedScratch::new(READ_CAPACITY, WRITE_CAPACITY);
    let mut date = DateCache::default();
    // The record of a request the lane takes (see `lane`), reused from request to request.
    let mut record = Vec::new();
    let mailbox = Arc::new(Mailbox::default());
    // The buffer of the last response record written, for the next one.
    let mut spare = Vec::new();
    activity.settle();
    loop {
        // The request as `http` types when the lane does not take it (`None`: it did). Kept
        // out of `Head`, which the parser's result moves several times.
        let (mut typed, mut laned) = (None, None);
        let mut parse = |request: deno_http_h1::Request<'_>| {
            laned = lane::encode(&request, &shared, &peer, &mut record);
            // Assigned only when needed: an `Option` of a whole `http::Request` (≈220
            // bytes) was copied into `typed` for every laned request too.
            if laned.is_none() {
                typed = Some(head::to_http(&request));
            }
            Head::new(&request)
        };
        let next = tokio::select! {
            biased;
            next = poll_fn(|cx| conn.poll_next_request_with(cx, &mut scratch, &mut parse)) => next,
            () = &mut stopped => break,
        };
        let head = match next {
            Ok(Some(head)) => head,
            Ok(None) | Err(Error::Io(_)) => break,
            Err(Error::HeadTooLarge) => {
                refuse(&mut conn, &mut scratch, date.now(), 431).await;
                break;
            }
            Err(_) => {
                refuse(&mut conn, &mut scratch, date.now(), 400).await;
                break;
            }
        };
        // A body that came with its head (most small ones) is taken at once: no channel, no
        // reads on demand.
        let whole = match head.body {
            BodyKind::ContentLength(1..) | BodyKind::Chunked => conn.try_take_full_body(),
            _ => Ok(None),
        };
        let Ok(whole) = whole else {
            refuse(&mut conn, &mut scratch, date.now(), 400).await;
            break;
        };
        let request = match (typed, laned) {
            (Some(Some(request)), _) => Some(Ok(request)),
            (None, Some(laned)) if !laned.body || whole.is_some() => Some(Err(laned)),
            // The lane took a head whose body is still arriving: the `http` way reads it.
            (None, Some(laned)) => lane::unlane(&record, &laned, &head).map(Ok),
            _ => None,
        };
        let Some(request) = request else {
            refuse(&mut conn, &mut scratch, date.now(), 400).await;
            break;
        };
        let (mut input, answer, upgrade) = match request {
            Err(laned) => {
                // Any body was taken whole.
                let (mut input, _) = Input::new(BodyKind::Empty, false);
                let busy = activity.busy_here();
                // Made where it is pinned: a `let` first would copy the future once more.
                let answer = pin!(lane::answer(
                    &shared,
                    &mut record,
                    &mailbox,
                    (laned.coding, laned.trace),
                    whole,
                    std::mem::take(&mut spare),
                ));
                let Some(outcome) = answered(answer, &mut conn, &mut scratch, &mut input).await
                else {
                    // The client left: dropping the answer abandoned the request.
                    break;
                };
                (input, Answer::laned(&shared, outcome, busy, laned), None)
            }
            Ok(mut request) => {
                let (mut input, body) = match whole {
                    Some(data) => Input::whole(data),
                    None => Input::new(head.body, head.expect_continue),
                };
                let upgrade = head.upgrade.then(|| {
                    let (upgrade, on_upgrade) = Upgrade::pending();
                    request.extensions_mut().insert(on_upgrade);
                    upgrade
                });
                let request = request.map(|()| RequestBody::H1(body));
                let busy = activity.busy();
                let answer = pin!(service::handle(
                    Arc::clone(&shared),
                    Arc::clone(&peer),
                    request,
                    busy
                ));
                let Some(Ok(response)) =
                    answered(answer, &mut conn, &mut scratch, &mut input).await
                else {
                    // The client left: dropping the answer abandons the request.
                    break;
                };
                (input, Answer::Built(response), upgrade)
            }
        };
        let (status, asks_close, exact) = match &answer {
            Answer::Built(response) => (
                response.status().as_u16(),
                asks_close(response.headers()),
                response.body().size_hint().exact(),
            ),
            Answer::Record { response, .. } => (
                response.status(),
                response
                    .headers()
                    .iter()
                    .any(|(name, value)| name == b"connection" && says_close(value)),
                Some(response.body().len() as u64),
            ),
        };
        let upgrading = status == 101 && upgrade.is_some();
        let close_delimited = head.version == Version::Http10
            && !head.head_only
            && status_allows_body(status)
            && exact.is_none();
        let keep_alive = upgrading
            || (head.keep_alive
                && !close_delimited
                && !input.broken()
                && !asks_close
                && !shutting_down(&stop, stopped_before));
        let framing = Framing {
            version: head.version,
            keep_alive,
            head_only: head.head_only,
            date: date.now(),
            cork: &cork,
        };
        let chunked = head.version == Version::Http11
            && !head.head_only
            && status_allows_body(status)
            && exact.is_none();
        let written = match answer {
            Answer::Built(response) => {
                output::write(&mut conn, &mut scratch, &mut input, framing, response).await
            }
            Answer::Record {
                response,
                charge,
                busy,
            } => {
                let written =
                    output::write_record(&mut conn, &mut scratch, framing, &response).await;
                drop((charge, busy));
                spare = response.into_buffer();
                written
            }
        };
        if written == Written::Failed {
            break;
        }
        if upgrading && let Some(upgrade) = upgrade {
            let (io, rest) = conn.into_upgrade_parts();
            upgrade.complete(Prefixed::new(rest, Box::new(io)));
            return;
        }
        activity.settle();
        if !keep_alive || !input.reusable() {
            break;
        }
        if chunked {
            // The crate shrinks its write buffer after a chunked answer; small answers
            // should keep going out in one write.
            scratch = SharedScratch::new(READ_CAPACITY, WRITE_CAPACITY);
        }
    }
    // As hyper does: the sending side is shut down (TLS: close_notify) before the socket
    // is dropped.
    let _ = conn.into_inner().shutdown().await;
}

/// What goes out for one request.
// Held once in the driver's future, never moved around: boxing the larger variant would
// cost the `http` path an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Answer<'a> {
    /// A response built the `http` way.
    Built(Outbound),
    /// A response record from the lane, written in place; its body stays charged to the
    /// budget and the connection busy until it is out.
    Record {
        response: OwnedResponse,
        charge: Option<Charge>,
        busy: BusyHere<'a>,
    },
}

impl<'a> Answer<'a> {
    /// What the lane's `outcome` sends: a built response as `service::handle` sends it,
    /// compressed when the request negotiated a coding that applies to it.
    fn laned(shared: &Arc<Shared>, outcome: Outcome, busy: BusyHere<'a>, laned: Laned) -> Self {
        match outcome {
            Outcome::Record(response, charge) => Self::Record {
                response,
                charge,
                busy,
            },
            Outcome::Built(reply) => {
                let (reply, prepaid) = service::admit_reply(shared, *reply);
                let reply = compress::apply(laned.coding, reply);
                let budget = Arc::clone(&shared.budget);
                let busy = busy.owned();
                Self::Built(reply.map(|body| Outgoing::new(body, budget, prepaid, busy)))
            }
        }
    }
}

/// Whether the server is shutting down gracefully (`before`: it was when the connection
/// began, see [`serve`]), asked once per request: the version check is one load, where
/// `borrow` takes and releases the value's lock (two locked operations) on every request.
/// Only a change since the connection began (the one to `true`) or a dropped sender reads
/// the value itself.
fn shutting_down(stop: &watch::Receiver<bool>, before: bool) -> bool {
    before || (stop.has_changed().unwrap_or(true) && *stop.borrow())
}

/// The service's answer, reading the request's body (or watching for a hang-up)
/// meanwhile; `None` when the client left first.
async fn answered<F: Future, I: Io>(
    mut answer: Pin<&mut F>,
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    input: &mut Input,
) -> Option<F::Output> {
    loop {
        tokio::select! {
            biased;
            reply = &mut answer => return Some(reply),
            event = input.step(conn, scratch) => if let Event::Gone = event {
                return None;
            },
        }
    }
}

/// Answers a head the kernel refuses (`status` with no body) and closes.
async fn refuse<I: Io>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    date: &[u8],
    status: u16,
) {
    let date = [deno_http_h1::Header {
        name: b"date",
        value: date,
    }];
    let response = Response {
        version: Version::Http11,
        status,
        reason: output::reason(status),
        headers: &date,
        body: ResponseBody::Empty,
        keep_alive: false,
    };
    let _ = conn.write_response_with_scratch(scratch, response).await;
}
