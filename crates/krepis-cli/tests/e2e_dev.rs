//! `krepis dev` end to end: hot reload of a TypeScript edit, a broken edit
//! that leaves the old process serving, and a SIGTERM that leaves no process
//! behind. Crash restarts are in `e2e_crash.rs`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn greet(port: u16) -> Option<String> {
    http(port, "POST", "/greet", Some(r#"{"name":"Ada"}"#)).map(|(_, body)| body)
}

fn edit(file: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(file).unwrap();
    assert!(source.contains(from), "{from:?} in {}", file.display());
    std::fs::write(file, source.replace(from, to)).unwrap();
}

#[test]
fn dev_reloads_edits_keeps_serving_through_a_broken_edit_and_cleans_up() {
    let (_tmp, app) = init_app(false);
    let port = free_port();
    let tag = format!("dev-{}", std::process::id());
    let mut cmd = krepis();
    cmd.args(["dev", "main.ts"])
        .current_dir(&app)
        .env("PORT", port.to_string())
        .env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut supervisor = KillOnDrop::new(child, &tag);
    let log = || lines.text();

    // Up and serving.
    let first = eventually(Duration::from_secs(60), || greet(port));
    assert!(
        first.as_deref().is_some_and(|b| b.contains("Hello, Ada!")),
        "{first:?}\n{}",
        log()
    );

    // The supervisor's type checker finishes its first full pass before edits
    // are timed (an edit during that pass waits for it).
    assert!(
        lines.wait_for(0, "krepis dev: ready", Duration::from_secs(60)),
        "{}",
        log()
    );

    // 1. Edit a TS handler's domain logic: the new response arrives. How long it took is
    // printed, not asserted (a loaded CI machine can take far longer than a quiet one).
    let domain = app.join("src/domain/greeting.ts");
    let mark = lines.len();
    let edited = Instant::now();
    edit(&domain, "`Hello, ${who}!`", "`Howdy, ${who}!`");
    let reloaded = eventually(Duration::from_secs(60), || {
        greet(port).filter(|b| b.contains("Howdy, Ada!"))
    });
    let reload_time = edited.elapsed();
    assert!(
        reloaded.is_some(),
        "no reload within 60 s:\n{}",
        lines.since(mark)
    );
    eprintln!(
        "reload took {reload_time:?}:\n{}",
        lines
            .since(mark)
            .lines()
            .filter(|l| l.starts_with("krepis dev"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // 2. A broken edit: the error is shown and the old process keeps answering.
    let mark = lines.len();
    edit(&domain, "message: `Howdy, ${who}!`", "message: 42");
    assert!(
        lines.wait_for(mark, "keeps serving", Duration::from_secs(20)),
        "no failure report:\n{}",
        lines.since(mark)
    );
    let shown = lines.since(mark);
    assert!(
        shown.contains("TS2322"),
        "the type error is shown:\n{shown}"
    );
    assert!(shown.contains("src/domain/greeting.ts"), "{shown}");
    let during = greet(port);
    assert!(
        during.as_deref().is_some_and(|b| b.contains("Howdy, Ada!")),
        "old process still answers: {during:?}"
    );

    // 3. Fixed: back to normal.
    let mark = lines.len();
    let edited_fix = Instant::now();
    edit(&domain, "message: 42", "message: `Hi, ${who}!`");
    let fixed = eventually(Duration::from_secs(60), || {
        greet(port).filter(|b| b.contains("Hi, Ada!"))
    });
    assert!(
        fixed.is_some(),
        "not reloaded after the fix:\n{}",
        lines.since(mark)
    );
    eprintln!("reload after the fix took {:?}", edited_fix.elapsed());

    // 4. SIGTERM to the supervisor: it and its app exit, nothing is left.
    let app_pids = pids_with_env("KREPIS_E2E_TAG", &tag);
    assert!(
        app_pids.len() >= 2,
        "supervisor and app found: {app_pids:?}"
    );
    kill(Pid::from_raw(supervisor.id() as i32), Signal::SIGTERM).unwrap();
    let status = eventually(Duration::from_secs(30), || supervisor.try_wait())
        .expect("supervisor exits after SIGTERM");
    assert_eq!(status.code(), Some(128 + 15));
    assert_none_left(&tag);
    assert!(greet(port).is_none(), "nothing listens any more");
}
