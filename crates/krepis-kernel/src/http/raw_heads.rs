//! Deno's own HTTP/1 parser run over the raw bytes hyper reads, to refuse what `Deno.serve`
//! refuses but hyper lets through in a changed form.
//!
//! hyper accepts a request with both `Content-Length` and `Transfer-Encoding`: it frames the
//! body as chunked, drops the `Content-Length` from the head it hands over (so the kernel
//! cannot see it) and closes the connection after the answer. `Deno.serve` answers 400, as
//! it does for a `Transfer-Encoding` other than a single final `chunked` and for a malformed
//! `Content-Length`. [`Checked`] wraps an HTTP/1 connection's stream and feeds every byte
//! hyper reads to `deno_http_h1` (the crate `Deno.serve` parses with), which follows head
//! and body framing exactly as Deno does; a head it refuses for framing is marked in the
//! connection's [`HeadCheck`], and [`super::validate::check`] answers that request 400.
//!
//! Anything else the parser cannot follow — the HTTP/2 preface, an upgrade, a head hyper
//! refuses itself — ends the checking for that connection: hyper's own parser stays in
//! charge, and no later request is marked.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use deno_http_h1::{
    BodyStatus, Header, MAX_HEADERS, ParseError, Protocol, ProtocolError, RequestStatus,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The verdicts on one connection's request heads, in the order hyper hands them over.
pub struct HeadCheck {
    /// Index of the head Deno's parser refused (`u64::MAX`: none).
    refused: AtomicU64,
    /// Requests hyper has handed over so far.
    handed: AtomicU64,
}

impl HeadCheck {
    /// A connection with no verdict yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            refused: AtomicU64::new(u64::MAX),
            handed: AtomicU64::new(0),
        })
    }

    /// Counts the next request hyper hands over (call exactly once per request, in order)
    /// and says whether its head was refused. The head was read, and judged, before hyper
    /// could parse it.
    pub fn refuses_next(&self) -> bool {
        let index = self.handed.fetch_add(1, Ordering::Relaxed);
        index == self.refused.load(Ordering::Relaxed)
    }
}

/// Where the parser is in the byte stream.
struct Framing {
    protocol: Protocol,
    /// Bytes of a head (or chunk line) that arrived only in part.
    pending: Vec<u8>,
    in_body: bool,
    heads: u64,
    /// Most bytes a partial head may take before hyper refuses it anyway.
    limit: usize,
}

enum Next {
    /// Needs more bytes; the rest from this offset on is kept.
    More(usize),
    /// Nothing more to check on this connection.
    Stop,
}

impl Framing {
    fn new(limit: usize) -> Self {
        let mut protocol = Protocol::new();
        // As `Deno.serve` does: a request without Host is served (the URL gets the
        // server's own address).
        protocol.set_allow_missing_host(true);
        Self {
            protocol,
            pending: Vec::new(),
            in_body: false,
            heads: 0,
            limit,
        }
    }

    /// Follows `bytes`; false once checking ends.
    fn feed(&mut self, bytes: &[u8], check: &HeadCheck) -> bool {
        let next = if self.pending.is_empty() {
            let next = self.advance(bytes, check);
            if let Next::More(at) = next {
                self.pending.extend_from_slice(&bytes[at..]);
            }
            next
        } else {
            let mut input = std::mem::take(&mut self.pending);
            input.extend_from_slice(bytes);
            let next = self.advance(&input, check);
            if let Next::More(at) = next {
                input.drain(..at);
                self.pending = input;
            }
            next
        };
        matches!(next, Next::More(_)) && self.pending.len() <= self.limit
    }

    fn advance(&mut self, input: &[u8], check: &HeadCheck) -> Next {
        let mut at = 0;
        loop {
            if self.in_body {
                match self.protocol.body_chunk(&input[at..]) {
                    Ok(BodyStatus::Chunk { consumed, .. }) => at += consumed,
                    Ok(BodyStatus::Complete { consumed }) => {
                        at += consumed;
                        self.in_body = false;
                    }
                    Ok(BodyStatus::Partial { consumed }) => return Next::More(at + consumed),
                    Err(_) => return Next::Stop,
                }
                continue;
            }
            if at == input.len() {
                return Next::More(at);
            }
            let mut headers = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
            let mut scratch =
                [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            match self
                .protocol
                .next_request_uninit_all(&input[at..], &mut headers, &mut scratch)
            {
                Ok(RequestStatus::Complete { request, consumed }) => {
                    self.heads += 1;
                    if request.upgrade.is_some() {
                        // What follows may be another protocol; hyper decides.
                        return Next::Stop;
                    }
                    at += consumed;
                    self.in_body = true;
                }
                Ok(RequestStatus::Partial) => return Next::More(at),
                Err(ProtocolError::Parse(
                    ParseError::ConflictingContentLength
                    | ParseError::UnsupportedTransferEncoding
                    | ParseError::InvalidContentLength,
                )) => {
                    // The head is complete (framing is judged after parsing it): refuse
                    // it, and stop — the connection closes after the 400.
                    check.refused.store(self.heads, Ordering::Relaxed);
                    return Next::Stop;
                }
                Err(_) => return Next::Stop,
            }
        }
    }
}

/// A connection's stream whose reads are followed by Deno's HTTP/1 parser (see the module
/// docs). Writes pass through untouched.
pub struct Checked<S> {
    inner: S,
    framing: Option<Box<Framing>>,
    check: Arc<HeadCheck>,
}

impl<S> Checked<S> {
    /// Follows the requests read from `inner`, refusing through `check`; a partial head
    /// longer than `max_head` ends the checking (hyper answers 431 for it).
    pub fn new(inner: S, check: Arc<HeadCheck>, max_head: usize) -> Self {
        Self {
            inner,
            framing: Some(Box::new(Framing::new(max_head))),
            check,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Checked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let this = &mut *self;
        if let Some(framing) = this.framing.as_mut() {
            let read = &buf.filled()[before..];
            if !read.is_empty() && !framing.feed(read, &this.check) {
                this.framing = None;
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Checked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; the index of the refused head, if any.
    fn refused(stream: &[u8], step: usize) -> Option<u64> {
        let check = HeadCheck::new();
        let mut framing = Framing::new(64 * 1024);
        for piece in stream.chunks(step) {
            if !framing.feed(piece, &check) {
                break;
            }
        }
        let index = check.refused.load(Ordering::Relaxed);
        (index != u64::MAX).then_some(index)
    }

    const OK_CL: &str = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const OK_CHUNKED: &str = "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n";
    const CL_TE: &str = "POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

    #[test]
    fn content_length_with_transfer_encoding_is_refused_in_any_position() {
        for step in [1, 3, 7, 1000] {
            assert_eq!(refused(CL_TE.as_bytes(), step), Some(0), "step {step}");
            let stream = format!("{OK_CL}{OK_CHUNKED}GET / HTTP/1.1\r\nHost: a\r\n\r\n{CL_TE}");
            assert_eq!(refused(stream.as_bytes(), step), Some(3), "step {step}");
        }
        let te_first =
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n";
        assert_eq!(refused(te_first.as_bytes(), 1000), Some(0));
    }

    #[test]
    fn transfer_encodings_and_lengths_deno_refuses() {
        for head in [
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: identity",
            "Transfer-Encoding: gzip",
            "Content-Length: +5",
            "Content-Length: 5, 5",
        ] {
            let request = format!("POST / HTTP/1.1\r\nHost: a\r\n{head}\r\n\r\n");
            assert_eq!(refused(request.as_bytes(), 1000), Some(0), "{head}");
        }
    }

    #[test]
    fn well_framed_streams_refuse_nothing() {
        let stream =
            format!("{OK_CL}{OK_CHUNKED}{OK_CL}POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        for step in [1, 2, 5, 1000] {
            assert_eq!(refused(stream.as_bytes(), step), None, "step {step}");
        }
        // The HTTP/2 preface and a WebSocket upgrade end the checking, refusing nothing.
        assert_eq!(refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1000), None);
        let mut upgrade =
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
                .to_vec();
        upgrade.extend_from_slice(&[0x81, 0x85]);
        upgrade.extend_from_slice(CL_TE.as_bytes());
        assert_eq!(refused(&upgrade, 1000), None);
    }

    #[test]
    fn hyper_hands_over_requests_in_order() {
        let check = HeadCheck::new();
        check.refused.store(1, Ordering::Relaxed);
        assert!(!check.refuses_next());
        assert!(check.refuses_next());
        assert!(!check.refuses_next());
    }
}
