//! WebSockets: the upgrade handshake and the framing (tokio-tungstenite), with events for
//! all of a server's sockets crossing to TypeScript through one queue.
//!
//! A WebSocket request reaches TypeScript as usual, flagged, with an [`Offer`] registered
//! for its id before TypeScript can see it. `upgradeWebSocket(req)` calls
//! [`Sockets::accept`]; when the handler's 101 response arrives [`Offer::answer`] adds the
//! handshake headers (`Sec-WebSocket-Accept`) and, once the HTTP/1.1 driver hands over the connection,
//! [`connection::serve`] runs it. Frames from the client become [`Event`]s in the server's
//! [`inbox`], which TypeScript drains in batches ([`Sockets::poll`]) after each turn of the
//! server; the server's park ends when events arrive ([`Sockets::ready`]), so no thread of
//! their own waits for them, however many sockets are open. What it
//! sends goes through an unbounded queue per socket (like a browser's `send`, which never
//! blocks; `bufferedAmount` tells how much waits). Pings are answered, fragmented messages
//! reassembled, and a message above [`MAX_MESSAGE`] closes the connection with 1009, all
//! by tungstenite.
//!
//! - [`inbox`]: the shared event queue, drained after each turn.
//! - [`connection`]: one socket's frames, idle pings and close on shutdown.
//! - [`read_ahead`]: larger reads while large frames arrive.

pub mod connection;
pub mod inbox;
pub mod read_ahead;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use self::connection::{Link, Outbound};
use self::inbox::Inbox;
use self::read_ahead::ReadAhead;
use super::bridge::{Reply, status_response};
use super::upgrade::OnUpgrade;
use crate::{KernelError, Result};

/// Largest message (and frame) accepted from a client: 64 MiB, as `Deno.upgradeWebSocket`.
pub const MAX_MESSAGE: usize = 64 << 20;
/// Read buffer each socket allocates up front (larger frames grow it as they arrive).
/// tungstenite's default, 128 KiB, made 1000 open sockets cost ≈130 MiB.
const READ_BUFFER: usize = 8 * 1024;

/// What happened on a socket, as TypeScript receives it.
#[derive(Debug)]
pub enum Event {
    /// The handshake completed.
    Open,
    /// A text message (UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The connection closed after a closing handshake (or the server shut down): code
    /// (1005 when none was given) and reason.
    Close(u16, String),
    /// The connection failed: 1006 when it broke off or never opened, 1009 for a message
    /// past [`MAX_MESSAGE`], 1001 when a ping went unanswered.
    Failed(u16, String),
}

impl Event {
    /// Kind code for TypeScript: 1 open, 2 text, 3 binary, 4 close, 5 failed.
    pub fn kind(&self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Text(_) => 2,
            Self::Binary(_) => 3,
            Self::Close(..) => 4,
            Self::Failed(..) => 5,
        }
    }

    /// Whether this is the socket's last event.
    pub fn is_last(&self) -> bool {
        matches!(self, Self::Close(..) | Self::Failed(..))
    }

    /// Length of the payload [`Event::write_payload`] writes.
    pub fn payload_len(&self) -> usize {
        match self {
            Self::Open => 0,
            Self::Text(b) | Self::Binary(b) => b.len(),
            Self::Close(_, reason) | Self::Failed(_, reason) => 2 + reason.len(),
        }
    }

    /// Writes the payload TypeScript reads into `out` (exactly [`Event::payload_len`]
    /// bytes): the message, or for a close the code (2 bytes, big endian) then the reason.
    pub fn write_payload(&self, out: &mut [u8]) {
        match self {
            Self::Open => {}
            Self::Text(b) | Self::Binary(b) => out.copy_from_slice(b),
            Self::Close(code, reason) | Self::Failed(code, reason) => {
                out[..2].copy_from_slice(&code.to_be_bytes());
                out[2..].copy_from_slice(reason.as_bytes());
            }
        }
    }
}

/// Where a socket is in its life before its connection runs.
enum Phase {
    /// Handed to TypeScript as a WebSocket request.
    Offered,
    /// `upgradeWebSocket` was called: waiting for the 101 response.
    Accepted {
        outbound: mpsc::UnboundedReceiver<Outbound>,
        idle: Option<Duration>,
    },
    /// The connection runs (or ran).
    Started,
}

struct Socket {
    phase: Mutex<Phase>,
    /// Kept while the phase is `Offered`, then moved into `Accepted`.
    outbound_rx: Mutex<Option<mpsc::UnboundedReceiver<Outbound>>>,
    outbound: mpsc::UnboundedSender<Outbound>,
    buffered: Arc<AtomicU64>,
}

/// The server's WebSockets by request id, and their shared event queue.
pub struct Sockets {
    sockets: Mutex<HashMap<u64, Arc<Socket>>>,
    inbox: Arc<Inbox>,
    stop: watch::Sender<bool>,
    /// Connection tasks still running.
    live: Arc<watch::Sender<usize>>,
}

impl Default for Sockets {
    fn default() -> Self {
        Self {
            sockets: Mutex::default(),
            inbox: Arc::default(),
            stop: watch::Sender::new(false),
            live: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// Whether the request asks for a WebSocket (RFC 6455 §4.2.1).
pub fn is_request(parts: &Parts) -> bool {
    let has = |name: header::HeaderName, token: &[u8]| {
        parts.headers.get_all(name).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    parts.method == http::Method::GET
        && parts.version == http::Version::HTTP_11
        && has(header::UPGRADE, b"websocket")
        && has(header::CONNECTION, b"upgrade")
        && parts.headers.contains_key(header::SEC_WEBSOCKET_KEY)
}

/// A WebSocket request on its way through TypeScript. Registered (with
/// [`Offer::register`]) before TypeScript can see the request, so `upgradeWebSocket` always
/// finds it; dropped without a 101 answer (another response, the client gone, the
/// deadline), it tells a socket TypeScript accepted that it will never open.
pub struct Offer<'a> {
    sockets: &'a Sockets,
    on_upgrade: Mutex<Option<OnUpgrade>>,
    id: AtomicU64,
}

impl<'a> Offer<'a> {
    /// An offer for a request that asked for a WebSocket.
    pub fn new(sockets: &'a Sockets, on_upgrade: OnUpgrade) -> Self {
        Self {
            sockets,
            on_upgrade: Mutex::new(Some(on_upgrade)),
            id: AtomicU64::new(0),
        }
    }

    /// Registers the request's id; call it before the request is handed over.
    pub fn register(&self, id: u64) {
        self.sockets.offer(id);
        self.id.store(id, Ordering::Relaxed);
    }

    /// Turns TypeScript's reply into the handshake response when it is a 101 for an
    /// accepted socket, and starts the socket once the driver hands over the connection. A 101
    /// without `upgradeWebSocket` becomes a 500; any other reply goes out unchanged.
    pub fn answer(self, parts: &Parts, reply: Reply) -> Reply {
        if reply.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return reply;
        }
        let on_upgrade = self.on_upgrade.lock().take();
        match on_upgrade {
            Some(on_upgrade) => {
                self.sockets
                    .upgrade(self.id.load(Ordering::Relaxed), parts, on_upgrade, reply)
            }
            None => status_response(500),
        }
    }
}

impl Drop for Offer<'_> {
    fn drop(&mut self) {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            self.sockets.forget(id);
        }
    }
}

/// A reply that is not for an [`Offer`]: a 101 there cannot complete a handshake.
pub fn refuse_stray_upgrade(reply: Reply) -> Reply {
    if reply.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        status_response(500)
    } else {
        reply
    }
}

impl Sockets {
    fn offer(&self, id: u64) {
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let socket = Socket {
            phase: Mutex::new(Phase::Offered),
            outbound_rx: Mutex::new(Some(outbound_rx)),
            outbound,
            buffered: Arc::default(),
        };
        self.sockets.lock().insert(id, Arc::new(socket));
    }

    /// Accepts the offered request `id` (TypeScript called `upgradeWebSocket`) with Deno's
    /// `idleTimeout` (`None`: no pings).
    pub fn accept(&self, id: u64, idle: Option<Duration>) -> Result<()> {
        let socket = self.get(id)?;
        let mut phase = socket.phase.lock();
        if !matches!(*phase, Phase::Offered) {
            return Err(KernelError::invalid(format!(
                "request {id} was already upgraded"
            )));
        }
        let outbound = socket
            .outbound_rx
            .lock()
            .take()
            .ok_or_else(|| KernelError::invalid("the socket has no queue"))?;
        *phase = Phase::Accepted { outbound, idle };
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Arc<Socket>> {
        self.sockets
            .lock()
            .get(&id)
            .cloned()
            .ok_or_else(|| KernelError::NotFound(format!("no WebSocket for request {id}")))
    }

    fn upgrade(&self, id: u64, parts: &Parts, on_upgrade: OnUpgrade, mut reply: Reply) -> Reply {
        // `is_request` made sure of the key; without one nothing starts (and the offer's
        // drop tells an accepted socket).
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
            return status_response(500);
        };
        let socket = self.get(id).ok();
        let started = socket.as_ref().and_then(|s| {
            let mut phase = s.phase.lock();
            match std::mem::replace(&mut *phase, Phase::Started) {
                Phase::Accepted { outbound, idle } => Some((outbound, idle)),
                other => {
                    *phase = other;
                    None
                }
            }
        });
        let (Some(socket), Some((outbound, idle))) = (socket, started) else {
            // Not accepted: the offer's drop forgets it.
            return status_response(500);
        };
        let accept = derive_accept_key(key.as_bytes());
        let headers = reply.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
        }
        let link = Link {
            id,
            inbox: Arc::clone(&self.inbox),
            credit: inbox::credit(),
            outbound,
            buffered: Arc::clone(&socket.buffered),
            idle,
            stop: self.stop.subscribe(),
        };
        let live = Arc::clone(&self.live);
        live.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            match on_upgrade.upgraded().await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .read_buffer_size(READ_BUFFER)
                        .max_message_size(Some(MAX_MESSAGE))
                        .max_frame_size(Some(MAX_MESSAGE));
                    let stream = WebSocketStream::from_raw_socket(
                        ReadAhead::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    connection::serve(stream, link).await;
                }
                Err(_) => link
                    .inbox
                    .push_now(id, Event::Failed(1006, String::new()), None),
            }
            live.send_modify(|n| *n -= 1);
        });
        reply
    }

    /// Forgets request `id` unless its socket started; a socket TypeScript accepted hears
    /// that it failed.
    fn forget(&self, id: u64) {
        let mut sockets = self.sockets.lock();
        let Some(socket) = sockets.get(&id) else {
            return;
        };
        let accepted = match *socket.phase.lock() {
            Phase::Started => return,
            Phase::Accepted { .. } => true,
            Phase::Offered => false,
        };
        sockets.remove(&id);
        drop(sockets);
        if accepted {
            self.inbox
                .push_now(id, Event::Failed(1006, String::new()), None);
        }
    }

    /// Copies waiting events of all sockets into `out`; see [`Inbox::poll`] for the layout
    /// and the result.
    pub fn poll(&self, out: &mut [u8]) -> usize {
        let mut ended = Vec::new();
        let written = self.inbox.poll(out, |id, last| {
            if last {
                ended.push(id);
            }
        });
        if !ended.is_empty() {
            let mut sockets = self.sockets.lock();
            for id in ended {
                sockets.remove(&id);
            }
        }
        written
    }

    /// Moves the first waiting event into `head` and `payload` when its payload is
    /// `payload.len()` bytes; see [`Inbox::take`].
    pub fn take(&self, head: &mut [u8], payload: &mut [u8]) -> usize {
        let mut ended = None;
        let written = self.inbox.take(head, payload, |id, last| {
            if last {
                ended = Some(id);
            }
        });
        if let Some(id) = ended {
            self.sockets.lock().remove(&id);
        }
        written
    }

    /// Resolves once events wait (or the server stopped): the server's park ends then,
    /// so that TypeScript takes them with its next turn.
    pub async fn ready(&self) {
        self.inbox.ready().await;
    }

    /// Queues a text (`binary` false) or binary message.
    pub fn send(&self, id: u64, binary: bool, data: &[u8]) -> Result<()> {
        let message = if binary {
            Message::binary(Bytes::copy_from_slice(data))
        } else {
            let text = std::str::from_utf8(data)
                .map_err(|_| KernelError::invalid("a text message must be UTF-8"))?;
            Message::text(text)
        };
        let socket = self.get(id)?;
        socket
            .buffered
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        socket
            .outbound
            .send(Outbound::Message(message))
            .map_err(|_| KernelError::Closed("the WebSocket is closed".into()))
    }

    /// Starts the closing handshake with `code` and `reason`.
    pub fn close(&self, id: u64, code: u16, reason: &str) -> Result<()> {
        let socket = self.get(id)?;
        // Already closing or closed: nothing more to do, as for a browser's close().
        let _ = socket
            .outbound
            .send(Outbound::Close(code, reason.to_string()));
        Ok(())
    }

    /// Bytes queued by `send` and not yet written to the socket.
    pub fn buffered(&self, id: u64) -> Result<u64> {
        Ok(self.get(id)?.buffered.load(Ordering::Relaxed))
    }

    /// Starts closing every socket the way `Deno.serve`'s shutdown does (see
    /// [`connection::serve`]); the returned future ends once all their tasks have.
    pub fn shutdown(&self) -> impl Future<Output = ()> + use<> {
        self.stop.send_replace(true);
        let mut live = self.live.subscribe();
        async move {
            let _ = live.wait_for(|n| *n == 0).await;
        }
    }

    /// Closes the event queue: a parked [`Sockets::wait`] returns 0 and no event comes any
    /// more. For when the server stops.
    pub fn stop_events(&self) {
        self.inbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_events_carry_code_then_reason() {
        let close = Event::Close(1000, "bye".into());
        let mut out = vec![0; close.payload_len()];
        close.write_payload(&mut out);
        assert_eq!(out, [0x03, 0xe8, b'b', b'y', b'e']);
        assert!(close.is_last() && !Event::Open.is_last());
    }

    #[test]
    fn only_real_websocket_requests_qualify() {
        let parts = |headers: &[(&str, &str)]| {
            let mut builder = http::Request::get("/ws");
            for (n, v) in headers {
                builder = builder.header(*n, *v);
            }
            builder.body(()).unwrap().into_parts().0
        };
        let ok = [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert!(is_request(&parts(&ok)));
        assert!(!is_request(&parts(&ok[..2])));
        assert!(!is_request(&parts(&[ok[0], ok[2]])));
    }

    #[test]
    fn a_socket_is_accepted_once_and_only_when_offered() {
        let sockets = Sockets::default();
        assert!(sockets.accept(7, None).is_err(), "never offered");
        sockets.offer(7);
        sockets.accept(7, None).unwrap();
        assert!(sockets.accept(7, None).is_err());
        assert_eq!(sockets.buffered(7).unwrap(), 0);
        assert!(sockets.send(8, false, b"x").is_err());
        // The request ended without its 101: the accepted socket hears it failed.
        sockets.forget(7);
        let mut out = [0u8; 64];
        let n = sockets.poll(&mut out);
        assert_eq!(n, inbox::HEAD + 2);
        assert_eq!(out[8], 5);
        assert_eq!(&out[16..18], 1006u16.to_be_bytes());
        assert!(sockets.get(7).is_err());
    }
}
