//! KNUL: Krepis's service-to-service calls over QUIC (quinn + rustls, TLS 1.3). The wire
//! format is specified in `docs/knul.md`.
//!
//! - [`frame`]: frames, the ALPN id, status codes.
//! - [`server`]: the endpoint, connections, stats, stopping.
//! - `call`: one call — admission before TypeScript, the hand-off, the answer.
//! - [`admission`]: per-tenant token buckets and concurrency caps.
//! - [`dispatch`]: the priority queue in front of a saturated TypeScript.
//! - [`client`]: calls from TypeScript to other servers, with 0-RTT for idempotent calls.
//! - [`record`]: the call and completion records on the shared-memory bridge.
//! - [`tls`]: server and client TLS configs, peer identity.
//! - [`sessions`]: the server's TLS session cache in sled (resumption across restarts).
//!
//! Calls reach TypeScript through the HTTP kernel's [`crate::http::Bridge`], reused as is.

pub mod admission;
mod call;
pub mod client;
pub mod dispatch;
pub mod frame;
pub mod record;
pub mod server;
pub mod sessions;
pub mod tls;

pub use client::Client;
pub use server::Server;
