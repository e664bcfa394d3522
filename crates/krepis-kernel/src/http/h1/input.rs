//! What the driver reads while a request is being answered: the request body, fed to the
//! service through a [`ChannelBody`] as the reader wants it, and — once the body is in —
//! whether the client hung up (`poll_peer_closed_with`), which abandons the request.

use std::future::poll_fn;

use bytes::Bytes;
use deno_http_h1::{BodyKind, SharedBodyChunk, SharedConn, SharedScratch};
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::body::{BodyFeed, ChannelBody};

/// Read buffer of a connection reading a large body (heads use the crate's default).
pub const BODY_READ_CAPACITY: usize = 64 * 1024;

/// Where a request's body stands.
pub struct Input {
    feed: Option<BodyFeed>,
    /// The reader asked for the body (and `100 Continue` was sent when asked for).
    wanted: bool,
    expect_continue: bool,
    /// The whole body was read off the connection.
    complete: bool,
    /// The body broke off (malformed framing, the client gone): the connection cannot
    /// carry another request.
    broken: bool,
    /// Whether a hang-up is still watched for (stops once the client sent more bytes).
    watch_hang_up: bool,
}

/// What a step of reading found.
pub enum Event {
    /// The client closed the connection (or it failed): abandon the request.
    Gone,
    /// Something moved; keep going.
    Moved,
}

impl Input {
    /// The body framed as `kind`, and the service's end of it.
    pub fn new(kind: BodyKind, expect_continue: bool) -> (Self, ChannelBody) {
        let (feed, body) = match kind {
            BodyKind::Empty | BodyKind::Upgrade | BodyKind::ContentLength(0) => {
                (None, ChannelBody::empty())
            }
            BodyKind::ContentLength(n) => {
                let (feed, body) = ChannelBody::channel(Some(n));
                (Some(feed), body)
            }
            BodyKind::Chunked => {
                let (feed, body) = ChannelBody::channel(None);
                (Some(feed), body)
            }
        };
        let complete = feed.is_none();
        let input = Self {
            feed,
            wanted: false,
            expect_continue,
            complete,
            broken: false,
            watch_hang_up: true,
        };
        (input, body)
    }

    /// A body that was already read whole with its head.
    pub fn whole(data: Vec<u8>) -> (Self, ChannelBody) {
        let input = Self {
            feed: None,
            wanted: true,
            expect_continue: false,
            complete: true,
            broken: false,
            watch_hang_up: true,
        };
        (input, ChannelBody::whole(data))
    }

    /// Whether the connection can carry the next request: the body was read to its end
    /// and did not break.
    pub fn reusable(&self) -> bool {
        self.complete && !self.broken
    }

    /// Whether the body broke off.
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// Reads on: the next body chunk once the reader wants it, or — with the body in —
    /// a hang-up. Pending while there is nothing to do. Cancel-safe: a chunk read is sent
    /// in the same poll.
    pub async fn step<I: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut SharedConn<I>,
        scratch: &mut SharedScratch,
    ) -> Event {
        if let Some(feed) = self.feed.as_mut() {
            let fed = feed_one(feed, &mut self.wanted, self.expect_continue, conn, scratch).await;
            match fed {
                Fed::Chunk => {}
                Fed::Unwanted => self.feed = None,
                Fed::Complete => {
                    self.complete = true;
                    self.feed = None;
                }
                Fed::Broken => {
                    self.broken = true;
                    self.feed = None;
                }
                Fed::Gone => return Event::Gone,
            }
            return Event::Moved;
        }
        if self.complete && self.watch_hang_up {
            match poll_fn(|cx| conn.poll_peer_closed_with(cx, scratch)).await {
                Ok(false) => {
                    // The client sent more (a pipelined request), which the crate keeps;
                    // it has not gone, and reading on would buffer without bound.
                    self.watch_hang_up = false;
                    return Event::Moved;
                }
                Ok(true) | Err(_) => return Event::Gone,
            }
        }
        std::future::pending().await
    }
}

/// What feeding one chunk did.
enum Fed {
    Chunk,
    /// The body was dropped unread: the rest stays on the connection.
    Unwanted,
    Complete,
    Broken,
    Gone,
}

/// Waits until the reader wants more, then reads one chunk into `feed` (sending
/// `100 Continue` first when the client asked for it).
async fn feed_one<I: AsyncRead + AsyncWrite + Unpin>(
    feed: &mut BodyFeed,
    wanted: &mut bool,
    expect_continue: bool,
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
) -> Fed {
    if !*wanted {
        if (&mut feed.wanted).await.is_err() {
            return Fed::Unwanted;
        }
        *wanted = true;
        if expect_continue && conn.write_continue().await.is_err() {
            return Fed::Gone;
        }
        scratch.ensure_read_capacity(BODY_READ_CAPACITY);
    }
    let Ok(permit) = feed.chunks.reserve().await else {
        return Fed::Unwanted;
    };
    let read =
        poll_fn(|cx| conn.poll_read_body_chunk_with(cx, scratch, Bytes::copy_from_slice)).await;
    match read {
        Ok(SharedBodyChunk::Chunk(chunk)) => {
            permit.send(Ok(chunk));
            Fed::Chunk
        }
        Ok(SharedBodyChunk::Complete) => Fed::Complete,
        Err(e) => {
            permit.send(Err(std::io::Error::other(e)));
            Fed::Broken
        }
    }
}
