//! Writing an answer through `deno_http_h1`: the head from the response's `HeaderMap`,
//! then the body — in the same write when it is small and whole, with `content-length`
//! when its size is known, chunked (HTTP/1.1) or up to the close (HTTP/1.0) when not.
//! While a streamed body waits for its next chunk, what is buffered goes out and the
//! request's [`Input`] keeps being read (its body, or a hang-up).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use deno_http_h1::{
    Response, ResponseBody, ResponseHead, SharedConn, SharedResponseBodyWriter,
    SharedResponseChunkWriter, SharedScratch, Version, status_allows_body,
};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::borrowed::Borrowed;
use super::super::bridge::declared_length as declared_in_record;
use super::super::record::OwnedResponse;
use super::super::service::{OutBody, Outbound};
use super::super::static_files::sendfile::is_placeholder;
use super::cork::Cork;
use super::head::{Fields, declared_length};
use super::input::{Event, Input};

/// How writing an answer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// All of it went out.
    Done,
    /// The connection failed, the client left, or the body broke off: close it.
    Failed,
}

/// How the answer to one request is framed.
pub struct Framing<'a> {
    /// The request's version.
    pub version: Version,
    /// Whether the head announces keep-alive.
    pub keep_alive: bool,
    /// A `HEAD` request: no body goes out.
    pub head_only: bool,
    /// The `date` field's value.
    pub date: &'a [u8],
    /// Holds a head back to leave with its body.
    pub cork: &'a Cork,
}

/// Largest body written behind its head in the crate's write buffer (a copy); larger
/// ones go out with the head as one vectored write (see [`Cork`]).
const SMALL_BODY: usize = 4 * 1024;

/// Writes `response` on `conn`, reading `input` on while a streamed body waits.
pub async fn write<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    input: &mut Input,
    framing: Framing<'_>,
    response: Outbound,
) -> Written {
    let (parts, mut body) = response.into_parts();
    let status = parts.status.as_u16();
    let fields = Fields::new(&parts.headers, status == 101, framing.date);
    let head = ResponseHead {
        version: framing.version,
        status,
        reason: parts.status.canonical_reason().unwrap_or("").as_bytes(),
        headers: fields.as_slice(),
        keep_alive: framing.keep_alive,
    };
    let exact = body.size_hint().exact();
    if framing.head_only || !status_allows_body(status) || exact == Some(0) {
        let length = if framing.head_only {
            declared_length(&parts.headers).or(exact)
        } else {
            exact
        };
        let body = if framing.head_only {
            ResponseBody::Head(length)
        } else {
            ResponseBody::Empty
        };
        return whole(conn, scratch, head, body).await;
    }
    if let Some(length) = exact {
        return sized(conn, scratch, head, length, body, framing.cork).await;
    }
    // Unknown length: chunked on HTTP/1.1, up to the close on HTTP/1.0 (the caller
    // announced no keep-alive then).
    if conn
        .start_chunked_response_with_scratch(scratch, head)
        .await
        .is_err()
    {
        return Written::Failed;
    }
    loop {
        let next =
            match poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut body).poll_frame(cx))).await {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    // The body waits: what is buffered goes out now, and the connection is
                    // read meanwhile.
                    if poll_fn(|cx| conn.poll_flush_write_buf(cx, scratch))
                        .await
                        .is_err()
                    {
                        return Written::Failed;
                    }
                    match next_frame(conn, scratch, input, &mut body).await {
                        Some(next) => next,
                        None => return Written::Failed,
                    }
                }
            };
        match next.map(|frame| frame.map(Frame::into_data)) {
            None => {
                let end = conn.finish_response_with_scratch(scratch, &[]).await;
                return if end.is_ok() {
                    Written::Done
                } else {
                    Written::Failed
                };
            }
            Some(Ok(Ok(chunk))) => {
                let mut writer = SharedResponseChunkWriter::new(&chunk);
                let sent =
                    poll_fn(|cx| conn.poll_write_response_chunk_with(cx, scratch, &mut writer))
                        .await;
                if sent.is_err() {
                    return Written::Failed;
                }
            }
            // Trailers are not sent.
            Some(Ok(Err(_))) => {}
            Some(Err(_)) => {
                // Cut off: what was written goes out, the end marker does not.
                let _ = poll_fn(|cx| conn.poll_flush_write_buf(cx, scratch)).await;
                return Written::Failed;
            }
        }
    }
}

/// Writes a whole response from its record (see [`super::lane`]), framed as
/// [`write`] frames the same response built: a body of known length, a `HEAD` answer
/// announcing what the handler declared when it sent no body.
pub async fn write_record<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    framing: Framing<'_>,
    response: &OwnedResponse,
) -> Written {
    let status = response.status();
    let fields = Fields::from_pairs(response.headers().iter(), false, framing.date);
    let head = ResponseHead {
        version: framing.version,
        status,
        reason: reason(status),
        headers: fields.as_slice(),
        keep_alive: framing.keep_alive,
    };
    let body = response.body();
    let body = if framing.head_only {
        // A whole body frames itself; the handler's `content-length` counts only without.
        let length = if body.is_empty() {
            declared_in_record(response.headers()).or(Some(0))
        } else {
            Some(body.len() as u64)
        };
        ResponseBody::Head(length)
    } else if body.is_empty() || !status_allows_body(status) {
        ResponseBody::Empty
    } else {
        ResponseBody::Bytes(body)
    };
    whole(conn, scratch, head, body).await
}

/// The canonical reason phrase of `status` (empty when it has none).
pub fn reason(status: u16) -> &'static [u8] {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .as_bytes()
}

/// The next frame of `body`, reading `input` meanwhile; `None` when the client left.
async fn next_frame<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    input: &mut Input,
    body: &mut OutBody,
) -> Option<Option<Result<Frame<Bytes>, std::io::Error>>> {
    loop {
        tokio::select! {
            biased;
            frame = body.frame() => return Some(frame),
            event = input.step(conn, scratch) => if let Event::Gone = event {
                return None;
            },
        }
    }
}

/// A head with a body of no bytes (or none at all).
async fn whole<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: ResponseHead<'_>,
    body: ResponseBody<'_>,
) -> Written {
    let response = Response {
        version: head.version,
        status: head.status,
        reason: head.reason,
        headers: head.headers,
        body,
        keep_alive: head.keep_alive,
    };
    match conn.write_response_with_scratch(scratch, response).await {
        Ok(()) => Written::Done,
        Err(_) => Written::Failed,
    }
}

/// A body of `length` bytes: copied behind the head into one write when it comes whole
/// and small, else the head held back to leave with the first frame, then each frame as
/// it comes. File placeholders (see [`super::super::static_files::sendfile`]) are never
/// copied.
async fn sized<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: ResponseHead<'_>,
    length: u64,
    mut body: OutBody,
    cork: &Cork,
) -> Written {
    if let Some(borrowed) = body.get_ref().unencoded().and_then(|b| b.borrowed()) {
        let borrowed = Arc::clone(borrowed);
        return in_place(conn, scratch, head, &borrowed, cork).await;
    }
    let first = match body.frame().await {
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => data,
            Err(_) => Bytes::new(),
        },
        _ => return Written::Failed,
    };
    if first.len() as u64 == length && first.len() <= SMALL_BODY && !is_placeholder(&first) {
        return whole(conn, scratch, head, ResponseBody::Bytes(&first)).await;
    }
    if !first.is_empty() {
        // The first frame is written right after the head.
        cork.hold_next();
    }
    if conn
        .start_fixed_response_with_scratch(scratch, head, length)
        .await
        .is_err()
    {
        return Written::Failed;
    }
    let mut chunk = first;
    loop {
        if !chunk.is_empty() {
            let mut writer = SharedResponseBodyWriter::new(&chunk);
            if poll_fn(|cx| conn.poll_write_response_body_with(cx, &mut writer))
                .await
                .is_err()
            {
                return Written::Failed;
            }
        }
        chunk = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
            Some(Err(_)) => return Written::Failed,
        };
    }
    match conn.finish_response_with_scratch(scratch, &[]).await {
        Ok(()) => Written::Done,
        Err(_) => Written::Failed,
    }
}

/// A [`Borrowed`] body, written from where it is (the caller's memory while it lends it,
/// the kernel's copy of the rest after), never as a frame of its own: the head is held back
/// to leave with its first bytes, and each poll writes what the socket takes then. `conn`
/// writes through the [`super::cork::Corked`] stream `cork` counts for.
async fn in_place<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: ResponseHead<'_>,
    body: &Borrowed,
    cork: &Cork,
) -> Written {
    cork.hold_next();
    if conn
        .start_fixed_response_with_scratch(scratch, head, body.len() as u64)
        .await
        .is_err()
    {
        return Written::Failed;
    }
    let sent = poll_fn(|cx| {
        body.write(|rest| {
            // The crate's writer says nothing of a partial write before the socket filled:
            // the stream's count does.
            let before = cork.accepted();
            let polled =
                conn.poll_write_response_body_with(cx, &mut SharedResponseBodyWriter::new(rest));
            (polled, (cork.accepted() - before) as usize)
        })
    })
    .await;
    if sent.is_err() {
        return Written::Failed;
    }
    match conn.finish_response_with_scratch(scratch, &[]).await {
        Ok(()) => Written::Done,
        Err(_) => Written::Failed,
    }
}
