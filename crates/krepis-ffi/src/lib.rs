//! The C-ABI boundary of the Krepis kernel.
//!
//! Every function here is declared with [`export`](krepis_ffi_macros::export), which runs
//! its body under a panic guard and turns errors into error tickets. The functions only
//! translate arguments and results; the logic lives in `krepis-kernel`. `tools/codegen`
//! reads this crate's source to emit the TypeScript bindings in `bindings/`.
//!
//! Conventions shared with the generated bindings:
//! - A fallible function returns a non-negative value on success and `-ticket` on failure;
//!   `krepis_error_take(ticket, …)` hands out the Protobuf `ErrorDetail` once.
//! - Objects are addressed by generation-checked `u64` handles (see `krepis_kernel::handle`).
//! - Variable-size results are written into a caller buffer: the call returns the full
//!   length, and writes only when it fits, so the caller can retry with a larger buffer.

pub mod abi;
pub mod buffer;
pub mod errors;
pub mod guard;
pub mod http;
pub mod journal;
pub mod kernel;
pub mod knul;
pub mod kv;
pub mod plugin;
pub mod websocket;

/// Version of the C ABI. Bump it on any change to an exported signature or convention;
/// the TypeScript loader refuses a library whose version differs from its bindings.
pub const ABI_VERSION: u32 = 6;
