//! The Krepis Sovereign Kernel.
//!
//! Plain Rust, testable with `cargo test` alone: everything the native library does lives
//! here, and `krepis-ffi` only translates between this crate and the C ABI. The `krepis`
//! CLI links this crate directly.
//!
//! ```
//! let info = krepis_kernel::info::kernel_info(1);
//! assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
//! ```

pub mod error;
pub mod handle;
pub mod http;
pub mod info;
pub mod journal;
pub mod knul;
pub mod kv;
pub mod plugin;
pub mod proto;
pub mod shm;
mod sled_open;
pub mod stats;

pub use error::{KernelError, Result};
pub use handle::{Handle, HandleKind, HandleTable};
