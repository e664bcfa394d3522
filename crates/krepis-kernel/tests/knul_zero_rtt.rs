//! 0-RTT over KNUL with real quinn endpoints on 127.0.0.1: quinn's own report that the
//! server accepted the early data, the server refusing non-idempotent calls that arrive in
//! it, and session resumption from the sled session store after the server restarts.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use krepis_kernel::http::record::{KIND_RESPOND, encode_response};
use krepis_kernel::knul::frame::{self, code};
use krepis_kernel::knul::{Client, Server};
use krepis_kernel::proto::{KnulMethod, KnulServeOptions, KnulStatus};
use prost::Message;

mod common;
use common::{Certs, certs, connect_options, request};

/// Answers every call with the JSON string of its method, as TypeScript would.
fn consume(server: Arc<Server>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        loop {
            if server.bridge().wait(Duration::from_millis(50)) == 0 {
                return;
            }
            let polled = server.bridge().poll();
            if polled == 0 {
                continue;
            }
            let (ptr, _) = server.bridge().inbox((polled >> 32) as usize).unwrap();
            let len = (polled & 0xffff_ffff) as usize;
            let batch = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
            let mut out = Vec::new();
            let mut at = 0;
            while at < batch.len() {
                let rec_len = u32::from_le_bytes(batch[at..at + 4].try_into().unwrap()) as usize;
                let id = f64::from_le_bytes(batch[at + 8..at + 16].try_into().unwrap()) as u64;
                if batch[at + 4] == 4 {
                    let count = u16::from_le_bytes([batch[at + 6], batch[at + 7]]) as usize;
                    let method_len = u16::from_le_bytes([batch[at + 44], batch[at + 45]]) as usize;
                    let start = at + 56 + count * 8;
                    let method = std::str::from_utf8(&batch[start..start + method_len]).unwrap();
                    let mut frames = BytesMut::new();
                    frame::put(
                        &mut frames,
                        frame::MESSAGE,
                        format!("\"{method}\"").as_bytes(),
                    );
                    frames.extend_from_slice(&[frame::STATUS, 0, 0, 0, 0]);
                    encode_response(KIND_RESPOND, 200, id, &[], &frames, &mut out);
                }
                at += rec_len;
            }
            if !out.is_empty() {
                let (optr, cap) = server.bridge().outbox();
                assert!(out.len() <= cap);
                unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), optr, out.len()) };
                server.bridge().respond(out.len()).unwrap();
            }
        }
    })
}

fn serve(certs: &Certs, port: u32, store: &std::path::Path) -> (Arc<Server>, JoinHandle<()>) {
    let server = Arc::new(
        Server::start(&KnulServeOptions {
            port,
            cert_pem: certs.cert.clone(),
            key_pem: certs.key.clone(),
            session_store: store.to_string_lossy().into_owned(),
            methods: vec![
                KnulMethod {
                    name: "query".into(),
                    idempotent: true,
                    client_streaming: false,
                },
                KnulMethod {
                    name: "command".into(),
                    idempotent: false,
                    client_streaming: false,
                },
            ],
            ..Default::default()
        })
        .unwrap(),
    );
    let consumer = consume(Arc::clone(&server));
    (server, consumer)
}

fn status_of(response: &[u8]) -> (u32, Vec<u8>) {
    let frames = frame::split(response).expect("whole frames");
    let message = frames
        .iter()
        .find(|f| f.0 == frame::MESSAGE)
        .map(|f| f.1.to_vec())
        .unwrap_or_default();
    let status = frames
        .last()
        .filter(|f| f.0 == frame::STATUS)
        .expect("a status");
    (KnulStatus::decode(status.1).unwrap().code, message)
}

/// Waits until the client holds a session ticket for the next connection. Tickets come after
/// the handshake, so a connection closed at once may not have received one yet.
async fn ticket_arrived(tickets: &Arc<dyn rustls::client::ClientSessionStore>) {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    for _ in 0..500 {
        // Looking consumes the ticket, so it is put back at once.
        if let Some(ticket) = tickets.take_tls13_ticket(&name) {
            tickets.insert_tls13_ticket(name, ticket);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session ticket arrived within 5 s");
}

#[test]
fn zero_rtt_is_accepted_after_the_server_restarts_from_its_store_and_only_for_idempotent_calls() {
    let certs = certs();
    let store = tempfile::tempdir().unwrap();
    let (server, consumer) = serve(&certs, 0, store.path());
    let port = server.addr().port();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tickets: Arc<dyn rustls::client::ClientSessionStore> =
            Arc::new(rustls::client::ClientSessionMemoryCache::new(32));
        let config = krepis_kernel::knul::tls::client_config(
            &connect_options(&certs, port),
            Arc::clone(&tickets),
        )
        .unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        let addr = server.addr();

        // First connection: full handshake, no ticket yet; a call gets the tickets going.
        let connecting = endpoint.connect(addr, "localhost").unwrap();
        let connecting = match connecting.into_0rtt() {
            Ok(_) => panic!("no ticket yet, so no 0-RTT"),
            Err(connecting) => connecting,
        };
        let connection = connecting.await.unwrap();
        let (code, _) = call(&connection, "command", false).await;
        assert_eq!(code, code::OK);
        ticket_arrived(&tickets).await;
        connection.close(0u32.into(), b"");

        // The server restarts (same port, same session store): the ticket still resumes.
        server.stop();
        consumer.join().unwrap();
        drop(server);
        let (server, consumer) = serve(&certs, u32::from(port), store.path());

        let mut verdicts = Vec::new();
        for (method, idempotent) in [("query", true), ("query", false), ("command", true)] {
            let connecting = endpoint.connect(addr, "localhost").unwrap();
            let (connection, accepted) = connecting
                .into_0rtt()
                .unwrap_or_else(|_| panic!("a ticket is stored: 0-RTT is attempted"));
            // Sent before the handshake completes: this stream travels as early data.
            let (code, message) = call(&connection, method, idempotent).await;
            assert!(accepted.await, "quinn reports the server accepted 0-RTT");
            verdicts.push((method, idempotent, code, message));
            ticket_arrived(&tickets).await;
            connection.close(0u32.into(), b"");
        }
        assert_eq!(
            verdicts,
            vec![
                ("query", true, code::OK, b"\"query\"".to_vec()),
                ("query", false, code::FAILED_PRECONDITION, vec![]),
                ("command", true, code::FAILED_PRECONDITION, vec![]),
            ]
        );
        let stats = server.stats();
        assert_eq!(stats.early_data_calls, 1);
        assert_eq!(stats.rejected_early_data, 2);
        assert_eq!(
            stats.dispatched_total, 1,
            "refused early calls never reached the consumer"
        );

        // The kernel's own client: a new client in this process resumes with 0-RTT too.
        let client = Client::new(&connect_options(&certs, port)).unwrap();
        let first = client.connect().unwrap();
        assert!(!first.zero_rtt_attempted, "no ticket for this server yet");
        // Tickets arrive just after the handshake; reconnect until one was there, waiting
        // longer each time (50 ms up to 500 ms) for a loaded machine.
        let mut second = first;
        for attempt in 1..=40 {
            tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
            client.disconnect();
            second = client.connect().unwrap();
            if second.zero_rtt_attempted {
                break;
            }
        }
        assert!(
            second.zero_rtt_attempted && second.zero_rtt_accepted,
            "{second:?}"
        );
        client.stop();
        server.stop();
        consumer.join().unwrap();
    });
}

async fn call(connection: &quinn::Connection, method: &str, idempotent: bool) -> (u32, Vec<u8>) {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&request(method, idempotent)).await.unwrap();
    send.finish().unwrap();
    let response = recv.read_to_end(1 << 20).await.unwrap();
    status_of(&response)
}
