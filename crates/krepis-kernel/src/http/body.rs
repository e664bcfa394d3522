//! Bodies: the request body type (hyper's for HTTP/2, the HTTP/1.1 driver's channel),
//! reading request bodies under the size limit, and the response body type.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::{mpsc, oneshot};

use super::borrowed::Borrowed;
use super::limits::{Intake, Pace, Refused};
use super::socket::PeerSocket;
use crate::KernelError;

/// Chunks of a streamed request body, as the reader in TypeScript receives them.
pub type BodyChunk = std::result::Result<Bytes, KernelError>;

/// Capacity, in chunks, of a streamed body's channel: small, so a slow reader pushes back on
/// the socket (and a slow client on a streaming handler).
pub const STREAM_CHANNEL_CHUNKS: usize = 4;

/// A request body: hyper's on HTTP/2, the HTTP/1.1 driver's ([`ChannelBody`]) otherwise.
#[derive(Debug)]
pub enum RequestBody {
    /// An HTTP/2 stream's body, read by hyper.
    Hyper(Incoming),
    /// An HTTP/1.1 body, read off the connection by its driver.
    H1(ChannelBody),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(io::Error::other))),
            Self::H1(body) => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Hyper(body) => body.is_end_stream(),
            Self::H1(body) => {
                body.ready.is_none() && (body.rx.is_none() || body.remaining == Some(0))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Hyper(body) => body.size_hint(),
            Self::H1(body) => body
                .remaining
                .map_or_else(SizeHint::default, SizeHint::with_exact),
        }
    }
}

/// Chunks of an HTTP/1.1 request body on their way from the connection's driver.
pub type InChunk = io::Result<Bytes>;

/// The HTTP/1.1 driver's end of a [`ChannelBody`]: chunks go into `chunks`; `wanted`
/// resolves when the body is first read (the moment to send `100 Continue`), or fails when
/// the body is dropped unread.
pub struct BodyFeed {
    /// Where the driver sends the chunks it reads; dropped at the end of the body.
    pub chunks: mpsc::Sender<InChunk>,
    /// Resolves when the reader first asks for the body.
    pub wanted: oneshot::Receiver<()>,
}

/// An HTTP/1.1 request body, fed chunk by chunk by the connection's driver: the driver
/// reads the socket only while the reader wants more (one chunk ahead), as hyper does.
#[derive(Debug)]
pub struct ChannelBody {
    /// A whole body that was already read with its head.
    ready: Option<Bytes>,
    rx: Option<mpsc::Receiver<InChunk>>,
    want: Option<oneshot::Sender<()>>,
    /// Bytes still to come, when the client announced the length.
    remaining: Option<u64>,
}

impl ChannelBody {
    /// No body at all.
    pub fn empty() -> Self {
        Self {
            ready: None,
            rx: None,
            want: None,
            remaining: Some(0),
        }
    }

    /// A body of `announced` bytes (`None`: chunked), and the driver's end of it.
    pub fn channel(announced: Option<u64>) -> (BodyFeed, Self) {
        let (tx, rx) = mpsc::channel(1);
        let (want, wanted) = oneshot::channel();
        let body = Self {
            ready: None,
            rx: Some(rx),
            want: Some(want),
            remaining: announced,
        };
        (BodyFeed { chunks: tx, wanted }, body)
    }

    /// A whole body, read before the request was handed over.
    pub fn whole(data: Vec<u8>) -> Self {
        let len = data.len() as u64;
        Self {
            ready: (len > 0).then(|| Bytes::from(data)),
            rx: None,
            want: None,
            remaining: Some(len),
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, io::Error>>> {
        if let Some(data) = self.ready.take() {
            self.remaining = Some(0);
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(want) = self.want.take() {
            let _ = want.send(());
        }
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(rx.poll_recv(cx)) {
            Some(Ok(chunk)) => {
                if let Some(left) = self.remaining.as_mut() {
                    *left = left.saturating_sub(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Some(Err(e)) => {
                self.rx = None;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                self.rx = None;
                Poll::Ready(None)
            }
        }
    }
}

/// How reading a request body ended.
pub enum Collected {
    /// The whole body, in one contiguous allocation of exactly its length.
    Whole(Vec<u8>),
    /// The body is larger than the buffer limit or still arriving: what was read so far,
    /// and the rest.
    Partial(Vec<u8>, RequestBody),
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body exceeded the server's body limit.
    TooLarge,
    /// The client broke off or sent a malformed body.
    Broken,
    /// The client sent too slowly (see [`Pace`]).
    Slow,
    /// Buffering it would pass the memory ceiling (see [`Intake`]).
    Memory,
}

/// How long buffering waits for the next bytes of a body that is still arriving before the
/// handler gets the request with the rest as a stream.
pub const ARRIVAL_GAP: std::time::Duration = std::time::Duration::from_millis(20);

/// Reads `body` into kernel memory while it keeps arriving, stopping at `buffer_limit` and
/// failing past `max_body`, or past the memory ceiling (see [`Intake`]); `expected` is the
/// exact length when the client announced it. It does not wait for a client that pauses:
/// when no bytes come for [`ARRIVAL_GAP`], the rest streams, so the handler starts with
/// the request head and what is there (as under `Deno.serve`: `Expect: 100-continue`, slow
/// or interactive uploads, answering early), and buffering stays an optimisation for
/// bodies that are already there or streaming in at full speed.
pub async fn collect(
    mut body: RequestBody,
    expected: Option<u64>,
    buffer_limit: u64,
    max_body: u64,
    intake: &mut Intake,
) -> std::result::Result<Collected, BodyError> {
    let capacity = expected.unwrap_or(0).min(buffer_limit) as usize;
    // Allocated with the first chunk: a body that comes whole in one chunk of its own
    // allocation is taken over without a copy.
    let mut data = Vec::new();
    loop {
        // With the buffer limit at the body limit, reading on is what detects an oversize body.
        if data.len() as u64 >= buffer_limit && buffer_limit < max_body && !body.is_end_stream() {
            return Ok(partial(data, body));
        }
        // A frame that is there already is taken without arming the timer.
        let next = tokio::time::timeout(ARRIVAL_GAP, intake.frame(&mut body)).await;
        let Ok(frame) = next else {
            return Ok(partial(data, body));
        };
        let frame = frame.map_err(|refused| match refused {
            Refused::Slow => BodyError::Slow,
            Refused::Memory => BodyError::Memory,
        })?;
        match frame {
            None => return Ok(Collected::Whole(data)),
            Some(Err(_)) => return Err(BodyError::Broken),
            Some(Ok(frame)) => {
                if let Ok(chunk) = frame.into_data() {
                    if data.len() as u64 + chunk.len() as u64 > max_body {
                        return Err(BodyError::TooLarge);
                    }
                    if data.is_empty() && expected == Some(chunk.len() as u64) {
                        data = Vec::from(chunk);
                    } else {
                        data.reserve(capacity.saturating_sub(data.len()));
                        data.extend_from_slice(&chunk);
                    }
                }
            }
        }
    }
}

/// The body so far, without the room reserved for an announced length that did not come.
fn partial(mut data: Vec<u8>, rest: RequestBody) -> Collected {
    data.shrink_to_fit();
    Collected::Partial(data, rest)
}

/// How forwarding a streamed request body ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// The whole body went through, or nobody wants the rest any more.
    Done,
    /// The body broke a limit; `refuse` has answered for the kernel.
    Refused,
    /// The client broke off (reset, closed mid-body, or hung up while the body waited).
    Broken,
}

/// What ends forwarding early, besides the body itself.
pub struct Lifeline {
    /// The connection's socket, watched for a client that hung up while the body waits.
    pub peer: Option<PeerSocket>,
    /// Resolves when the request is over: nobody will read the rest, so the connection
    /// can drain or close instead of waiting for a body nobody wants.
    pub stop: oneshot::Receiver<()>,
}

/// Forwards the rest of a streamed body into `tx`, chunk by chunk, enforcing `max_body`
/// (counting the `already` bytes read before) and `pace`. When the body breaks a limit,
/// `refuse` gets the status to answer with (413 too large, 408 too slow) *before* the
/// reader hears of the error, so the kernel's answer wins over the handler's. While the
/// reader is not taking chunks the socket is not read either, so `life.peer` is watched
/// for a client that hung up meanwhile.
pub async fn forward(
    mut body: RequestBody,
    tx: mpsc::Sender<BodyChunk>,
    already: u64,
    max_body: u64,
    mut pace: Pace,
    refuse: impl FnOnce(u16),
    mut life: Lifeline,
) -> Forwarded {
    let mut total = already;
    loop {
        let permit = tokio::select! {
            _ = &mut life.stop => return Forwarded::Done,
            permit = tx.reserve() => match permit {
                Ok(permit) => permit,
                // The reader is gone (the request ended); nothing left to deliver to.
                Err(_) => return Forwarded::Done,
            },
            () = hang_up(life.peer) => return Forwarded::Broken,
        };
        let next = tokio::select! {
            _ = &mut life.stop => return Forwarded::Done,
            next = pace.frame(&mut body) => next,
        };
        let Ok(next) = next else {
            refuse(408);
            permit.send(Err(KernelError::Timeout(
                "request body arrived too slowly".into(),
            )));
            return Forwarded::Refused;
        };
        let Some(frame) = next else {
            return Forwarded::Done;
        };
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(chunk) => chunk,
                Err(_) => continue,
            },
            Err(e) => {
                permit.send(Err(KernelError::Closed(format!(
                    "request body broke off: {e}"
                ))));
                return Forwarded::Broken;
            }
        };
        total += chunk.len() as u64;
        if total > max_body {
            refuse(413);
            permit.send(Err(KernelError::LimitExceeded(format!(
                "request body exceeds {max_body} bytes"
            ))));
            return Forwarded::Refused;
        }
        permit.send(Ok(chunk));
    }
}

async fn hang_up(peer: Option<PeerSocket>) {
    match peer {
        Some(peer) => peer.hang_up().await,
        None => std::future::pending().await,
    }
}

/// What TypeScript sends down a streamed response: a chunk, or `None` for a clean end.
/// A channel closed without that `None` means the body failed, and the response is cut
/// off rather than ended (see [`StreamBody`]).
pub type OutChunk = Option<Bytes>;

/// A response body streamed from TypeScript.
///
/// It ends cleanly only on an explicit end; a closed channel (the handler's stream threw,
/// the request was abandoned) is an error, so hyper aborts the response: HTTP/1.1 closes
/// the connection without the last chunk, HTTP/2 resets the stream. A declared
/// `content-length` is held to: a body longer or shorter than it is an error too.
#[derive(Debug)]
pub struct StreamBody {
    rx: mpsc::Receiver<OutChunk>,
    remaining: Option<u64>,
    /// Set once the body is known to fail: what was sent gets flushed, then the error.
    failing: Option<&'static str>,
    /// Whether hyper was given its chance to flush before the error.
    flushed: bool,
}

impl StreamBody {
    /// Chunks from `rx`, checked against `declared` (the response's content-length).
    pub fn new(rx: mpsc::Receiver<OutChunk>, declared: Option<u64>) -> Self {
        Self {
            rx,
            remaining: declared,
            failing: None,
            flushed: false,
        }
    }

    /// The next chunk, or `None` at the end, clean or not. For callers that frame their own
    /// messages (KNUL), which tell a cut-off stream by what they received.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await.flatten()
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(why) = self.failing {
            if self.flushed {
                return Poll::Ready(Some(Err(cut_off(why))));
            }
            // Pending once (already woken): hyper flushes what it holds before it sees the
            // error and cuts the connection or stream off.
            self.flushed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = ready!(self.rx.poll_recv(cx));
        let failure = match (next, self.remaining.as_mut()) {
            (Some(None), None | Some(0)) => return Poll::Ready(None),
            (Some(None), Some(_)) => "is shorter than its content-length",
            (None, _) => "was abandoned before its end",
            // Not even the part that fits: once the declared length is written, hyper
            // would end the response as if it were complete.
            (Some(Some(chunk)), Some(left)) if chunk.len() as u64 > *left => {
                "is longer than its content-length"
            }
            (Some(Some(chunk)), left) => {
                if let Some(left) = left {
                    *left -= chunk.len() as u64;
                }
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
        };
        self.failing = Some(failure);
        self.poll_next(cx)
    }
}

/// Why a streamed response did not end cleanly.
fn cut_off(why: &str) -> std::io::Error {
    std::io::Error::other(format!("response body {why}"))
}

/// A response body: bytes known up front, or chunks TypeScript writes while it runs.
#[derive(Debug)]
pub enum ResponseBody {
    /// The whole body (possibly empty).
    Full(Option<Bytes>),
    /// Chunks TypeScript writes while it runs.
    Stream(StreamBody),
    /// Bytes the kernel produces itself (a static file); an error aborts the response.
    Kernel(BoxBody<Bytes, std::io::Error>),
    /// A large body JavaScript handed over in a synchronous call (see [`Borrowed`]); taken
    /// as a frame, it comes whole.
    Borrowed(Option<Arc<Borrowed>>),
}

impl ResponseBody {
    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// No body.
    pub fn empty() -> Self {
        Self::Full(None)
    }

    /// A body read from `body` (an empty one is no body).
    pub fn from_borrowed(body: Arc<Borrowed>) -> Self {
        if body.is_empty() {
            Self::empty()
        } else {
            Self::Borrowed(Some(body))
        }
    }

    /// The [`Borrowed`] body this is, for a writer that reads it in place.
    pub fn borrowed(&self) -> Option<&Arc<Borrowed>> {
        match self {
            Self::Borrowed(body) => body.as_ref(),
            _ => None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(stream) => stream.poll_next(cx),
            Self::Kernel(body) => Pin::new(body).poll_frame(cx),
            Self::Borrowed(body) => {
                Poll::Ready(body.take().map(|body| Ok(Frame::data(body.take_rest()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(_) => false,
            Self::Kernel(body) => body.is_end_stream(),
            Self::Borrowed(body) => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream(_) => SizeHint::default(),
            Self::Kernel(body) => body.size_hint(),
            Self::Borrowed(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// Everything `body` yields, and the error that ended it, if any.
    async fn drain(mut body: ResponseBody) -> (Vec<u8>, Option<String>) {
        let mut data = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => data.extend_from_slice(&frame.into_data().unwrap()),
                Err(e) => return (data, Some(e.to_string())),
            }
        }
        (data, None)
    }

    fn streamed(chunks: &[Option<&'static str>], declared: Option<u64>) -> ResponseBody {
        let (tx, rx) = mpsc::channel(16);
        for chunk in chunks {
            tx.try_send(chunk.map(|c| Bytes::from_static(c.as_bytes())))
                .unwrap();
        }
        ResponseBody::Stream(StreamBody::new(rx, declared))
    }

    #[tokio::test]
    async fn a_stream_ends_cleanly_only_on_its_end_marker() {
        let clean = drain(streamed(&[Some("ab"), Some("c"), None], None)).await;
        assert_eq!(clean, (b"abc".to_vec(), None));
        let (data, error) = drain(streamed(&[Some("ab")], None)).await;
        assert_eq!(data, b"ab");
        assert!(error.unwrap().contains("abandoned"));
    }

    #[tokio::test]
    async fn a_declared_length_is_held_to() {
        let exact = drain(streamed(&[Some("abc"), None], Some(3))).await;
        assert_eq!(exact, (b"abc".to_vec(), None));
        let (data, error) = drain(streamed(&[Some("abc"), None], Some(5))).await;
        assert_eq!(data, b"abc");
        assert!(error.unwrap().contains("shorter"));
        let (data, error) = drain(streamed(&[Some("a"), Some("bcd"), None], Some(2))).await;
        assert_eq!(data, b"a", "never more than declared");
        assert!(error.unwrap().contains("longer"));
    }
}
