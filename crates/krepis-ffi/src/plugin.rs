//! Plugin verification: the host asks the kernel to verify a plugin and to hand over the
//! verified bytes before anything of the plugin runs.

use std::path::Path;

use krepis_ffi_macros::export;
use krepis_kernel::plugin::{self, keys};
use krepis_kernel::{KernelError, Result};

use crate::guard;

/// Verifies the plugin in `dir` against `trusted` (newline-separated public keys, each a
/// `.pub` file's text or 64 hex digits) and stages the verified files into the empty private
/// directory `dest`. Writes `{"manifest":…,"signer":hex,"files":n}` (JSON) into `out` and
/// returns its length; staging happens once, so pass a buffer of at least 1 MiB.
#[export(nonblocking)]
fn krepis_plugin_verify(
    dir: *const u8,
    dir_len: f64,
    trusted: *const u8,
    trusted_len: f64,
    dest: *const u8,
    dest_len: f64,
    out: *mut u8,
    cap: f64,
) -> Result<f64> {
    let dir = unsafe { guard::utf8(dir, dir_len, "dir") }?;
    let trusted = unsafe { guard::utf8(trusted, trusted_len, "trusted keys") }?;
    let dest = unsafe { guard::utf8(dest, dest_len, "dest") }?;
    let keys = trusted
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(keys::parse_public)
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(KernelError::invalid(
            "no trusted keys given: a plugin is only loaded when signed by a trusted key",
        ));
    }
    let verified = plugin::verify_and_stage(Path::new(dir), &keys, Path::new(dest))?;
    let json = serde_json::json!({
        "manifest": verified.manifest,
        "signer": hex::encode(verified.signer.as_bytes()),
        "files": verified.files.len(),
    });
    let bytes = serde_json::to_vec(&json).map_err(|e| KernelError::Internal(e.to_string()))?;
    unsafe { guard::write_out(out, cap, &bytes) }
}
