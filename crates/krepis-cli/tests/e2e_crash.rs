//! `krepis dev` restarts a crashing app with backoff, stops it on SIGINT, and
//! takes it down even when the supervisor itself is killed.
//! (Its own test binary, so its restarts do not compete for the CPU with the
//! reload-latency test in `e2e_dev.rs`.)

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
fn dev_restarts_a_crashing_app_with_backoff_and_sigint_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = tmp.path().join("crash.ts");
    let starts = tmp.path().join("starts.txt");
    std::fs::write(
        &entry,
        format!(
            "Deno.writeTextFileSync({:?}, \"x\", {{ append: true }});\nDeno.exit(3);\n",
            starts.display().to_string()
        ),
    )
    .unwrap();
    let tag = format!("crash-{}", std::process::id());
    let mut cmd = krepis();
    cmd.arg("dev")
        .arg(&entry)
        .arg("--no-ctx-check")
        .env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut supervisor = KillOnDrop::new(child, &tag);
    let count = || {
        std::fs::read_to_string(&starts)
            .map(|s| s.len())
            .unwrap_or(0)
    };
    let restarted = eventually(Duration::from_secs(30), || (count() >= 3).then_some(()));
    assert!(
        restarted.is_some(),
        "restarted: {}\n{}",
        count(),
        lines.text()
    );
    // The third start is on disk before the thread reading the supervisor's stderr has
    // necessarily taken in the line announcing it: wait for the line itself.
    assert!(
        lines.wait_for(0, "restarting in 0.5s", Duration::from_secs(30)),
        "backoff doubles:\n{}",
        lines.text()
    );
    let text = lines.text();
    assert!(
        text.contains("crashed (exit status: 3); restarting in 0.2s"),
        "{text}"
    );
    kill(Pid::from_raw(supervisor.id() as i32), Signal::SIGINT).unwrap();
    let status = eventually(Duration::from_secs(30), || supervisor.try_wait())
        .expect("supervisor exits after SIGINT");
    assert_eq!(status.code(), Some(128 + 2));
    assert_none_left(&tag);
}

#[test]
fn a_killed_supervisor_takes_its_app_down_too() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = tmp.path().join("serve.ts");
    let port = free_port();
    std::fs::write(
        &entry,
        format!(
            "Deno.serve({{ hostname: \"127.0.0.1\", port: {port} }}, () => new Response(\"up\"));\n"
        ),
    )
    .unwrap();
    let tag = format!("sigkill-{}", std::process::id());
    let mut cmd = krepis();
    cmd.arg("dev").arg(&entry).env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut supervisor = KillOnDrop::new(child, &tag);
    let up = eventually(Duration::from_secs(30), || http(port, "GET", "/", None));
    assert!(up.is_some_and(|(_, body)| body == "up"), "{}", lines.text());
    // SIGKILL cannot be forwarded; the children's parent-death signal does the work.
    kill(Pid::from_raw(supervisor.id() as i32), Signal::SIGKILL).unwrap();
    supervisor.wait();
    assert_none_left(&tag);
    assert!(
        http(port, "GET", "/", None).is_none(),
        "nothing listens any more"
    );
}

#[test]
fn a_port_in_use_under_dev_is_one_line_and_stops_the_restarts() {
    let (_tmp, app) = init_app(false);
    // Somebody else holds the port for the whole test.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tag = format!("inuse-{}", std::process::id());
    let mut cmd = krepis();
    cmd.args(["dev", "main.ts", "--no-ctx-check"])
        .current_dir(&app)
        .env("PORT", port.to_string())
        .env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut supervisor = KillOnDrop::new(child, &tag);
    let gave_up = lines.wait_for(
        0,
        "not restarting it until a file changes",
        Duration::from_secs(120),
    );
    let text = lines.text();
    assert!(gave_up, "{text}");
    assert!(text.contains(&format!("port {port} is in use")), "{text}");
    assert!(
        !text.contains("    at "),
        "a stack trace was printed:\n{text}"
    );
    let starts = text.matches("krepis dev: started").count();
    assert_eq!(starts, 5, "{text}");
    // Still not restarting a while later.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lines.text().matches("krepis dev: started").count(), 5);
    kill(Pid::from_raw(supervisor.id() as i32), Signal::SIGTERM).unwrap();
    supervisor.wait();
    drop(taken);
}
