//! Connections handed on with bytes already read: the socket an HTTP/1.1 upgrade
//! (WebSocket) takes over once the 101 answer is out, and a plain connection whose first
//! bytes were read to tell HTTP/2's preface from HTTP/1.1.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// A byte stream both ways that can move between tasks.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// `inner`, with `prefix` (bytes already read from it) read first.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Reads `prefix`, then `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
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

/// The connection an upgraded request took over, with what the client sent after its head.
pub type Upgraded = Prefixed<Box<dyn Io>>;

/// The driver's end of an upgrade: it hands the connection over after writing the 101.
pub struct Upgrade(oneshot::Sender<Upgraded>);

impl Upgrade {
    /// A pending upgrade, and the future the request carries (in its extensions).
    pub fn pending() -> (Self, OnUpgrade) {
        let (tx, rx) = oneshot::channel();
        (Self(tx), OnUpgrade(Arc::new(Mutex::new(Some(rx)))))
    }

    /// Hands the connection over.
    pub fn complete(self, upgraded: Upgraded) {
        let _ = self.0.send(upgraded);
    }
}

/// The connection once the 101 answer is written (see [`OnUpgrade::upgraded`]). Cloneable
/// as request extensions must be; only one clone gets the connection.
#[derive(Clone)]
pub struct OnUpgrade(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>);

impl OnUpgrade {
    /// The connection; fails when it closed (or was answered otherwise) first.
    pub async fn upgraded(self) -> Result<Upgraded, Gone> {
        let rx = self.0.lock().take().ok_or(Gone)?;
        rx.await.map_err(|_| Gone)
    }
}

/// The connection closed before an upgrade could take it over.
#[derive(Debug)]
pub struct Gone;

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn the_prefix_is_read_before_the_stream() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut joined = Prefixed::new(b"hello".to_vec(), server);
        let mut small = [0u8; 3];
        joined.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"hel");
        let mut rest = String::new();
        joined.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "lo world");
    }
}
