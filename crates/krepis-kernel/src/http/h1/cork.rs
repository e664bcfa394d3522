//! A response head held back to leave with the first bytes of its body.
//!
//! `deno_http_h1` writes a head, then a body too large for its write buffer, in two
//! writes: two sends and a small packet ahead of the body, where hyper made one `writev`.
//! [`Corked`], the stream the crate writes to, holds the next write once the driver has
//! asked for it ([`Cork::hold_next`]) and sends it with the following one as a vector.
//! It also counts the bytes its writes took ([`Cork::accepted`]): the crate's body writer
//! does not say how much of a body it wrote before the socket filled up. Vectored writes
//! (an upgraded connection's, say) go through as vectors, a held head in front.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes held back (a response head).
const HOLD_LIMIT: usize = 8 * 1024;
/// Most slices of a vectored write sent behind held bytes in one call.
const HELD_VECTOR: usize = 15;

/// The driver's handle on a [`Corked`] stream.
#[derive(Clone, Default)]
pub struct Cork(Arc<State>);

#[derive(Default)]
struct State {
    hold: AtomicBool,
    accepted: AtomicU64,
}

impl Cork {
    /// Holds the stream's next write (when it is at most 8 KiB) until the one after it.
    pub fn hold_next(&self) {
        self.0.hold.store(true, Ordering::Relaxed);
    }

    /// Takes the hold request, if any. The driver sets it and the stream takes it, both
    /// on the connection's task: a load and a store, no locked exchange per write.
    fn take_hold(&self) -> bool {
        let hold = self.0.hold.load(Ordering::Relaxed);
        if hold {
            self.0.hold.store(false, Ordering::Relaxed);
        }
        hold
    }

    /// Counts `n` more bytes taken. Only the stream writes the count (the driver reads
    /// it): a load and a store, not a locked add, on every write.
    fn count(&self, n: usize) {
        let accepted = self.0.accepted.load(Ordering::Relaxed);
        self.0
            .accepted
            .store(accepted + n as u64, Ordering::Relaxed);
    }

    /// Bytes the stream's writes have taken so far (held ones included).
    pub fn accepted(&self) -> u64 {
        self.0.accepted.load(Ordering::Relaxed)
    }
}

/// A stream whose next write can be held back to go out with the one after it.
pub struct Corked<S> {
    inner: S,
    cork: Cork,
    held: Vec<u8>,
    sent: usize,
}

impl<S> Corked<S> {
    /// Wraps `inner`, corked through `cork`.
    pub fn new(inner: S, cork: Cork) -> Self {
        Self {
            inner,
            cork,
            held: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Writes what is held (with `next` behind it as a vector); `Ok(n)` counts bytes of
    /// `next` written, 0 when only held bytes went out.
    fn poll_held(&mut self, cx: &mut Context<'_>, next: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_held_vectored(cx, &[IoSlice::new(next)])
    }

    /// [`Corked::poll_held`] with the vector `next` behind what is held (its first
    /// [`HELD_VECTOR`] slices: the rest goes with a later write).
    fn poll_held_vectored(
        &mut self,
        cx: &mut Context<'_>,
        next: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        while self.sent < self.held.len() {
            let mut bufs = [IoSlice::new(&[]); HELD_VECTOR + 1];
            bufs[0] = IoSlice::new(&self.held[self.sent..]);
            let behind = next.len().min(HELD_VECTOR);
            bufs[1..=behind].copy_from_slice(&next[..behind]);
            let bufs = &bufs[..=behind];
            let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let from_held = n.min(self.held.len() - self.sent);
            self.sent += from_held;
            if self.sent == self.held.len() {
                self.held.clear();
                self.sent = 0;
                return Poll::Ready(Ok(n - from_held));
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = self.as_mut().poll_write_counted(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.cork.count(n);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // A vector is not held, but uses up a request to hold (which is for the next write
        // only); a held head goes out in front of it.
        this.cork.take_hold();
        let written = if this.held.is_empty() {
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
        } else {
            let total: usize = bufs.iter().map(|buf| buf.len()).sum();
            match ready!(this.poll_held_vectored(cx, bufs)) {
                Ok(0) if total > 0 => Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
                written => Poll::Ready(written),
            }
        };
        if let Poll::Ready(Ok(n)) = written {
            this.cork.count(n);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_held(cx, &[]))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_held(cx, &[]))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// [`AsyncWrite::poll_write`] before counting.
    fn poll_write_counted(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // The request applies to the next write only, whether it is held or not.
        if this.cork.take_hold() && this.held.is_empty() && buf.len() <= HOLD_LIMIT {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        if !this.held.is_empty() {
            let written = ready!(this.poll_held(cx, buf))?;
            if written > 0 || buf.is_empty() {
                return Poll::Ready(Ok(written));
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Each write the stream below got.
    type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

    /// Records each write it gets, taking at most `limit` bytes of it.
    struct Recorder {
        writes: Writes,
        limit: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.writes.lock().unwrap().push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = joined.len().min(self.limit);
            self.writes.lock().unwrap().push(joined[..n].to_vec());
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

    fn corked(limit: usize) -> (Corked<Recorder>, Cork, Writes) {
        let writes = Arc::default();
        let cork = Cork::default();
        let recorder = Recorder {
            writes: Arc::clone(&writes),
            limit,
        };
        (Corked::new(recorder, cork.clone()), cork, writes)
    }

    #[tokio::test]
    async fn a_held_head_leaves_with_its_body_in_one_write() {
        let (mut stream, cork, writes) = corked(usize::MAX);
        stream.write_all(b"plain").await.unwrap();
        cork.hold_next();
        stream.write_all(b"HEAD").await.unwrap();
        assert_eq!(writes.lock().unwrap().len(), 1, "the head is held");
        stream.write_all(b"body").await.unwrap();
        stream.write_all(b"more").await.unwrap();
        let writes = writes.lock().unwrap().clone();
        assert_eq!(writes, [&b"plain"[..], b"HEADbody", b"more"]);
    }

    #[tokio::test]
    async fn vectors_go_through_as_vectors_behind_a_held_head() {
        let (mut stream, cork, writes) = corked(usize::MAX);
        assert!(stream.is_write_vectored());
        let parts = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
        assert_eq!(stream.write_vectored(&parts).await.unwrap(), 4);
        cork.hold_next();
        stream.write_all(b"HEAD").await.unwrap();
        assert_eq!(stream.write_vectored(&parts).await.unwrap(), 4);
        // One write each: before, a vector went out a slice at a time.
        let writes = writes.lock().unwrap().clone();
        assert_eq!(writes, [&b"abcd"[..], b"HEADabcd"]);
        assert_eq!(cork.accepted(), 12);
        // A vector uses up a request to hold: the write after it goes out at once.
        let (mut stream, cork, writes) = corked(usize::MAX);
        cork.hold_next();
        assert_eq!(stream.write_vectored(&parts).await.unwrap(), 4);
        stream.write_all(b"next").await.unwrap();
        assert_eq!(writes.lock().unwrap().len(), 2);
        // Taken in part (behind a held head too), a vector loses and repeats nothing.
        let (mut stream, cork, writes) = corked(3);
        cork.hold_next();
        stream.write_all(b"HEAD").await.unwrap();
        let many: Vec<Vec<u8>> = (0..40u8).map(|i| vec![b'a' + i % 26; 3]).collect();
        let mut slices: Vec<IoSlice<'_>> = many.iter().map(|b| IoSlice::new(b)).collect();
        let mut left = &mut slices[..];
        while !left.is_empty() {
            let n = stream.write_vectored(left).await.unwrap();
            IoSlice::advance_slices(&mut left, n);
        }
        stream.flush().await.unwrap();
        let mut expected = b"HEAD".to_vec();
        expected.extend(many.concat());
        assert_eq!(writes.lock().unwrap().concat(), expected);
        assert_eq!(cork.accepted(), expected.len() as u64);
    }

    #[tokio::test]
    async fn partial_writes_lose_and_repeat_nothing() {
        let (mut stream, cork, writes) = corked(3);
        cork.hold_next();
        stream.write_all(b"HEAD").await.unwrap();
        stream.write_all(b"bodybody").await.unwrap();
        let all: Vec<u8> = writes.lock().unwrap().concat();
        assert_eq!(all, b"HEADbodybody");
        // What the writes took is counted once each, held bytes with their write.
        assert_eq!(cork.accepted(), 12);
        // A write too large to hold is not held, nor is the one after it.
        let (mut stream, cork, writes) = corked(usize::MAX);
        cork.hold_next();
        stream.write_all(&[b'h'; HOLD_LIMIT + 1]).await.unwrap();
        stream.write_all(b"next").await.unwrap();
        assert_eq!(writes.lock().unwrap().len(), 2);
        // A held head with no body behind it goes out on flush.
        let (mut stream, cork, writes) = corked(usize::MAX);
        cork.hold_next();
        stream.write_all(b"HEAD").await.unwrap();
        stream.flush().await.unwrap();
        assert_eq!(writes.lock().unwrap().concat(), b"HEAD");
    }
}
