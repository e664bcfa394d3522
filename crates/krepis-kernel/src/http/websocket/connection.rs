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
    // A close taken from the queue while batching messages, handled next.
    let mut held: Option<Outbound> = None;
    loop {
        tokio::select! {
            frame = frames.next() => {
                let event = match frame {
                    Some(Ok(Message::Text(text))) => Event::Text(text.into()),
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
            command = next_command(&mut held, &mut link.outbound), if sent_close.is_none() => match command {
                Some(Outbound::Message(message)) => {
                    // What else TypeScript queued meanwhile goes out with it, in one write:
                    // a handler answers a whole batch of events before this task runs, and
                    // a flush (a send syscall) per message cost more than the framing.
                    let mut len = message.len() as u64;
                    let mut sent = sink.feed(message).await;
                    while sent.is_ok() {
                        match link.outbound.try_recv() {
                            Ok(Outbound::Message(message)) => {
                                len += message.len() as u64;
                                sent = sink.feed(message).await;
                            }
                            Ok(close) => {
                                held = Some(close);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let sent = sent.and(sink.flush().await);
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

/// The command held back from the last batch, else the next one TypeScript queues
/// (`None`: TypeScript let go of the socket).
async fn next_command(
    held: &mut Option<Outbound>,
    outbound: &mut mpsc::UnboundedReceiver<Outbound>,
) -> Option<Outbound> {
    match held.take() {
        Some(command) => Some(command),
        None => outbound.recv().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::websocket::inbox::{self, HEAD};

    /// A server socket's task on one end of an in-memory pipe, a client on the other.
    async fn pair(
        idle: Option<Duration>,
    ) -> (
        tokio::io::DuplexStream,
        Arc<Inbox>,
        mpsc::UnboundedSender<Outbound>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let role = tokio_tungstenite::tungstenite::protocol::Role::Server;
        let server = WebSocketStream::from_raw_socket(server_io, role, None).await;
        let inbox = Arc::new(Inbox::default());
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let link = Link {
            id: 1,
            inbox: Arc::clone(&inbox),
            credit: inbox::credit(),
            outbound: outbound_rx,
            buffered: Arc::default(),
            idle,
            stop: stopped,
        };
        let task = tokio::spawn(serve(server, link));
        (client_io, inbox, outbound, stop, task)
    }

    async fn client(io: tokio::io::DuplexStream) -> WebSocketStream<tokio::io::DuplexStream> {
        let role = tokio_tungstenite::tungstenite::protocol::Role::Client;
        WebSocketStream::from_raw_socket(io, role, None).await
    }

    /// Kinds and close codes of the events queued so far.
    fn events(inbox: &Inbox) -> Vec<(u8, Option<u16>)> {
        let mut out = vec![0u8; 1 << 16];
        let n = inbox.poll(&mut out, |_, _| {});
        let mut seen = Vec::new();
        let mut at = 0;
        while at < n {
            let kind = out[at + 8];
            let len = u32::from_le_bytes(out[at + 12..at + 16].try_into().unwrap()) as usize;
            let code =
                (kind >= 4).then(|| u16::from_be_bytes([out[at + HEAD], out[at + HEAD + 1]]));
            seen.push((kind, code));
            at += HEAD + len;
        }
        seen
    }

    fn close_of(message: Option<Message>) -> (u16, String) {
        match message {
            Some(Message::Close(Some(frame))) => (frame.code.into(), frame.reason.to_string()),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_closed_with_1001() {
        use tokio::io::AsyncReadExt;
        // A raw client, so nothing answers the ping.
        let (mut raw, inbox, _outbound, _stop, task) = pair(Some(Duration::from_secs(2))).await;
        let mut bytes = Vec::new();
        raw.read_to_end(&mut bytes).await.unwrap();
        task.await.unwrap();
        let mut close = vec![0x88, 2 + IDLE_REASON.len() as u8, 0x03, 0xe9];
        close.extend_from_slice(IDLE_REASON.as_bytes());
        // An empty ping, the close, then the end.
        assert_eq!(bytes, [&[0x89, 0x00][..], &close].concat());
        assert_eq!(events(&inbox), [(1, None), (5, Some(1001))]);
    }

    #[tokio::test(start_paused = true)]
    async fn messages_restart_the_idle_timer() {
        let (io, inbox, _outbound, _stop, task) = pair(Some(Duration::from_secs(2))).await;
        let mut client = client(io).await;
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            client.send(Message::text("here")).await.unwrap();
        }
        // 2.7 s without a ping: each message restarted the timer.
        client.send(Message::Close(None)).await.unwrap();
        while let Some(Ok(message)) = client.next().await {
            assert!(matches!(message, Message::Close(_)), "{message:?}");
        }
        task.await.unwrap();
        assert_eq!(
            events(&inbox),
            [(1, None), (2, None), (2, None), (2, None), (4, Some(1005))]
        );
    }

    #[tokio::test]
    async fn a_batch_of_queued_messages_goes_out_whole_and_in_order() {
        let (io, _inbox, outbound, _stop, _task) = pair(None).await;
        let mut client = client(io).await;
        // Queued before the task runs: written with one flush. Lengths of every form
        // (7, 16 and 64 bits), text and binary.
        let sent = [
            Message::text("short"),
            Message::binary(vec![7u8; 300]),
            Message::binary((0..70_000u32).map(|i| i as u8).collect::<Vec<_>>()),
            Message::text("é".repeat(100)),
            Message::binary(Vec::new()),
        ];
        for message in &sent {
            outbound.send(Outbound::Message(message.clone())).unwrap();
        }
        for message in sent {
            assert_eq!(client.next().await.unwrap().unwrap(), message);
        }
    }

    #[tokio::test]
    async fn shutdown_writes_what_was_queued_then_1001() {
        let (io, inbox, outbound, stop, task) = pair(None).await;
        let mut client = client(io).await;
        outbound
            .send(Outbound::Message(Message::text("last words")))
            .unwrap();
        // Let the message out first, as Deno's close takes its place in line.
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text("last words")
        );
        outbound
            .send(Outbound::Message(Message::text("queued")))
            .unwrap();
        stop.send_replace(true);
        let mut seen = Vec::new();
        while let Some(Ok(message)) = client.next().await {
            seen.push(message);
        }
        task.await.unwrap();
        assert!(seen.len() <= 2, "{seen:?}");
        let close = close_of(seen.pop());
        assert_eq!(close, (1001, SHUTDOWN_REASON.to_string()));
        assert_eq!(events(&inbox), [(1, None), (4, Some(1005))]);
    }
}
