//! Noticing that a client hung up while nobody reads its connection.
//!
//! The HTTP/1.1 driver reads a request body only when it is wanted; a streamed upload
//! whose handler does not read it leaves the socket unread, so a client that gives up
//! mid-body goes unnoticed. The kernel's body forwarder checks the socket for a peer
//! hang-up (`POLLRDHUP`, which data still waiting in the socket does not mask) while it
//! waits for the handler.

use std::os::fd::RawFd;
use std::time::Duration;

/// How often a stalled request body checks whether its client hung up.
pub const HANG_UP_CHECK: Duration = Duration::from_millis(100);

#[cfg(any(target_os = "linux", target_os = "android"))]
const PEER_CLOSED: libc::c_short = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const PEER_CLOSED: libc::c_short = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;

/// The socket of one connection, as seen by the requests on it.
///
/// Only polled, never read or closed. The number may outlive the connection; a request
/// still waiting then belongs to a dropped connection and is abandoned anyway, so a stale
/// answer costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct PeerSocket(RawFd);

impl PeerSocket {
    /// Watches the socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        Self(fd)
    }

    /// Whether the client shut down its sending side, reset the connection or is gone.
    pub fn hung_up(self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.0,
            events: PEER_CLOSED,
            revents: 0,
        };
        // SAFETY: one valid `pollfd` and a zero timeout; `poll` only writes `revents`.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n > 0 && pfd.revents & PEER_CLOSED != 0
    }

    /// Resolves once [`PeerSocket::hung_up`] turns true, checking every [`HANG_UP_CHECK`].
    pub async fn hang_up(self) {
        loop {
            tokio::time::sleep(HANG_UP_CHECK).await;
            if self.hung_up() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_shut_down_peer_is_seen_behind_unread_data() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = PeerSocket::new(server.as_raw_fd());
        client.write_all(b"unread body bytes").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!socket.hung_up(), "data alone is no hang-up");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let start = std::time::Instant::now();
        while !socket.hung_up() {
            assert!(start.elapsed() < Duration::from_secs(5), "hang-up not seen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
