//! A real crash loop: a child process runs journaled multi-file transactions back to back
//! and is killed with SIGKILL at a random moment, over and over. After every kill the tree
//! must be exactly one version — the state before or after a transaction, never a mix —
//! once the journal is opened again (which rolls back the unfinished transaction).
//!
//! The child is this test binary itself, re-run with `KREPIS_CRASH_CHILD` set.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use krepis_kernel::journal::Journal;

const CHILD_ENV: &str = "KREPIS_CRASH_CHILD";
/// The line the child prints once its journal is open, so kill timing excludes start-up
/// (process start and journal recovery vary far more than a transaction on a loaded CI box).
const READY: &str = "krepis-crash-child-ready";
const FILES: usize = 20;
/// Kills per run; `KREPIS_CRASH_KILLS` raises it for a longer soak.
const KILLS: usize = 120;

fn content(version: u64, file: usize) -> Vec<u8> {
    let mut out = format!("v{version}:f{file}:").into_bytes();
    // Sizes vary per version so that a torn write could not hide behind equal lengths.
    out.resize(
        out.len() + ((version as usize * 37 + file * 101) % 6000),
        b'x',
    );
    out
}

fn extra(version: u64) -> String {
    format!("extra-{}.txt", version % 4)
}

/// Moves the tree from `version` to `version + 1` in one transaction, flushing several
/// times so that a kill can land between partially applied groups of changes.
fn advance(journal: &Journal, version: u64) {
    let next = version + 1;
    let mut tx = journal.begin(&format!("v{next}")).unwrap();
    for file in 0..FILES {
        tx.write(&format!("f{file:02}.txt"), &content(next, file), None)
            .unwrap();
        if file % 5 == 4 {
            tx.flush().unwrap();
        }
    }
    tx.rename(&extra(version), &extra(next)).unwrap();
    tx.chmod("f00.txt", if next % 2 == 1 { 0o600 } else { 0o644 })
        .unwrap();
    tx.commit().unwrap();
}

/// The version the tree is at, or a description of how it is mixed.
fn version_of(root: &Path) -> Result<u64, String> {
    let mut versions = BTreeMap::new();
    for file in 0..FILES {
        let bytes = fs::read(root.join(format!("f{file:02}.txt"))).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(20)]).into_owned();
        let version: u64 = text[1..text.find(':').unwrap()].parse().unwrap();
        if bytes != content(version, file) {
            return Err(format!("f{file:02} is torn"));
        }
        versions.entry(version).or_insert_with(Vec::new).push(file);
    }
    if versions.len() != 1 {
        return Err(format!(
            "mixed versions {:?}",
            versions.keys().collect::<Vec<_>>()
        ));
    }
    let version = *versions.keys().next().unwrap();
    let extras: Vec<_> = (0..4)
        .map(|i| format!("extra-{i}.txt"))
        .filter(|name| root.join(name).exists())
        .collect();
    if extras != [extra(version)] {
        return Err(format!("version {version} with extras {extras:?}"));
    }
    let mode = fs::metadata(root.join("f00.txt"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let want = if version % 2 == 1 { 0o600 } else { 0o644 };
    if version > 0 && mode != want {
        return Err(format!("version {version} with f00 mode {mode:o}"));
    }
    Ok(version)
}

/// The child: advance forever until killed.
#[test]
fn crash_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let journal = Journal::open(&root).unwrap();
    let mut version = version_of(Path::new(&root)).expect("the parent checked this");
    // The harness prints "test crash_child ... " before it, on the same line.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{READY}").unwrap();
    stdout.flush().unwrap();
    loop {
        advance(&journal, version);
        version += 1;
    }
}

/// xorshift64*, seeded from the clock; the seed is printed so a failure can be replayed.
fn rng() -> impl FnMut() -> u64 {
    let mut state = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash loop seed {state}");
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn sigkill_at_random_points_leaves_each_transaction_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut tx = Journal::open(root).unwrap().begin("v0").unwrap();
    for file in 0..FILES {
        tx.write(&format!("f{file:02}.txt"), &content(0, file), None)
            .unwrap();
    }
    tx.write(&extra(0), b"extra", None).unwrap();
    tx.commit().unwrap();

    let mut random = rng();
    let exe = std::env::current_exe().unwrap();
    // Runs the child until its journal is open, then `duration` more, then SIGKILLs it.
    let run_child_for = |duration: Duration| {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--test-threads=1", "--nocapture"])
            .env(CHILD_ENV, root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.any(|line| line.is_ok_and(|line| line.ends_with(READY)));
        assert!(ready, "the crash child exited before opening its journal");
        std::thread::sleep(duration);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    };
    // Calibrate: how long one transaction takes on this machine and build, once the
    // child is running; kills are spread over a few transactions' time.
    let calibration = Duration::from_millis(1500);
    run_child_for(calibration);
    Journal::open(root).unwrap();
    let versions = version_of(root).unwrap().max(1);
    let per_tx = (calibration.as_micros() as u64 / versions).max(1);
    eprintln!("calibration: {versions} transactions in {calibration:?}");

    let kills = std::env::var("KREPIS_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(KILLS);
    let (mut torn_before_recovery, mut last_version) = (0, 0);
    // At least `kills` kills; past that (up to 4×) until enough of them landed inside a
    // transaction and one after a commit, because on a loaded machine the calibrated
    // timing drifts either way.
    let needed = kills / 10 + 1;
    let mut kill = 0;
    while kill < kills || ((torn_before_recovery < needed || last_version == 0) && kill < kills * 4)
    {
        // Somewhere in the first few transactions after start-up.
        run_child_for(Duration::from_micros(random() % (per_tx * 4)));

        // What the kill left on disk, before anything repairs it.
        if version_of(root).is_err() {
            torn_before_recovery += 1;
        }
        let journal = Journal::open(root).unwrap_or_else(|e| panic!("after kill {kill}: {e}"));
        let version = version_of(root).unwrap_or_else(|mixed| panic!("after kill {kill}: {mixed}"));
        assert!(
            version >= last_version,
            "kill {kill}: went back to {version}"
        );
        // The history agrees with the tree: its newest entry is the version on disk.
        let newest = journal.history().unwrap()[0].label.clone();
        assert_eq!(newest, format!("v{version}"), "kill {kill}");
        last_version = version;
        kill += 1;
    }
    eprintln!(
        "{kill} kills; {torn_before_recovery} left a half-applied transaction that recovery rolled back; reached version {last_version}"
    );
    assert!(
        torn_before_recovery >= needed,
        "too few kills landed inside a transaction ({torn_before_recovery}) to prove anything"
    );
    assert!(last_version > 0, "the child never committed");
}
