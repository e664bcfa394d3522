//! Bodies: reading request bodies under the size limit, and the response body type.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

use super::limits::{Intake, Pace, Refused};
use crate::KernelError;

/// Chunks of a streamed request body, as the reader in TypeScript receives them.
pub type BodyChunk = std::result::Result<Bytes, KernelError>;

/// Capacity, in chunks, of a streamed body's channel: small, so a slow reader pushes back on
/// the socket (and a slow client on a streaming handler).
pub const STREAM_CHANNEL_CHUNKS: usize = 4;

/// How reading a request body ended.
pub enum Collected {
    /// The whole body, in one contiguous allocation of exactly its length.
    Whole(Vec<u8>),
    /// The body is larger than the buffer limit: what was read so far, and the rest.
    Partial(Vec<u8>, Incoming),
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

/// Reads `body` into kernel memory, stopping at `buffer_limit` (the rest then streams) and
/// failing past `max_body`, when the client falls behind, or past the memory ceiling (see
/// [`Intake`]). `expected` is the exact length when the client announced it.
pub async fn collect(
    mut body: Incoming,
    expected: Option<u64>,
    buffer_limit: u64,
    max_body: u64,
    intake: &mut Intake,
) -> std::result::Result<Collected, BodyError> {
    let capacity = expected.unwrap_or(0).min(buffer_limit) as usize;
    let mut data = Vec::with_capacity(capacity);
    loop {
        // With the buffer limit at the body limit, reading on is what detects an oversize body.
        if data.len() as u64 >= buffer_limit && buffer_limit < max_body && !body.is_end_stream() {
            return Ok(Collected::Partial(data, body));
        }
        let frame = intake
            .frame(&mut body)
            .await
            .map_err(|refused| match refused {
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
                    data.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// Forwards the rest of a streamed body into `tx`, chunk by chunk, enforcing `max_body`
/// (counting the `already` bytes read before) and `pace`. When the body breaks a limit,
/// `refuse` gets the status to answer with (413 too large, 408 too slow) *before* the
/// reader hears of the error, so the kernel's answer wins over the handler's.
pub async fn forward(
    mut body: Incoming,
    tx: mpsc::Sender<BodyChunk>,
    already: u64,
    max_body: u64,
    mut pace: Pace,
    refuse: impl FnOnce(u16),
) {
    let mut total = already;
    loop {
        let Ok(next) = pace.frame(&mut body).await else {
            refuse(408);
            let _ = tx
                .send(Err(KernelError::Timeout(
                    "request body arrived too slowly".into(),
                )))
                .await;
            return;
        };
        let Some(frame) = next else { break };
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(chunk) => chunk,
                Err(_) => continue,
            },
            Err(e) => {
                let _ = tx
                    .send(Err(KernelError::Closed(format!(
                        "request body broke off: {e}"
                    ))))
                    .await;
                return;
            }
        };
        total += chunk.len() as u64;
        if total > max_body {
            refuse(413);
            let _ = tx
                .send(Err(KernelError::LimitExceeded(format!(
                    "request body exceeds {max_body} bytes"
                ))))
                .await;
            return;
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The reader is gone (the response completed); nothing left to deliver to.
            return;
        }
    }
}

/// A response body: bytes known up front, or chunks TypeScript writes while it runs.
#[derive(Debug)]
pub enum ResponseBody {
    /// The whole body (possibly empty).
    Full(Option<Bytes>),
    /// Chunks arriving through a channel; the stream ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
    /// Bytes the kernel produces itself (a static file); an error aborts the response.
    Kernel(BoxBody<Bytes, std::io::Error>),
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
            Self::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
            Self::Kernel(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(_) => false,
            Self::Kernel(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream(_) => SizeHint::default(),
            Self::Kernel(body) => body.size_hint(),
        }
    }
}
