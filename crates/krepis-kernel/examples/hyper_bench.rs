//! The pure-Rust peer of `deno task bench:http`: hyper with the same handler the TypeScript
//! servers run, on a current-thread runtime. Prints `PORT <n> TLSPORT <m|0>` once listening;
//! the TLS listener starts when `BENCH_TLS_CERT`/`BENCH_TLS_KEY` name PEM files.
//!
//! Routes: `GET /` hello world, `POST /echo` JSON echo, `POST /upload` body length,
//! `GET /download` 1 MiB.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod bench_listeners;

static MIB: [u8; 1 << 20] = [b'x'; 1 << 20];

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let response = match path.as_str() {
        "/echo" => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let value: serde_json::Value = body
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(value.to_string())))
        }
        "/upload" => {
            let mut total = 0usize;
            let mut body = req.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                total += frame.data_ref().map_or(0, |d| d.len());
            }
            Response::builder().body(Full::new(Bytes::from(total.to_string())))
        }
        "/download" => Response::builder().body(Full::new(Bytes::from_static(&MIB))),
        _ => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(Bytes::from_static(b"Hello, World!"))),
    };
    Ok(response.expect("static parts are valid"))
}

/// Serves one connection.
async fn serve<I>(builder: Arc<auto::Builder<TokioExecutor>>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = builder
        .serve_connection(TokioIo::new(io), service_fn(handle))
        .await;
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        serve(builder, stream).await;
                    }
                }
                None => serve(builder, stream).await,
            }
        });
    }
}

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        let (plain, secure) = bench_listeners::bind(&[b"h2", b"http/1.1"]).await?;
        if let Some((listener, acceptor)) = secure {
            tokio::spawn(accept_loop(listener, Some(acceptor), Arc::clone(&builder)));
        }
        accept_loop(plain, None, builder).await
    })
}
