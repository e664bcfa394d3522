//! What the driver reads while a request is being answered: the request body, fed to the
//! service through a [`ChannelBody`] as the reader wants it, and — once the body is in —
//! whether the client hung up (`poll_peer_closed_with`), which abandons the request.
//!
//! The body goes over in frames of what is there: bytes read one after another while the
//! socket has more are gathered into one buffer (up to [`FRAME_LIMIT`]) and handed over
//! when the socket would block. A body that arrives at full speed thus reaches the service
//! as one buffer it takes over without copying (see [`super::super::body::collect`]);
//! a slow one as the pieces that came.

use std::future::poll_fn;
use std::task::Poll;

use bytes::BytesMut;
use deno_http_h1::{BodyKind, SharedBodyChunk, SharedConn, SharedScratch};
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::body::{BodyFeed, ChannelBody};

/// Read buffer of a connection reading a large body (heads use a smaller one).
pub const BODY_READ_CAPACITY: usize = 64 * 1024;

/// Most bytes gathered into one frame of a request body.
pub const FRAME_LIMIT: usize = 1 << 20;

/// Where a request's body stands.
pub struct Input {
    feed: Option<BodyFeed>,
    /// Bytes read and not handed over yet (kept here, so a cancelled step loses none).
    gathered: BytesMut,
    /// Bytes of an announced length not read yet.
    left: Option<u64>,
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
    /// The connection's read buffer as this body has grown it: it doubles, up to
    /// [`BODY_READ_CAPACITY`], each time a read fills it.
    read_capacity: usize,
}

/// What a step of reading found.
pub enum Event {
    /// The client closed the connection (or it failed): abandon the request.
    Gone,
    /// Something moved; keep going.
    Moved,
}

/// What feeding one frame did.
enum Fed {
    Frame,
    /// The body was dropped unread: the rest stays on the connection.
    Unwanted,
    Complete,
    Broken,
    Gone,
}

impl Input {
    /// The body framed as `kind`, and the service's end of it.
    pub fn new(kind: BodyKind, expect_continue: bool) -> (Self, ChannelBody) {
        let (feed, body, left) = match kind {
            BodyKind::Empty | BodyKind::Upgrade | BodyKind::ContentLength(0) => {
                (None, ChannelBody::empty(), None)
            }
            BodyKind::ContentLength(n) => {
                let (feed, body) = ChannelBody::channel(Some(n));
                (Some(feed), body, Some(n))
            }
            BodyKind::Chunked => {
                let (feed, body) = ChannelBody::channel(None);
                (Some(feed), body, None)
            }
        };
        let complete = feed.is_none();
        let input = Self {
            feed,
            gathered: BytesMut::new(),
            left,
            wanted: false,
            expect_continue,
            complete,
            broken: false,
            watch_hang_up: true,
            read_capacity: super::READ_CAPACITY,
        };
        (input, body)
    }

    /// A body that was already read whole with its head.
    pub fn whole(data: Vec<u8>) -> (Self, ChannelBody) {
        let (mut input, _) = Self::new(BodyKind::Empty, false);
        input.wanted = true;
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

    /// Reads on: the next body frame once the reader wants it, or — with the body in —
    /// a hang-up. Pending while there is nothing to do. Cancel-safe: bytes read are kept
    /// until they are handed over.
    pub async fn step<I: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut SharedConn<I>,
        scratch: &mut SharedScratch,
    ) -> Event {
        if self.feed.is_some() {
            match self.feed_one(conn, scratch).await {
                Fed::Frame => {}
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

    /// Waits until the reader wants more (sending `100 Continue` the first time when the
    /// client asked for it), then reads what the socket has into one frame.
    async fn feed_one<I: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut SharedConn<I>,
        scratch: &mut SharedScratch,
    ) -> Fed {
        let Some(feed) = self.feed.as_mut() else {
            return Fed::Unwanted;
        };
        if !self.wanted {
            if (&mut feed.wanted).await.is_err() {
                return Fed::Unwanted;
            }
            self.wanted = true;
            if self.expect_continue && conn.write_continue().await.is_err() {
                return Fed::Gone;
            }
        }
        let Ok(permit) = feed.chunks.reserve().await else {
            return Fed::Unwanted;
        };
        let (gathered, left, capacity) =
            (&mut self.gathered, &mut self.left, &mut self.read_capacity);
        loop {
            if gathered.len() >= FRAME_LIMIT {
                permit.send(Ok(std::mem::take(gathered).freeze()));
                return Fed::Frame;
            }
            let mut filled = false;
            let read = poll_fn(|cx| {
                let polled = conn.poll_read_body_chunk_with(cx, scratch, |chunk| {
                    filled = chunk.len() >= *capacity;
                    if let Some(n) = left.as_mut() {
                        *n = n.saturating_sub(chunk.len() as u64);
                    }
                    if chunk.len() >= BODY_READ_CAPACITY {
                        // A read that filled the buffer: more is waiting, so room for the
                        // frame's rest at once (a frame ends past `FRAME_LIMIT` by less
                        // than one read). Otherwise only what came: a frame holds no room
                        // for bytes a client announced but has not sent.
                        let rest = left.map_or(0, |n| n.min(FRAME_LIMIT as u64) as usize);
                        let room = (gathered.len() + chunk.len() + rest)
                            .min(FRAME_LIMIT + BODY_READ_CAPACITY);
                        if gathered.capacity() < room {
                            let mut grown = BytesMut::with_capacity(room);
                            grown.extend_from_slice(gathered);
                            *gathered = grown;
                        }
                    }
                    gathered.extend_from_slice(chunk);
                });
                match polled {
                    // Nothing more right now: hand over what there is.
                    Poll::Pending if !gathered.is_empty() => Poll::Ready(None),
                    polled => polled.map(Some),
                }
            })
            .await;
            if filled && *capacity < BODY_READ_CAPACITY {
                // The body streams in faster than the buffer holds. Grown only then, and
                // step by step: a body that stops after a few KiB (or a small one) keeps
                // the head's buffer, not 64 KiB zeroed and kept for the connection's life.
                *capacity = (*capacity * 2).min(BODY_READ_CAPACITY);
                scratch.ensure_read_capacity(*capacity);
            }
            match read {
                None => {
                    permit.send(Ok(std::mem::take(gathered).freeze()));
                    return Fed::Frame;
                }
                Some(Ok(SharedBodyChunk::Chunk(()))) => {}
                Some(Ok(SharedBodyChunk::Complete)) => {
                    if !gathered.is_empty() {
                        permit.send(Ok(std::mem::take(gathered).freeze()));
                    }
                    return Fed::Complete;
                }
                Some(Err(e)) => {
                    permit.send(Err(std::io::Error::other(e)));
                    return Fed::Broken;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    use super::super::head::Head;
    use super::*;
    use crate::http::body::RequestBody;

    /// Sizes and capacities of the frames a reader gets of a body announced as `announced`
    /// bytes, of which the client sends `sent` at once (and then waits), until `sent` arrived.
    async fn frames(announced: u64, sent: usize) -> Vec<(usize, usize)> {
        let (mut client, server) = tokio::io::duplex(4 << 20);
        let head = format!("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: {announced}\r\n\r\n");
        client.write_all(head.as_bytes()).await.unwrap();
        client.write_all(&vec![7; sent]).await.unwrap();
        let mut conn: SharedConn<DuplexStream> = SharedConn::new(server);
        let mut scratch = SharedScratch::new(8 * 1024, 8 * 1024);
        let parse = |request: deno_http_h1::Request<'_>| Head::new(&request);
        let head = poll_fn(|cx| conn.poll_next_request_with(cx, &mut scratch, parse))
            .await
            .unwrap()
            .unwrap();
        let (mut input, body) = Input::new(head.body, false);
        let mut body = RequestBody::H1(body);
        let (mut seen, mut got) = (Vec::new(), 0);
        while got < sent {
            tokio::select! {
                frame = body.frame() => {
                    let data = frame.unwrap().unwrap().into_data().unwrap();
                    got += data.len();
                    let size = data.len();
                    seen.push((size, data.try_into_mut().unwrap().capacity()));
                }
                _ = input.step(&mut conn, &mut scratch) => {}
            }
        }
        drop(client);
        seen
    }

    #[tokio::test]
    async fn a_frame_holds_no_room_for_bytes_announced_but_not_sent() {
        // 20 MB announced, 16 KiB sent: before, the first frame reserved 1 MiB
        // (`FRAME_LIMIT`) and held it while queued for the reader.
        let seen = frames(20_000_000, 16 * 1024).await;
        let capacity: usize = seen.iter().map(|(_, capacity)| capacity).sum();
        assert!(capacity <= 2 * 16 * 1024, "{seen:?}");
    }

    #[tokio::test]
    async fn a_body_that_arrives_at_full_speed_is_gathered_into_large_frames() {
        let sent = 3 << 20;
        let seen = frames(sent as u64, sent).await;
        assert_eq!(seen.iter().map(|(size, _)| size).sum::<usize>(), sent);
        assert!(
            seen.iter().any(|(size, _)| *size >= FRAME_LIMIT),
            "{seen:?}"
        );
        for (size, capacity) in &seen {
            assert!(*capacity <= FRAME_LIMIT + BODY_READ_CAPACITY, "{seen:?}");
            assert!(*capacity < 2 * size + BODY_READ_CAPACITY, "{seen:?}");
        }
    }
}
