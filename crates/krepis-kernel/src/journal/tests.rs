use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::*;
use crate::journal::state::mode_of;

/// What a tree looks like: path → `None` for a directory, or (content, mode) for a file.
type Tree = BTreeMap<String, Option<(Vec<u8>, u32)>>;

fn snapshot(root: &Path) -> Tree {
    fn walk(dir: &Path, prefix: &str, out: &mut Tree) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if prefix.is_empty() && name == ".krepis" {
                continue;
            }
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                out.insert(rel.clone(), None);
                walk(&entry.path(), &rel, out);
            } else {
                out.insert(rel, Some((fs::read(entry.path()).unwrap(), mode_of(&meta))));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, "", &mut out);
    out
}

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    (dir, journal)
}

#[test]
fn undo_and_redo_restore_content_mode_and_existence() {
    let (dir, journal) = journal();
    fs::write(dir.path().join("keep.txt"), b"original").unwrap();
    let before = snapshot(dir.path());
    let mut tx = journal.begin("edit").unwrap();
    tx.write("keep.txt", b"changed", Some(0o600)).unwrap();
    tx.write("new/deep/file.txt", b"new", None).unwrap();
    tx.mkdir("empty", false, None).unwrap();
    tx.commit().unwrap();
    let after = snapshot(dir.path());
    assert_eq!(after["keep.txt"], Some((b"changed".to_vec(), 0o600)));
    assert_eq!(
        after["new/deep/file.txt"],
        Some((b"new".to_vec(), DEFAULT_FILE_MODE))
    );

    let undone = journal.undo(1, false).unwrap();
    assert_eq!(undone[0].label, "edit");
    assert_eq!(snapshot(dir.path()), before);
    journal.redo(1, false).unwrap();
    assert_eq!(snapshot(dir.path()), after);
    let history = journal.history().unwrap();
    assert_eq!(history.len(), 1);
    assert!(!history[0].undone);
    assert_eq!(
        history[0].files,
        ["keep.txt", "new", "new/deep", "new/deep/file.txt", "empty"]
    );
}

#[test]
fn a_dropped_or_rolled_back_transaction_leaves_no_trace() {
    let (dir, journal) = journal();
    fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let before = snapshot(dir.path());
    let mut tx = journal.begin("oops").unwrap();
    tx.write("a.txt", b"b", None).unwrap();
    tx.remove("a.txt", false).unwrap();
    tx.write("x/y.txt", b"y", None).unwrap();
    tx.flush().unwrap();
    assert!(dir.path().join("x/y.txt").exists(), "flush applies");
    tx.rollback().unwrap();
    assert_eq!(snapshot(dir.path()), before);

    let mut tx = journal.begin("dropped").unwrap();
    tx.write("z.txt", b"z", None).unwrap();
    tx.flush().unwrap();
    drop(tx);
    assert_eq!(snapshot(dir.path()), before);
    assert!(journal.history().unwrap().is_empty());
}

#[test]
fn undo_refuses_files_changed_outside_and_force_overrides() {
    let (dir, journal) = journal();
    let mut tx = journal.begin("gen").unwrap();
    tx.write("a.txt", b"1", None).unwrap();
    tx.write("b.txt", b"2", None).unwrap();
    tx.commit().unwrap();
    fs::write(dir.path().join("b.txt"), b"edited by hand").unwrap();
    let err = journal.undo(1, false).unwrap_err();
    assert!(matches!(err, KernelError::Conflict(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("b.txt") && !message.contains("a.txt"),
        "{message}"
    );
    assert!(
        dir.path().join("a.txt").exists(),
        "a refused undo changes nothing"
    );
    journal.undo(1, true).unwrap();
    assert!(!dir.path().join("a.txt").exists());
    assert!(!dir.path().join("b.txt").exists());
}

#[test]
fn undo_refuses_to_empty_a_directory_someone_filled() {
    let (dir, journal) = journal();
    let mut tx = journal.begin("mkdir").unwrap();
    tx.mkdir("d", false, None).unwrap();
    tx.commit().unwrap();
    fs::write(dir.path().join("d/mine.txt"), b"mine").unwrap();
    let err = journal.undo(1, false).unwrap_err().to_string();
    assert!(err.contains("d/mine.txt"), "{err}");
    journal.undo(1, true).unwrap();
    assert_eq!(fs::read(dir.path().join("d/mine.txt")).unwrap(), b"mine");
}

#[test]
fn path_escapes_are_refused_and_nothing_is_recorded() {
    let (dir, journal) = journal();
    let outside = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
    let mut tx = journal.begin("evil").unwrap();
    let escape = outside.path().join("x").to_string_lossy().into_owned();
    for bad in [
        "../escape.txt",
        "a/../../escape.txt",
        escape.as_str(),
        "link/x",
        ".krepis/journal.lock",
    ] {
        let err = tx.write(bad, b"x", None).unwrap_err();
        assert!(
            matches!(err, KernelError::PermissionDenied(_)),
            "{bad}: {err}"
        );
    }
    assert!(tx.rename("link", "y").is_err());
    tx.commit().unwrap();
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
    assert!(journal.history().unwrap().is_empty());
}

#[test]
fn bad_operations_get_clear_errors() {
    let (dir, journal) = journal();
    fs::create_dir(dir.path().join("d")).unwrap();
    fs::write(dir.path().join("d/f"), b"f").unwrap();
    let mut tx = journal.begin("bad").unwrap();
    assert!(matches!(
        tx.remove("missing", false),
        Err(KernelError::NotFound(_))
    ));
    assert!(
        tx.remove("d", false)
            .unwrap_err()
            .to_string()
            .contains("not empty")
    );
    assert!(
        tx.write("d", b"x", None)
            .unwrap_err()
            .to_string()
            .contains("is a directory")
    );
    assert!(
        tx.write("d/f/g", b"x", None)
            .unwrap_err()
            .to_string()
            .contains("is a file")
    );
    assert!(matches!(
        tx.mkdir("d", false, None),
        Err(KernelError::AlreadyExists(_))
    ));
    assert!(matches!(
        tx.mkdir("p/q", false, None),
        Err(KernelError::NotFound(_))
    ));
    assert!(matches!(
        tx.rename("d", "e"),
        Err(KernelError::Unsupported(_))
    ));
    tx.commit().unwrap();
    assert!(matches!(
        journal.undo(1, false),
        Err(KernelError::NotFound(_))
    ));
    assert!(matches!(
        journal.undo(0, false),
        Err(KernelError::InvalidArgument(_))
    ));
}

/// Commits `count` transactions `t0..`, each rewriting `f.txt`.
fn commit_versions(journal: &Journal, count: usize) {
    for i in 0..count {
        let mut tx = journal.begin(&format!("t{i}")).unwrap();
        tx.write("f.txt", format!("v{i}").as_bytes(), None).unwrap();
        tx.commit().unwrap();
    }
}

fn labels(journal: &Journal) -> Vec<String> {
    journal
        .history()
        .unwrap()
        .into_iter()
        .map(|t| t.label)
        .collect()
}

#[test]
fn a_new_commit_discards_the_redo_stack_and_old_blobs() {
    let (_dir, journal) = journal();
    commit_versions(&journal, 3);
    journal.undo(2, false).unwrap();
    let mut tx = journal.begin("fork").unwrap();
    tx.write("g.txt", b"g", None).unwrap();
    tx.commit().unwrap();
    assert_eq!(labels(&journal), ["fork", "t0"]);
    assert!(matches!(
        journal.redo(1, false),
        Err(KernelError::NotFound(_))
    ));
}

#[test]
fn history_keeps_the_newest_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        keep: 2,
        ..Default::default()
    };
    let journal = Journal::with_options(dir.path(), options).unwrap();
    commit_versions(&journal, 4);
    assert_eq!(labels(&journal), ["t3", "t2"]);
}

#[test]
fn an_unfinished_transaction_is_rolled_back_on_open() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), b"before").unwrap();
    let before = snapshot(dir.path());
    {
        let journal = Journal::open(dir.path()).unwrap();
        let mut tx = journal.begin("killed").unwrap();
        tx.write("a.txt", b"after", None).unwrap();
        tx.write("b/c.txt", b"new", None).unwrap();
        tx.flush().unwrap();
        // Simulates a kill: no commit, no rollback, the lock and database just go away.
        std::mem::forget(tx);
    }
    // The forgotten transaction still holds its lock file descriptor and sled's lock, so
    // the "next process" opens the data through a copy of the directory.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(dir.path(), copy.path());
    assert_ne!(snapshot(copy.path()), before);
    Journal::open(copy.path()).unwrap();
    assert_eq!(snapshot(copy.path()), before);
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_second_journal_waits_for_the_first_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let impatient = JournalOptions {
        lock_timeout: Duration::from_millis(50),
        ..Default::default()
    };
    let b = Journal::with_options(dir.path(), impatient).unwrap();
    let a = Journal::open(dir.path()).unwrap(); // waits for b's parked session to go
    let tx = a.begin("long").unwrap();
    assert!(matches!(b.history(), Err(KernelError::Timeout(_))));
    drop(tx);
    // `a` keeps its session for the linger time, then lets go.
    let patient = Journal::open(dir.path()).unwrap();
    patient.history().unwrap();
    // Dropping a journal releases its parked session at once.
    drop((a, patient));
    b.history().unwrap();
}

#[test]
fn a_parked_session_is_reused_and_then_released() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let lock = dir.path().join(".krepis/journal.lock");
    // Parked after open: another process (here: a raw lock attempt) is kept out...
    assert!(super::lock::FileLock::try_acquire(&lock).unwrap().is_none());
    commit_versions(&journal, 2);
    // ...until the linger time has passed without use (polled: a loaded machine may
    // delay the reaper).
    let released = super::lock::wait_for(&lock, Duration::from_secs(10), || {
        super::lock::FileLock::try_acquire(&lock)
    });
    assert!(released.is_ok());
    drop(released);
    assert_eq!(labels(&journal), ["t1", "t0"]);
}

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &["a", "b", "d/x", "d/y", "d/e/z", "e"];
const DIRS: &[&str] = &["d", "d/e", "e", "f/g"];

/// The model: applies an operation to an in-memory tree the way the journal should, or
/// refuses it; returns whether it succeeded.
fn model_apply(tree: &mut Tree, op: &Op) -> bool {
    fn parents_ok(tree: &mut Tree, path: &str, create: bool) -> bool {
        let mut prefix = String::new();
        let parts: Vec<_> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match tree.get(&prefix) {
                Some(None) => {}
                Some(Some(_)) => return false,
                None if create => {
                    tree.insert(prefix.clone(), None);
                }
                None => return false,
            }
        }
        true
    }
    match op {
        Op::Write(path, content, mode) => {
            let mode = match (tree.get(*path), mode) {
                (Some(None), _) => return false,
                (_, Some(m)) => *m,
                (Some(Some((_, m))), None) => *m,
                (None, None) => DEFAULT_FILE_MODE,
            };
            if !parents_ok(&mut tree.clone(), path, true) {
                return false;
            }
            parents_ok(tree, path, true);
            tree.insert(path.to_string(), Some((content.clone(), mode)));
            true
        }
        Op::Remove(path) => match tree.get(*path) {
            None => false,
            Some(Some(_)) => {
                tree.remove(*path);
                true
            }
            Some(None) => {
                let prefix = format!("{path}/");
                tree.retain(|k, _| k != path && !k.starts_with(&prefix));
                true
            }
        },
        Op::Rename(from, to) => {
            let Some(Some(file)) = tree.get(*from).cloned() else {
                return false;
            };
            if from == to {
                return true;
            }
            if matches!(tree.get(*to), Some(None)) || !parents_ok(&mut tree.clone(), to, true) {
                return false;
            }
            parents_ok(tree, to, true);
            tree.remove(*from);
            tree.insert(to.to_string(), Some(file));
            true
        }
        Op::Mkdir(path) => match tree.get(*path) {
            Some(None) => true,
            Some(Some(_)) => false,
            None => {
                if !parents_ok(&mut tree.clone(), path, true) {
                    return false;
                }
                parents_ok(tree, path, true);
                tree.insert(path.to_string(), None);
                true
            }
        },
        Op::Chmod(path, mode) => match tree.get_mut(*path) {
            Some(Some((_, m))) => {
                *m = *mode;
                true
            }
            // Directory modes are applied but not compared (see PathState::matches).
            Some(None) => true,
            None => false,
        },
    }
}

#[derive(Debug)]
enum Op {
    Write(&'static str, Vec<u8>, Option<u32>),
    Remove(&'static str),
    Rename(&'static str, &'static str),
    Mkdir(&'static str),
    Chmod(&'static str, u32),
}

fn random_op(rng: &mut Rng) -> Op {
    const MODES: [u32; 3] = [0o644, 0o600, 0o755];
    match rng.below(6) {
        0 | 1 => {
            let len = rng.below(40);
            let content = (0..len).map(|_| b'a' + rng.below(3) as u8).collect();
            let mode = (rng.below(3) == 0).then(|| MODES[rng.below(3)]);
            Op::Write(rng.pick(NAMES), content, mode)
        }
        2 => Op::Remove(if rng.below(3) == 0 {
            rng.pick(DIRS)
        } else {
            rng.pick(NAMES)
        }),
        3 => Op::Rename(rng.pick(NAMES), rng.pick(NAMES)),
        4 => Op::Mkdir(rng.pick(DIRS)),
        _ => Op::Chmod(rng.pick(NAMES), MODES[rng.below(3)]),
    }
}

fn journal_apply(tx: &mut Transaction, op: &Op) -> bool {
    match op {
        Op::Write(path, content, mode) => tx.write(path, content, *mode),
        Op::Remove(path) => tx.remove(path, true),
        Op::Rename(from, to) => tx.rename(from, to),
        Op::Mkdir(path) => tx.mkdir(path, true, None),
        Op::Chmod(path, mode) => tx.chmod(path, *mode),
    }
    .is_ok()
}

/// Random transactions, rollbacks, undos and redos; after each step the disk must equal
/// the model, and undo/redo must walk exactly through the recorded versions.
#[test]
fn random_sequences_match_the_model() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (dir, journal) = journal();
        let root = dir.path();
        // versions[i] is the tree after i committed (and not undone) transactions.
        let mut versions = vec![Tree::new()];
        let mut current = 0usize;
        for step in 0..40 {
            let context = format!("seed {seed} step {step}");
            match rng.below(10) {
                0..=5 => {
                    let mut model = versions[current].clone();
                    let mut tx = journal.begin(&context).unwrap();
                    for _ in 0..1 + rng.below(6) {
                        let op = random_op(&mut rng);
                        let mut trial = model.clone();
                        let expected = model_apply(&mut trial, &op);
                        let got = journal_apply(&mut tx, &op);
                        assert_eq!(got, expected, "{context}: {op:?}");
                        if got {
                            model = trial;
                        }
                        if rng.below(3) == 0 {
                            tx.flush().unwrap();
                        }
                    }
                    if rng.below(5) == 0 {
                        tx.rollback().unwrap();
                        assert_eq!(snapshot(root), versions[current], "{context}: rollback");
                        continue;
                    }
                    // A transaction of no-ops (mkdir of an existing directory) leaves no trace.
                    let recorded = !tx.files().is_empty();
                    tx.commit().unwrap();
                    assert_eq!(snapshot(root), model, "{context}: commit");
                    if recorded {
                        versions.truncate(current + 1);
                        versions.push(model);
                        current += 1;
                    }
                }
                6..=7 if current > 0 => {
                    let steps = 1 + rng.below(current.min(3));
                    journal.undo(steps, false).unwrap();
                    current -= steps;
                    assert_eq!(snapshot(root), versions[current], "{context}: undo {steps}");
                }
                _ if current + 1 < versions.len() => {
                    journal.redo(1, false).unwrap();
                    current += 1;
                    assert_eq!(snapshot(root), versions[current], "{context}: redo");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn transaction_ids_count_up_by_one_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for round in 0..3 {
        // A fresh journal each round: the database is closed and opened again.
        let journal = Journal::with_options(
            dir.path(),
            JournalOptions {
                linger: std::time::Duration::ZERO,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        for i in 0..2 {
            let mut tx = journal.begin("t").unwrap();
            tx.write(&format!("f{round}{i}.txt"), b"x", None).unwrap();
            ids.push(tx.commit().unwrap());
        }
        // A rolled-back transaction leaves no gap.
        let mut tx = journal.begin("dropped").unwrap();
        tx.write("gone.txt", b"x", None).unwrap();
        tx.rollback().unwrap();
    }
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    // An undone transaction discarded by a new commit keeps its id retired.
    let journal = Journal::open(dir.path()).unwrap();
    journal.undo(1, false).unwrap();
    let mut tx = journal.begin("after undo").unwrap();
    tx.write("h.txt", b"x", None).unwrap();
    assert_eq!(tx.commit().unwrap(), 7);
}

#[test]
fn a_checked_write_refuses_a_file_that_changed_since_it_was_read() {
    let (dir, journal) = journal();
    fs::write(dir.path().join("app.ts"), b"v1").unwrap();
    let read = state::hash_hex(b"v1");
    fs::write(dir.path().join("app.ts"), b"v2 by someone else").unwrap();
    let mut tx = journal.begin("gen").unwrap();
    let err = tx
        .write_checked("app.ts", b"mine", None, Expect::Sha256(&read))
        .unwrap_err();
    assert!(matches!(err, KernelError::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains("its content is different now"),
        "{err}"
    );
    let err = tx
        .write_checked("app.ts", b"mine", None, Expect::Absent)
        .unwrap_err();
    assert!(err.to_string().contains("it exists now"), "{err}");
    tx.write_checked("new.ts", b"x", None, Expect::Absent)
        .unwrap();
    let current = state::hash_hex(b"v2 by someone else");
    tx.write_checked("app.ts", b"mine", None, Expect::Sha256(&current))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(fs::read(dir.path().join("app.ts")).unwrap(), b"mine");
}
