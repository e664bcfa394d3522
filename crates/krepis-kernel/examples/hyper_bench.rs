//! The pure-Rust peer of `deno task bench:http`: hyper with the same handler the TypeScript
//! servers run, on a current-thread runtime. Prints `PORT <n>` once listening.
//!
//! Routes: `GET /` hello world, `POST /echo` JSON echo, `POST /upload` body length,
//! `GET /download` 1 MiB.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

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

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("PORT {}", listener.local_addr()?.port());
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            tokio::spawn(async move {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    })
}
