//! Signing and verifying plugins on real directories: every kind of tampering is refused and
//! named, and staging hands over exactly the verified bytes.

use std::fs;
use std::path::Path;

use krepis_kernel::KernelError;
use krepis_kernel::plugin::{self, SIGNATURE_FILE, keys};
use serde_json::json;

const MANIFEST: &str = r#"{
  "name": "greeter",
  "version": "1.0.0",
  "entry": "mod.ts",
  "kind": "behavior",
  "permissions": { "read": [], "write": [], "net": [], "env": ["GREETING"], "run": false, "ffi": false, "sys": false }
}"#;

fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("krepis.plugin.json"), MANIFEST).unwrap();
    fs::write(
        dir.path().join("mod.ts"),
        "import { g } from \"./lib/g.ts\";\nexport default g;\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("lib")).unwrap();
    fs::write(
        dir.path().join("lib/g.ts"),
        "export const g = () => ({});\n",
    )
    .unwrap();
    dir
}

/// A clean check report over the module graph of `dir` (as `krepis plugin check --json`).
fn clean_check(dir: &Path) -> serde_json::Value {
    let sha = |p: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(fs::read(dir.join(p)).unwrap()))
    };
    json!({
        "errors": 0,
        "warnings": 0,
        "findings": [],
        "manifestSha256": sha("krepis.plugin.json"),
        "files": [
            { "path": "lib/g.ts", "sha256": sha("lib/g.ts") },
            { "path": "mod.ts", "sha256": sha("mod.ts") },
        ],
    })
}

fn signed() -> (tempfile::TempDir, ed25519_dalek::SigningKey) {
    let dir = plugin_dir();
    let key = keys::generate().unwrap();
    plugin::sign(dir.path(), &key, clean_check(dir.path())).unwrap();
    (dir, key)
}

fn refusal(dir: &Path, key: &ed25519_dalek::SigningKey) -> String {
    match plugin::verify(dir, &[key.verifying_key()]) {
        Err(KernelError::PermissionDenied(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_signed_plugin_verifies_with_its_files_and_manifest() {
    let (dir, key) = signed();
    let verified = plugin::verify(dir.path(), &[key.verifying_key()]).unwrap();
    assert_eq!(verified.manifest.permissions.env, ["GREETING"]);
    let paths: Vec<_> = verified.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["krepis.plugin.json", "lib/g.ts", "mod.ts"]);
    assert_eq!(verified.signer, key.verifying_key());
}

#[test]
fn one_changed_byte_is_refused_and_named() {
    let (dir, key) = signed();
    let path = dir.path().join("lib/g.ts");
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 1;
    fs::write(&path, bytes).unwrap();
    let message = refusal(dir.path(), &key);
    assert!(message.contains("changed file lib/g.ts"), "{message}");
}

#[test]
fn added_and_removed_files_are_refused_and_named() {
    let (dir, key) = signed();
    fs::write(dir.path().join("extra.ts"), "").unwrap();
    fs::remove_file(dir.path().join("lib/g.ts")).unwrap();
    let message = refusal(dir.path(), &key);
    assert!(message.contains("added file extra.ts"), "{message}");
    assert!(message.contains("removed file lib/g.ts"), "{message}");
}

#[test]
fn a_changed_permission_is_refused_and_named() {
    let (dir, key) = signed();
    let manifest = MANIFEST
        .replace(r#""read": []"#, r#""read": ["/etc/passwd"]"#)
        .replace(r#""run": false"#, r#""run": true"#);
    fs::write(dir.path().join("krepis.plugin.json"), manifest).unwrap();
    let message = refusal(dir.path(), &key);
    assert!(
        message.contains("changed file krepis.plugin.json"),
        "{message}"
    );
    assert!(
        message.contains(r#"permission read: added "/etc/passwd""#),
        "{message}"
    );
    assert!(
        message.contains("permission run: false -> true"),
        "{message}"
    );
}

#[test]
fn an_untrusted_signer_is_refused() {
    let (dir, _key) = signed();
    let other = keys::generate().unwrap();
    let message = refusal(dir.path(), &other);
    assert!(
        message.contains("not among the 1 trusted key(s)"),
        "{message}"
    );
}

#[test]
fn an_edited_signature_file_is_refused() {
    let (dir, key) = signed();
    let path = dir.path().join(SIGNATURE_FILE);
    // Re-list a changed file's hash in the signature itself: the signature no longer matches.
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("\"errors\": 0", "\"errors\": 0, \"x\": 1"),
    )
    .unwrap();
    let message = refusal(dir.path(), &key);
    assert!(message.contains("was altered"), "{message}");
    fs::write(&path, "{").unwrap();
    assert!(refusal(dir.path(), &key).contains("malformed"));
}

#[test]
fn an_unsigned_plugin_is_refused() {
    let dir = plugin_dir();
    let key = keys::generate().unwrap();
    let message = refusal(dir.path(), &key);
    assert!(message.contains("is not signed"), "{message}");
}

#[test]
fn signing_refuses_a_failed_check_and_a_missing_entry() {
    let dir = plugin_dir();
    let key = keys::generate().unwrap();
    let e = plugin::sign(dir.path(), &key, json!({ "errors": 2 })).unwrap_err();
    assert!(e.to_string().contains("reported 2 error(s)"), "{e}");
    assert!(!dir.path().join(SIGNATURE_FILE).exists());
    let check = clean_check(dir.path());
    fs::remove_file(dir.path().join("mod.ts")).unwrap();
    let e = plugin::sign(dir.path(), &key, check).unwrap_err();
    assert!(
        e.to_string()
            .contains("entry module mod.ts is not in the plugin"),
        "{e}"
    );
}

#[test]
fn signing_refuses_files_that_changed_after_the_check() {
    let dir = plugin_dir();
    let key = keys::generate().unwrap();
    let check = clean_check(dir.path());
    fs::write(
        dir.path().join("lib/g.ts"),
        "export const g = () => Deno.readTextFileSync(\"/etc/passwd\");\n",
    )
    .unwrap();
    let e = plugin::sign(dir.path(), &key, check).unwrap_err();
    assert!(
        e.to_string()
            .contains("file \"lib/g.ts\" changed after it was checked"),
        "{e}"
    );
    let mut partial = clean_check(dir.path());
    partial["files"] = json!([]);
    let e = plugin::sign(dir.path(), &key, partial).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not cover the entry module mod.ts"),
        "{e}"
    );
    assert!(!dir.path().join(SIGNATURE_FILE).exists());
}

#[test]
fn staging_copies_the_verified_bytes_and_later_changes_do_not_reach_them() {
    let (dir, key) = signed();
    let private = tempfile::tempdir().unwrap();
    plugin::verify_and_stage(dir.path(), &[key.verifying_key()], private.path()).unwrap();
    fs::write(dir.path().join("lib/g.ts"), "evil").unwrap();
    assert_eq!(
        fs::read_to_string(private.path().join("lib/g.ts")).unwrap(),
        "export const g = () => ({});\n"
    );
    // A non-empty destination is refused, so nothing planted there is loaded.
    let e = plugin::verify_and_stage(dir.path(), &[key.verifying_key()], private.path());
    assert!(e.is_err());
}
