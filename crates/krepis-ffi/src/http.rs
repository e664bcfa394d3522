//! The HTTP server: start, drive the request/response bridge, shut down.
//!
//! The hot path is `krepis_http_turn` (sync: submit responses, run the server, take
//! requests) and, only when a turn finds nothing, `krepis_http_wait` (nonblocking: run the
//! server on a blocking thread until there is work). `krepis_http_respond` submits responses
//! completed meanwhile. See `krepis_kernel::http::{runtime, bridge}`.

use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::http::{Server, ServerConfig};
use krepis_kernel::proto::ServeOptions;
use krepis_kernel::{HandleKind, HandleTable, KernelError, Result};

use crate::guard::{self, handle_arg, handle_ret, int_arg, len_arg};

static SERVERS: HandleTable<Server> = HandleTable::new(HandleKind::HttpServer);

pub(crate) fn server(handle: f64) -> Result<std::sync::Arc<Server>> {
    SERVERS.get(handle_arg(handle)?)
}

/// Starts a server from Protobuf `ServeOptions`, writes its Protobuf `BridgeLayout` (its
/// handle, the shared buffers and the owner's key, handed out only here) into `out`, and
/// returns the message's length. If anything fails after the bind, the server is stopped
/// and the port released before this returns.
#[export]
fn krepis_http_serve(options: *const u8, len: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let bytes = unsafe { guard::bytes(options, len) }?;
    let options: ServeOptions = prost::Message::decode(bytes)
        .map_err(|e| KernelError::invalid(format!("ServeOptions: {e}")))?;
    let server = Server::start(ServerConfig::from_options(&options)?)?;
    let mut layout = server.layout();
    // Dropping the server (when the table refuses it) stops it and closes the listener.
    let handle = SERVERS.insert(server)?;
    layout.handle = handle_ret(handle) as u64;
    match unsafe { guard::write_message(out, cap, &layout) } {
        Ok(written) if written <= cap => Ok(written),
        failed => {
            SERVERS.remove(handle)?.stop();
            Err(failed.err().unwrap_or_else(|| {
                KernelError::invalid(format!(
                    "the layout needs {} bytes, the buffer has {cap}",
                    prost::Message::encoded_len(&layout)
                ))
            }))
        }
    }
}

/// Writes the Protobuf `ServerAddress` into `out` and returns its length.
#[export]
fn krepis_http_address(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let address = server(handle)?.address();
    unsafe { guard::write_message(out, cap, &address) }
}

/// Writes the Protobuf `HttpStats` into `out` and returns its length.
#[export]
fn krepis_http_stats(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let stats = server(handle)?.stats();
    unsafe { guard::write_message(out, cap, &stats) }
}

/// One turn: submits `len` bytes of response records from the outbox, runs the server on
/// this thread until what is ready is done, and takes the waiting request records:
/// `length + inbox * 2^32`, or 0 when none wait.
#[export]
fn krepis_http_turn(handle: f64, len: f64) -> Result<f64> {
    Ok(server(handle)?.turn(len_arg(len, "length")?)? as f64)
}

/// Runs the server on this (blocking) thread until records wait (1), the server has shut
/// down (0) or `timeout_ms` passed (2).
#[export(nonblocking)]
fn krepis_http_wait(handle: f64, timeout_ms: f64) -> Result<f64> {
    let timeout = Duration::from_millis(int_arg(timeout_ms, "timeout")?);
    Ok(server(handle)?.park(timeout) as f64)
}

/// Submits `len` bytes of response records from the outbox; returns how many completed.
#[export]
fn krepis_http_respond(handle: f64, len: f64) -> Result<f64> {
    Ok(server(handle)?.bridge().respond(len_arg(len, "length")?)? as f64)
}

/// Lends `data` (TypeScript memory, not copied) as the body of the response about to be
/// submitted for request `id`. TypeScript keeps it alive and unchanged until a "returned"
/// notice with `token` arrives in the inbox, or until `krepis_http_close` returns.
#[export]
fn krepis_http_lend(handle: f64, id: f64, data: *const u8, len: f64, token: f64) -> Result<f64> {
    let len = len_arg(len, "length")?;
    let server = server(handle)?;
    unsafe {
        server.bridge().lend_body(
            int_arg(id, "request id")?,
            data,
            len,
            int_arg(token, "token")?,
        )
    }?;
    Ok(len as f64)
}

/// Sends a chunk of a streamed response (waiting while the client is slow); an empty
/// chunk ends the body.
#[export(nonblocking)]
fn krepis_http_write(handle: f64, id: f64, data: *const u8, len: f64) -> Result<f64> {
    let data = unsafe { guard::bytes(data, len) }?;
    server(handle)?
        .bridge()
        .write(int_arg(id, "request id")?, data)?;
    Ok(data.len() as f64)
}

/// Reads the next bytes of a streamed request body into `out`; 0 at the end.
#[export(nonblocking)]
fn krepis_http_read(handle: f64, id: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    if out.is_empty() {
        return Err(KernelError::invalid("read buffer is empty"));
    }
    Ok(server(handle)?
        .bridge()
        .read(int_arg(id, "request id")?, out)? as f64)
}

/// Starts a graceful shutdown: stop accepting, finish in-flight requests, then `wait`
/// reports 0.
#[export]
fn krepis_http_shutdown(handle: f64) -> Result<f64> {
    server(handle)?.shutdown();
    Ok(0.0)
}

/// Cuts off the streamed response of request `id` (its source failed): the client sees an
/// aborted response (HTTP/1.1: the connection closes before the last chunk; HTTP/2: the
/// stream is reset), never a complete-looking one.
#[export]
fn krepis_http_abort(handle: f64, id: f64) -> Result<f64> {
    server(handle)?.bridge().fail(int_arg(id, "request id")?)?;
    Ok(0.0)
}

/// Stops the server at once and releases its handle; returns once no connection is left,
/// so memory TypeScript lent may be let go. Only the owner may do this: `key` must be the
/// one `krepis_http_serve` handed out (anyone else gets an error and nothing changes), and
/// the owner detaches its views of kernel memory first.
#[export]
fn krepis_http_close(handle: f64, key: f64) -> Result<f64> {
    let handle = handle_arg(handle)?;
    if !SERVERS.get(handle)?.owned_by(int_arg(key, "key")?) {
        return Err(KernelError::PermissionDenied(
            "only the code that started this server may close it".into(),
        ));
    }
    SERVERS.remove(handle)?.stop();
    Ok(0.0)
}
