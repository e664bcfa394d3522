//! Kernel identity and live statistics, as control-plane messages.

use crate::proto::{KernelInfo, KernelStats};
use crate::{handle, shm, stats};

/// Capabilities compiled into this kernel, reported in [`KernelInfo::features`].
pub const FEATURES: &[&str] = &["handles", "shared-buffers", "protobuf-control-plane"];

/// Describes this kernel build. `abi_version` is supplied by the boundary crate, which owns it.
///
/// ```
/// let info = krepis_kernel::info::kernel_info(7);
/// assert_eq!(info.abi_version, 7);
/// assert!(!info.target.is_empty());
/// ```
pub fn kernel_info(abi_version: u32) -> KernelInfo {
    KernelInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        abi_version,
        target: env!("KREPIS_TARGET").to_string(),
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        profile: env!("KREPIS_PROFILE").to_string(),
    }
}

/// Current counters of the kernel.
pub fn kernel_stats() -> KernelStats {
    KernelStats {
        live_handles: handle::live_handles(),
        errors_reported: stats::errors_reported(),
        panics_caught: stats::panics_caught(),
        shared_bytes: shm::shared_bytes(),
        uptime_ms: stats::uptime_ms(),
    }
}
