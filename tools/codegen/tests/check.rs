//! `krepis-codegen --check` against a copy of the repository: it passes on the clean tree,
//! and fails with a diff (writing nothing) once a Rust export signature changes.
//! Needs `deno` on the PATH, like the generator itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A scratch copy of what the generator reads and writes.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for part in ["crates/krepis-ffi/src", "proto", "bindings"] {
        copy_dir(&repo_root().join(part), &dir.path().join(part));
    }
    let record = "crates/krepis-kernel/src/http/record.rs";
    std::fs::create_dir_all(dir.path().join(record).parent().unwrap()).unwrap();
    std::fs::copy(repo_root().join(record), dir.path().join(record)).unwrap();
    dir
}

fn codegen(root: &Path, check: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_krepis-codegen"));
    command.arg("--root").arg(root);
    if check {
        command.arg("--check");
    }
    command.output().expect("run krepis-codegen")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn edit(path: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(path).unwrap();
    assert!(source.contains(from), "{} lacks `{from}`", path.display());
    std::fs::write(path, source.replacen(from, to, 1)).unwrap();
}

#[test]
fn check_passes_on_the_clean_tree_and_fails_after_a_signature_change() {
    let repo = scratch_repo();
    let root = repo.path();
    let clean = codegen(root, true);
    assert!(
        clean.status.success(),
        "clean tree: {}{}",
        text(&clean.stdout),
        text(&clean.stderr)
    );
    assert!(text(&clean.stdout).contains("up to date"));

    edit(
        &root.join("crates/krepis-ffi/src/buffer.rs"),
        "fn krepis_buffer_len(handle: f64)",
        "fn krepis_buffer_len(handle: f64, flags: u32)",
    );
    let ffi_ts = root.join("bindings/ffi.ts");
    let abi_rs = root.join("crates/krepis-ffi/src/abi.rs");
    let before = std::fs::read_to_string(&ffi_ts).unwrap();
    let abi_before = std::fs::read_to_string(&abi_rs).unwrap();
    let stale = codegen(root, true);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale.stderr));
    let diff = text(&stale.stdout);
    assert!(
        diff.contains("--- bindings/ffi.ts") && diff.contains("+++ bindings/ffi.ts (generated)"),
        "{diff}"
    );
    assert!(
        diff.contains("-  krepis_buffer_len: { parameters: [\"f64\"], result: \"f64\" },"),
        "{diff}"
    );
    assert!(
        diff.contains("+  krepis_buffer_len: { parameters: [\"f64\", \"u32\"], result: \"f64\" },"),
        "{diff}"
    );
    assert!(diff.contains("+  bufferLen(handle: number, flags: number): number;"));
    // The fingerprint moves with the signature, in the bindings and in the FFI crate.
    assert!(
        diff.contains("-export const ABI_FINGERPRINT = 0x"),
        "{diff}"
    );
    assert!(
        diff.contains("--- crates/krepis-ffi/src/abi.rs")
            && diff.contains("-pub const ABI_FINGERPRINT: u32 = 0x")
            && diff.contains("+pub const ABI_FINGERPRINT: u32 = 0x"),
        "{diff}"
    );
    assert!(text(&stale.stderr).contains("run `deno task codegen`"));
    assert_eq!(
        std::fs::read_to_string(&ffi_ts).unwrap(),
        before,
        "--check must not write"
    );
    assert_eq!(std::fs::read_to_string(&abi_rs).unwrap(), abi_before);

    // Regenerating brings the bindings back in line with the sources.
    let write = codegen(root, false);
    assert!(write.status.success(), "{}", text(&write.stderr));
    assert!(codegen(root, true).status.success());
    assert!(
        std::fs::read_to_string(&ffi_ts)
            .unwrap()
            .contains("krepis_buffer_len: { parameters: [\"f64\", \"u32\"]")
    );
    assert_ne!(std::fs::read_to_string(&abi_rs).unwrap(), abi_before);
}

#[test]
fn a_record_layout_change_without_regeneration_fails_the_check() {
    let repo = scratch_repo();
    let root = repo.path();
    edit(
        &root.join("crates/krepis-kernel/src/http/record.rs"),
        "pub const REQ_URL_LEN: usize = 40;",
        "pub const REQ_URL_LEN: usize = 44;",
    );
    let stale = codegen(root, true);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale.stderr));
    let diff = text(&stale.stdout);
    assert!(
        diff.contains("--- bindings/http_records.ts")
            && diff.contains("-export const REQ_URL_LEN = 40;")
            && diff.contains("+export const REQ_URL_LEN = 44;"),
        "{diff}"
    );
    // The layout is part of the ABI fingerprint: a kernel built from the changed layout is
    // refused by bindings generated from the old one, and the other way round.
    assert!(
        diff.contains("--- crates/krepis-ffi/src/abi.rs")
            && diff.contains("-pub const ABI_FINGERPRINT: u32 = 0x"),
        "{diff}"
    );
}

#[test]
fn check_reports_files_the_generator_no_longer_produces() {
    let repo = scratch_repo();
    let leftover = repo.path().join("bindings/old_api.ts");
    std::fs::write(&leftover, "export const OLD = 1;\n").unwrap();
    let stale = codegen(repo.path(), true);
    assert_eq!(stale.status.code(), Some(1));
    assert!(text(&stale.stdout).contains("bindings/old_api.ts is not generated any more"));
    assert!(codegen(repo.path(), false).status.success());
    assert!(!leftover.exists());
}

#[test]
fn a_type_that_cannot_cross_the_boundary_is_a_clear_error() {
    let repo = scratch_repo();
    edit(
        &repo.path().join("crates/krepis-ffi/src/buffer.rs"),
        "fn krepis_buffer_len(handle: f64)",
        "fn krepis_buffer_len(handle: u64)",
    );
    let failed = codegen(repo.path(), true);
    assert_eq!(failed.status.code(), Some(2));
    let stderr = text(&failed.stderr);
    assert!(
        stderr.contains("krepis_buffer_len") && stderr.contains("BigInt"),
        "{stderr}"
    );
}
