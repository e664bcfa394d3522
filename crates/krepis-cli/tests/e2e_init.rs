//! `krepis init` end to end: the scaffolded app serves real HTTP, its tests
//! and its check task pass.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

#[test]
fn init_then_deno_task_start_serves_real_http() {
    let (_tmp, app) = init_app(true);
    for file in [
        "deno.json",
        "main.ts",
        "main_test.ts",
        "src/app.ts",
        "src/domain/greeting.ts",
        "src/ports/greeting_log.ts",
        "src/adapters/memory_greeting_log.ts",
        "src/application/commands/greet.ts",
        "src/application/queries/count_greetings.ts",
    ] {
        assert!(app.join(file).is_file(), "{file} scaffolded");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(app.join("deno.json")).unwrap()).unwrap();
    for task in ["start", "dev", "test", "check"] {
        assert!(config["tasks"][task].is_object(), "task {task}");
    }

    let port = free_port();
    let mut cmd = Command::new("deno");
    cmd.args(["task", "start"])
        .current_dir(&app)
        .env("PORT", port.to_string())
        .process_group(0);
    let (mut child, lines) = spawn_captured(&mut cmd);
    let served = lines.wait_for(0, "listening on", Duration::from_secs(60));
    let greet = http(port, "POST", "/greet", Some(r#"{"name":"Ada"}"#));
    let count = http(port, "GET", "/greetings/count", None);
    let bad = http(port, "POST", "/greet", Some(r#"{"name":42}"#));
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
    assert!(served, "app never listened:\n{}", lines.text());
    let (status, body) = greet.expect("POST /greet answered");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""message":"Hello, Ada!""#), "{body}");
    let (status, body) = count.expect("GET /greetings/count answered");
    assert_eq!(
        (status, body.contains(r#""count":1"#)),
        (200, true),
        "{body}"
    );
    let (status, _) = bad.expect("bad input answered");
    assert!((400..500).contains(&status), "bad input gives {status}");
}

#[test]
fn the_scaffolded_app_passes_its_own_test_and_check_tasks() {
    let (_tmp, app) = init_app(false);
    for task in ["test", "check"] {
        let out = Command::new("deno")
            .args(["task", task])
            .current_dir(&app)
            .env("PATH", path_with_krepis())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "deno task {task} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_check_task_fails_on_a_missing_ctx() {
    let (_tmp, app) = init_app(false);
    // Type-correct code that drops the context: only the ctx checker objects.
    let command = app.join("src/application/commands/greet.ts");
    let mut source = std::fs::read_to_string(&command).unwrap();
    let line = source.lines().count() + 1;
    source.push_str(
        "export function shout(text: string): string {\n  return text.toUpperCase();\n}\n",
    );
    std::fs::write(&command, source).unwrap();
    let out = Command::new("deno")
        .args(["task", "check"])
        .current_dir(&app)
        .env("PATH", path_with_krepis())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "check passed:\n{text}");
    assert!(
        text.contains(&format!("src/application/commands/greet.ts:{line}:17")),
        "{text}"
    );
    assert!(text.contains("ctx-first"), "{text}");
    assert!(
        text.contains("`shout` takes `text: string` first"),
        "{text}"
    );
}

#[test]
fn init_into_a_directory_with_other_files_keeps_them_and_writes_no_absolute_path() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("mine.txt"), "keep me").unwrap();
    let out = krepis()
        .arg("init")
        .arg(tmp.path())
        .arg("--no-prefetch")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("main.ts").exists());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("mine.txt")).unwrap(),
        "keep me"
    );
    // The default scaffold imports the published packages: nothing points into a checkout.
    let config = std::fs::read_to_string(tmp.path().join("deno.json")).unwrap();
    assert!(
        config.contains(r#""@krepis/core": "jsr:@krepis/core@^"#),
        "{config}"
    );
    assert!(!config.contains(r#": "/"#), "{config}");
}

#[test]
fn init_without_a_kernel_warns_in_one_line_instead_of_a_stack_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    let out = krepis()
        .arg("init")
        .arg(&app)
        .arg("--core")
        .arg(checkout_core())
        .env("KREPIS_LIB_PATH", tmp.path().join("no-such-kernel.so"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the app is still created: {stderr}");
    assert!(
        stderr.contains("warning: could not prefetch the native library"),
        "{stderr}"
    );
    assert!(stderr.contains("KREPIS_LIB_PATH="), "{stderr}");
    assert!(!stderr.contains("Uncaught"), "{stderr}");
    assert!(!stderr.contains("    at "), "{stderr}");
    assert!(app.join("main.ts").is_file());
}
