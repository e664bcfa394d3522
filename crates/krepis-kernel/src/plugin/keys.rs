//! Ed25519 signing keys of plugin publishers, as one-line text files:
//! `krepis-plugin-secret-key ed25519 <hex seed>` (mode 0600) and
//! `krepis-plugin-public-key ed25519 <hex key>` (the `.pub` file).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{KernelError, Result};

const SECRET_TAG: &str = "krepis-plugin-secret-key ed25519 ";
const PUBLIC_TAG: &str = "krepis-plugin-public-key ed25519 ";

/// A fresh signing key from the operating system's random source.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| KernelError::Internal(format!("no random source: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The text of a public key file.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_TAG}{}\n", hex::encode(key.as_bytes()))
}

/// Where the public key of the secret key at `path` goes: `<path>.pub`.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair: the secret key to `path` (mode 0600) and the public key to
/// `<path>.pub`. Existing files are never overwritten.
pub fn write_key_pair(path: &Path) -> Result<VerifyingKey> {
    let public = public_path(path);
    if public.exists() {
        return Err(KernelError::AlreadyExists(format!(
            "{} exists; keys are never overwritten",
            public.display()
        )));
    }
    let key = generate()?;
    write_new(
        path,
        format!("{SECRET_TAG}{}\n", hex::encode(key.to_bytes())).as_bytes(),
        0o600,
    )?;
    write_new(
        &public,
        public_key_text(&key.verifying_key()).as_bytes(),
        0o644,
    )?;
    Ok(key.verifying_key())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let context = || format!("create {}", path.display());
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KernelError::AlreadyExists(format!(
                "{} exists; keys are never overwritten",
                path.display()
            )),
            _ => KernelError::io(context(), e),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| KernelError::io(context(), e))
}

fn decode32(text: &str, tag: &str, what: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    let hex_part = text.strip_prefix(tag).unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part.trim(), &mut out).map_err(|_| {
        KernelError::invalid(format!(
            "not a {what}: expected `{tag}<64 hex digits>` or 64 hex digits"
        ))
    })?;
    Ok(out)
}

/// Parses a public key: the text of a `.pub` file, or its 64 hex digits.
pub fn parse_public(text: &str) -> Result<VerifyingKey> {
    let bytes = decode32(text, PUBLIC_TAG, "krepis plugin public key")?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| KernelError::invalid(format!("not a valid ed25519 public key: {e}")))
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| KernelError::io(format!("read {}", path.display()), e))
}

/// Reads a secret key file written by [`write_key_pair`].
pub fn read_secret(path: &Path) -> Result<SigningKey> {
    let text = read_text(path)?;
    let seed = decode32(&text, SECRET_TAG, "krepis plugin secret key")
        .map_err(|e| KernelError::invalid(format!("{}: {e}", path.display())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key file (`<path>.pub` of [`write_key_pair`]).
pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    parse_public(&read_text(path)?)
        .map_err(|e| KernelError::invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_pair_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let public = write_key_pair(&path).unwrap();
        assert_eq!(read_secret(&path).unwrap().verifying_key(), public);
        assert_eq!(read_public(&public_path(&path)).unwrap(), public);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = write_key_pair(&path).unwrap_err();
        assert!(matches!(again, KernelError::AlreadyExists(_)), "{again}");
        assert_eq!(read_public(&public_path(&path)).unwrap(), public);
    }

    #[test]
    fn bare_hex_parses_and_garbage_is_refused() {
        let key = generate().unwrap().verifying_key();
        assert_eq!(parse_public(&hex::encode(key.as_bytes())).unwrap(), key);
        let e = parse_public("krepis-plugin-public-key ed25519 zz").unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }
}
