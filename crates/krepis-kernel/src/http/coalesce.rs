//! Small vectored writes sent as one plain write.
//!
//! hyper hands a response over as a vectored write (head, body, chunk framing in separate
//! buffers). On a socket that is a `writev`, which costs the Linux kernel more than a
//! `send` of the same bytes (it imports and checks the vector and goes through the file
//! layer); `Deno.serve` answers a small response with one `send`. [`Coalesced`] copies a
//! vector of at most [`SMALL`] bytes into one buffer and writes that instead, and writes a
//! vector of one buffer (what TLS hands down) plainly; larger writes (downloads) keep
//! going out vectored, without the copy.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest vectored write that is copied into one buffer (a small response whole).
pub const SMALL: usize = 4096;

thread_local! {
    /// Where a small vector is joined: one buffer per thread, so a write neither allocates
    /// nor zeroes 4 KiB (the inner write never reaches another `Coalesced`).
    static JOINED: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(SMALL));
}

/// A stream whose small vectored writes go out as one plain write.
pub struct Coalesced<S>(S);

impl<S> Coalesced<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self(inner)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.0
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesced<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesced<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let [only] = bufs {
            // One buffer (a TLS record, say) needs no vector either.
            return Pin::new(&mut self.0).poll_write(cx, only);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if bufs.is_empty() || total > SMALL {
            return Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        }
        JOINED.with_borrow_mut(|joined| {
            joined.clear();
            for buf in bufs {
                joined.extend_from_slice(buf);
            }
            Pin::new(&mut self.0).poll_write(cx, joined)
        })
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Records how each write reached it.
    #[derive(Default)]
    struct Recorder {
        plain: Vec<Vec<u8>>,
        vectored: Vec<Vec<u8>>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.plain.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = all.len();
            self.vectored.push(all);
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_vectors_become_one_write_and_large_ones_stay_vectored() {
        let mut out = Coalesced::new(Recorder::default());
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n".as_slice();
        let n = out
            .write_vectored(&[IoSlice::new(head), IoSlice::new(b"hello")])
            .await
            .unwrap();
        assert_eq!(n, head.len() + 5);
        let big = vec![7u8; SMALL];
        let n = out
            .write_vectored(&[IoSlice::new(head), IoSlice::new(&big)])
            .await
            .unwrap();
        assert_eq!(n, head.len() + SMALL);
        let n = out.write_vectored(&[IoSlice::new(&big)]).await.unwrap();
        assert_eq!(n, SMALL);
        let recorder = &out.0;
        assert_eq!(recorder.plain, vec![[head, b"hello"].concat(), big.clone()]);
        assert_eq!(recorder.vectored, vec![[head, &big[..]].concat()]);
    }

    #[tokio::test]
    async fn bytes_arrive_in_order_over_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).await.unwrap();
            all
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut out = Coalesced::new(stream);
        let parts: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        for group in parts.chunks(3) {
            let slices: Vec<IoSlice<'_>> = group.iter().map(|p| IoSlice::new(p)).collect();
            let sent = out.write_vectored(&slices).await.unwrap();
            // A partial write goes on from what is left, as hyper does.
            out.write_all(&group.concat()[sent..]).await.unwrap();
        }
        out.shutdown().await.unwrap();
        drop(out);
        assert_eq!(client.await.unwrap(), parts.concat());
    }
}
