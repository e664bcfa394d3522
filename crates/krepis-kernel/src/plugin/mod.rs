//! Plugins: a directory with a `krepis.plugin.json` manifest that declares the permissions
//! the plugin needs; signed by its publisher with ed25519 over every file, the manifest and
//! the static check result; verified here before anything runs, and staged from the verified
//! bytes into a private directory, which is what the host then loads.
//!
//! ```
//! use krepis_kernel::plugin::{keys, sign, verify_and_stage};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("krepis.plugin.json"), r#"{"name":"hello","version":"1.0.0",
//!   "entry":"mod.ts","kind":"behavior","permissions":{}}"#).unwrap();
//! std::fs::write(dir.path().join("mod.ts"), "export default () => ({});\n").unwrap();
//! let key = keys::generate().unwrap();
//! // What `krepis plugin check --json` reports: no errors, and the hashes of what it read.
//! let sha = |p: &str| {
//!     use sha2::Digest;
//!     hex::encode(sha2::Sha256::digest(std::fs::read(dir.path().join(p)).unwrap()))
//! };
//! let check = serde_json::json!({ "errors": 0, "manifestSha256": sha("krepis.plugin.json"),
//!   "files": [{ "path": "mod.ts", "sha256": sha("mod.ts") }] });
//! sign(dir.path(), &key, check).unwrap();
//! let private = tempfile::tempdir().unwrap();
//! let verified = verify_and_stage(dir.path(), &[key.verifying_key()], private.path()).unwrap();
//! assert_eq!(verified.manifest.name, "hello");
//! assert!(private.path().join("mod.ts").exists());
//! ```

pub mod keys;
mod manifest;
mod signature;
mod stage;
mod tree;

use std::path::Path;

use ed25519_dalek::VerifyingKey;

pub use manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, Permissions, PluginKind};
pub use signature::{FORMAT, SIGNATURE_FILE, SignatureFile, SignedFile, Verified, sign, verify};
pub use stage::stage;
pub use tree::{MAX_FILES, MAX_TOTAL_BYTES, PluginFile, read_tree};

use crate::Result;

/// Reads and validates the manifest of the plugin in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| crate::KernelError::io(format!("read {}", path.display()), e))?;
    Manifest::parse(&bytes)
}

/// Verifies the plugin in `dir` (see [`verify`]) and writes the verified bytes into the empty
/// private directory `dest` (see [`stage`]): what runs from `dest` is what was verified.
pub fn verify_and_stage(dir: &Path, trusted: &[VerifyingKey], dest: &Path) -> Result<Verified> {
    let verified = verify(dir, trusted)?;
    stage(&verified.files, dest)?;
    Ok(verified)
}
