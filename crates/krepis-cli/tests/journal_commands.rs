//! `krepis undo/redo/history` against a real journal in a temporary project.

use std::path::Path;
use std::process::{Command, Output};

use krepis_kernel::journal::Journal;

fn krepis(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_krepis"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    for (label, file, content) in [("first", "a.txt", "a"), ("second", "b.txt", "b")] {
        let mut tx = journal.begin(label).unwrap();
        tx.write(file, content.as_bytes(), None).unwrap();
        tx.commit().unwrap();
    }
    dir
}

#[test]
fn history_lists_newest_first_as_text_and_json() {
    let dir = project();
    let out = krepis(dir.path(), &["history"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<_> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("second (1 file)"), "{lines:?}");
    assert!(lines[1].contains("first (1 file)"), "{lines:?}");

    let out = krepis(dir.path(), &["history", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["label"], "second");
    assert_eq!(json[0]["files"][0], "b.txt");
    assert_eq!(json[1]["undone"], false);
}

#[test]
fn undo_and_redo_walk_the_history() {
    let dir = project();
    let out = krepis(dir.path(), &["undo", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("undid"));
    assert!(!dir.path().join("a.txt").exists() && !dir.path().join("b.txt").exists());
    let out = krepis(dir.path(), &["redo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("a.txt").exists() && !dir.path().join("b.txt").exists());
    let out = krepis(dir.path(), &["history", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["undone"], true);
}

#[test]
fn undo_refuses_outside_changes_until_forced() {
    let dir = project();
    std::fs::write(dir.path().join("b.txt"), "edited by hand").unwrap();
    let out = krepis(dir.path(), &["undo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("b.txt") && err.contains("--force"), "{err}");
    assert!(dir.path().join("b.txt").exists());
    let out = krepis(dir.path(), &["undo", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dir.path().join("b.txt").exists());
}

#[test]
fn bad_input_gets_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = krepis(empty.path(), &["undo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a Krepis project"),
        "{}",
        text(&out.stderr)
    );
    assert!(!empty.path().join(".krepis").exists(), "nothing is created");

    let dir = project();
    let out = krepis(dir.path(), &["undo", "5"]);
    assert!(
        text(&out.stderr).contains("2 available"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.path().join("b.txt").exists());
    let out = krepis(dir.path(), &["undo", "0"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses 0");
}
