//! `krepis dev` on a real terminal (a pty from util-linux `script`) while the
//! app writes to it all the time: the checks before a reload are plain lines,
//! and no spinner frames or line redraws end up between the app's output.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// indicatif's default spinner frames and its clear-line sequence.
const SPINNER: &[&str] = &["⠁", "⠂", "⠄", "⡀", "⢀", "⠠", "⠐", "⠈", "\u{1b}[2K"];

#[test]
fn dev_on_a_terminal_prints_plain_check_lines_between_the_apps_output() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to provide a terminal");
        return;
    }
    let (_tmp, app) = init_app(false);
    let main = app.join("main.ts");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        format!("setInterval(() => console.log(\"app output\"), 20);\n{source}"),
    )
    .unwrap();
    let tag = format!("tty-{}", std::process::id());
    let mut cmd = Command::new("script");
    cmd.args(["-qefc"])
        .arg(format!(
            "{} dev main.ts --no-ctx-check",
            env!("CARGO_BIN_EXE_krepis")
        ))
        .arg("/dev/null")
        .current_dir(&app)
        .env("PATH", path_with_krepis())
        .env("PORT", free_port().to_string())
        .env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let _guard = KillOnDrop::new(child, &tag);
    assert!(
        lines.wait_for(0, "krepis dev: ready", Duration::from_secs(120)),
        "{}",
        lines.text()
    );
    let mark = lines.len();
    let domain = app.join("src/domain/greeting.ts");
    let text = std::fs::read_to_string(&domain).unwrap();
    std::fs::write(&domain, text.replace("`Hello, ", "`Howdy, ")).unwrap();
    assert!(
        lines.wait_for(mark, "change accepted", Duration::from_secs(120)),
        "{}",
        lines.since(mark)
    );
    let during = lines.since(mark);
    assert!(
        during.contains("krepis dev: [1/1] type-checking"),
        "the check is one plain line:\n{during}"
    );
    // Waited for, not read once: on a loaded machine the app may not have printed yet.
    assert!(
        lines.wait_for(0, "app output", Duration::from_secs(120)),
        "the app writes to the terminal"
    );
    let all = lines.text();
    for frame in SPINNER {
        assert!(
            !all.contains(frame),
            "spinner output {frame:?} on the terminal:\n{all}"
        );
    }
}
