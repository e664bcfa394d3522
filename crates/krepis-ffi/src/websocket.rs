//! WebSockets of an HTTP server: accept an upgrade, receive events, send, close. See
//! `krepis_kernel::http::websocket`.

use krepis_ffi_macros::export;
use krepis_kernel::Result;

use crate::guard::{self, int_arg};
use crate::http::server;

/// Accepts the WebSocket request `id`: its 101 response will complete the handshake.
#[export]
fn krepis_ws_accept(handle: f64, id: f64) -> Result<f64> {
    server(handle)?
        .websockets()
        .accept(int_arg(id, "request id")?)?;
    Ok(0.0)
}

/// Waits for the next event of socket `id`; returns `payload length * 8 + kind` (1 open,
/// 2 text, 3 binary, 4 close, 5 failed) and keeps the event for `krepis_ws_take`.
#[export(nonblocking)]
fn krepis_ws_next(handle: f64, id: f64) -> Result<f64> {
    Ok(server(handle)?
        .websockets()
        .next(int_arg(id, "request id")?)? as f64)
}

/// Copies the kept event's payload into `out`; returns its length.
#[export]
fn krepis_ws_take(handle: f64, id: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    Ok(server(handle)?
        .websockets()
        .take(int_arg(id, "request id")?, out)? as f64)
}

/// Queues a message on socket `id`: text (`binary` 0, UTF-8) or binary (1).
#[export]
fn krepis_ws_send(handle: f64, id: f64, binary: f64, data: *const u8, len: f64) -> Result<f64> {
    let data = unsafe { guard::bytes(data, len) }?;
    server(handle)?
        .websockets()
        .send(int_arg(id, "request id")?, binary != 0.0, data)?;
    Ok(data.len() as f64)
}

/// Starts the closing handshake of socket `id` with `code` and a UTF-8 `reason`.
#[export]
fn krepis_ws_close(handle: f64, id: f64, code: f64, reason: *const u8, len: f64) -> Result<f64> {
    let reason = unsafe { guard::utf8(reason, len, "reason") }?;
    let code = u16::try_from(int_arg(code, "close code")?)
        .map_err(|_| krepis_kernel::KernelError::invalid("close code out of range"))?;
    server(handle)?
        .websockets()
        .close(int_arg(id, "request id")?, code, reason)?;
    Ok(0.0)
}

/// Bytes queued on socket `id` and not yet written.
#[export]
fn krepis_ws_buffered(handle: f64, id: f64) -> Result<f64> {
    Ok(server(handle)?
        .websockets()
        .buffered(int_arg(id, "request id")?)? as f64)
}
