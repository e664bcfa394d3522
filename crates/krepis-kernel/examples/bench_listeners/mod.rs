//! Listeners shared by the pure-Rust bench servers (`hyper_bench`, `h1_bench`).

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A plain listener and, when `BENCH_TLS_CERT`/`BENCH_TLS_KEY` name PEM files, a TLS one
/// offering `alpn`; both on 127.0.0.1. Prints `PORT n TLSPORT m` (0 without TLS), the line
/// `bench/http` reads.
pub async fn bind(
    alpn: &[&[u8]],
) -> std::io::Result<(TcpListener, Option<(TcpListener, TlsAcceptor)>)> {
    let acceptor = match (
        std::env::var("BENCH_TLS_CERT"),
        std::env::var("BENCH_TLS_KEY"),
    ) {
        (Ok(cert), Ok(key)) => Some(
            krepis_kernel::http::tls::acceptor_offering(
                &std::fs::read_to_string(cert)?,
                &std::fs::read_to_string(key)?,
                alpn,
            )
            .map_err(std::io::Error::other)?,
        ),
        _ => None,
    };
    let plain = TcpListener::bind("127.0.0.1:0").await?;
    let secure = match acceptor {
        Some(acceptor) => Some((TcpListener::bind("127.0.0.1:0").await?, acceptor)),
        None => None,
    };
    let tls_port = match &secure {
        Some((listener, _)) => listener.local_addr()?.port(),
        None => 0,
    };
    println!("PORT {} TLSPORT {tls_port}", plain.local_addr()?.port());
    Ok((plain, secure))
}
