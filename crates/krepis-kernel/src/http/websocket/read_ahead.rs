//! Larger reads while large frames arrive, without a large buffer per idle socket.
//!
//! tungstenite reads at most its `read_buffer_size` per call, so a 64 KiB message took eight
//! `recv` calls with the 8 KiB that keeps a thousand open sockets cheap. [`ReadAhead`] sits
//! under it: while reads fill tungstenite's whole buffer it reads [`AHEAD`] bytes at a time
//! into a buffer of its own and hands them out from there; once a read comes back small
//! again, it lets that buffer go. Sockets exchanging small messages never allocate it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read at once while large frames arrive.
pub const AHEAD: usize = 64 * 1024;
/// A read that fills a caller's buffer of at least this many bytes starts reading ahead; a
/// read ahead that brings fewer ends it.
const LARGE: usize = 4 * 1024;

/// A stream whose reads grow while large frames arrive; see the module docs.
pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read ahead: `ahead[at..end]` are not handed out yet. Empty (not allocated)
    /// unless reading ahead.
    ahead: Box<[u8]>,
    at: usize,
    end: usize,
    /// The last read ahead was small: let the buffer go once it is handed out.
    settle: bool,
}

impl<S> ReadAhead<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            ahead: Box::default(),
            at: 0,
            end: 0,
            settle: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at == this.end {
            if this.settle {
                this.ahead = Box::default();
                this.settle = false;
            }
            if this.ahead.is_empty() {
                let wanted = buf.remaining();
                let before = buf.filled().len();
                ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                if wanted >= LARGE && buf.filled().len() - before == wanted {
                    // The caller's whole buffer filled: more is most likely waiting.
                    this.ahead = vec![0; AHEAD].into_boxed_slice();
                }
                return Poll::Ready(Ok(()));
            }
            let mut ahead = ReadBuf::new(&mut this.ahead);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut ahead))?;
            let n = ahead.filled().len();
            this.at = 0;
            this.end = n;
            this.settle = n < LARGE;
            if n == 0 {
                // The end of the stream.
                this.ahead = Box::default();
                this.settle = false;
                return Poll::Ready(Ok(()));
            }
        }
        let n = buf.remaining().min(this.end - this.at);
        buf.put_slice(&this.ahead[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Counts the reads that reach the wrapped stream.
    struct Counted<S> {
        inner: S,
        reads: usize,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    #[tokio::test]
    async fn large_data_is_read_ahead_and_small_data_is_not() {
        let (mut writer, reader) = tokio::io::duplex(4 * AHEAD);
        let mut stream = ReadAhead::new(Counted {
            inner: reader,
            reads: 0,
        });
        let data: Vec<u8> = (0..2 * AHEAD).map(|i| (i * 31 % 251) as u8).collect();
        writer.write_all(&data).await.unwrap();
        // Read in 8 KiB pieces, as tungstenite does.
        let mut got = Vec::new();
        let mut piece = [0u8; 8 * 1024];
        while got.len() < data.len() {
            let n = stream.read(&mut piece).await.unwrap();
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, data);
        // One 8 KiB read, then 64 KiB at a time (the last one partly), not 16 reads.
        assert!(stream.inner.reads <= 4, "{} reads", stream.inner.reads);
        // A small message after that: read ahead once more, then the buffer goes.
        writer.write_all(b"small").await.unwrap();
        let n = stream.read(&mut piece).await.unwrap();
        assert_eq!(&piece[..n], b"small");
        writer.write_all(b"again").await.unwrap();
        let n = stream.read(&mut piece).await.unwrap();
        assert_eq!(&piece[..n], b"again");
        assert!(stream.ahead.is_empty(), "no buffer kept for small reads");
        drop(writer);
        assert_eq!(stream.read(&mut piece).await.unwrap(), 0);
    }
}
