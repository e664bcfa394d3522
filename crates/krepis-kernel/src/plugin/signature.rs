//! Signing and verifying a plugin. The signature covers a canonical digest of the manifest
//! (with its permissions), the static check result, and every file (path and SHA-256); it is
//! stored beside the manifest in `krepis.plugin.sig`. Verification re-reads the directory and
//! names every difference: added, removed or changed files, and changed permissions.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::manifest::{MANIFEST_FILE, Manifest, Permissions};
use super::tree::{PluginFile, read_tree};
use crate::{KernelError, Result};

/// File name of the signature, beside the manifest.
pub const SIGNATURE_FILE: &str = "krepis.plugin.sig";

/// Format tag of the signature file and the first line of the signed digest text.
pub const FORMAT: &str = "krepis-plugin-signature/1";

/// One signed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedFile {
    /// Relative path, `/` separated.
    pub path: String,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// The content of `krepis.plugin.sig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// The signer's ed25519 public key, hex.
    pub public_key: String,
    /// SHA-256 of the canonical digest text, hex (what the signature signs).
    pub digest: String,
    /// The ed25519 signature of `digest`, hex.
    pub signature: String,
    /// The manifest as signed.
    pub manifest: Manifest,
    /// The result of `krepis plugin check` as signed (its `errors` count is 0).
    pub check: Value,
    /// Every file of the plugin except this one, sorted by path.
    pub files: Vec<SignedFile>,
}

/// A plugin whose signature checked out: its manifest, signer, and the verified file bytes.
#[derive(Debug)]
pub struct Verified {
    /// The signed (and current) manifest.
    pub manifest: Manifest,
    /// Who signed it.
    pub signer: VerifyingKey,
    /// The check result that was signed.
    pub check: Value,
    /// The files exactly as hashed during verification.
    pub files: Vec<PluginFile>,
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| KernelError::Internal(e.to_string()))
}

/// SHA-256 of the canonical digest text: the format line, the manifest and check result as
/// compact JSON, then one `file <sha256> <path>` line per file in path order.
fn digest(manifest: &Manifest, check: &Value, files: &[SignedFile]) -> Result<[u8; 32]> {
    let mut text = format!(
        "{FORMAT}\nmanifest {}\ncheck {}\n",
        to_json(manifest)?,
        to_json(check)?
    );
    for f in files {
        text.push_str(&format!("file {} {}\n", f.sha256, f.path));
    }
    Ok(Sha256::digest(text.as_bytes()).into())
}

fn listing(files: &[PluginFile]) -> Vec<SignedFile> {
    files
        .iter()
        .map(|f| SignedFile {
            path: f.path.clone(),
            sha256: f.sha256(),
        })
        .collect()
}

fn manifest_of(files: &[PluginFile]) -> Result<Manifest> {
    let file = files
        .iter()
        .find(|f| f.path == MANIFEST_FILE)
        .ok_or_else(|| KernelError::NotFound(format!("no {MANIFEST_FILE} in the plugin")))?;
    Manifest::parse(&file.bytes)
}

fn check_errors(check: &Value) -> Option<u64> {
    check.get("errors").and_then(Value::as_u64)
}

/// The check must have analysed exactly the bytes being signed: its `manifestSha256` and
/// every `files[] { path, sha256 }` entry must match the tree, and the entry must be among
/// them. Otherwise a file changed between the check and the signature.
fn check_matches(check: &Value, files: &[PluginFile], manifest: &Manifest) -> Result<()> {
    let hash_of = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .map(PluginFile::sha256)
    };
    let stale = |what: String| {
        KernelError::Conflict(format!(
            "{what} changed after it was checked; run the check again"
        ))
    };
    let manifest_hash = check.get("manifestSha256").and_then(Value::as_str);
    if manifest_hash.is_none() || manifest_hash.map(str::to_owned) != hash_of(MANIFEST_FILE) {
        return Err(stale(MANIFEST_FILE.to_string()));
    }
    let checked = check
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| KernelError::invalid("the check result lists no analysed files"))?;
    let mut entry_checked = false;
    for file in checked {
        let path = file.get("path").and_then(Value::as_str).unwrap_or("");
        let sha = file.get("sha256").and_then(Value::as_str);
        if sha.is_none() || sha.map(str::to_owned) != hash_of(path) {
            return Err(stale(format!("file {path:?}")));
        }
        entry_checked |= path == manifest.entry;
    }
    if !entry_checked {
        return Err(KernelError::invalid(format!(
            "the check result does not cover the entry module {}",
            manifest.entry
        )));
    }
    Ok(())
}

/// Signs the plugin in `dir` with `key`, binding `check` (the `krepis plugin check --json`
/// report, which must have `"errors": 0`), and writes `krepis.plugin.sig`.
pub fn sign(dir: &Path, key: &SigningKey, check: Value) -> Result<SignatureFile> {
    match check_errors(&check) {
        Some(0) => {}
        Some(n) => {
            return Err(KernelError::PermissionDenied(format!(
                "the static check reported {n} error(s); fix them before signing"
            )));
        }
        None => {
            return Err(KernelError::invalid(
                "the check result has no `errors` count",
            ));
        }
    }
    let files = read_tree(dir)?;
    let manifest = manifest_of(&files)?;
    if !files.iter().any(|f| f.path == manifest.entry) {
        return Err(KernelError::NotFound(format!(
            "the entry module {} is not in the plugin",
            manifest.entry
        )));
    }
    check_matches(&check, &files, &manifest)?;
    let signed = listing(&files);
    let digest = digest(&manifest, &check, &signed)?;
    let file = SignatureFile {
        format: FORMAT.into(),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        digest: hex::encode(digest),
        signature: hex::encode(key.sign(&digest).to_bytes()),
        manifest,
        check,
        files: signed,
    };
    let mut bytes =
        serde_json::to_vec_pretty(&file).map_err(|e| KernelError::Internal(e.to_string()))?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(".{SIGNATURE_FILE}.tmp"));
    let target = dir.join(SIGNATURE_FILE);
    fs::write(&tmp, &bytes)
        .and_then(|()| fs::rename(&tmp, &target))
        .map_err(|e| KernelError::io(format!("write {}", target.display()), e))?;
    Ok(file)
}

fn denied(message: String) -> KernelError {
    KernelError::PermissionDenied(message)
}

fn read_signature(dir: &Path) -> Result<SignatureFile> {
    let path = dir.join(SIGNATURE_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(denied(format!(
                "{} is not signed (no {SIGNATURE_FILE}); run `krepis plugin check` and `krepis plugin sign`",
                dir.display()
            )));
        }
        Err(e) => return Err(KernelError::io(format!("read {}", path.display()), e)),
    };
    let file: SignatureFile = serde_json::from_slice(&bytes)
        .map_err(|e| denied(format!("{SIGNATURE_FILE} is malformed: {e}")))?;
    if file.format != FORMAT {
        return Err(denied(format!(
            "{SIGNATURE_FILE} has format {:?}; this kernel reads {FORMAT:?}",
            file.format
        )));
    }
    Ok(file)
}

/// Checks that the stored signature signs the stored listing; returns the signer.
fn authentic(file: &SignatureFile) -> Result<VerifyingKey> {
    let altered = || {
        denied(format!(
            "{SIGNATURE_FILE} was altered: its signature does not match its contents"
        ))
    };
    let mut key = [0u8; 32];
    hex::decode_to_slice(&file.public_key, &mut key).map_err(|_| altered())?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| altered())?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&file.signature, &mut sig).map_err(|_| altered())?;
    let digest = digest(&file.manifest, &file.check, &file.files)?;
    key.verify(&digest, &Signature::from_bytes(&sig))
        .map_err(|_| altered())?;
    Ok(key)
}

fn permission_changes(signed: &Permissions, now: &Permissions) -> Vec<String> {
    let mut out = Vec::new();
    for (name, a, b) in [
        ("read", &signed.read, &now.read),
        ("write", &signed.write, &now.write),
        ("net", &signed.net, &now.net),
        ("env", &signed.env, &now.env),
    ] {
        for added in b.iter().filter(|x| !a.contains(x)) {
            out.push(format!("permission {name}: added {added:?}"));
        }
        for removed in a.iter().filter(|x| !b.contains(x)) {
            out.push(format!("permission {name}: removed {removed:?}"));
        }
    }
    for (name, a, b) in [
        ("run", signed.run, now.run),
        ("ffi", signed.ffi, now.ffi),
        ("sys", signed.sys, now.sys),
    ] {
        if a != b {
            out.push(format!("permission {name}: {a} -> {b}"));
        }
    }
    out
}

/// Every difference between what was signed and the files now present.
fn differences(signed: &SignatureFile, files: &[PluginFile]) -> Vec<String> {
    let was: BTreeMap<&str, &str> = signed
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let now: BTreeMap<&str, String> = files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256()))
        .collect();
    let mut out = Vec::new();
    for (path, sha) in &now {
        match was.get(path) {
            None => out.push(format!("added file {path}")),
            Some(old) if old != sha => out.push(format!("changed file {path}")),
            Some(_) => {}
        }
    }
    for path in was.keys().filter(|p| !now.contains_key(*p)) {
        out.push(format!("removed file {path}"));
    }
    if out.iter().any(|d| d.ends_with(MANIFEST_FILE)) {
        match manifest_of(files) {
            Ok(current) => {
                out.extend(permission_changes(
                    &signed.manifest.permissions,
                    &current.permissions,
                ));
                let mut a = signed.manifest.clone();
                let mut b = current;
                a.permissions = Permissions::default();
                b.permissions = Permissions::default();
                if a != b {
                    out.push("manifest fields other than permissions changed".into());
                }
            }
            Err(e) => out.push(format!("{MANIFEST_FILE} is no longer valid: {e}")),
        }
    }
    out
}

/// Verifies the plugin in `dir` against `trusted` keys. Refuses (`PermissionDenied`) an
/// unsigned plugin, an altered signature file, any difference between the signed and current
/// files or permissions (all named), an untrusted signer, or a failed check result.
pub fn verify(dir: &Path, trusted: &[VerifyingKey]) -> Result<Verified> {
    let files = read_tree(dir)?;
    let signed = read_signature(dir)?;
    let signer = authentic(&signed)?;
    let mut problems = differences(&signed, &files);
    if !trusted.contains(&signer) {
        problems.push(format!(
            "signed by key {}, which is not among the {} trusted key(s)",
            signed.public_key,
            trusted.len()
        ));
    }
    if check_errors(&signed.check) != Some(0) {
        problems.push("the signed check result reports errors".into());
    }
    if !problems.is_empty() {
        return Err(denied(format!(
            "plugin {} {} refused: {}",
            signed.manifest.name,
            signed.manifest.version,
            problems.join("; ")
        )));
    }
    Ok(Verified {
        manifest: signed.manifest,
        signer,
        check: signed.check,
        files,
    })
}
