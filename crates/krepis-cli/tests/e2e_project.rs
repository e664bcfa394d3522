//! The project a command works on: `gen`, `check`, `history` and `undo` find
//! the app by walking up to its deno.json / .krepis and refuse outside one;
//! concurrent generations both land; `init` never silently overwrites; the
//! generator's listing, dry runs and shell completion.

mod common;

use std::process::{Command, Output};

use common::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    text(&out)
}

#[test]
fn gen_finds_the_app_from_a_subdirectory_and_refuses_outside_any_project() {
    let (tmp, app) = init_app(false);
    // From the parent directory (no project there): refused, nothing written.
    let out = krepis()
        .args(["gen", "command", "Stray"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("runs inside a Krepis project"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("src").exists());
    assert!(!tmp.path().join(".krepis").exists());

    // From deep inside the app: files land at the app's root, one journal.
    let out = ok(krepis()
        .args(["gen", "command", "Nested"])
        .current_dir(app.join("src/application")));
    assert!(
        out.contains("created src/application/commands/nested.ts"),
        "{out}"
    );
    assert!(app.join("src/application/commands/nested.ts").is_file());
    assert!(!app.join("src/application/src").exists());
    assert!(!app.join("src/application/.krepis").exists());
    let app_module = std::fs::read_to_string(app.join("src/app.ts")).unwrap();
    assert!(app_module.contains("nestedCommand"), "{app_module}");

    // --root names the project from anywhere.
    let out = ok(krepis()
        .args(["gen", "query", "Rooted", "--no-test", "--root"])
        .arg(&app)
        .current_dir(tmp.path()));
    assert!(
        out.contains("created src/application/queries/rooted.ts"),
        "{out}"
    );
    assert!(!app.join("src/application/queries/rooted_test.ts").exists());
}

#[test]
fn two_concurrent_gens_both_land_in_the_app_module() {
    let (_tmp, app) = init_app(false);
    let spawn = |name: &str| {
        krepis()
            .args(["gen", "command", name, "--no-test"])
            .current_dir(&app)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("FirstThing"), spawn("SecondThing"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let app_module = std::fs::read_to_string(app.join("src/app.ts")).unwrap();
    assert!(
        app_module.contains("firstThingCommand") && app_module.contains("secondThingCommand"),
        "one registration was lost:\n{app_module}\n{}\n{}",
        text(&a),
        text(&b)
    );
    // Transaction ids count up by one: init, then the two generations.
    let history = ok(krepis().arg("history").current_dir(&app));
    assert!(
        history.contains("#3 ") && history.contains("#2 ") && history.contains("#1 "),
        "{history}"
    );
}

#[test]
fn check_takes_single_files_and_refuses_outside_a_project() {
    let (tmp, app) = init_app(false);
    // Drops the context: a ctx-first violation.
    std::fs::write(
        app.join("src/application/commands/shout.ts"),
        "export function shout(text: string): string {\n  return text.toUpperCase();\n}\n",
    )
    .unwrap();
    let clean = ok(krepis().args(["check", "src/app.ts"]).current_dir(&app));
    assert!(clean.contains("ok: 1 files checked"), "{clean}");
    let out = krepis()
        .args(["check", "app/src/application/commands/shout.ts"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("src/application/commands/shout.ts:1:"),
        "{}",
        text(&out)
    );
    // The whole project from a subdirectory finds the violation too.
    let out = krepis()
        .arg("check")
        .current_dir(app.join("src/domain"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Outside any project: refused, not a scan of everything below.
    let out = krepis()
        .arg("check")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("runs inside a Krepis project"),
        "{}",
        text(&out)
    );
}

#[test]
fn init_refuses_changed_files_by_name_and_force_is_undoable() {
    let (_tmp, app) = init_app(false);
    let main = app.join("main.ts");
    let template = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, "// my own main\n").unwrap();
    let init = |extra: &[&str]| {
        let mut cmd = krepis();
        cmd.arg("init")
            .arg(&app)
            .arg("--core")
            .arg(checkout_core())
            .arg("--no-prefetch")
            .args(extra);
        cmd.output().unwrap()
    };
    let out = init(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("main.ts"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&main).unwrap(), "// my own main\n");

    let out = init(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let diff = text(&out);
    assert!(diff.contains("--- a/main.ts\n+++ b/main.ts\n"), "{diff}");
    assert!(diff.contains("\n-// my own main\n"), "{diff}");
    assert_eq!(std::fs::read_to_string(&main).unwrap(), "// my own main\n");

    let out = init(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("replaced main.ts"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&main).unwrap(), template);
    ok(krepis().arg("undo").current_dir(&app));
    assert_eq!(std::fs::read_to_string(&main).unwrap(), "// my own main\n");
}

#[test]
fn history_in_a_project_without_a_journal_and_outside_any_project() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("fresh");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("deno.json"), "{}\n").unwrap();
    let out = ok(krepis().arg("history").current_dir(&project));
    assert_eq!(out.trim(), "no transactions yet");
    assert!(!project.join(".krepis").exists(), "history creates nothing");
    let out = krepis().arg("undo").current_dir(&project).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("nothing to undo"), "{}", text(&out));
    let out = krepis()
        .arg("history")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("runs inside a Krepis project"),
        "{}",
        text(&out)
    );
}

#[test]
fn gen_lists_its_kinds_and_shells_get_completions() {
    let list = ok(krepis().args(["gen", "--list"]));
    for kind in ["command", "query", "port", "adapter"] {
        assert!(list.contains(&format!("  {kind} ")), "{list}");
    }
    assert!(list.contains("_test.ts"), "{list}");
    let help = ok(krepis().args(["gen", "--help"]));
    assert!(help.contains("--root <DIR>"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(krepis().args(["completions", shell]));
        assert!(
            script.contains("krepis") && script.contains("gen"),
            "{shell}"
        );
    }
    let bash = ok(krepis().args(["completions", "bash"]));
    assert!(bash.contains("complete -F _krepis"), "{bash}");
}
