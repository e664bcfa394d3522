//! The state a server shares between its accept loop, every request and the TypeScript
//! side. It sits below both [`super::server`] and [`super::service`] so that the server
//! depends on the service and never the other way round.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::bridge::Bridge;
use super::config::ServerConfig;
use super::limits::Budget;
use super::websocket::Sockets;

/// State shared by the accept loop, every request and the TypeScript side.
pub struct Shared {
    /// The validated configuration.
    pub config: ServerConfig,
    /// Where requests and responses cross over.
    pub bridge: Bridge,
    /// Requests the kernel answered by itself.
    pub rejected: AtomicU64,
    /// Requests that ran past the deadline.
    pub timeouts: AtomicU64,
    /// Memory held for buffered request bodies and unsent response data.
    pub budget: Arc<Budget>,
    /// Open WebSockets.
    pub sockets: Sockets,
    /// Connections closed for being idle.
    pub(super) idle_closed: AtomicU64,
    /// Connections accepted.
    pub(super) connections: AtomicU64,
    /// Connections open now.
    pub(super) open: AtomicU64,
}

impl Shared {
    /// Fresh state for a server with `config`, crossing over through `bridge`.
    pub fn new(config: ServerConfig, bridge: Bridge) -> Self {
        Shared {
            bridge,
            budget: Budget::new(config.max_buffered_memory),
            sockets: Sockets::default(),
            config,
            rejected: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            open: AtomicU64::new(0),
        }
    }
}
