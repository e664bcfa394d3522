//! The pure-Rust `deno_http_h1` peer of `deno task bench:http`: the same handler as
//! `hyper_bench`, served over `deno_http_h1::SharedConn` (the HTTP/1.1 connection `Deno.serve`
//! uses) on the same current-thread runtime — what the kernel's HTTP/1.1 path would cost
//! without hyper. Prints `PORT <n> TLSPORT <m|0>` once listening; the TLS listener starts when
//! `BENCH_TLS_CERT`/`BENCH_TLS_KEY` name PEM files.
//!
//! Routes: `GET /` hello world, `POST /echo` JSON echo, `POST /upload` body length,
//! `GET /download` 1 MiB.
//!
//! `BENCH_H1_HTTP_TYPES=1` also does what a kernel keeping its `http`-typed request and
//! response layer would do on top of `deno_http_h1`: each head becomes an `http::Request`
//! (method, URI, `HeaderMap`), each answer an `http::Response` whose headers are written
//! from its `HeaderMap`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use deno_http_h1::{
    BodyKind, Error, Header, Response, ResponseBody, SharedBodyChunk, SharedConn, SharedScratch,
    Version,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod bench_listeners;

static MIB: [u8; 1 << 20] = [b'x'; 1 << 20];

/// The `date` header, formatted once a second (as hyper and `Deno.serve` do).
struct DateCache {
    value: [u8; 29],
    next_update: SystemTime,
}

thread_local! {
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { value: [b' '; 29], next_update: SystemTime::UNIX_EPOCH })
    };
}

fn date() -> [u8; 29] {
    let now = SystemTime::now();
    DATE.with_borrow_mut(|cache| {
        if now > cache.next_update {
            let text = httpdate::fmt_http_date(now);
            cache.value.copy_from_slice(text.as_bytes());
            cache.next_update = now + Duration::from_secs(1);
        }
        cache.value
    })
}

#[derive(Clone, Copy)]
enum Route {
    Hello,
    Echo,
    Upload,
    Download,
}

/// What the connection loop keeps of a request head once the parser's borrow ends.
struct Head {
    route: Route,
    version: Version,
    keep_alive: bool,
    expect_continue: bool,
    has_body: bool,
    /// The head as `http` types (`BENCH_H1_HTTP_TYPES`).
    typed: Option<http::Request<()>>,
}

fn http_types() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BENCH_H1_HTTP_TYPES").is_some())
}

/// The head as an `http::Request`, as hyper hands it over (`None`: not representable).
fn typed(request: &deno_http_h1::Request<'_>) -> Option<http::Request<()>> {
    let mut headers = http::HeaderMap::with_capacity(request.headers.len());
    for header in request.headers {
        headers.append(
            http::HeaderName::from_bytes(header.name).ok()?,
            http::HeaderValue::from_bytes(header.value).ok()?,
        );
    }
    let mut typed = http::Request::new(());
    *typed.method_mut() = http::Method::from_bytes(request.method).ok()?;
    *typed.uri_mut() =
        http::Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(request.target)).ok()?;
    *typed.headers_mut() = headers;
    Some(typed)
}

fn parse_head(request: deno_http_h1::Request<'_>) -> Head {
    let typed = if http_types() { typed(&request) } else { None };
    let path = match &typed {
        Some(typed) => typed.uri().path().as_bytes(),
        None => request.target.split(|b| *b == b'?').next().unwrap_or(b""),
    };
    Head {
        route: match path {
            b"/echo" => Route::Echo,
            b"/upload" => Route::Upload,
            b"/download" => Route::Download,
            _ => Route::Hello,
        },
        version: request.version,
        keep_alive: request.keep_alive,
        expect_continue: request.expect_continue,
        has_body: !matches!(request.body, BodyKind::Empty),
        typed,
    }
}

/// Writes an `http::Response`: its headers from the `HeaderMap`, then the date.
async fn respond_typed<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: &Head,
    response: http::Response<&[u8]>,
) -> Result<(), Error> {
    let date = date();
    let mut headers = [Header::EMPTY; 16];
    let mut count = 0;
    for (name, value) in response.headers().iter().take(headers.len() - 1) {
        headers[count] = Header {
            name: name.as_str().as_bytes(),
            value: value.as_bytes(),
        };
        count += 1;
    }
    headers[count] = Header {
        name: b"date",
        value: &date,
    };
    let status = response.status();
    conn.write_response_with_scratch(
        scratch,
        Response {
            version: head.version,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").as_bytes(),
            headers: &headers[..=count],
            body: ResponseBody::Bytes(response.body()),
            keep_alive: head.keep_alive,
        },
    )
    .await
}

async fn respond<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: &Head,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<(), Error> {
    if head.typed.is_some() {
        let mut response = http::Response::new(body);
        if let Some(content_type) = content_type {
            let value = http::HeaderValue::from_bytes(content_type).expect("a valid content type");
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        return respond_typed(conn, scratch, head, response).await;
    }
    let date = date();
    if let Some(content_type) = content_type
        && head.version == Version::Http11
        && conn
            .try_write_content_type_response_with_scratch(
                scratch,
                content_type,
                &date,
                body,
                head.keep_alive,
            )
            .await?
    {
        return Ok(());
    }
    let mut headers = vec![Header {
        name: b"date",
        value: &date,
    }];
    if let Some(content_type) = content_type {
        headers.push(Header {
            name: b"content-type",
            value: content_type,
        });
    }
    conn.write_response_with_scratch(
        scratch,
        Response {
            version: head.version,
            status: 200,
            reason: b"OK",
            headers: &headers,
            body: ResponseBody::Bytes(body),
            keep_alive: head.keep_alive,
        },
    )
    .await
}

async fn serve<I: AsyncRead + AsyncWrite + Unpin>(io: I) -> Result<(), Error> {
    let mut conn = SharedConn::new(io);
    let mut scratch = SharedScratch::default();
    loop {
        let head =
            match poll_fn(|cx| conn.poll_next_request_with(cx, &mut scratch, parse_head)).await {
                Ok(Some(head)) => head,
                Ok(None) => return Ok(()),
                Err(Error::Parse(_) | Error::HeadTooLarge) => {
                    let date = date();
                    let headers = [Header {
                        name: b"date",
                        value: &date,
                    }];
                    let bad = Response {
                        version: Version::Http11,
                        status: 400,
                        reason: b"Bad Request",
                        headers: &headers,
                        body: ResponseBody::Empty,
                        keep_alive: false,
                    };
                    return conn.write_response_with_scratch(&mut scratch, bad).await;
                }
                Err(error) => return Err(error),
            };
        if head.expect_continue && head.has_body {
            conn.write_continue().await?;
        }
        match head.route {
            Route::Hello => {
                conn_discard(&mut conn, &mut scratch, &head).await?;
                let content_type = b"text/plain;charset=UTF-8";
                respond(
                    &mut conn,
                    &mut scratch,
                    &head,
                    Some(content_type),
                    b"Hello, World!",
                )
                .await?;
            }
            Route::Echo => {
                let mut body = Vec::new();
                conn.read_body_to_end_with_scratch(&mut scratch, &mut body)
                    .await?;
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let json = value.to_string();
                let content_type = b"application/json";
                respond(
                    &mut conn,
                    &mut scratch,
                    &head,
                    Some(content_type),
                    json.as_bytes(),
                )
                .await?;
            }
            Route::Upload => {
                let mut total = 0usize;
                loop {
                    let chunk = poll_fn(|cx| {
                        conn.poll_read_body_chunk_with(cx, &mut scratch, |chunk| chunk.len())
                    })
                    .await?;
                    match chunk {
                        SharedBodyChunk::Chunk(len) => total += len,
                        SharedBodyChunk::Complete => break,
                    }
                }
                respond(
                    &mut conn,
                    &mut scratch,
                    &head,
                    None,
                    total.to_string().as_bytes(),
                )
                .await?;
            }
            Route::Download => {
                conn_discard(&mut conn, &mut scratch, &head).await?;
                respond(&mut conn, &mut scratch, &head, None, &MIB).await?;
            }
        }
        if !head.keep_alive {
            return Ok(());
        }
    }
}

/// Reads past a body the route does not use, so the next head starts where it should.
async fn conn_discard<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut SharedConn<I>,
    scratch: &mut SharedScratch,
    head: &Head,
) -> Result<(), Error> {
    if head.has_body {
        conn.discard_body_with_scratch(scratch).await?;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = serve(stream).await;
                    }
                }
                None => {
                    let _ = serve(stream).await;
                }
            }
        });
    }
}

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (plain, tls) = bench_listeners::bind(&[b"http/1.1"]).await?;
        if let Some((listener, acceptor)) = tls {
            tokio::spawn(accept_loop(listener, Some(acceptor)));
        }
        accept_loop(plain, None).await
    })
}
