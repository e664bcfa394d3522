//! A load generator for large response bodies (the 1 MiB rows of `deno task bench:http`):
//! keeps N keep-alive HTTP/1.1 connections busy with GET requests for D seconds and prints
//! what it counted in wrk's format (`N requests in`, `Requests/sec:`, `99%`).
//!
//! Why not wrk: wrk reads 8 KiB at a time and spends ≈250–300 µs of CPU per 1 MiB response,
//! so one core of it caps near 3,500–4,000 responses a second whatever the server does.
//! Here every connection reads into one shared 1 MiB buffer (it stays in the cache; the
//! bytes are only counted), so a response costs the client a few reads, not 128.
//!
//! ```text
//! bulk_load CONNECTIONS SECONDS http://127.0.0.1:PORT/path
//! ```
//!
//! Responses must carry `content-length` (every server in the benchmark sends it); anything
//! else, a non-2xx/3xx status or a closed connection ends the run with an error.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bytes read per call, shared by all connections.
const READ: usize = 1 << 20;

/// What one connection counted.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    bytes: u64,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, conns, secs, url] = args.as_slice() else {
        eprintln!("usage: bulk_load CONNECTIONS SECONDS http://HOST:PORT/PATH");
        std::process::exit(2);
    };
    let conns: usize = conns.parse().map_err(io::Error::other)?;
    let secs: f64 = secs
        .trim_end_matches('s')
        .parse()
        .map_err(io::Error::other)?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other("only http:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let buffer = Rc::new(RefCell::new(vec![0u8; READ]));
    let tallies = local.block_on(&runtime, async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let (authority, request, buffer) =
                    (authority.to_string(), request.clone(), Rc::clone(&buffer));
                tokio::task::spawn_local(connection(authority, request, buffer, deadline))
            })
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.map_err(io::Error::other)??);
        }
        Ok::<_, io::Error>(tallies)
    })?;
    let elapsed = started.elapsed().as_secs_f64().min(secs).max(f64::EPSILON);
    let mut latencies: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.clone())
        .collect();
    latencies.sort_unstable();
    let requests = latencies.len();
    let bytes: u64 = tallies.iter().map(|t| t.bytes).sum();
    let p99 = latencies
        .get((requests * 99 / 100).min(requests.saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    println!("Running {secs}s test @ {url}\n  {conns} connections");
    println!(
        "  Latency Distribution\n     99%   {:.2}ms",
        f64::from(p99) / 1000.0
    );
    println!(
        "  {requests} requests in {elapsed:.2}s, {:.2}MB read",
        bytes as f64 / 1e6
    );
    println!("Requests/sec: {:.2}", requests as f64 / elapsed);
    Ok(())
}

/// One keep-alive connection sending GETs until `deadline`; a response still arriving then
/// is not counted.
async fn connection(
    authority: String,
    request: Vec<u8>,
    buffer: Rc<RefCell<Vec<u8>>>,
    deadline: Instant,
) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut stream = TcpStream::connect(&authority).await?;
    stream.set_nodelay(true)?;
    let deadline = tokio::time::Instant::from_std(deadline);
    loop {
        let sent = Instant::now();
        let exchange = async {
            stream.write_all(&request).await?;
            response(&stream, &buffer).await
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => return Ok(tally),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(bytes)) => {
                let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies_us.push(us);
                tally.bytes += bytes;
            }
        }
    }
}

/// Reads one response: the head (parsed when whole), then `content-length` bytes of body.
/// Returns the bytes read.
async fn response(stream: &TcpStream, buffer: &RefCell<Vec<u8>>) -> io::Result<u64> {
    let mut head = Vec::new();
    let mut body_left: Option<u64> = None;
    let mut total = 0u64;
    loop {
        stream.readable().await?;
        let outcome = {
            let mut buf = buffer.borrow_mut();
            match stream.try_read(&mut buf) {
                Ok(0) => Err(io::Error::other("connection closed mid-response")),
                Ok(n) => {
                    total += n as u64;
                    match body_left.as_mut() {
                        Some(left) => {
                            *left = left.saturating_sub(n as u64);
                            Ok(())
                        }
                        None => {
                            // The head usually comes whole with the first bytes: parsed
                            // where it landed, kept aside only when it is split.
                            let seen: &[u8] = if head.is_empty() {
                                &buf[..n]
                            } else {
                                head.extend_from_slice(&buf[..n]);
                                &head
                            };
                            match parse_head(seen) {
                                Ok(Some((head_len, length))) => {
                                    let extra = (seen.len() - head_len) as u64;
                                    body_left = Some(length.saturating_sub(extra));
                                    Ok(())
                                }
                                Ok(None) => {
                                    if head.is_empty() {
                                        head.extend_from_slice(&buf[..n]);
                                    }
                                    Ok(())
                                }
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(e),
            }
        };
        outcome?;
        if body_left == Some(0) {
            return Ok(total);
        }
    }
}

/// `(head length, content-length)` once the head is complete; an error for a status that
/// is not 2xx/3xx or a response without `content-length`.
fn parse_head(bytes: &[u8]) -> io::Result<Option<(usize, u64)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = parsed.parse(bytes).map_err(io::Error::other)? else {
        return Ok(None);
    };
    let status = parsed.code.unwrap_or(0);
    if !(200..400).contains(&status) {
        return Err(io::Error::other(format!("status {status}")));
    }
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .ok_or_else(|| io::Error::other("response without content-length"))?;
    Ok(Some((len, length)))
}
