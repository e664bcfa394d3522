//! A streamed KNUL answer is counted as answered once its STATUS frame is written, even when
//! the client leaves before the handler closes the stream: a real quinn client on 127.0.0.1
//! reads up to the status and drops its stream (quinn then sends STOP_SENDING), while the
//! handler, played by a thread, closes its side only after the server has counted the call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use krepis_kernel::http::record::{KIND_RESPOND_STREAM, encode_response};
use krepis_kernel::knul::Server;
use krepis_kernel::knul::frame::{self, code};
use krepis_kernel::proto::{KnulMethod, KnulServeOptions, KnulStats};

mod common;
use common::{certs, connect_options, request};

/// Polls the server's counters until `done` holds (10 s at most).
fn wait_for(server: &Server, done: impl Fn(&KnulStats) -> bool) -> KnulStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = server.stats();
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Plays TypeScript for one server-streaming call: a message and the OK status, and only
/// once the server has counted the call (or 10 s passed) the end of the stream.
fn stream_one_answer(server: &Server) {
    let bridge = server.bridge();
    let id = loop {
        assert!(bridge.wait(Duration::from_secs(10)) > 0, "a call arrives");
        let polled = bridge.poll();
        if polled == 0 {
            continue;
        }
        let (ptr, _) = bridge.inbox((polled >> 32) as usize).unwrap();
        let len = (polled & 0xffff_ffff) as usize;
        let batch = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert_eq!(batch[4], 4, "a call record");
        break f64::from_le_bytes(batch[8..16].try_into().unwrap()) as u64;
    };
    let mut out = Vec::new();
    encode_response(KIND_RESPOND_STREAM, 200, id, &[], &[], &mut out);
    let (optr, cap) = bridge.outbox();
    assert!(out.len() <= cap);
    unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), optr, out.len()) };
    bridge.respond(out.len()).unwrap();
    let mut frames = BytesMut::new();
    frame::put(&mut frames, frame::MESSAGE, b"1");
    frames.extend_from_slice(&frame::status(code::OK, ""));
    bridge.write(id, &frames).unwrap();
    wait_for(server, |s| s.answered_total + s.cancelled_total > 0);
    // The server may have let go of the stream already; TypeScript ignores that too.
    let _ = bridge.write(id, &[]);
}

#[test]
fn knul_client_leaving_after_the_status_is_answered_not_cancelled() {
    let certs = certs();
    let server = Arc::new(
        Server::start(&KnulServeOptions {
            cert_pem: certs.cert.clone(),
            key_pem: certs.key.clone(),
            methods: vec![KnulMethod {
                name: "count.up".into(),
                idempotent: false,
                client_streaming: false,
            }],
            ..Default::default()
        })
        .unwrap(),
    );
    let handler = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || stream_one_answer(&server))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connection = rt.block_on(async {
        let tickets: Arc<dyn rustls::client::ClientSessionStore> =
            Arc::new(rustls::client::ClientSessionMemoryCache::new(4));
        let config = krepis_kernel::knul::tls::client_config(
            &connect_options(&certs, server.addr().port()),
            tickets,
        )
        .unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        let connection = endpoint
            .connect(server.addr(), "localhost")
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&request("count.up", false)).await.unwrap();
        send.finish().unwrap();
        // Read up to the status, as the kernel's client does, then leave: dropping the
        // unfinished stream sends STOP_SENDING.
        let mut response = Vec::new();
        let ends_with_status = |bytes: &[u8]| {
            frame::split(bytes)
                .and_then(|f| f.last().map(|last| last.0 == frame::STATUS))
                .unwrap_or(false)
        };
        while !ends_with_status(&response) {
            let chunk = recv.read_chunk(1 << 16, true).await.unwrap();
            response.extend_from_slice(&chunk.expect("the status arrives").bytes);
        }
        drop(recv);
        connection
    });
    handler.join().unwrap();
    let stats = wait_for(&server, |s| s.in_flight == 0);
    assert_eq!(
        (stats.answered_total, stats.cancelled_total, stats.in_flight),
        (1, 0, 0),
        "{stats:?}"
    );
    connection.close(0u32.into(), b"");
    server.stop();
}
