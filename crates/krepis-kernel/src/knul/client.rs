//! The KNUL client: calls from TypeScript to one server. A call is started with a sync FFI
//! call and runs on the client's runtime; its whole response (frames) comes back through a
//! [`Bridge`] as a completion record, lent in place, so many calls complete per wake-up.
//!
//! Session tickets stay in a process-wide store, so a new connection (or a new client) to
//! a server this process talked to before resumes with 0-RTT. Only idempotent calls are
//! sent before the handshake completes; the others wait for it.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::frame::{self, code};
use super::record;
use super::tls;
use crate::http::Bridge;
use crate::http::runtime::Host;
use crate::proto::{KnulConnectInfo, KnulConnectOptions};
use crate::{KernelError, Result};

/// Largest response a call may read (frames included).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Extra time the client waits past a call's deadline for the server's own answer.
const DEADLINE_GRACE: Duration = Duration::from_millis(20);

/// TLS session tickets of every client in this process.
static TICKETS: Lazy<Arc<rustls::client::ClientSessionMemoryCache>> =
    Lazy::new(|| Arc::new(rustls::client::ClientSessionMemoryCache::new(1024)));

struct Link {
    connection: Connection,
    /// True once the handshake completed (immediately for a 1-RTT connection).
    handshake: watch::Receiver<bool>,
}

struct Inner {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    server_name: String,
    link: tokio::sync::Mutex<Option<Link>>,
    info: Arc<Mutex<KnulConnectInfo>>,
    bridge: Bridge,
    calls: Mutex<HashMap<u64, AbortHandle>>,
    inputs: Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>,
}

/// A client of one KNUL server. Dropping it stops it.
pub struct Client {
    inner: Arc<Inner>,
    host: Host,
}

/// One call as TypeScript starts it.
pub struct CallRequest {
    /// The id TypeScript chose; it comes back in the completion record.
    pub call_id: u64,
    /// The encoded `KnulHeader`.
    pub header: Vec<u8>,
    /// The request's `MESSAGE` frames, already framed (one for a unary call).
    pub frames: Vec<u8>,
    /// May travel in 0-RTT early data.
    pub idempotent: bool,
    /// Hand each response message to TypeScript as it arrives (server-streaming calls).
    pub streaming: bool,
    /// The call's budget; the client answers `DEADLINE_EXCEEDED` itself shortly after.
    pub timeout: Option<Duration>,
    /// More input frames follow through [`Client::send`] (client-streaming and
    /// bidirectional calls); such a call waits for the handshake (no 0-RTT).
    pub open_input: bool,
}

/// Capacity, in writes, of an open call's input channel: small, so a slow server pushes
/// back on TypeScript's `send`.
const INPUT_CHUNKS: usize = 4;

impl Client {
    /// A client for the server in `options`; connects on the first call.
    pub fn new(options: &KnulConnectOptions) -> Result<Self> {
        let store: Arc<dyn rustls::client::ClientSessionStore> = TICKETS.clone();
        let config = tls::client_config(options, store)?;
        let addr = (options.hostname.as_str(), options.port as u16)
            .to_socket_addrs()
            .map_err(|e| KernelError::io(format!("resolve {}", options.hostname), e))?
            .next()
            .ok_or_else(|| KernelError::invalid(format!("{} has no address", options.hostname)))?;
        let host = Host::start(1)?;
        let bind: SocketAddr = if addr.is_ipv6() {
            "[::]:0".parse().expect("valid")
        } else {
            "0.0.0.0:0".parse().expect("valid")
        };
        let mut endpoint = {
            let _entered = host.handle().enter();
            quinn::Endpoint::client(bind)
                .map_err(|e| KernelError::io("start the quic client", e))?
        };
        endpoint.set_default_client_config(config);
        let server_name = if options.server_name.is_empty() {
            options.hostname.clone()
        } else {
            options.server_name.clone()
        };
        let inner = Arc::new(Inner {
            endpoint,
            addr,
            server_name,
            link: tokio::sync::Mutex::new(None),
            info: Arc::new(Mutex::new(KnulConnectInfo::default())),
            bridge: Bridge::new(256 * 1024, 64 * 1024)?,
            calls: Mutex::new(HashMap::new()),
            inputs: Mutex::new(HashMap::new()),
        });
        let bell = Arc::clone(&inner);
        host.handle()
            .spawn(async move { bell.bridge.doorbell().await });
        Ok(Self { inner, host })
    }

    /// Where completions cross over to TypeScript.
    pub fn bridge(&self) -> &Bridge {
        &self.inner.bridge
    }

    /// What quinn reported for the latest connection (0-RTT attempted and accepted).
    pub fn connect_info(&self) -> KnulConnectInfo {
        *self.inner.info.lock()
    }

    /// Connects now (instead of on the first call) and waits for the handshake.
    pub fn connect(&self) -> Result<KnulConnectInfo> {
        let inner = Arc::clone(&self.inner);
        let (tx, rx) = std::sync::mpsc::channel();
        self.host.handle().spawn(async move {
            let result = match inner.link().await {
                Ok(mut link) => {
                    let _ = link.1.wait_for(|done| *done).await;
                    Ok(*inner.info.lock())
                }
                Err(e) => Err(e),
            };
            let _ = tx.send(result);
        });
        rx.recv()
            .map_err(|_| KernelError::Closed("the client stopped".into()))?
    }

    /// Closes the current connection (the next call reconnects, resuming the session).
    pub fn disconnect(&self) {
        let inner = Arc::clone(&self.inner);
        let (tx, rx) = std::sync::mpsc::channel();
        self.host.handle().spawn(async move {
            if let Some(link) = inner.link.lock().await.take() {
                link.connection.close(0u32.into(), b"bye");
            }
            let _ = tx.send(());
        });
        let _ = rx.recv();
    }

    /// Starts a call; its completion arrives through the bridge.
    pub fn call(&self, request: CallRequest) {
        let inner = Arc::clone(&self.inner);
        let call_id = request.call_id;
        let input = request.open_input.then(|| {
            let (tx, rx) = mpsc::channel(INPUT_CHUNKS);
            self.inner.inputs.lock().insert(call_id, tx);
            tokio::sync::Mutex::new(rx)
        });
        let mut calls = self.inner.calls.lock();
        let task = self.host.handle().spawn(async move {
            let run = inner.run(&request, input.as_ref());
            let response = match request.timeout {
                Some(budget) => match tokio::time::timeout(budget + DEADLINE_GRACE, run).await {
                    Ok(response) => response,
                    Err(_) => frame::status(
                        code::DEADLINE_EXCEEDED,
                        "the deadline passed before the server answered",
                    )
                    .to_vec(),
                },
                None => run.await,
            };
            inner.calls.lock().remove(&call_id);
            inner.inputs.lock().remove(&call_id);
            inner.deliver(call_id, response, false).await;
        });
        calls.insert(call_id, task.abort_handle());
    }

    /// Sends more input frames of an open call (see [`CallRequest::open_input`]), waiting
    /// while the server is slow; empty `frames` end the input.
    pub fn send(&self, call_id: u64, frames: &[u8]) -> Result<()> {
        let tx = self.inner.inputs.lock().get(&call_id).cloned();
        let tx =
            tx.ok_or_else(|| KernelError::NotFound(format!("call {call_id} has no open input")))?;
        if frames.is_empty() {
            self.inner.inputs.lock().remove(&call_id);
        }
        tx.blocking_send(frames.to_vec())
            .map_err(|_| KernelError::Closed(format!("call {call_id} is over")))
    }

    /// Cancels a call: its stream is reset and no completion follows.
    pub fn cancel(&self, call_id: u64) {
        self.inner.inputs.lock().remove(&call_id);
        if let Some(task) = self.inner.calls.lock().remove(&call_id) {
            task.abort();
        }
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.inner.calls.lock().len()
    }

    /// Stops the client and its runtime; TypeScript's `wait` reports 0.
    pub fn stop(&self) {
        self.inner.endpoint.close(0u32.into(), b"client stopped");
        self.inner.bridge.close();
        self.host.stop();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.bridge.close();
    }
}

/// Resets the send side unless the call completed: a cancelled call tells the server.
struct Sending(SendStream, bool);

impl Drop for Sending {
    fn drop(&mut self) {
        if !self.1 {
            let _ = self.0.reset(VarInt::from_u32(frame::CANCEL));
        }
    }
}

fn unavailable(what: impl std::fmt::Display) -> Vec<u8> {
    frame::status(code::UNAVAILABLE, what.to_string()).to_vec()
}

impl Inner {
    async fn link(&self) -> Result<(Connection, watch::Receiver<bool>)> {
        let mut link = self.link.lock().await;
        if let Some(l) = link.as_ref() {
            if l.connection.close_reason().is_none() {
                return Ok((l.connection.clone(), l.handshake.clone()));
            }
        }
        let connecting = self
            .endpoint
            .connect(self.addr, &self.server_name)
            .map_err(|e| KernelError::Closed(format!("connect to {}: {e}", self.addr)))?;
        let (connection, handshake) = match connecting.into_0rtt() {
            Ok((connection, accepted)) => {
                *self.info.lock() = KnulConnectInfo {
                    zero_rtt_attempted: true,
                    zero_rtt_accepted: false,
                };
                let (tx, rx) = watch::channel(false);
                let info = Arc::clone(&self.info);
                tokio::spawn(async move {
                    // quinn's own verdict: did the server accept the 0-RTT data?
                    info.lock().zero_rtt_accepted = accepted.await;
                    let _ = tx.send(true);
                });
                (connection, rx)
            }
            Err(connecting) => {
                let connection = connecting
                    .await
                    .map_err(|e| KernelError::Closed(format!("connect to {}: {e}", self.addr)))?;
                *self.info.lock() = KnulConnectInfo::default();
                (connection, watch::channel(true).1)
            }
        };
        *link = Some(Link {
            connection: connection.clone(),
            handshake: handshake.clone(),
        });
        Ok((connection, handshake))
    }

    /// Hands response frames of call `call_id` to TypeScript.
    async fn deliver(&self, call_id: u64, frames: Vec<u8>, more: bool) {
        let len = frames.len();
        let _ = self
            .bridge
            .submit(
                Some(frames.into_boxed_slice()),
                None,
                None,
                |slot, addr, out| {
                    record::encode_done(slot, call_id, addr, len, more, out);
                    Ok(())
                },
            )
            .await;
    }

    /// Runs one call to completion; the result is the response frames (for a streaming
    /// call, those not yet delivered: the status).
    async fn run(&self, request: &CallRequest, input: Option<&Input>) -> Vec<u8> {
        for attempt in 0..2 {
            let (connection, mut handshake) = match self.link().await {
                Ok(link) => link,
                Err(e) => return unavailable(e),
            };
            // Early data is for calls that are safe to replay; the rest wait for the handshake
            // (and so does a retry after the server rejected 0-RTT).
            if !request.idempotent || attempt > 0 || input.is_some() {
                let _ = handshake.wait_for(|done| *done).await;
            }
            let (send, recv) = match connection.open_bi().await {
                Ok(streams) => streams,
                Err(e) => return unavailable(format!("open a stream: {e}")),
            };
            match exchange(self, send, recv, request, input).await {
                Exchange::Done(bytes) => return bytes,
                Exchange::ZeroRttRejected => continue,
                Exchange::Failed(message) => return unavailable(message),
            }
        }
        unavailable("0-RTT was rejected twice")
    }
}

enum Exchange {
    Done(Vec<u8>),
    ZeroRttRejected,
    Failed(String),
}

/// The receiving end of an open call's input.
type Input = tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>;

async fn exchange(
    inner: &Inner,
    send: SendStream,
    mut recv: RecvStream,
    request: &CallRequest,
    input: Option<&Input>,
) -> Exchange {
    let mut sending = Sending(send, false);
    let mut out =
        BytesMut::with_capacity(frame::PREFIX + request.header.len() + request.frames.len());
    frame::put(&mut out, frame::HEADER, &request.header);
    out.extend_from_slice(&request.frames);
    // A server refusing the call early may stop our side: its answer is still readable.
    match sending.0.write_all(&out).await {
        Err(quinn::WriteError::ZeroRttRejected) => return Exchange::ZeroRttRejected,
        Err(quinn::WriteError::ConnectionLost(e)) => {
            return Exchange::Failed(format!("connection lost: {e}"));
        }
        _ => {}
    }
    if let Some(input) = input {
        // Input and output flow at the same time (bidirectional calls).
        let writing = async {
            let mut rx = input.lock().await;
            while let Some(chunk) = rx.recv().await {
                if chunk.is_empty() || sending.0.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = sending.0.finish();
            sending.1 = true;
            std::future::pending::<()>().await
        };
        tokio::pin!(writing);
        return tokio::select! {
            r = stream_frames(inner, &mut recv, request.call_id) => r,
            _ = &mut writing => unreachable!("writing never completes"),
        };
    }
    let _ = sending.0.finish();
    sending.1 = true;
    if request.streaming {
        return stream_frames(inner, &mut recv, request.call_id).await;
    }
    match recv.read_to_end(MAX_RESPONSE).await {
        Ok(bytes) => Exchange::Done(bytes),
        Err(quinn::ReadToEndError::Read(quinn::ReadError::ZeroRttRejected)) => {
            Exchange::ZeroRttRejected
        }
        Err(e) => Exchange::Failed(format!("the call broke off: {e}")),
    }
}

/// Delivers each MESSAGE frame as it arrives; returns the STATUS frame (or nothing, when
/// the stream ended without one).
async fn stream_frames(inner: &Inner, recv: &mut RecvStream, call_id: u64) -> Exchange {
    let mut delivered = false;
    loop {
        let (kind, len) = match frame::read_prefix(recv, MAX_RESPONSE).await {
            Ok(prefix) => prefix,
            Err(frame::FrameError::End) => return Exchange::Done(Vec::new()),
            Err(frame::FrameError::Gone) if !delivered => {
                // Possibly 0-RTT rejected before anything arrived: quinn's read says which.
                return match recv.read_chunk(1, true).await {
                    Err(quinn::ReadError::ZeroRttRejected) => Exchange::ZeroRttRejected,
                    _ => Exchange::Failed("the call broke off".into()),
                };
            }
            Err(e) => return Exchange::Failed(format!("the call broke off: {e:?}")),
        };
        let payload = match frame::read_payload(recv, len).await {
            Ok(payload) => payload,
            Err(e) => return Exchange::Failed(format!("the call broke off: {e:?}")),
        };
        let mut bytes = BytesMut::with_capacity(frame::PREFIX + len);
        frame::put(&mut bytes, kind, &payload);
        if kind == frame::STATUS {
            return Exchange::Done(bytes.to_vec());
        }
        inner.deliver(call_id, bytes.to_vec(), true).await;
        delivered = true;
    }
}
