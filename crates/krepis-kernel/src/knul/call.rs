//! One call on its stream: the admission steps of `docs/knul.md` §6, the hand-off to
//! TypeScript through the bridge, and writing the answer back.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::admission::Refusal;
use super::frame::{self, FrameError, code};
use super::record::{self, CallHead};
use super::server::{Counters, Shared, bump};
use super::tls;
use crate::KernelError;
use crate::http::body::{BodyChunk, ResponseBody, STREAM_CHANNEL_CHUNKS};
use crate::http::bridge::{BodyIn, Submitted};
use crate::http::trace::TraceIds;
use crate::proto::KnulHeader;

/// How long writing a refusal may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one call stream to its end; refusals are answered with a STATUS frame.
pub(super) async fn serve(
    shared: Arc<Shared>,
    connection: Connection,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    if let Err(Some(refused)) = serve_call(&shared, &connection, &mut send, &mut recv).await {
        if refused.stop_reading {
            let _ = recv.stop(VarInt::from_u32(frame::STOP_PROTOCOL));
        }
        // Bounded: a client that stops reading cannot hold the task.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, send.write_all(&refused.frame)).await;
        let _ = send.finish();
    }
}

/// A refusal: the status frame to send, and whether to stop reading the client's side.
struct Refused {
    frame: Bytes,
    stop_reading: bool,
}

fn refuse(counter: &AtomicU64, status: u32, message: impl Into<String>) -> Refused {
    bump(counter);
    Refused {
        frame: frame::status(status, message),
        stop_reading: false,
    }
}

/// A protocol violation: INVALID_ARGUMENT, and the server stops reading the stream.
fn malformed(c: &Counters, message: impl Into<String>) -> Refused {
    Refused {
        stop_reading: true,
        ..refuse(&c.rejected_protocol, code::INVALID_ARGUMENT, message)
    }
}

fn protocol(counters: &Counters, error: FrameError, what: &str) -> Option<Refused> {
    let (counter, status, message) = match error {
        FrameError::Gone => {
            bump(&counters.cancelled);
            return None;
        }
        FrameError::TooLarge(len) => (
            &counters.rejected_oversize,
            code::RESOURCE_EXHAUSTED,
            format!("{what} of {len} bytes exceeds the limit"),
        ),
        FrameError::End => (
            &counters.rejected_protocol,
            code::INVALID_ARGUMENT,
            format!("the stream ended before the {what}"),
        ),
        FrameError::Truncated => (
            &counters.rejected_protocol,
            code::INVALID_ARGUMENT,
            format!("the stream ended inside the {what}"),
        ),
        FrameError::UnknownType(kind) => (
            &counters.rejected_protocol,
            code::INVALID_ARGUMENT,
            format!("unknown frame type 0x{kind:02x} where the {what} was expected"),
        ),
    };
    let mut refused = refuse(counter, status, message);
    refused.stop_reading = true;
    Some(refused)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// The deadline of a call from its header: the earlier of the budget and the absolute time,
/// as an instant and as ms since the epoch.
fn deadline_of(header: &KnulHeader) -> Option<(Instant, f64)> {
    let now = Instant::now();
    let now_ms = now_ms();
    let mut best: Option<f64> = None;
    if header.timeout_ms > 0 {
        best = Some(now_ms + header.timeout_ms as f64);
    }
    if header.deadline_unix_ms > 0 {
        let abs = header.deadline_unix_ms as f64;
        best = Some(best.map_or(abs, |b| b.min(abs)));
    }
    let at = best?;
    let left = (at - now_ms).max(0.0);
    Some((now + Duration::from_millis(left as u64), at))
}

/// Reads and decodes the HEADER frame that starts every call.
async fn read_header(c: &Counters, recv: &mut RecvStream, max: usize) -> Step<KnulHeader> {
    let (kind, len) = frame::read_prefix(recv, max)
        .await
        .map_err(|e| protocol(c, e, "header"))?;
    if kind != frame::HEADER {
        return Err(Some(malformed(
            c,
            "the first frame of a call must be a HEADER",
        )));
    }
    let raw = frame::read_payload(recv, len)
        .await
        .map_err(|e| protocol(c, e, "header"))?;
    KnulHeader::decode(&raw[..]).map_err(|e| {
        Some(malformed(
            c,
            format!("the HEADER is not a valid KnulHeader: {e}"),
        ))
    })
}

/// A step of a call: on failure, the refusal to send (`None`: the client is gone).
type Step<T = ()> = std::result::Result<T, Option<Refused>>;

async fn serve_call(
    shared: &Arc<Shared>,
    connection: &Connection,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Step {
    let c = &shared.counters;
    let early = recv.is_0rtt();
    // 1. The header.
    let header = read_header(c, recv, shared.max_header).await?;
    // 2. The deadline.
    let deadline = deadline_of(&header);
    if let Some((at, _)) = deadline {
        if at <= Instant::now() {
            return Err(Some(refuse(
                &c.rejected_deadline,
                code::DEADLINE_EXCEEDED,
                "the deadline passed before the call arrived",
            )));
        }
    }
    // 3. The method.
    let Some(method) = shared.methods.get(&header.method).copied() else {
        return Err(Some(refuse(
            &c.rejected_unimplemented,
            code::UNIMPLEMENTED,
            format!("no method {:?} on this server", header.method),
        )));
    };
    // 4. Replay safety.
    if early {
        if !(header.idempotent && method.idempotent) {
            return Err(Some(refuse(
                &c.rejected_early_data,
                code::FAILED_PRECONDITION,
                "a call that is not idempotent may not travel in 0-RTT early data; resend it after the handshake",
            )));
        }
        bump(&c.early_data_calls);
    }
    // 5, 6. The tenant's limits.
    let _tenant_slot = shared.tenants.admit(&header.tenant).map_err(|r| {
        Some(match r {
            Refusal::Rate => refuse(
                &c.rejected_rate,
                code::RESOURCE_EXHAUSTED,
                format!("tenant {:?} is over its call rate", header.tenant),
            ),
            Refusal::Concurrency => refuse(
                &c.rejected_concurrency,
                code::RESOURCE_EXHAUSTED,
                format!("tenant {:?} has too many calls in flight", header.tenant),
            ),
        })
    })?;
    // 7. The input.
    let mut message = None;
    let mut input = None;
    if method.client_streaming {
        let (tx, rx) = mpsc::channel(STREAM_CHANNEL_CHUNKS);
        input = Some((tx, rx));
    } else {
        let reading = read_unary(c, recv, shared.max_frame);
        message = Some(match deadline {
            // A client that never sends its message cannot hold the tenant's slot forever.
            Some((at, _)) => tokio::time::timeout_at(at, reading).await.map_err(|_| {
                Some(refuse(
                    &c.rejected_deadline,
                    code::DEADLINE_EXCEEDED,
                    "the deadline passed while the call's message was arriving",
                ))
            })??,
            None => reading.await?,
        });
    }
    // 8. A turn to run.
    let Some(_ticket) = shared
        .dispatch
        .admit(header.priority, deadline.map(|d| d.0))
        .await
    else {
        return Err(Some(refuse(
            &c.expired_in_queue,
            code::DEADLINE_EXCEEDED,
            "the deadline passed while the call waited for the server",
        )));
    };
    // 9. Hand it to TypeScript.
    let ids = TraceIds::for_request(Some(header.traceparent.as_bytes()), None);
    let request_id = if header.request_id.is_empty() {
        ids.request_id.as_str()
    } else {
        header.request_id.as_str()
    };
    let peer = tls::peer_identity(connection);
    let mut flags = 0;
    if early {
        flags |= record::FLAG_EARLY_DATA;
    }
    if header.idempotent {
        flags |= record::FLAG_IDEMPOTENT;
    }
    let (message_len, body_in, forward) = match input {
        Some((tx, rx)) => {
            flags |= record::FLAG_STREAMED;
            (-1.0, Some(BodyIn::new(Bytes::new(), rx)), Some(tx))
        }
        None => {
            flags |= record::FLAG_MESSAGE;
            let len = message.as_deref().map_or(0, <[u8]>::len);
            (len as f64, None, None)
        }
    };
    let metadata: Vec<(&str, &str)> = header
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let head = CallHead {
        flags,
        message_addr: 0,
        message_len,
        deadline_ms: deadline.map_or(0.0, |d| d.1),
        priority: header.priority,
        texts: [
            &header.method,
            &header.tenant,
            &peer,
            request_id,
            &ids.parent_span_id,
            &header.encoding,
        ],
        trace: [&ids.trace_id, &ids.span_id],
        metadata: &metadata,
    };
    let submitted = shared
        .bridge
        .submit(message, body_in, None, |id, addr, out| {
            let head = CallHead {
                message_addr: addr,
                ..head
            };
            record::encode_call(id, &head, out);
            Ok(())
        })
        .await
        .map_err(|e| {
            Some(Refused {
                frame: frame::status(code::UNAVAILABLE, e.to_string()),
                stop_reading: true,
            })
        })?;
    bump(&c.dispatched);
    run_call(shared, submitted, send, recv, forward, deadline).await
}

/// Waits for TypeScript's answer while forwarding a streaming input, watching the deadline
/// and the client; then writes the answer.
async fn run_call(
    shared: &Arc<Shared>,
    submitted: Submitted,
    send: &mut SendStream,
    recv: &mut RecvStream,
    forward: Option<mpsc::Sender<BodyChunk>>,
    deadline: Option<(Instant, f64)>,
) -> Step {
    let c = &shared.counters;
    let id = submitted.id;
    let mut reply = submitted.reply;
    let max_frame = shared.max_frame;
    let forwarding = async {
        if let Some(tx) = forward {
            forward_frames(c, recv, tx, max_frame).await;
        }
        std::future::pending::<()>().await
    };
    tokio::pin!(forwarding);
    let expiry = async {
        match deadline {
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let stopped = send.stopped();
    tokio::pin!(stopped);
    let response = tokio::select! {
        r = &mut reply => r,
        _ = &mut forwarding => unreachable!("forwarding never completes"),
        _ = &mut expiry => {
            shared.bridge.abandon(id);
            return Err(Some(refuse(&c.expired_running, code::DEADLINE_EXCEEDED, "the deadline passed while the call ran")));
        }
        _ = &mut stopped => {
            shared.bridge.abandon(id);
            bump(&c.cancelled);
            return Err(None);
        }
    };
    let Ok(response) = response else {
        // The bridge dropped the call (server shutting down).
        return Err(Some(Refused {
            frame: frame::status(code::UNAVAILABLE, "the server is shutting down"),
            stop_reading: true,
        }));
    };
    let outcome = tokio::select! {
        r = write_response(send, response.into_body()) => r,
        _ = &mut forwarding => unreachable!("forwarding never completes"),
        _ = &mut expiry => {
            shared.bridge.abandon(id);
            return Err(Some(refuse(&c.expired_running, code::DEADLINE_EXCEEDED, "the deadline passed while the call ran")));
        }
        _ = &mut stopped => Err(()),
    };
    match outcome {
        Ok(()) => {
            bump(&c.answered);
            let _ = send.finish();
            Ok(())
        }
        Err(()) => {
            shared.bridge.abandon(id);
            bump(&c.cancelled);
            Err(None)
        }
    }
}

/// Reads the single message of a unary (or server-streaming) call, then the end of input.
async fn read_unary(c: &Counters, recv: &mut RecvStream, max: usize) -> Step<Box<[u8]>> {
    let (kind, len) = frame::read_prefix(recv, max)
        .await
        .map_err(|e| protocol(c, e, "message"))?;
    if kind != frame::MESSAGE {
        return Err(Some(malformed(
            c,
            "after the HEADER a call sends MESSAGE frames",
        )));
    }
    let message = frame::read_payload(recv, len)
        .await
        .map_err(|e| protocol(c, e, "message"))?;
    match frame::read_prefix(recv, max).await {
        Err(FrameError::End) => Ok(message),
        Err(FrameError::Gone) => {
            bump(&c.cancelled);
            Err(None)
        }
        _ => Err(Some(malformed(c, "a unary call sends exactly one MESSAGE"))),
    }
}

/// Forwards the MESSAGE frames of a streaming input to TypeScript as they are (prefix
/// included, so TypeScript sees message boundaries), enforcing the frame limit.
async fn forward_frames(
    c: &Counters,
    recv: &mut RecvStream,
    tx: mpsc::Sender<BodyChunk>,
    max: usize,
) {
    loop {
        let failure = match frame::read_prefix(recv, max).await {
            Ok((frame::MESSAGE, len)) => match frame::read_payload(recv, len).await {
                Ok(payload) => {
                    let mut chunk = Vec::with_capacity(frame::PREFIX + len);
                    chunk.push(frame::MESSAGE);
                    chunk.extend_from_slice(&(len as u32).to_be_bytes());
                    chunk.extend_from_slice(&payload);
                    if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => e,
            },
            Ok((kind, _)) => FrameError::UnknownType(kind),
            Err(FrameError::End) => return,
            Err(e) => e,
        };
        let error = match failure {
            FrameError::TooLarge(len) => {
                bump(&c.rejected_oversize);
                KernelError::LimitExceeded(format!("a message of {len} bytes exceeds {max}"))
            }
            FrameError::Gone => KernelError::Closed("the client reset its side of the call".into()),
            other => {
                bump(&c.rejected_protocol);
                KernelError::invalid(format!("malformed input stream: {other:?}"))
            }
        };
        let _ = recv.stop(VarInt::from_u32(frame::STOP_PROTOCOL));
        let _ = tx.send(Err(error)).await;
        return;
    }
}

/// Whether `bytes` (whole frames, as TypeScript writes them) end with a STATUS frame.
fn ends_with_status(bytes: &[u8]) -> bool {
    frame::split(bytes)
        .and_then(|frames| frames.last().map(|f| f.0 == frame::STATUS))
        .unwrap_or(false)
}

/// Writes TypeScript's response frames; makes sure a STATUS frame ends them. `Err` when the
/// client went away before the status was written.
///
/// Returns as soon as the STATUS frame is written, without waiting for TypeScript to close
/// the stream: a client that has its status may leave (its dropped stream sends
/// STOP_SENDING), and that must not count the answered call as cancelled.
async fn write_response(send: &mut SendStream, body: ResponseBody) -> std::result::Result<(), ()> {
    let mut ended = false;
    match body {
        ResponseBody::Full(bytes) => {
            let bytes = bytes.unwrap_or_default();
            ended = ends_with_status(&bytes);
            send.write_all(&bytes).await.map_err(|_| ())?;
        }
        ResponseBody::Stream(mut rx) => {
            while let Some(chunk) = rx.recv().await {
                ended = ends_with_status(&chunk);
                send.write_all(&chunk).await.map_err(|_| ())?;
                if ended {
                    break;
                }
            }
        }
        // Only the HTTP kernel's static files and server make these; a call never carries one.
        ResponseBody::Kernel(_) | ResponseBody::Borrowed(_) => {}
    }
    if !ended {
        let status = frame::status(
            code::INTERNAL,
            "the handler's response ended without a status",
        );
        send.write_all(&status).await.map_err(|_| ())?;
    }
    Ok(())
}
