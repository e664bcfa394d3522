//! `krepis gen` end to end: generated files type-check, pass `krepis check`
//! and the app's tests; one undo restores the tree byte for byte.

mod common;

use std::process::Command;

use common::*;

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn gen_type_checks_passes_check_and_one_undo_restores_the_tree() {
    let (_tmp, app) = init_app(false);
    // Deno writes deno.lock on the first type check; do that first so the
    // snapshot holds only what `krepis gen` may change. The journal keeps its
    // own data in .krepis/ (left out of snapshots); everything else must match.
    ok(Command::new("deno")
        .args(["check", "main.ts", "main_test.ts"])
        .current_dir(&app));
    let before = snapshot(&app);

    let out = ok(krepis()
        .args(["gen", "command", "CreateNote", "--route", "POST /notes"])
        .current_dir(&app));
    assert!(
        out.contains("created src/application/commands/create_note.ts"),
        "{out}"
    );
    assert!(out.contains("updated src/app.ts"), "{out}");
    let app_module = std::fs::read_to_string(app.join("src/app.ts")).unwrap();
    assert!(
        app_module.contains(
            r#"import { createNoteCommand } from "./application/commands/create_note.ts";"#
        )
    );
    assert!(
        app_module.contains("commands: [greetCommand, createNoteCommand]"),
        "{app_module}"
    );
    assert!(app_module.contains(r#"route("POST", "/notes", createNoteCommand)"#));

    ok(Command::new("deno")
        .args(["check", "main.ts", "main_test.ts"])
        .current_dir(&app));
    ok(krepis().arg("check").current_dir(&app));
    ok(Command::new("deno")
        .args(["fmt", "--check"])
        .current_dir(&app));
    // The same V8 flags as the app's `deno task check` (see LINT_V8_FLAGS).
    ok(Command::new("deno")
        .arg("lint")
        .env("DENO_V8_FLAGS", "--no-concurrent-recompilation")
        .current_dir(&app));

    let history = ok(krepis().arg("history").current_dir(&app));
    assert!(
        history.contains("gen command CreateNote (3 files)"),
        "{history}"
    );
    let undone = ok(krepis().arg("undo").current_dir(&app));
    assert!(undone.contains("undid #"), "{undone}");
    let after = snapshot(&app);
    let changed: Vec<&String> = after
        .iter()
        .chain(&before)
        .filter(|entry| !before.contains(entry) || !after.contains(entry))
        .map(|(path, _)| path)
        .collect();
    assert!(
        changed.is_empty(),
        "one undo restores the tree byte for byte; differs: {changed:?}"
    );
}

#[test]
fn gen_port_adapter_and_query_wire_up_and_type_check() {
    let (_tmp, app) = init_app(false);
    ok(krepis()
        .args(["gen", "port", "NoteStore"])
        .current_dir(&app));
    ok(krepis()
        .args(["gen", "adapter", "MemoryNoteStore", "--port", "NoteStore"])
        .current_dir(&app));
    ok(krepis()
        .args([
            "gen",
            "query",
            "list-notes",
            "--port",
            "NoteStore",
            "--route",
            "GET /notes",
        ])
        .current_dir(&app));
    let app_module = std::fs::read_to_string(app.join("src/app.ts")).unwrap();
    assert!(
        app_module.contains("provide(NoteStorePort, new MemoryNoteStore())"),
        "{app_module}"
    );
    assert!(
        app_module.contains(r#"route("GET", "/notes", listNotesQuery)"#),
        "{app_module}"
    );
    let adapter = std::fs::read_to_string(app.join("src/adapters/memory_note_store.ts")).unwrap();
    // A `Memory…` adapter works: a map behind the port's methods, and a test beside it.
    assert!(
        adapter.contains("get(_ctx: KrepisContext, key: string)")
            && adapter.contains("this.#items.get(keyOf(key))"),
        "{adapter}"
    );
    assert!(app.join("src/adapters/memory_note_store_test.ts").is_file());
    ok(Command::new("deno")
        .args(["check", "main.ts"])
        .current_dir(&app));
    ok(krepis().arg("check").current_dir(&app));
    ok(Command::new("deno")
        .args(["test", "--allow-all"])
        .current_dir(&app));
}

#[test]
fn gen_refusals_write_nothing() {
    let (_tmp, app) = init_app(false);
    let before = snapshot(&app);
    for args in [
        vec!["gen", "command", "Greet"],  // the template's greet.ts exists
        vec!["gen", "adapter", "Memory"], // no --port
        vec!["gen", "adapter", "Memory", "--port", "Missing"],
        vec!["gen", "query", "Q", "--route", "FETCH /x"],
        vec!["gen", "command", "bad name"],
    ] {
        let out = krepis().args(&args).current_dir(&app).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("    at "),
            "{args:?} printed a stack trace: {stderr}"
        );
    }
    let out = ok(krepis()
        .args(["gen", "query", "Peek", "--dry-run"])
        .current_dir(&app));
    assert!(
        out.contains("would create src/application/queries/peek.ts"),
        "{out}"
    );
    assert!(out.contains("would update src/app.ts"), "{out}");
    // The dry run shows the change as a diff.
    assert!(
        out.contains("--- /dev/null\n+++ b/src/application/queries/peek.ts"),
        "{out}"
    );
    assert!(out.contains("+++ b/src/app.ts"), "{out}");
    assert!(out.contains("+") && out.contains("peekQuery"), "{out}");
    assert_eq!(snapshot(&app), before);
}
