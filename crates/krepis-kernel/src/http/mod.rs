//! The HTTP kernel: HTTP/1.1 on `deno_http_h1` (the crate `Deno.serve` uses) driven by the
//! kernel itself, hyper for h2c and HTTP/2 over TLS (ALPN), on the kernel's own tokio
//! runtime, handing requests to TypeScript through shared-memory batches.
//!
//! - [`config`]: options, defaults and validation.
//! - [`server`]: accept loop, TLS, HTTP/1.1 or HTTP/2 per connection, graceful shutdown, stats.
//! - [`h1`]: the HTTP/1.1 connection driver on `deno_http_h1`.
//! - [`upgrade`]: a connection handed on with bytes already read (upgrades, the h2c sniff).
//! - [`runtime`]: the server's own tokio runtime, driven in turns from the JS thread.
//! - [`clock`]: the time requests are stamped with, read once per turn.
//! - [`compress`]: automatic gzip/brotli compression of responses, as `Deno.serve` does.
//! - [`limits`]: idle connections, body pace, accept back-off and the memory ceiling.
//! - [`shared`]: the state the accept loop and every request share (below `service`).
//! - [`service`]: per-request limits (413, 408/503 on timeout), body reading, the hand-off.
//! - [`bridge`]: slots, the double inbox, the outbox, aborts, streamed bodies.
//! - [`record`]: the byte layout of request and response records.
//! - [`body`]: request body collection and the response body type.
//! - [`borrowed`]: a large response body read from JavaScript memory only during the call
//!   that hands it over.
//! - [`socket`]: noticing a client that hung up while its body waits.
//! - [`coalesce`]: small vectored writes (a whole small response) sent as one `send`.
//! - [`trace`]: request ids and W3C `traceparent` handling.
//! - [`static_files`]: mounted directories answered by the kernel alone.
//! - [`websocket`]: the WebSocket upgrade and framing, messages to and from TypeScript.
//! - [`validate`]: requests refused before TypeScript (400) and header normalisation.
//!
//! Malformed requests (400) and oversize heads (431) are answered by the HTTP/1.1 driver
//! (hyper on HTTP/2), so they never reach TypeScript.

pub mod body;
pub mod borrowed;
pub mod bridge;
pub mod clock;
pub mod coalesce;
pub mod compress;
pub mod config;
pub mod deadline;
pub mod h1;
pub mod limits;
pub mod record;
pub mod runtime;
pub mod server;
pub mod service;
pub mod shared;
pub mod socket;
pub mod static_files;
pub mod tls;
pub mod trace;
pub mod upgrade;
pub mod validate;
pub mod websocket;

pub use bridge::Bridge;
pub use config::ServerConfig;
pub use server::Server;
