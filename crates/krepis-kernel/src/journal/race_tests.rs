//! Symlink races: a path is checked when an operation is queued, then a symlink is planted
//! or swapped in before the operation is applied. Each test makes the swap for real
//! between `write`/`chmod` and the flush, and proves nothing outside the root changed.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;

struct Setup {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    root: PathBuf,
    outside: PathBuf,
    journal: Journal,
}

fn setup() -> Setup {
    let root_dir = tempfile::tempdir().unwrap();
    let outside_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path().canonicalize().unwrap();
    let outside = outside_dir.path().canonicalize().unwrap();
    let journal = Journal::with_options(
        &root,
        JournalOptions {
            linger: std::time::Duration::ZERO,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    Setup {
        _dirs: (root_dir, outside_dir),
        root,
        outside,
        journal,
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn refused(err: &KernelError) -> bool {
    matches!(
        err,
        KernelError::PermissionDenied(_) | KernelError::AlreadyExists(_)
    ) || err.to_string().contains("exists")
}

#[test]
fn a_new_file_is_never_written_through_a_symlink_planted_at_its_path() {
    let s = setup();
    let mut tx = s.journal.begin("race").unwrap();
    tx.write("new.txt", b"payload", None).unwrap();
    // Planted after the check, before the write.
    symlink(s.outside.join("victim.txt"), s.root.join("new.txt")).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(refused(&err), "{err}");
    assert!(
        entries(&s.outside).is_empty(),
        "nothing was created outside"
    );
    // Rolling back restores "absent": the planted link goes, its target is never touched.
    assert!(s.journal.history().unwrap().is_empty());
    assert!(fs::symlink_metadata(s.root.join("new.txt")).is_err());
}

#[test]
fn a_parent_directory_swapped_for_a_symlink_is_not_followed_out_of_the_root() {
    let s = setup();
    fs::create_dir(s.root.join("sub")).unwrap();
    let mut tx = s.journal.begin("race").unwrap();
    tx.write("sub/a.txt", b"payload", None).unwrap();
    fs::rename(s.root.join("sub"), s.root.join("sub.real")).unwrap();
    symlink(&s.outside, s.root.join("sub")).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, KernelError::PermissionDenied(_)), "{err}");
    assert!(
        entries(&s.outside).is_empty(),
        "nothing was written outside"
    );
    assert!(entries(&s.root.join("sub.real")).is_empty());
}

#[test]
fn a_directory_checked_earlier_in_the_transaction_is_checked_again_when_written() {
    let s = setup();
    fs::create_dir(s.root.join("sub")).unwrap();
    let mut tx = s.journal.begin("race").unwrap();
    tx.write("sub/a.txt", b"first", None).unwrap();
    tx.flush().unwrap(); // sub/ is now known to be a directory
    fs::rename(s.root.join("sub"), s.root.join("sub.real")).unwrap();
    symlink(&s.outside, s.root.join("sub")).unwrap();
    // Queued on the strength of the earlier check; refused when applied.
    let queued = tx.write("sub/b.txt", b"payload", None);
    let err = match queued {
        Ok(()) => tx.commit().unwrap_err(),
        Err(e) => {
            drop(tx);
            e
        }
    };
    assert!(matches!(err, KernelError::PermissionDenied(_)), "{err}");
    assert!(
        entries(&s.outside).is_empty(),
        "nothing was written outside"
    );
    // Rolling back sub/a.txt is refused too while sub/ leads outside; once the symlink
    // is gone, the next session finishes the rollback.
    fs::remove_file(s.root.join("sub")).unwrap();
    fs::rename(s.root.join("sub.real"), s.root.join("sub")).unwrap();
    let journal = Journal::open(&s.root).unwrap();
    assert!(journal.history().unwrap().is_empty());
    assert!(entries(&s.root.join("sub")).is_empty());
}

#[test]
fn a_chmod_never_follows_a_symlink_swapped_in_for_the_file() {
    let s = setup();
    fs::write(s.root.join("f.txt"), b"mine").unwrap();
    let secret = s.outside.join("secret");
    fs::write(&secret, b"theirs").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    let mut tx = s.journal.begin("race").unwrap();
    tx.chmod("f.txt", 0o777).unwrap();
    fs::remove_file(s.root.join("f.txt")).unwrap();
    symlink(&secret, s.root.join("f.txt")).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, KernelError::PermissionDenied(_)), "{err}");
    let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644, "the file outside kept its mode");
}

#[test]
fn a_replaced_file_is_not_written_through_a_symlink_swapped_in_for_it() {
    let s = setup();
    fs::write(s.root.join("f.txt"), b"mine").unwrap();
    let secret = s.outside.join("secret");
    fs::write(&secret, b"theirs").unwrap();
    let mut tx = s.journal.begin("race").unwrap();
    tx.write("f.txt", b"new", None).unwrap();
    fs::remove_file(s.root.join("f.txt")).unwrap();
    symlink(&secret, s.root.join("f.txt")).unwrap();
    // The new content is renamed over the link itself; the target is never opened.
    let _ = tx.commit();
    assert_eq!(fs::read(&secret).unwrap(), b"theirs");
}
