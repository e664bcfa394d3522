//! WebSockets: the upgrade handshake and the framing (tokio-tungstenite), with messages
//! crossing to TypeScript one at a time.
//!
//! A WebSocket request reaches TypeScript as usual, flagged. `upgradeWebSocket(req)` calls
//! [`Sockets::accept`] for its id; when the handler's 101 response arrives the kernel adds
//! the handshake headers (`Sec-WebSocket-Accept`) and, once hyper hands over the
//! connection, runs [`run`]: frames from the client become [`Event`]s TypeScript takes with
//! [`Sockets::next`] and [`Sockets::take`]; what it sends goes through an unbounded queue
//! (like a browser's `send`, which never blocks; `bufferedAmount` tells how much waits).
//! Pings are answered, fragmented messages reassembled, and a message above
//! [`MAX_MESSAGE`] closes the connection with 1009, all by tungstenite.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::request::Parts;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::bridge::Reply;
use crate::{KernelError, Result};

/// Largest message (and frame) accepted from a client: 64 MiB, as `Deno.upgradeWebSocket`.
pub const MAX_MESSAGE: usize = 64 << 20;
/// Capacity, in messages, of the queue towards TypeScript: a client sending faster than
/// the handler takes messages is pushed back on.
const INBOUND: usize = 16;

/// What happened on a socket, as TypeScript receives it.
#[derive(Debug)]
pub enum Event {
    /// The handshake completed.
    Open,
    /// A text message (UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The connection closed after a closing handshake: code (1005 when none was given)
    /// and reason.
    Close(u16, String),
    /// The connection failed: 1006 when it broke off, 1009 for a message past
    /// [`MAX_MESSAGE`].
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

    /// The payload TypeScript copies: the message, or for a close the code (2 bytes, big
    /// endian) then the reason.
    pub fn payload(&self) -> Vec<u8> {
        match self {
            Self::Open => Vec::new(),
            Self::Text(b) | Self::Binary(b) => b.to_vec(),
            Self::Close(code, reason) | Self::Failed(code, reason) => {
                let mut out = code.to_be_bytes().to_vec();
                out.extend_from_slice(reason.as_bytes());
                out
            }
        }
    }
}

/// What TypeScript asks to send.
enum Outbound {
    Message(Message),
    Close(u16, String),
}

struct Socket {
    /// Taken by the one `next` call waiting, so two cannot wait at once.
    events: Mutex<Option<mpsc::Receiver<Event>>>,
    next: Mutex<Option<Event>>,
    outbound: mpsc::UnboundedSender<Outbound>,
    /// The other ends, until the connection is handed over.
    ends: Mutex<Option<(mpsc::Sender<Event>, mpsc::UnboundedReceiver<Outbound>)>>,
    buffered: Arc<AtomicU64>,
}

/// The server's WebSockets by request id.
#[derive(Default)]
pub struct Sockets {
    sockets: Mutex<HashMap<u64, Arc<Socket>>>,
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

impl Sockets {
    /// Registers a socket for request `id` (TypeScript called `upgradeWebSocket`).
    pub fn accept(&self, id: u64) -> Result<()> {
        let (events_tx, events) = mpsc::channel(INBOUND);
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let socket = Socket {
            events: Mutex::new(Some(events)),
            next: Mutex::new(None),
            outbound,
            ends: Mutex::new(Some((events_tx, outbound_rx))),
            buffered: Arc::new(AtomicU64::new(0)),
        };
        let mut sockets = self.sockets.lock();
        if sockets.contains_key(&id) {
            return Err(KernelError::invalid(format!(
                "request {id} was already upgraded"
            )));
        }
        sockets.insert(id, Arc::new(socket));
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Arc<Socket>> {
        self.sockets
            .lock()
            .get(&id)
            .cloned()
            .ok_or_else(|| KernelError::NotFound(format!("no WebSocket for request {id}")))
    }

    /// Turns TypeScript's 101 reply for `id` into the handshake response and starts the
    /// socket once hyper hands over the connection. Without `upgradeWebSocket` for a
    /// WebSocket request the reply becomes a 500.
    pub fn upgrade(
        &self,
        id: u64,
        parts: &Parts,
        on_upgrade: Option<OnUpgrade>,
        mut reply: Reply,
    ) -> Reply {
        let key = parts.headers.get(header::SEC_WEBSOCKET_KEY);
        let ends = self.get(id).ok().and_then(|s| {
            let buffered = Arc::clone(&s.buffered);
            s.ends.lock().take().map(|(e, o)| (e, o, buffered))
        });
        let (Some(key), Some(on_upgrade), Some((events, outbound, buffered))) =
            (key, on_upgrade, ends)
        else {
            self.sockets.lock().remove(&id);
            return super::bridge::status_response(500);
        };
        let accept = derive_accept_key(key.as_bytes());
        let headers = reply.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
        }
        tokio::spawn(async move {
            let close = match on_upgrade.await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .max_message_size(Some(MAX_MESSAGE))
                        .max_frame_size(Some(MAX_MESSAGE));
                    let stream = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    let _ = events.send(Event::Open).await;
                    run(stream, &events, outbound, &buffered).await
                }
                Err(_) => Event::Failed(1006, String::new()),
            };
            let _ = events.send(close).await;
        });
        reply
    }

    /// Forgets socket `id` (the handler did not answer with its 101 response).
    pub fn forget(&self, id: u64) {
        self.sockets.lock().remove(&id);
    }

    /// Waits for the next event of socket `id` and keeps it for [`Sockets::take`];
    /// returns `payload length * 8 + kind`. Call it outside the runtime (it blocks).
    pub fn next(&self, id: u64) -> Result<u64> {
        let socket = self.get(id)?;
        if let Some(event) = socket.next.lock().as_ref() {
            return Ok(encode(event));
        }
        let mut events = socket
            .events
            .lock()
            .take()
            .ok_or_else(|| KernelError::invalid("a receive is already waiting"))?;
        let event = events
            .blocking_recv()
            .unwrap_or(Event::Failed(1006, String::new()));
        *socket.events.lock() = Some(events);
        let code = encode(&event);
        *socket.next.lock() = Some(event);
        Ok(code)
    }

    /// Copies the event [`Sockets::next`] kept into `out` (which must hold its payload)
    /// and returns the payload length. A close event also forgets the socket.
    pub fn take(&self, id: u64, out: &mut [u8]) -> Result<usize> {
        let socket = self.get(id)?;
        let event = socket
            .next
            .lock()
            .take()
            .ok_or_else(|| KernelError::invalid("no event is waiting"))?;
        let payload = event.payload();
        if payload.len() > out.len() {
            *socket.next.lock() = Some(event);
            return Err(KernelError::invalid(format!(
                "the event needs {} bytes",
                payload.len()
            )));
        }
        out[..payload.len()].copy_from_slice(&payload);
        if matches!(event, Event::Close(..) | Event::Failed(..)) {
            self.sockets.lock().remove(&id);
        }
        Ok(payload.len())
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
}

fn encode(event: &Event) -> u64 {
    event.payload().len() as u64 * 8 + u64::from(event.kind())
}

/// Moves frames both ways until the connection closes; returns the close event.
async fn run<S>(
    stream: WebSocketStream<S>,
    events: &mpsc::Sender<Event>,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    buffered: &AtomicU64,
) -> Event
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut frames) = stream.split();
    let mut sent_close: Option<(u16, String)> = None;
    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let bytes = Bytes::copy_from_slice(text.as_bytes());
                    if events.send(Event::Text(bytes)).await.is_err() { break; }
                }
                Some(Ok(Message::Binary(data))) => {
                    if events.send(Event::Binary(data)).await.is_err() { break; }
                }
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite answers the close itself; flush that answer out.
                    let _ = sink.flush().await;
                    return match (frame, sent_close) {
                        (Some(f), _) => Event::Close(f.code.into(), f.reason.to_string()),
                        (None, Some((code, reason))) => Event::Close(code, reason),
                        (None, None) => Event::Close(1005, String::new()),
                    };
                }
                Some(Ok(_)) => {} // pings are answered by tungstenite
                Some(Err(WsError::Capacity(_))) => {
                    let frame = CloseFrame { code: CloseCode::Size, reason: "message too big".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return Event::Failed(1009, "message too big".into());
                }
                Some(Err(_)) | None => return Event::Failed(1006, String::new()),
            },
            command = outbound.recv(), if sent_close.is_none() => match command {
                Some(Outbound::Message(message)) => {
                    let len = message.len() as u64;
                    let sent = sink.send(message).await;
                    buffered.fetch_sub(len, Ordering::Relaxed);
                    if sent.is_err() { return Event::Failed(1006, String::new()); }
                }
                Some(Outbound::Close(code, reason)) => {
                    // 1005 means "no code": it is never sent (RFC 6455 §7.4.1).
                    let frame = (code != 1005).then(|| CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.clone().into(),
                    });
                    if sink.send(Message::Close(frame)).await.is_err() {
                        return Event::Failed(1006, String::new());
                    }
                    sent_close = Some((code, reason));
                }
                // TypeScript let go of the socket: close it.
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    sent_close = Some((1005, String::new()));
                }
            },
        }
    }
    Event::Failed(1006, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_kind_and_length() {
        let close = Event::Close(1000, "bye".into());
        assert_eq!(close.payload(), [0x03, 0xe8, b'b', b'y', b'e']);
        assert_eq!(encode(&close), 5 * 8 + 4);
        assert_eq!(encode(&Event::Open), 1);
        assert_eq!(encode(&Event::Text(Bytes::from_static(b"hi"))), 2 * 8 + 2);
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
    fn a_socket_is_accepted_once() {
        let sockets = Sockets::default();
        sockets.accept(7).unwrap();
        assert!(sockets.accept(7).is_err());
        assert_eq!(sockets.buffered(7).unwrap(), 0);
        assert!(sockets.send(8, false, b"x").is_err());
    }
}
