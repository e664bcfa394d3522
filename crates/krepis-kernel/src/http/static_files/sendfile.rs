//! Large static files on plain HTTP/1.1 go from the page cache to the socket with
//! `sendfile(2)`: no read into a buffer, no copy into the socket from user memory.
//!
//! The HTTP/1.1 driver ([`crate::http::h1`]) writes the response head and body itself, so
//! the body hands it *placeholder* bytes (slices of one static block of zeros that is never
//! sent) and records in the connection's [`FileSlot`] which file range they stand for.
//! [`SendfileStream`], the socket under the driver, writes everything else as usual and,
//! when a write reaches placeholder bytes, sends that many bytes of the file instead. The
//! driver writes a sized body's frames to the socket as they are and never copies
//! placeholder bytes behind a head ([`is_placeholder`]); HTTP/2 and TLS copy bodies into
//! their own frames, so this path is only taken for HTTP/1.x on a plain socket.
//!
//! The file is served from the descriptor opened for the response (a rename leaves it on
//! the old inode), its stamp is checked before and after each step, and a file that
//! shrank (sendfile reaches its end early) aborts the connection instead of padding.
//! Placeholder bytes without a file behind them are an error, never zeros on the wire.
//! A cached version in a snapshot file ([`super::cache`]; the default mount's path: an
//! unlinked file nobody else can open, or a sealed memfd) goes the same way without the
//! stamp checks: its bytes cannot change.
//!
//! A connection that sends a file gets `TCP_NOTSENT_LOWAT` ([`UNSENT_LIMIT`]): `sendfile`
//! then queues little beyond what the peer's window takes, and the rest goes out in later
//! calls from this thread. Without it a call queues up to the send buffer (≈1 MiB) and the
//! kernel transmits that backlog from whatever processes the peer's ACKs. On loopback that
//! is the client's own `read`: measured with wrk, the client then spent ≈590 µs of CPU per
//! 1 MiB response instead of ≈250, its receive window stayed at 70–180 KiB instead of
//! growing to MiBs (receive autotuning saw a tiny RTT), segments were dropped and
//! retransmitted, and req/s fell below the read path's while the server looked cheap.

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::super::coalesce::Coalesced;
use super::file_body::{CHUNK, stamp_of};
use super::negotiate::Stamp;

/// Bytes one placeholder frame stands for (and the size of the block they point into):
/// the read path's chunk, so the memory budget, which charges every frame hyper holds,
/// sees no more than it would for read chunks.
const STEP: usize = CHUNK as usize;

/// Unsent bytes a file-sending socket may queue (`TCP_NOTSENT_LOWAT`); measured 4–16 KiB
/// alike, 64 KiB already let part of the backlog move to the peer's ACK processing.
const UNSENT_LIMIT: libc::c_int = 16 * 1024;

/// Never sent: its address marks bytes [`SendfileStream`] takes from the file instead.
static PLACEHOLDER: [u8; STEP] = [0; STEP];

/// Whether `bytes` are placeholder bytes a [`SendfileBody`] handed out, which only
/// [`SendfileStream`] may write (never copy them).
pub fn is_placeholder(bytes: &[u8]) -> bool {
    let start = PLACEHOLDER.as_ptr() as usize;
    let at = bytes.as_ptr() as usize;
    !bytes.is_empty() && at >= start && at < start + STEP
}

/// The file range the placeholder bytes hyper queued on one connection stand for.
#[derive(Debug, Default)]
pub struct FileSlot(Mutex<Option<Pending>>);

#[derive(Debug)]
struct Pending {
    file: Arc<File>,
    /// The version to hold the file to; `None` for a file that cannot change (sealed).
    stamp: Option<Stamp>,
    /// File offset of the next byte to send.
    offset: u64,
    /// Placeholder bytes handed to hyper and not sent yet.
    owed: u64,
}

impl FileSlot {
    /// An empty slot, for one connection.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Option<Pending>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Bytes `start..end` of a file, as placeholder frames for [`SendfileStream`] to fill.
#[derive(Debug)]
pub struct SendfileBody {
    slot: Arc<FileSlot>,
    file: Arc<File>,
    stamp: Option<Stamp>,
    pos: u64,
    end: u64,
}

impl SendfileBody {
    /// Bytes `start..end` of `file` (which must stay at version `stamp`), sent through the
    /// connection whose socket holds `slot`.
    pub fn new(slot: Arc<FileSlot>, file: File, stamp: Stamp, start: u64, end: u64) -> Self {
        Self {
            slot,
            file: Arc::new(file),
            stamp: Some(stamp),
            pos: start,
            end,
        }
    }

    /// Bytes `start..end` of `file`, a snapshot nothing writes or shrinks (see
    /// [`super::cache::SnapshotStore`]): its bytes cannot change, so they are sent without
    /// stamp checks.
    pub fn sealed(slot: Arc<FileSlot>, file: Arc<File>, start: u64, end: u64) -> Self {
        Self {
            slot,
            file,
            stamp: None,
            pos: start,
            end,
        }
    }
}

impl Body for SendfileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let len = (this.end - this.pos).min(STEP as u64);
        let queued = this.slot.with(|pending| match pending {
            // Queued behind this response's earlier placeholder bytes.
            Some(p) if Arc::ptr_eq(&p.file, &this.file) && p.offset + p.owed == this.pos => {
                p.owed += len;
                Ok(())
            }
            // A previous response's bytes still owed: they were never sent, so this one
            // cannot be either.
            Some(p) if p.owed > 0 => Err(io::Error::other("a file send is still pending")),
            _ => {
                *pending = Some(Pending {
                    file: Arc::clone(&this.file),
                    stamp: this.stamp,
                    offset: this.pos,
                    owed: len,
                });
                Ok(())
            }
        });
        Poll::Ready(Some(queued.map(|()| {
            this.pos += len;
            Frame::data(Bytes::from_static(&PLACEHOLDER[..len as usize]))
        })))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.pos)
    }
}

/// A plain TCP socket whose writes send file bytes where hyper queued placeholders. It sits
/// above [`Coalesced`], which copies small vectors into one buffer: placeholders must never
/// reach it.
pub struct SendfileStream {
    io: Coalesced<TcpStream>,
    slot: Arc<FileSlot>,
    /// Whether [`UNSENT_LIMIT`] is set (on the first file send: connections that never
    /// send a file keep the default).
    limited: bool,
}

impl SendfileStream {
    /// Wraps `io`; bodies made with `slot` are sent through it.
    pub fn new(io: Coalesced<TcpStream>, slot: Arc<FileSlot>) -> Self {
        Self {
            io,
            slot,
            limited: false,
        }
    }

    /// Sends up to `len` owed bytes of the pending file.
    fn poll_file(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        let tcp = self.io.get_ref();
        if !self.limited {
            limit_unsent(tcp)?;
            self.limited = true;
        }
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_io(Interest::WRITABLE, || {
                self.slot.with(|p| send_step(tcp, p, len))
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                sent => return Poll::Ready(sent),
            }
        }
    }
}

impl SendfileStream {
    /// Sends bytes that file bytes follow (the response head) with `MSG_MORE`: the kernel
    /// holds them for the `sendfile` that comes next, so they leave in its first segment
    /// instead of a tiny one of their own (a segment and a wake-up of the peer fewer).
    fn poll_head(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Poll<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let tcp = self.io.get_ref();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            let sent = tcp.try_io(Interest::WRITABLE, || {
                // SAFETY: a valid socket, and `head.len()` readable bytes at `head`.
                let n = unsafe {
                    libc::send(
                        tcp.as_raw_fd(),
                        head.as_ptr().cast(),
                        head.len(),
                        libc::MSG_MORE | libc::MSG_NOSIGNAL,
                    )
                };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                sent => return Poll::Ready(sent),
            }
        }
    }
}

/// One `sendfile` call for the placeholder bytes at the front of hyper's queue.
fn send_step(tcp: &TcpStream, pending: &mut Option<Pending>, len: usize) -> io::Result<usize> {
    let Some(p) = pending.as_mut().filter(|p| p.owed >= len as u64) else {
        return Err(io::Error::other("placeholder bytes without a file to send"));
    };
    let unchanged = |p: &Pending| match p.stamp {
        Some(stamp) => Ok(stamp_of(&p.file)? == stamp),
        None => Ok::<_, io::Error>(true),
    };
    if !unchanged(p)? {
        return Err(changed());
    }
    let mut offset = p.offset;
    let sent = rustix::fs::sendfile(tcp, &*p.file, Some(&mut offset), len)?;
    if sent == 0 {
        // The file ends before the bytes the head announced: it shrank.
        return Err(changed());
    }
    p.offset += sent as u64;
    p.owed -= sent as u64;
    if !unchanged(p)? {
        return Err(changed());
    }
    Ok(sent)
}

/// Sets `TCP_NOTSENT_LOWAT` to [`UNSENT_LIMIT`] on `tcp`.
fn limit_unsent(tcp: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket descriptor, and an option value of the size passed.
    let r = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&UNSENT_LIMIT as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn changed() -> io::Error {
    io::Error::other("file changed while being served")
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if is_placeholder(buf) {
            return self.get_mut().poll_file(cx, buf.len());
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match bufs.iter().position(|b| is_placeholder(b)) {
            None => Pin::new(&mut self.io).poll_write_vectored(cx, bufs),
            Some(0) => self.get_mut().poll_file(cx, bufs[0].len()),
            // What comes before (the head) first; hyper calls again for the rest.
            Some(_) if !bufs[0].is_empty() => self.get_mut().poll_head(cx, &bufs[0]),
            Some(n) => Pin::new(&mut self.io).poll_write_vectored(cx, &bufs[..n]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        // hyper must queue body buffers as they are (not copy them into one buffer) for
        // placeholders to reach this socket recognisably.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair: the server end wrapped around `slot`, and the client end.
    async fn pair(slot: Arc<FileSlot>) -> (SendfileStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (SendfileStream::new(Coalesced::new(server), slot), client)
    }

    fn file_of(dir: &std::path::Path, bytes: &[u8]) -> (File, Stamp) {
        let path = dir.join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let stamp = stamp_of(&file).unwrap();
        (file, stamp)
    }

    #[tokio::test]
    async fn placeholders_become_the_file_bytes_and_other_bytes_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..3 * STEP + 7).map(|i| (i % 251) as u8).collect();
        let (file, stamp) = file_of(dir.path(), &content);
        let slot = FileSlot::new();
        let (mut server, mut client) = pair(Arc::clone(&slot)).await;
        let (start, end) = (5, content.len() as u64 - 3);
        let mut body = SendfileBody::new(slot, file, stamp, start, end);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        server.write_all(b"head:").await.unwrap();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.iter().all(|b| *b == 0), "placeholders, not file bytes");
            server.write_all(&data).await.unwrap();
        }
        server.write_all(b":tail").await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        let got = reader.await.unwrap();
        let mut want = b"head:".to_vec();
        want.extend_from_slice(&content[start as usize..end as usize]);
        want.extend_from_slice(b":tail");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the file's bytes, exactly");
    }

    #[tokio::test]
    async fn a_small_vector_with_placeholders_is_not_coalesced_into_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let (file, stamp) = file_of(dir.path(), b"file bytes");
        let slot = FileSlot::new();
        let (mut server, mut client) = pair(Arc::clone(&slot)).await;
        let mut body = SendfileBody::new(slot, file, stamp, 0, 10);
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let parts = [b"head:".as_slice(), &data];
        let mut sent = 0;
        while sent < 15 {
            // What is left of the two parts, as hyper hands them on after a partial write.
            let left: Vec<io::IoSlice<'_>> = if sent < 5 {
                vec![
                    io::IoSlice::new(&parts[0][sent..]),
                    io::IoSlice::new(parts[1]),
                ]
            } else {
                vec![io::IoSlice::new(&parts[1][sent - 5..])]
            };
            sent += server.write_vectored(&left).await.unwrap();
        }
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"head:file bytes");
    }

    fn unsent_limit(server: &SendfileStream) -> libc::c_int {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket and an out-parameter of the size passed.
        let r = unsafe {
            libc::getsockopt(
                server.io.get_ref().as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        value
    }

    #[tokio::test]
    async fn a_connection_limits_its_unsent_bytes_once_it_sends_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (file, stamp) = file_of(dir.path(), b"file bytes");
        let slot = FileSlot::new();
        let (mut server, _client) = pair(Arc::clone(&slot)).await;
        server.write_all(b"head:").await.unwrap();
        assert_ne!(
            unsent_limit(&server),
            UNSENT_LIMIT,
            "plain writes keep the default"
        );
        let mut body = SendfileBody::new(slot, file, stamp, 0, 10);
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        server.write_all(&data).await.unwrap();
        assert_eq!(unsent_limit(&server), UNSENT_LIMIT);
    }

    #[tokio::test]
    async fn placeholders_without_a_file_are_an_error_never_zeros() {
        let (mut server, _client) = pair(FileSlot::new()).await;
        let err = server.write_all(&PLACEHOLDER[..10]).await.unwrap_err();
        assert!(err.to_string().contains("without a file"), "{err}");
    }

    /// Why sendfile stays opt-in: waiting until the peer acknowledged every byte and then
    /// checking the file cannot rule out mixed bytes, because on loopback (a same-host veth too, untested) the
    /// acknowledged bytes are still the page cache's pages, queued at the receiver until it
    /// reads them. If this ever fails, a "hold the tail until acknowledged" scheme is worth
    /// measuring again.
    #[test]
    fn acknowledged_bytes_on_loopback_are_still_the_page_cache() {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsRawFd;
        // Small enough for a default receive buffer to take whole without being read.
        const N: usize = 32 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = file_of(dir.path(), &[b'a'; N]);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut offset = 0;
        while (offset as usize) < N {
            let left = N - offset as usize;
            rustix::fs::sendfile(&server, &file, Some(&mut offset), left).unwrap();
        }
        let start = std::time::Instant::now();
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: a valid socket and an int out-parameter, as SIOCOUTQ (TIOCOUTQ) takes.
            assert_eq!(
                unsafe { libc::ioctl(server.as_raw_fd(), libc::TIOCOUTQ, &mut queued) },
                0
            );
            if queued == 0 {
                break;
            }
            assert!(start.elapsed().as_secs() < 10, "never acknowledged");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("f"))
            .unwrap();
        writer.rewind().unwrap();
        writer.write_all(&[b'b'; N]).unwrap();
        let mut got = vec![0; N];
        client.read_exact(&mut got).unwrap();
        assert!(
            got.contains(&b'b'),
            "acknowledged bytes were copied: the client read none of the rewrite"
        );
    }

    #[tokio::test]
    async fn a_file_that_shrank_fails_instead_of_sending_short() {
        let dir = tempfile::tempdir().unwrap();
        let (file, stamp) = file_of(dir.path(), &[b'a'; 4096]);
        let slot = FileSlot::new();
        let (mut server, _client) = pair(Arc::clone(&slot)).await;
        let mut body = SendfileBody::new(slot, file, stamp, 0, 4096);
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("f"))
            .unwrap()
            .set_len(100)
            .unwrap();
        let err = server.write_all(&data).await.unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
    }
}
