//! The KNUL server: a quinn endpoint on the kernel's own runtime; each call stream is read,
//! admitted (see `docs/knul.md` §6) and only then handed to TypeScript through a
//! [`Bridge`], whose response frames are written back to the stream.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quinn::Connection;

use super::admission::Tenants;
use super::call;
use super::dispatch::Dispatch;
use super::tls;
use crate::http::Bridge;
use crate::http::runtime::Host;
use crate::proto::{KnulServeOptions, KnulStats, ServerAddress};
use crate::{KernelError, Result};

/// Default largest `HEADER` payload.
pub const DEFAULT_MAX_HEADER: usize = 16 * 1024;
/// Default largest `MESSAGE` payload.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;
/// Default number of calls handed to TypeScript at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
const INBOX: usize = 1024 * 1024;
const OUTBOX: usize = 1024 * 1024;

/// A registered method.
#[derive(Clone, Copy)]
pub(super) struct Method {
    pub(super) idempotent: bool,
    pub(super) client_streaming: bool,
}

/// Counters (see `KnulStats` for their meaning).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) connections_total: AtomicU64,
    pub(super) connections_open: AtomicU64,
    pub(super) calls_total: AtomicU64,
    pub(super) dispatched: AtomicU64,
    pub(super) answered: AtomicU64,
    pub(super) rejected_deadline: AtomicU64,
    pub(super) rejected_unimplemented: AtomicU64,
    pub(super) rejected_rate: AtomicU64,
    pub(super) rejected_concurrency: AtomicU64,
    pub(super) rejected_oversize: AtomicU64,
    pub(super) rejected_protocol: AtomicU64,
    pub(super) rejected_early_data: AtomicU64,
    pub(super) expired_in_queue: AtomicU64,
    pub(super) expired_running: AtomicU64,
    pub(super) cancelled: AtomicU64,
    pub(super) early_data_calls: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) struct Shared {
    pub(super) methods: HashMap<String, Method>,
    pub(super) max_header: usize,
    pub(super) max_frame: usize,
    pub(super) tenants: Tenants,
    pub(super) dispatch: Dispatch,
    pub(super) bridge: Bridge,
    pub(super) counters: Counters,
}

/// A running KNUL server. Dropping it stops it at once.
pub struct Server {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    host: Host,
}

impl Server {
    /// Binds the UDP socket and starts serving. Bad TLS material, a bad address or a
    /// method listed twice are reported here.
    pub fn start(options: &KnulServeOptions) -> Result<Self> {
        let config = tls::server_config(options)?;
        let mut methods = HashMap::new();
        for m in &options.methods {
            if m.name.is_empty() {
                return Err(KernelError::invalid("a KNUL method needs a name"));
            }
            let method = Method {
                idempotent: m.idempotent,
                client_streaming: m.client_streaming,
            };
            if methods.insert(m.name.clone(), method).is_some() {
                return Err(KernelError::invalid(format!(
                    "KNUL method {:?} is listed twice",
                    m.name
                )));
            }
        }
        let or = |v: u32, d: usize| if v == 0 { d } else { v as usize };
        let hostname = if options.hostname.is_empty() {
            "127.0.0.1"
        } else {
            options.hostname.as_str()
        };
        let bind = if hostname.contains(':') {
            format!("[{hostname}]:{}", options.port)
        } else {
            format!("{hostname}:{}", options.port)
        };
        let socket =
            UdpSocket::bind(&bind).map_err(|e| KernelError::io(format!("bind udp {bind}"), e))?;
        let addr = socket
            .local_addr()
            .map_err(|e| KernelError::io("local_addr", e))?;
        let host = Host::start(1)?;
        let endpoint = {
            let _entered = host.handle().enter();
            quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(config),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| KernelError::io("start the quic endpoint", e))?
        };
        let shared = Arc::new(Shared {
            methods,
            max_header: or(options.max_header_bytes, DEFAULT_MAX_HEADER),
            max_frame: or(options.max_frame_bytes, DEFAULT_MAX_FRAME),
            tenants: Tenants::new(options.tenant_limits.as_ref()),
            dispatch: Dispatch::new(or(options.max_in_flight, DEFAULT_MAX_IN_FLIGHT)),
            bridge: Bridge::new(INBOX, OUTBOX)?,
            counters: Counters::default(),
        });
        let bell = Arc::clone(&shared);
        host.handle()
            .spawn(async move { bell.bridge.doorbell().await });
        host.handle()
            .spawn(accept_loop(Arc::clone(&shared), endpoint.clone()));
        Ok(Self {
            shared,
            endpoint,
            addr,
            host,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as a control-plane message (scheme `knul`).
    pub fn address(&self) -> ServerAddress {
        ServerAddress {
            hostname: self.addr.ip().to_string(),
            port: u32::from(self.addr.port()),
            scheme: "knul".into(),
        }
    }

    /// Where calls and responses cross over to TypeScript.
    pub fn bridge(&self) -> &Bridge {
        &self.shared.bridge
    }

    /// Live counters.
    pub fn stats(&self) -> KnulStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        KnulStats {
            connections_total: get(&c.connections_total),
            connections_open: get(&c.connections_open),
            calls_total: get(&c.calls_total),
            dispatched_total: get(&c.dispatched),
            answered_total: get(&c.answered),
            rejected_deadline: get(&c.rejected_deadline),
            rejected_unimplemented: get(&c.rejected_unimplemented),
            rejected_rate: get(&c.rejected_rate),
            rejected_concurrency: get(&c.rejected_concurrency),
            rejected_oversize: get(&c.rejected_oversize),
            rejected_protocol: get(&c.rejected_protocol),
            rejected_early_data: get(&c.rejected_early_data),
            expired_in_queue: get(&c.expired_in_queue),
            expired_running: get(&c.expired_running),
            cancelled_total: get(&c.cancelled),
            in_flight: self.shared.bridge.in_flight() as u64,
            queued: self.shared.dispatch.queued() as u64,
            early_data_calls: get(&c.early_data_calls),
        }
    }

    /// Stops at once: connections close with code 0, TypeScript's `wait` reports 0, and
    /// this returns once every task is gone.
    pub fn stop(&self) {
        self.endpoint.close(0u32.into(), b"server stopped");
        self.shared.bridge.close();
        self.host.stop();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.bridge.close();
    }
}

async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            // Server side this always succeeds: calls may arrive as 0-RTT early data, and
            // each stream says whether it did.
            let connection = match connecting.into_0rtt() {
                Ok((connection, _)) => connection,
                Err(connecting) => match connecting.await {
                    Ok(connection) => connection,
                    Err(_) => return,
                },
            };
            bump(&shared.counters.connections_total);
            shared
                .counters
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            serve_connection(&shared, connection).await;
            shared
                .counters
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_connection(shared: &Arc<Shared>, connection: Connection) {
    while let Ok((send, recv)) = connection.accept_bi().await {
        bump(&shared.counters.calls_total);
        let shared = Arc::clone(shared);
        let connection = connection.clone();
        tokio::spawn(call::serve(shared, connection, send, recv));
    }
}
