//! The KNUL server: a quinn endpoint on the kernel's own runtime; each call stream is read,
//! admitted (see `docs/knul.md` §6) and only then handed to TypeScript through a
//! [`Bridge`], whose response frames are written back to the stream.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::admission::{Refusal, Tenants};
use super::dispatch::Dispatch;
use super::frame::{self, FrameError, code};
use super::record::{self, CallHead};
use super::tls;
use crate::http::Bridge;
use crate::http::body::{BodyChunk, ResponseBody, STREAM_CHANNEL_CHUNKS};
use crate::http::bridge::BodyIn;
use crate::http::runtime::Host;
use crate::http::trace::TraceIds;
use crate::proto::{KnulHeader, KnulServeOptions, KnulStats, ServerAddress};
use crate::{KernelError, Result};

/// Default largest `HEADER` payload.
pub const DEFAULT_MAX_HEADER: usize = 16 * 1024;
/// Default largest `MESSAGE` payload.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;
/// Default number of calls handed to TypeScript at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// How long writing a refusal may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const INBOX: usize = 1024 * 1024;
const OUTBOX: usize = 1024 * 1024;

/// A registered method.
#[derive(Clone, Copy)]
struct Method {
    idempotent: bool,
    client_streaming: bool,
}

/// Counters (see `KnulStats` for their meaning).
#[derive(Default)]
struct Counters {
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    calls_total: AtomicU64,
    dispatched: AtomicU64,
    answered: AtomicU64,
    rejected_deadline: AtomicU64,
    rejected_unimplemented: AtomicU64,
    rejected_rate: AtomicU64,
    rejected_concurrency: AtomicU64,
    rejected_oversize: AtomicU64,
    rejected_protocol: AtomicU64,
    rejected_early_data: AtomicU64,
    expired_in_queue: AtomicU64,
    expired_running: AtomicU64,
    cancelled: AtomicU64,
    early_data_calls: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

struct Shared {
    methods: HashMap<String, Method>,
    max_header: usize,
    max_frame: usize,
    tenants: Tenants,
    dispatch: Dispatch,
    bridge: Bridge,
    counters: Counters,
}

/// A running KNUL server. Dropping it stops it at once.
pub struct Server {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    host: Host,
}

impl Server {
    /// Binds the UDP socket and starts serving. Bad TLS material, a bad address or a
    /// method listed twice are reported here.
    pub fn start(options: &KnulServeOptions) -> Result<Self> {
        let config = tls::server_config(options)?;
        let mut methods = HashMap::new();
        for m in &options.methods {
            if m.name.is_empty() {
                return Err(KernelError::invalid("a KNUL method needs a name"));
            }
            let method = Method {
                idempotent: m.idempotent,
                client_streaming: m.client_streaming,
            };
            if methods.insert(m.name.clone(), method).is_some() {
                return Err(KernelError::invalid(format!(
                    "KNUL method {:?} is listed twice",
                    m.name
                )));
            }
        }
        let or = |v: u32, d: usize| if v == 0 { d } else { v as usize };
        let hostname = if options.hostname.is_empty() {
            "127.0.0.1"
        } else {
            options.hostname.as_str()
        };
        let bind = if hostname.contains(':') {
            format!("[{hostname}]:{}", options.port)
        } else {
            format!("{hostname}:{}", options.port)
        };
        let socket =
            UdpSocket::bind(&bind).map_err(|e| KernelError::io(format!("bind udp {bind}"), e))?;
        let addr = socket
            .local_addr()
            .map_err(|e| KernelError::io("local_addr", e))?;
        let host = Host::start(1)?;
        let endpoint = {
            let _entered = host.handle().enter();
            quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(config),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| KernelError::io("start the quic endpoint", e))?
        };
        let shared = Arc::new(Shared {
            methods,
            max_header: or(options.max_header_bytes, DEFAULT_MAX_HEADER),
            max_frame: or(options.max_frame_bytes, DEFAULT_MAX_FRAME),
            tenants: Tenants::new(options.tenant_limits.as_ref()),
            dispatch: Dispatch::new(or(options.max_in_flight, DEFAULT_MAX_IN_FLIGHT)),
            bridge: Bridge::new(INBOX, OUTBOX)?,
            counters: Counters::default(),
        });
        let bell = Arc::clone(&shared);
        host.handle()
            .spawn(async move { bell.bridge.doorbell().await });
        host.handle()
            .spawn(accept_loop(Arc::clone(&shared), endpoint.clone()));
        Ok(Self {
            shared,
            endpoint,
            addr,
            host,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as a control-plane message (scheme `knul`).
    pub fn address(&self) -> ServerAddress {
        ServerAddress {
            hostname: self.addr.ip().to_string(),
            port: u32::from(self.addr.port()),
            scheme: "knul".into(),
        }
    }

    /// Where calls and responses cross over to TypeScript.
    pub fn bridge(&self) -> &Bridge {
        &self.shared.bridge
    }

    /// Live counters.
    pub fn stats(&self) -> KnulStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        KnulStats {
            connections_total: get(&c.connections_total),
            connections_open: get(&c.connections_open),
            calls_total: get(&c.calls_total),
            dispatched_total: get(&c.dispatched),
            answered_total: get(&c.answered),
            rejected_deadline: get(&c.rejected_deadline),
            rejected_unimplemented: get(&c.rejected_unimplemented),
            rejected_rate: get(&c.rejected_rate),
            rejected_concurrency: get(&c.rejected_concurrency),
            rejected_oversize: get(&c.rejected_oversize),
            rejected_protocol: get(&c.rejected_protocol),
            rejected_early_data: get(&c.rejected_early_data),
            expired_in_queue: get(&c.expired_in_queue),
            expired_running: get(&c.expired_running),
            cancelled_total: get(&c.cancelled),
            in_flight: self.shared.bridge.in_flight() as u64,
            queued: self.shared.dispatch.queued() as u64,
            early_data_calls: get(&c.early_data_calls),
        }
    }

    /// Stops at once: connections close with code 0, TypeScript's `wait` reports 0, and
    /// this returns once every task is gone.
    pub fn stop(&self) {
        self.endpoint.close(0u32.into(), b"server stopped");
        self.shared.bridge.close();
        self.host.stop();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.bridge.close();
    }
}

async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            // Server side this always succeeds: calls may arrive as 0-RTT early data, and
            // each stream says whether it did.
            let connection = match connecting.into_0rtt() {
                Ok((connection, _)) => connection,
                Err(connecting) => match connecting.await {
                    Ok(connection) => connection,
                    Err(_) => return,
                },
            };
            bump(&shared.counters.connections_total);
            shared
                .counters
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            serve_connection(&shared, connection).await;
            shared
                .counters
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_connection(shared: &Arc<Shared>, connection: Connection) {
    while let Ok((send, recv)) = connection.accept_bi().await {
        bump(&shared.counters.calls_total);
        let shared = Arc::clone(shared);
        let connection = connection.clone();
        tokio::spawn(async move {
            let (mut send, mut recv) = (send, recv);
            if let Err(Some(refused)) = serve_call(&shared, &connection, &mut send, &mut recv).await
            {
                if refused.stop_reading {
                    let _ = recv.stop(VarInt::from_u32(frame::STOP_PROTOCOL));
                }
                // Bounded: a client that stops reading cannot hold the task.
                let _ = tokio::time::timeout(WRITE_TIMEOUT, send.write_all(&refused.frame)).await;
                let _ = send.finish();
            }
        });
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
    let (kind, len) = frame::read_prefix(recv, shared.max_header)
        .await
        .map_err(|e| protocol(c, e, "header"))?;
    if kind != frame::HEADER {
        return Err(Some(Refused {
            stop_reading: true,
            ..refuse(
                &c.rejected_protocol,
                code::INVALID_ARGUMENT,
                "the first frame of a call must be a HEADER",
            )
        }));
    }
    let raw = frame::read_payload(recv, len)
        .await
        .map_err(|e| protocol(c, e, "header"))?;
    let header = KnulHeader::decode(&raw[..]).map_err(|e| {
        Some(Refused {
            stop_reading: true,
            ..refuse(
                &c.rejected_protocol,
                code::INVALID_ARGUMENT,
                format!("the HEADER is not a valid KnulHeader: {e}"),
            )
        })
    })?;
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
        message = Some(read_unary(c, recv, shared.max_frame).await?);
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
    let ids = TraceIds::for_request(Some(header.traceparent.as_bytes()));
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
        metadata,
    };
    let submitted = shared
        .bridge
        .submit(message, body_in, |id, addr, out| {
            record::encode_call(
                id,
                &CallHead {
                    message_addr: addr,
                    metadata: head.metadata.clone(),
                    ..head
                },
                out,
            );
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
        return Err(Some(Refused {
            stop_reading: true,
            ..refuse(
                &c.rejected_protocol,
                code::INVALID_ARGUMENT,
                "after the HEADER a call sends MESSAGE frames",
            )
        }));
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
        _ => Err(Some(Refused {
            stop_reading: true,
            ..refuse(
                &c.rejected_protocol,
                code::INVALID_ARGUMENT,
                "a unary call sends exactly one MESSAGE",
            )
        })),
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

/// Writes TypeScript's response frames; makes sure a STATUS frame ends them. `Err` when the
/// client went away.
async fn write_response(send: &mut SendStream, body: ResponseBody) -> std::result::Result<(), ()> {
    let mut ended = false;
    match body {
        ResponseBody::Full(bytes) => {
            let bytes = bytes.unwrap_or_default();
            ended = frame::split(&bytes)
                .and_then(|frames| frames.last().map(|f| f.0 == frame::STATUS))
                .unwrap_or(false);
            send.write_all(&bytes).await.map_err(|_| ())?;
        }
        ResponseBody::Stream(mut rx) => {
            while let Some(chunk) = rx.recv().await {
                ended = chunk.first() == Some(&frame::STATUS);
                send.write_all(&chunk).await.map_err(|_| ())?;
            }
        }
        // Only the HTTP kernel's static files make these; a call never carries one.
        ResponseBody::Kernel(_) => {}
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
