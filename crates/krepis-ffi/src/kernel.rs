//! Kernel identity, stats, error details and the deliberate-panic probe.

use krepis_ffi_macros::export;
use krepis_kernel::{KernelError, Result, info};

use crate::{ABI_VERSION, abi, errors, guard};

/// The C ABI version of this library; the TypeScript loader checks it before anything else.
#[export]
fn krepis_abi_version() -> u32 {
    krepis_kernel::stats::mark_loaded();
    ABI_VERSION
}

/// The fingerprint of every exported signature (generated into `abi.rs` by codegen); the
/// loader checks it right after the ABI version.
#[export]
fn krepis_abi_fingerprint() -> u32 {
    abi::ABI_FINGERPRINT
}

/// Writes the Protobuf `KernelInfo` into `out` and returns its length.
#[export]
fn krepis_kernel_info(out: *mut u8, cap: f64) -> Result<f64> {
    unsafe { guard::write_message(out, cap, &info::kernel_info(ABI_VERSION)) }
}

/// Writes the Protobuf `KernelStats` into `out` and returns its length.
#[export]
fn krepis_kernel_stats(out: *mut u8, cap: f64) -> Result<f64> {
    unsafe { guard::write_message(out, cap, &info::kernel_stats()) }
}

/// Writes the Protobuf `ErrorDetail` of `ticket` into `out` and returns its length; the
/// ticket is consumed once it fits. Returns -1 for an unknown or expired ticket.
#[export]
fn krepis_error_take(ticket: f64, out: *mut u8, cap: f64) -> f64 {
    let Ok(ticket) = guard::int_arg(ticket, "ticket") else {
        return -1.0;
    };
    errors::with_detail(ticket, |detail| {
        let encoded = prost::Message::encode_to_vec(detail);
        let written = unsafe { guard::write_out(out, cap, &encoded) }.unwrap_or(-1.0);
        (
            written,
            written >= 0.0 && written as usize == encoded.len() && encoded.len() as f64 <= cap,
        )
    })
    .unwrap_or(-1.0)
}

/// Panics on purpose with `message`, to prove that no panic crosses the boundary.
#[export]
fn krepis_debug_panic(message: *const u8, len: f64) -> Result<f64> {
    let message = unsafe { guard::utf8(message, len, "message") }?;
    if message.is_empty() {
        return Err(KernelError::invalid("panic message must not be empty"));
    }
    panic!("{message}");
}
