//! KNUL servers and clients (see `krepis_kernel::knul` and `docs/knul.md`).
//!
//! Both hand work to TypeScript through a shared-memory bridge, like the HTTP server: a
//! sync `poll`, a `nonblocking` `wait` only when idle, and records written back in batches.

use std::sync::Arc;
use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::http::Bridge;
use krepis_kernel::knul::client::CallRequest;
use krepis_kernel::knul::{Client, Server};
use krepis_kernel::proto::{KnulConnectOptions, KnulServeOptions};
use krepis_kernel::{HandleKind, HandleTable, KernelError, Result};

use crate::guard::{self, handle_arg, handle_ret, int_arg, len_arg};

static SERVERS: HandleTable<Server> = HandleTable::new(HandleKind::KnulServer);
static CLIENTS: HandleTable<Client> = HandleTable::new(HandleKind::KnulClient);

fn server(handle: f64) -> Result<Arc<Server>> {
    SERVERS.get(handle_arg(handle)?)
}

fn client(handle: f64) -> Result<Arc<Client>> {
    CLIENTS.get(handle_arg(handle)?)
}

fn decode<M: prost::Message + Default>(ptr: *const u8, len: f64, what: &str) -> Result<M> {
    let bytes = unsafe { guard::bytes(ptr, len) }?;
    M::decode(bytes).map_err(|e| KernelError::invalid(format!("{what}: {e}")))
}

fn layout(bridge: &Bridge, out: *mut u8, cap: f64) -> Result<f64> {
    unsafe { guard::write_message(out, cap, &bridge.layout()) }
}

fn wait(bridge: &Bridge, timeout_ms: f64) -> Result<f64> {
    let timeout = Duration::from_millis(int_arg(timeout_ms, "timeout")?);
    Ok(bridge.wait(timeout) as f64)
}

/// Starts a KNUL server from Protobuf `KnulServeOptions` and returns its handle.
#[export]
fn krepis_knul_serve(options: *const u8, len: f64) -> Result<f64> {
    let options: KnulServeOptions = decode(options, len, "KnulServeOptions")?;
    Ok(handle_ret(SERVERS.insert(Server::start(&options)?)?))
}

/// Writes the server's Protobuf `ServerAddress` into `out` and returns its length.
#[export]
fn krepis_knul_address(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let address = server(handle)?.address();
    unsafe { guard::write_message(out, cap, &address) }
}

/// Writes the server's Protobuf `BridgeLayout` into `out`.
#[export]
fn krepis_knul_layout(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    layout(server(handle)?.bridge(), out, cap)
}

/// Writes the server's Protobuf `KnulStats` into `out`.
#[export]
fn krepis_knul_stats(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let stats = server(handle)?.stats();
    unsafe { guard::write_message(out, cap, &stats) }
}

/// Takes the waiting call records: `length + inbox * 2^32`, or 0.
#[export]
fn krepis_knul_poll(handle: f64) -> Result<f64> {
    Ok(server(handle)?.bridge().poll() as f64)
}

/// Parks until records wait (1), the server stopped (0) or `timeout_ms` passed (2).
#[export(nonblocking)]
fn krepis_knul_wait(handle: f64, timeout_ms: f64) -> Result<f64> {
    wait(server(handle)?.bridge(), timeout_ms)
}

/// Submits `len` bytes of response records from the outbox; returns how many completed.
#[export]
fn krepis_knul_respond(handle: f64, len: f64) -> Result<f64> {
    Ok(server(handle)?.bridge().respond(len_arg(len, "length")?)? as f64)
}

/// Sends response frames of a streaming response; an empty write ends it.
#[export(nonblocking)]
fn krepis_knul_write(handle: f64, id: f64, data: *const u8, len: f64) -> Result<f64> {
    let data = unsafe { guard::bytes(data, len) }?;
    server(handle)?
        .bridge()
        .write(int_arg(id, "call id")?, data)?;
    Ok(data.len() as f64)
}

/// Reads the next bytes (whole frames) of a streaming input into `out`; 0 at the end.
#[export(nonblocking)]
fn krepis_knul_read(handle: f64, id: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let cap = len_arg(cap, "capacity")?;
    if cap == 0 || out.is_null() {
        return Err(KernelError::invalid("read buffer is empty"));
    }
    let out = unsafe { std::slice::from_raw_parts_mut(out, cap) };
    Ok(server(handle)?
        .bridge()
        .read(int_arg(id, "call id")?, out)? as f64)
}

/// Stops the server at once and releases its handle. TypeScript detaches its views first.
#[export]
fn krepis_knul_close(handle: f64) -> Result<f64> {
    SERVERS.remove(handle_arg(handle)?)?.stop();
    Ok(0.0)
}

/// Creates a client from Protobuf `KnulConnectOptions` (it connects on first use).
#[export]
fn krepis_knul_client(options: *const u8, len: f64) -> Result<f64> {
    let options: KnulConnectOptions = decode(options, len, "KnulConnectOptions")?;
    Ok(handle_ret(CLIENTS.insert(Client::new(&options)?)?))
}

/// Connects now and waits for the handshake; writes the Protobuf `KnulConnectInfo`.
#[export(nonblocking)]
fn krepis_knul_connect(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let info = client(handle)?.connect()?;
    unsafe { guard::write_message(out, cap, &info) }
}

/// Writes the Protobuf `KnulConnectInfo` of the client's latest connection.
#[export]
fn krepis_knul_connect_info(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let info = client(handle)?.connect_info();
    unsafe { guard::write_message(out, cap, &info) }
}

/// Closes the client's connection; the next call reconnects (resuming the TLS session).
#[export(nonblocking)]
fn krepis_knul_disconnect(handle: f64) -> Result<f64> {
    client(handle)?.disconnect();
    Ok(0.0)
}

/// Writes the client's Protobuf `BridgeLayout` into `out`.
#[export]
fn krepis_knul_client_layout(handle: f64, out: *mut u8, cap: f64) -> Result<f64> {
    layout(client(handle)?.bridge(), out, cap)
}

/// Starts call `call_id`: `header` is an encoded `KnulHeader`, `frames` the request's
/// `MESSAGE` frames (framed by the caller); `flags` bit 1: idempotent (may travel in
/// 0-RTT), bit 2: hand each response message over as it arrives, bit 4: more input
/// follows through `krepis_knul_send`; `timeout_ms` 0: none.
#[export]
fn krepis_knul_call(
    handle: f64,
    call_id: f64,
    header: *const u8,
    header_len: f64,
    frames: *const u8,
    frames_len: f64,
    flags: u32,
    timeout_ms: f64,
) -> Result<f64> {
    let header = unsafe { guard::bytes(header, header_len) }?.to_vec();
    let frames = unsafe { guard::bytes(frames, frames_len) }?.to_vec();
    let timeout = int_arg(timeout_ms, "timeout")?;
    client(handle)?.call(CallRequest {
        call_id: int_arg(call_id, "call id")?,
        header,
        frames,
        idempotent: flags & 1 != 0,
        streaming: flags & 2 != 0,
        open_input: flags & 4 != 0,
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout)),
    });
    Ok(0.0)
}

/// Sends more `MESSAGE` frames of a call started with input open (waiting while the
/// server is slow); empty `frames` end the input.
#[export(nonblocking)]
fn krepis_knul_send(handle: f64, call_id: f64, frames: *const u8, len: f64) -> Result<f64> {
    let frames = unsafe { guard::bytes(frames, len) }?;
    client(handle)?.send(int_arg(call_id, "call id")?, frames)?;
    Ok(frames.len() as f64)
}

/// Cancels a running call (its stream is reset; no completion follows).
#[export]
fn krepis_knul_cancel(handle: f64, call_id: f64) -> Result<f64> {
    client(handle)?.cancel(int_arg(call_id, "call id")?);
    Ok(0.0)
}

/// Takes the waiting completion records: `length + inbox * 2^32`, or 0.
#[export]
fn krepis_knul_client_poll(handle: f64) -> Result<f64> {
    Ok(client(handle)?.bridge().poll() as f64)
}

/// Parks until completions wait (1), the client stopped (0) or `timeout_ms` passed (2).
#[export(nonblocking)]
fn krepis_knul_client_wait(handle: f64, timeout_ms: f64) -> Result<f64> {
    wait(client(handle)?.bridge(), timeout_ms)
}

/// Submits `len` bytes of release records (completions TypeScript is done reading).
#[export]
fn krepis_knul_client_release(handle: f64, len: f64) -> Result<f64> {
    Ok(client(handle)?.bridge().respond(len_arg(len, "length")?)? as f64)
}

/// Calls running on the client now.
#[export]
fn krepis_knul_client_running(handle: f64) -> Result<f64> {
    Ok(client(handle)?.running() as f64)
}

/// Stops the client and releases its handle. TypeScript detaches its views first.
#[export]
fn krepis_knul_client_close(handle: f64) -> Result<f64> {
    CLIENTS.remove(handle_arg(handle)?)?.stop();
    Ok(0.0)
}
