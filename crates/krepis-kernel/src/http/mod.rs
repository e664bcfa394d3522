//! The HTTP kernel: hyper (HTTP/1.1, h2c and HTTP/2 over TLS with ALPN) on the kernel's own
//! tokio runtime, handing requests to TypeScript through shared-memory batches.
//!
//! - [`config`]: options, defaults and validation.
//! - [`server`]: accept loop, TLS, graceful shutdown, stats.
//! - [`runtime`]: the server's own tokio runtime, driven in turns from the JS thread.
//! - [`compress`]: automatic gzip/brotli compression of responses, as `Deno.serve` does.
//! - [`limits`]: idle connections, body pace, accept back-off and the memory ceiling.
//! - [`shared`]: the state the accept loop and every request share (below `service`).
//! - [`service`]: per-request limits (413, 408/503 on timeout), body reading, the hand-off.
//! - [`bridge`]: slots, the double inbox, the outbox, aborts, streamed bodies.
//! - [`record`]: the byte layout of request and response records.
//! - [`body`]: request body collection and the response body type.
//! - [`socket`]: noticing a client that hung up while its body waits.
//! - [`coalesce`]: small vectored writes (a whole small response) sent as one `send`.
//! - [`trace`]: request ids and W3C `traceparent` handling.
//! - [`static_files`]: mounted directories answered by the kernel alone.
//! - [`websocket`]: the WebSocket upgrade and framing, messages to and from TypeScript.
//! - [`validate`]: requests refused before TypeScript (400) and header normalisation.
//! - [`raw_heads`]: Deno's HTTP/1 parser over the raw bytes, for what hyper hides (CL + TE).
//!
//! Malformed requests (400) and oversize heads (431) are answered by hyper itself, so they
//! never reach TypeScript.

pub mod body;
pub mod bridge;
pub mod coalesce;
pub mod compress;
pub mod config;
pub mod deadline;
pub mod limits;
pub mod raw_heads;
pub mod record;
pub mod runtime;
pub mod server;
pub mod service;
pub mod shared;
pub mod socket;
pub mod static_files;
pub mod tls;
pub mod trace;
pub mod validate;
pub mod websocket;

pub use bridge::Bridge;
pub use config::ServerConfig;
pub use server::Server;
