//! Bad command lines end in a usage error (exit code 2), never a panic or a
//! stack trace.

mod common;

use common::*;

#[test]
fn bad_arguments_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["init"],
        &["dev", "--no-such-flag"],
        &["dev", "does-not-exist.ts"],
        &["gen"],
        &["gen", "widget", "X"],
        &["gen", "command"],
        &["check", "--rules", "bogus"],
        &["check", "/definitely/not/a/dir"],
    ];
    for args in cases {
        let out = krepis()
            .args(*args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Usage:") || stderr.starts_with("error: "),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("    at "), "{args:?}: {stderr}");
    }
}
