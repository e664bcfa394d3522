//! WebSockets of an HTTP server: accept an upgrade, receive events, send, close. See
//! `krepis_kernel::http::websocket`.

use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::Result;

use crate::guard::{self, int_arg};
use crate::http::server;

/// Accepts the WebSocket request `id`: its 101 response will complete the handshake.
/// `idle_ms` is Deno's `idleTimeout` in milliseconds (0: no pings).
#[export]
fn krepis_ws_accept(handle: f64, id: f64, idle_ms: f64) -> Result<f64> {
    let idle = int_arg(idle_ms, "idle timeout")?;
    let idle = (idle > 0).then(|| Duration::from_millis(idle));
    server(handle)?
        .websockets()
        .accept(int_arg(id, "request id")?, idle)?;
    Ok(0.0)
}

/// Copies the waiting events of all the server's sockets into `out` (see
/// `krepis_kernel::http::websocket::inbox` for the layout); returns the bytes written, 0
/// when none waits, or — a result larger than `cap` — the bytes the next event needs.
#[export]
fn krepis_ws_poll(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let out = unsafe { guard::bytes_mut(out, cap) }?;
    Ok(server(handle)?.websockets().poll(out) as f64)
}

/// Moves the first waiting event's head into `head` and its payload into `payload` when
/// the payload is exactly `payload_len` bytes (the size a `krepis_ws_poll` result larger
/// than its buffer asked for, less the head): 16, or 0 when the first event is not that one.
#[export]
fn krepis_ws_take(
    handle: f64,
    head: *mut u8,
    head_len: f64,
    payload: *mut u8,
    payload_len: f64,
) -> Result<f64> {
    let head = unsafe { guard::bytes_mut(head, head_len) }?;
    let payload = unsafe { guard::bytes_mut(payload, payload_len) }?;
    // Two views of one buffer would be two `&mut` to the same bytes.
    let (h, p) = (head.as_ptr_range(), payload.as_ptr_range());
    if !head.is_empty() && !payload.is_empty() && h.start < p.end && p.start < h.end {
        return Err(krepis_kernel::KernelError::invalid(
            "head and payload must not overlap",
        ));
    }
    Ok(server(handle)?.websockets().take(head, payload) as f64)
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
