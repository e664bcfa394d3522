//! The HTTP kernel over real sockets, driven by a Rust thread that plays the TypeScript
//! consumer: it turns and parks the server, reads request records and bodies from the
//! inboxes, and answers through the outbox exactly as `packages/core/src/http` does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use krepis_kernel::http::record::{
    self, FLAG_BODY_BUFFERED, FLAG_BODY_STREAMED, KIND_ABORT, KIND_RELEASE, KIND_RESPOND,
    KIND_RESPOND_STREAM, RequestView,
};
use krepis_kernel::http::{Server, ServerConfig};
use krepis_kernel::proto::ServeOptions;
use parking_lot::Mutex;

/// The fake TypeScript side: one thread draining the bridge, answering by path.
struct Consumer {
    server: Arc<Server>,
    requests_seen: Arc<AtomicU64>,
    aborts_seen: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Consumer {
    fn start(options: ServeOptions) -> Self {
        let options = ServeOptions {
            hostname: "127.0.0.1".into(),
            ..options
        };
        let server =
            Arc::new(Server::start(ServerConfig::from_options(&options).unwrap()).unwrap());
        let outbox = Arc::new(Mutex::new(()));
        let requests_seen = Arc::new(AtomicU64::new(0));
        let aborts_seen = Arc::new(AtomicU64::new(0));
        let (s, o, r, a) = (
            Arc::clone(&server),
            Arc::clone(&outbox),
            Arc::clone(&requests_seen),
            Arc::clone(&aborts_seen),
        );
        let thread = thread::spawn(move || consume(s, o, r, a));
        Self {
            server,
            requests_seen,
            aborts_seen,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    fn stop(mut self) {
        self.server.shutdown();
        self.thread.take().unwrap().join().unwrap();
    }
}

fn respond(server: &Server, lock: &Mutex<()>, records: &[u8]) {
    let _guard = lock.lock();
    let (ptr, cap) = server.bridge().outbox();
    assert!(records.len() <= cap);
    unsafe { std::ptr::copy_nonoverlapping(records.as_ptr(), ptr, records.len()) };
    server.bridge().respond(records.len()).unwrap();
}

fn answer(
    server: &Server,
    lock: &Mutex<()>,
    id: u64,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut out = Vec::new();
    record::encode_response(KIND_RESPOND, status, id, headers, body, &mut out);
    respond(server, lock, &out);
}

fn consume(
    server: Arc<Server>,
    outbox: Arc<Mutex<()>>,
    seen: Arc<AtomicU64>,
    aborts: Arc<AtomicU64>,
) {
    let bridge = server.bridge();
    loop {
        let polled = server.turn(0).unwrap();
        if polled == 0 {
            match server.park(Duration::from_millis(200)) {
                0 => return,
                _ => continue,
            }
        }
        let (ptr, _) = bridge.inbox((polled >> 32) as usize).unwrap();
        let len = (polled & 0xffff_ffff) as usize;
        let batch = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
        for req in record::decode_requests(&batch).unwrap() {
            if req.kind == KIND_ABORT {
                aborts.fetch_add(1, Ordering::Relaxed);
                let mut out = Vec::new();
                record::encode_response(KIND_RELEASE, 0, req.id, &[], b"", &mut out);
                respond(&server, &outbox, &out);
                continue;
            }
            seen.fetch_add(1, Ordering::Relaxed);
            route(&server, &outbox, req);
        }
    }
}

fn route(server: &Arc<Server>, outbox: &Arc<Mutex<()>>, req: RequestView) {
    let path = req.url.splitn(4, '/').nth(3).unwrap_or("").to_string();
    let id = req.id;
    match path.split('?').next().unwrap() {
        "hang" => {}
        "sleep" => {
            let (server, outbox) = (Arc::clone(server), Arc::clone(outbox));
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(300));
                answer(&server, &outbox, id, 200, &[], b"slept");
            });
        }
        "stream" => {
            let mut out = Vec::new();
            record::encode_response(
                KIND_RESPOND_STREAM,
                200,
                id,
                &[("content-type", "text/plain")],
                b"",
                &mut out,
            );
            respond(server, outbox, &out);
            let server = Arc::clone(server);
            thread::spawn(move || {
                for i in 0..3 {
                    server
                        .bridge()
                        .write(id, format!("chunk{i};").as_bytes())
                        .unwrap();
                }
                server.bridge().write(id, b"").unwrap();
            });
        }
        "cookies" => answer(
            server,
            outbox,
            id,
            200,
            &[("set-cookie", "a=1"), ("set-cookie", "b=2")],
            b"",
        ),
        _ if req.flags & FLAG_BODY_STREAMED != 0 => {
            let (server, outbox) = (Arc::clone(server), Arc::clone(outbox));
            thread::spawn(move || {
                let mut total = 0usize;
                let mut buf = vec![0u8; 64 * 1024];
                let result = loop {
                    match server.bridge().read(id, &mut buf) {
                        Ok(0) => break Ok(total),
                        Ok(n) => total += n,
                        Err(e) => break Err(e),
                    }
                };
                if let Ok(total) = result {
                    answer(
                        &server,
                        &outbox,
                        id,
                        200,
                        &[],
                        format!("streamed {total}").as_bytes(),
                    );
                }
            });
        }
        _ => {
            let body_len = if req.flags & FLAG_BODY_BUFFERED != 0 {
                let body = unsafe {
                    std::slice::from_raw_parts(req.body_addr as *const u8, req.body_len as usize)
                };
                body.len()
            } else {
                0
            };
            let text = format!(
                "{} {} body={} trace={} parent={} remote={}",
                req.method, req.url, body_len, req.ids[1], req.ids[3], req.remote.0
            );
            answer(
                server,
                outbox,
                id,
                200,
                &[("x-request-id", &req.ids[0])],
                text.as_bytes(),
            );
        }
    }
}

/// Sends `request` on a new connection and reads until the server closes it.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn serves_requests_with_trace_ids_and_remote_address() {
    let c = Consumer::start(ServeOptions::default());
    let response = get(c.addr(), "/hello?x=1");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("GET http://test/hello?x=1 body=0"),
        "{response}"
    );
    assert!(response.contains("remote=127.0.0.1"), "{response}");
    assert!(response.contains("x-request-id: "), "{response}");
    let traced = exchange(
        c.addr(),
        b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
    );
    assert!(
        traced.contains("trace=4bf92f3577b34da6a3ce929d0e0e4736 parent=00f067aa0ba902b7"),
        "{traced}"
    );
    c.stop();
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let c = Consumer::start(ServeOptions::default());
    let mut stream = TcpStream::connect(c.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /a HTTP/1.1\r\nhost: t\r\n\r\nGET /b HTTP/1.1\r\nhost: t\r\n\r\nGET /c HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let a = out.find("http://t/a").unwrap();
    let b = out.find("http://t/b").unwrap();
    let cc = out.find("http://t/c").unwrap();
    assert!(a < b && b < cc, "{out}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3);
    c.stop();
}

#[test]
fn bodies_arrive_buffered_chunked_and_after_100_continue() {
    let c = Consumer::start(ServeOptions::default());
    let sized = exchange(
        c.addr(),
        b"POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    );
    assert!(sized.contains("body=5"), "{sized}");
    let chunked = exchange(
        c.addr(),
        b"POST /p HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    );
    assert!(chunked.contains("body=7"), "{chunked}");
    let mut stream = TcpStream::connect(c.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"xyz").unwrap();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    // Buffered when the body follows within the arrival gap, streamed to the already
    // started handler otherwise; either way all of it arrives.
    assert!(
        rest.contains("body=3") || rest.contains("streamed 3"),
        "{rest}"
    );
    let cookies = get(c.addr(), "/cookies");
    assert_eq!(cookies.matches("set-cookie:").count(), 2, "{cookies}");
    c.stop();
}

#[test]
fn bad_input_is_answered_by_the_kernel_alone() {
    let c = Consumer::start(ServeOptions {
        max_body_size: 1000,
        max_header_size: 8192,
        ..Default::default()
    });
    let malformed = exchange(c.addr(), b"GET / HTTP/1.1\r\nbad header line\r\n\r\n");
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    let garbage = exchange(
        c.addr(),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
    );
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let huge = exchange(c.addr(), huge.as_bytes());
    assert!(huge.starts_with("HTTP/1.1 431"), "{huge}");
    let big_body = exchange(
        c.addr(),
        b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 1001\r\n\r\n",
    );
    assert!(big_body.starts_with("HTTP/1.1 413"), "{big_body}");
    let mut chunked = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("1f4\r\n{}\r\n", "b".repeat(500)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let chunked = exchange(c.addr(), &chunked);
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert_eq!(
        c.requests_seen.load(Ordering::Relaxed),
        0,
        "nothing reached the consumer"
    );
    assert!(get(c.addr(), "/still-alive").contains("200 OK"));
    c.stop();
}

#[test]
fn a_request_past_its_deadline_gets_503_and_frees_its_slot() {
    let c = Consumer::start(ServeOptions {
        request_timeout_ms: 200,
        ..Default::default()
    });
    let start = Instant::now();
    let response = get(c.addr(), "/hang");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(start.elapsed() >= Duration::from_millis(200));
    wait_until("the slot to be released", || {
        c.server.bridge().in_flight() == 0
    });
    assert_eq!(c.aborts_seen.load(Ordering::Relaxed), 1);
    assert_eq!(c.server.stats().timeouts_total, 1);
    // A client that sends its body too slowly gets 408 instead.
    let mut slow = TcpStream::connect(c.addr()).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nab")
        .unwrap();
    let mut out = String::new();
    slow.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    c.stop();
}

#[test]
fn a_client_that_disconnects_aborts_its_request() {
    let c = Consumer::start(ServeOptions::default());
    let mut stream = TcpStream::connect(c.addr()).unwrap();
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    wait_until("the request to arrive", || {
        c.requests_seen.load(Ordering::Relaxed) == 1
    });
    drop(stream);
    wait_until("the abort", || c.aborts_seen.load(Ordering::Relaxed) == 1);
    wait_until("the slot to be released", || {
        c.server.bridge().in_flight() == 0
    });
    assert_eq!(c.server.stats().aborted_total, 1);
    c.stop();
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let c = Consumer::start(ServeOptions::default());
    let addr = c.addr();
    let pending = thread::spawn(move || get(addr, "/sleep"));
    wait_until("the request to arrive", || {
        c.requests_seen.load(Ordering::Relaxed) == 1
    });
    c.server.shutdown();
    let response = pending.join().unwrap();
    assert!(response.ends_with("slept"), "{response}");
    // The consumer thread ends because the bridge closed once the connection finished.
    let Consumer { thread, .. } = c;
    thread.unwrap().join().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
}

#[test]
fn bodies_stream_both_ways() {
    let c = Consumer::start(ServeOptions {
        buffer_body_limit: 1024,
        ..Default::default()
    });
    let streamed = get(c.addr(), "/stream");
    assert!(
        streamed.contains("transfer-encoding: chunked"),
        "{streamed}"
    );
    assert!(
        streamed.contains("chunk0;") && streamed.contains("chunk2;"),
        "{streamed}"
    );
    let body = vec![b'z'; 300_000];
    let mut request = format!(
        "POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let up = exchange(c.addr(), &request);
    assert!(up.ends_with("streamed 300000"), "{up}");
    let mut chunked =
        b"POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..10 {
        chunked.extend_from_slice(format!("3e8\r\n{}\r\n", "c".repeat(1000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let up = exchange(c.addr(), &chunked);
    assert!(up.ends_with("streamed 10000"), "{up}");
    c.stop();
}

#[test]
fn http_1_0_head_and_the_field_limit_are_answered_as_deno_does() {
    let c = Consumer::start(ServeOptions::default());
    // HTTP/1.0 has no chunked encoding: a streamed body runs up to the close.
    let old = exchange(c.addr(), b"GET /stream HTTP/1.0\r\nhost: t\r\n\r\n");
    assert!(old.starts_with("HTTP/1.0 200 OK\r\n"), "{old}");
    assert!(!old.contains("transfer-encoding"), "{old}");
    assert!(old.ends_with("\r\n\r\nchunk0;chunk1;chunk2;"), "{old}");
    // HEAD: the length of the body that is not sent.
    let head = exchange(
        c.addr(),
        b"HEAD /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    );
    let (fields, body) = head.split_once("\r\n\r\n").unwrap();
    assert!(fields.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(fields.contains("content-length: "), "{head}");
    assert_eq!(body, "", "no body after a HEAD answer");
    // 128 fields are served, 129 refused with 400, as `Deno.serve` does.
    let fields = |n: usize| {
        let mut head = String::from("GET /f HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
        for i in 0..n - 2 {
            head.push_str(&format!("x-h{i}: v\r\n"));
        }
        head + "\r\n"
    };
    assert!(exchange(c.addr(), fields(128).as_bytes()).starts_with("HTTP/1.1 200 "));
    let refused = exchange(c.addr(), fields(129).as_bytes());
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");
    assert!(refused.contains("connection: close"), "{refused}");
    c.stop();
}

fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn http2_prior_knowledge_and_tls_with_alpn() {
    let c = Consumer::start(ServeOptions::default());
    let url = format!("http://{}/h2c", c.addr());
    let h2c = curl(&["--http2-prior-knowledge", &url]);
    assert!(h2c.starts_with("HTTP/2 200"), "{h2c}");
    assert!(h2c.contains(&format!("GET {url} body=0")), "{h2c}");
    c.stop();

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let c = Consumer::start(ServeOptions {
        cert_pem: cert.cert.pem(),
        key_pem: cert.signing_key.serialize_pem(),
        ..Default::default()
    });
    let url = format!("https://localhost:{}/tls", c.addr().port());
    let resolve = format!("localhost:{}:127.0.0.1", c.addr().port());
    let h2 = curl(&["-k", "--http2", "--resolve", &resolve, &url]);
    assert!(h2.starts_with("HTTP/2 200"), "{h2}");
    assert!(h2.contains("GET https://localhost"), "{h2}");
    let h1 = curl(&["-k", "--http1.1", "--resolve", &resolve, &url]);
    assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
    c.stop();
}

/// Reads TLS records off `sock` into `tls` until a whole answer (its head's
/// `content-length` of body) is in; the answer and how many application-data records
/// carried it.
fn tls_answer(tls: &mut rustls::ClientConnection, sock: &mut TcpStream) -> (String, usize) {
    let (mut plain, mut records) = (Vec::new(), 0);
    loop {
        let mut header = [0u8; 5];
        sock.read_exact(&mut header).unwrap();
        let mut record = header.to_vec();
        record.resize(
            5 + usize::from(u16::from_be_bytes([header[3], header[4]])),
            0,
        );
        sock.read_exact(&mut record[5..]).unwrap();
        // 23: application data (in TLS 1.3 also what carries post-handshake messages).
        records += usize::from(header[0] == 23);
        tls.read_tls(&mut record.as_slice()).unwrap();
        tls.process_new_packets().unwrap();
        let _ = tls.reader().read_to_end(&mut plain);
        let text = String::from_utf8_lossy(&plain).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("a sized answer")
                .parse()
                .unwrap();
            if body.len() >= length {
                return (text, records);
            }
        }
    }
}

/// A small answer over TLS leaves as one record: head and body are encrypted together
/// (a record each would cost a second seal and, written apart, a second send).
#[test]
fn a_small_tls_answer_is_one_record() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let c = Consumer::start(ServeOptions {
        cert_pem: cert.cert.pem(),
        key_pem: cert.signing_key.serialize_pem(),
        ..Default::default()
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(c.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).unwrap();
    }
    for i in 0..4 {
        let path = format!("/record-{i}");
        let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
        tls.writer().write_all(request.as_bytes()).unwrap();
        while tls.wants_write() {
            tls.write_tls(&mut sock).unwrap();
        }
        let (answer, records) = tls_answer(&mut tls, &mut sock);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains("GET https://") && answer.contains(&path),
            "{answer}"
        );
        // The first answer may follow the session tickets sent after the handshake.
        if i > 0 {
            assert_eq!(records, 1, "answer {i} came in {records} records: {answer}");
        }
    }
    c.stop();
}

#[test]
fn ten_thousand_mixed_requests_leave_no_residue() {
    let c = Consumer::start(ServeOptions {
        max_body_size: 1000,
        ..Default::default()
    });
    let addr = c.addr();
    let mut good = 0;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for i in 0..10_000 {
        if i % 10 == 0 {
            let bad = exchange(addr, b"GET /\x01 HTTP/1.1\r\n\r\n");
            assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
            continue;
        }
        if i % 10 == 5 {
            let big = exchange(
                addr,
                b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n",
            );
            assert!(big.starts_with("HTTP/1.1 413"), "{big}");
            continue;
        }
        stream
            .write_all(b"POST /k HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbody")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        good += 1;
    }
    // The last response is counted once hyper has finished writing it, which can be just
    // after the client read its bytes: wait for the counters to settle.
    let settle = Instant::now() + Duration::from_secs(10);
    let mut stats = c.server.stats();
    while (stats.responses_total != good || stats.requests_in_flight != 0)
        && Instant::now() < settle
    {
        std::thread::sleep(Duration::from_millis(10));
        stats = c.server.stats();
    }
    assert_eq!(stats.requests_total, good);
    assert_eq!(stats.responses_total, good);
    assert_eq!(stats.requests_in_flight, 0);
    assert_eq!(stats.body_bytes_lent, 0);
    c.stop();
}
