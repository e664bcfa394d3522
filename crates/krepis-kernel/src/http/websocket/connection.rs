//! One open WebSocket: frames both ways until it closes, the idle ping, and the close on
//! server shutdown — each as `Deno.upgradeWebSocket` does it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Event;
use super::inbox::{Credit, Inbox};

/// Reason of the close sent when a ping went unanswered (Deno's words).
pub const IDLE_REASON: &str = "No response from ping frame.";
/// Reason of the close sent to clients when the server shuts down (Deno's words).
pub const SHUTDOWN_REASON: &str = "Server shutting down";
/// How long a shutting-down socket may spend writing what was queued and its close frame:
/// a client that stops reading must not hold the server's shutdown up.
const SHUTDOWN_WRITE: Duration = Duration::from_secs(1);

/// What TypeScript asks to send.
pub enum Outbound {
    /// A text or binary message.
    Message(Message),
    /// Start the closing handshake with this code (1005: none) and reason.
    Close(u16, String),
}

/// Everything a socket's task needs besides the stream.
pub struct Link {
    /// The socket's id (its request's).
    pub id: u64,
    /// Where its events go.
    pub inbox: Arc<Inbox>,
    /// Its share of the inbox.
    pub credit: Credit,
    /// What TypeScript sends.
    pub outbound: mpsc::UnboundedReceiver<Outbound>,
    /// Bytes queued by TypeScript and not yet written.
    pub buffered: Arc<AtomicU64>,
    /// Deno's `idleTimeout`: without a message or pong for half of it a ping goes out, and
    /// without one for the other half the socket closes with 1001.
    pub idle: Option<Duration>,
    /// Becomes true when the server shuts down.
    pub stop: watch::Receiver<bool>,
}

type Sink<S> = SplitSink<WebSocketStream<S>, Message>;
type Frames<S> = SplitStream<WebSocketStream<S>>;

/// Runs the socket until it closes, then tells TypeScript how.
pub async fn serve<S>(stream: WebSocketStream<S>, mut link: Link)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut frames) = stream.split();
    link.inbox.push_now(link.id, Event::Open, None);
    let mut stop = link.stop.clone();
    let mut closing = false;
    let ended = tokio::select! {
        end = exchange(&mut sink, &mut frames, &mut link, &mut closing) => Some(end),
        _ = stop.wait_for(|stopped| *stopped) => None,
    };
    let last = match ended {
        Some(event) => event,
        None => {
            // As `Deno.serve`'s shutdown: the server's socket closes at once (1005, clean)
            // and the client gets 1001 after what was already queued for it.
            let _ = tokio::time::timeout(SHUTDOWN_WRITE, async {
                while let Ok(Outbound::Message(message)) = link.outbound.try_recv() {
                    sink.feed(message).await?;
                }
                if !closing {
                    let frame = CloseFrame {
                        code: CloseCode::Away,
                        reason: SHUTDOWN_REASON.into(),
                    };
                    sink.feed(Message::Close(Some(frame))).await?;
                }
                sink.flush().await
            })
            .await;
            Event::Close(1005, String::new())
        }
    };
    link.inbox.push_now(link.id, last, None);
}

/// Moves frames both ways until the connection closes; returns the last event.
async fn exchange<S>(
    sink: &mut Sink<S>,
    frames: &mut Frames<S>,
    link: &mut Link,
    closing: &mut bool,
) -> Event
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut sent_close: Option<(u16, String)> = None;
    let half = link.idle.map(|idle| idle / 2);
    // Without an idle timeout the timer is never polled; its length does not matter.
    let timer = tokio::time::sleep(half.unwrap_or(Duration::from_secs(86_400)));
    tokio::pin!(timer);
    let mut pinged = false;
    loop {
        tokio::select! {
            frame = frames.next() => {
                let event = match frame {
                    Some(Ok(Message::Text(text))) => Event::Text(Bytes::copy_from_slice(text.as_bytes())),
                    Some(Ok(Message::Binary(data))) => Event::Binary(data),
                    Some(Ok(Message::Pong(_))) => {
                        if let Some(half) = half {
                            timer.as_mut().reset(Instant::now() + half);
                            pinged = false;
                        }
                        continue;
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
                    // Pings are answered by tungstenite and, as in Deno, do not count as
                    // activity for the idle timeout.
                    Some(Ok(_)) => continue,
                    Some(Err(WsError::Capacity(_))) => {
                        let frame = CloseFrame { code: CloseCode::Size, reason: "message too big".into() };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        return Event::Failed(1009, "message too big".into());
                    }
                    Some(Err(_)) | None => return Event::Failed(1006, String::new()),
                };
                if let Some(half) = half {
                    timer.as_mut().reset(Instant::now() + half);
                    pinged = false;
                }
                link.inbox.push(link.id, event, &link.credit).await;
            }
            command = link.outbound.recv(), if sent_close.is_none() => match command {
                Some(Outbound::Message(message)) => {
                    let len = message.len() as u64;
                    let sent = sink.send(message).await;
                    link.buffered.fetch_sub(len, Ordering::Relaxed);
                    if sent.is_err() { return Event::Failed(1006, String::new()); }
                }
                Some(Outbound::Close(code, reason)) => {
                    *closing = true;
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
                    *closing = true;
                    let _ = sink.send(Message::Close(None)).await;
                    sent_close = Some((1005, String::new()));
                }
            },
            // Deno checks only an open socket: once closing, the timer stops.
            _ = &mut timer, if half.is_some() && sent_close.is_none() => {
                let half = half.unwrap_or_default();
                if !pinged {
                    pinged = true;
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        return Event::Failed(1006, String::new());
                    }
                    timer.as_mut().reset(Instant::now() + half);
                } else {
                    *closing = true;
                    let frame = CloseFrame { code: CloseCode::Away, reason: IDLE_REASON.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return Event::Failed(1001, IDLE_REASON.into());
                }
            }
        }
    }
}
