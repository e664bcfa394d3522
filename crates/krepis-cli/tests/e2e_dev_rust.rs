//! `krepis dev` inside a Krepis workspace, end to end: a Rust edit rebuilds
//! the kernel crate (`cargo build -p krepis-ffi`) and restarts the app, a
//! broken Rust edit shows the compiler error while the old process keeps
//! serving, the fix reloads again, and SIGTERM leaves no process behind.
//!
//! The app lives outside the workspace, linked to it the way
//! `krepis init --dev` links one: its deno.json maps `@krepis/core` into the
//! checkout, so `krepis dev` finds the checkout through the app.
//!
//! The workspace is a throwaway stand-in built in a temp dir: a trivial
//! `krepis-ffi` cdylib exporting one number, with its own target directory,
//! so the test never builds the real kernel nor waits for the repository's
//! cargo lock. The app `dlopen`s that library and answers with the number and
//! its pid, so a response shows both the rebuild and the restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Bound on a kernel rebuild plus restart (a few seconds on an idle machine;
/// the shared CI machine may be busy compiling other tests).
const RELOAD: Duration = Duration::from_secs(90);

/// The stand-in workspace: `root` is what `krepis dev` must recognise.
struct Workspace {
    root: PathBuf,
    app: PathBuf,
    target: PathBuf,
    ffi_source: PathBuf,
    /// Where each app process appends `<pid> <port>` once it listens.
    ports: PathBuf,
}

fn ffi_lib_rs(generation: &str) -> String {
    format!(
        "//! Stand-in kernel: one export the app reads on every request.\n\n\
         /// Which build of the library this is.\n\
         #[no_mangle]\n\
         pub extern \"C\" fn krepis_probe_generation() -> u32 {{\n    {generation}\n}}\n"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn workspace(tmp: &Path) -> Workspace {
    let root = tmp.join("ws");
    let target = tmp.join("target");
    let ports = tmp.join("ports.txt");
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"crates/krepis-ffi\", \"crates/krepis-kernel\"]\n",
    );
    write(
        &root.join("crates/krepis-kernel/Cargo.toml"),
        "[package]\nname = \"krepis-kernel\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n",
    );
    write(
        &root.join("crates/krepis-kernel/src/lib.rs"),
        "//! Unused.\n",
    );
    write(
        &root.join("crates/krepis-ffi/Cargo.toml"),
        "[package]\nname = \"krepis-ffi\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [lib]\nname = \"krepis\"\ncrate-type = [\"cdylib\"]\n",
    );
    let ffi_source = root.join("crates/krepis-ffi/src/lib.rs");
    write(&ffi_source, &ffi_lib_rs("1"));
    write(&root.join("packages/smart-gen/deno.json"), "{}\n");
    write(&root.join("packages/core/mod.ts"), "export {};\n");
    let library = target.join("debug/libkrepis.so");
    let app = tmp.join("app");
    write(
        &app.join("deno.json"),
        &format!(
            "{{ \"imports\": {{ \"@krepis/core\": {:?} }} }}\n",
            root.join("packages/core/mod.ts").display().to_string()
        ),
    );
    write(
        &app.join("main.ts"),
        &format!(
            "const library = Deno.dlopen({library:?}, {{\n  \
               krepis_probe_generation: {{ parameters: [], result: \"u32\" }},\n}});\n\
             Deno.serve({{\n  hostname: \"127.0.0.1\",\n  port: 0,\n  \
               onListen: ({{ port }}) => {{\n    \
                 Deno.writeTextFileSync({ports:?}, `${{Deno.pid}} ${{port}}\\n`, {{ append: true }});\n  \
               }},\n}}, () => {{\n  \
               const generation = library.symbols.krepis_probe_generation();\n  \
               return new Response(`generation=${{generation}} pid=${{Deno.pid}}`);\n}});\n",
            library = library.display().to_string(),
            ports = ports.display().to_string(),
        ),
    );
    Workspace {
        root,
        app,
        target,
        ffi_source,
        ports,
    }
}

/// `(pid, port)` of every app process that listened so far, oldest first.
fn listeners(ports: &Path) -> Vec<(u32, u16)> {
    std::fs::read_to_string(ports)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pid, port) = line.split_once(' ')?;
            Some((pid.parse().ok()?, port.parse().ok()?))
        })
        .collect()
}

/// The body of `GET /`, when something answers on `port`.
fn get(port: u16) -> Option<String> {
    http(port, "GET", "/", None).map(|(_, body)| body)
}

/// Waits for an app process newer than the first `seen` listeners to answer
/// with `generation`; returns its `(pid, port)`.
fn wait_for_generation(ws: &Workspace, seen: usize, generation: u32) -> Option<(u32, u16)> {
    let want = |pid: u32| format!("generation={generation} pid={pid}");
    eventually(RELOAD, || {
        listeners(&ws.ports)
            .into_iter()
            .skip(seen)
            .find(|(pid, port)| get(*port).is_some_and(|b| b == want(*pid)))
    })
}

fn edit(file: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(file).unwrap();
    assert!(source.contains(from), "{from:?} in {}", file.display());
    std::fs::write(file, source.replace(from, to)).unwrap();
}

/// Builds the stand-in kernel once before the app starts (the supervisor
/// builds only on changes), within a bound.
fn prebuild(ws: &Workspace, tag: &str) {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "-p", "krepis-ffi"])
        .current_dir(&ws.root)
        .env("CARGO_TARGET_DIR", &ws.target)
        .env("KREPIS_E2E_TAG", tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut build = KillOnDrop::new(child, tag);
    let status = eventually(RELOAD, || build.try_wait());
    assert!(
        status.is_some_and(|s| s.success()),
        "the stand-in kernel builds: {status:?}\n{}",
        lines.text()
    );
}

#[test]
fn dev_rebuilds_the_kernel_on_rust_edits_and_keeps_serving_through_a_broken_one() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path());
    let tag = format!("dev-rust-{}", std::process::id());
    prebuild(&ws, &tag);

    let mut cmd = krepis();
    cmd.args(["dev", "main.ts", "--no-ctx-check"])
        .current_dir(&ws.app)
        .env("CARGO_TARGET_DIR", &ws.target)
        .env("KREPIS_E2E_TAG", &tag);
    let (child, lines) = spawn_captured(&mut cmd);
    let mut supervisor = KillOnDrop::new(child, &tag);

    // Up, answering with the first build, and watching the workspace's crates.
    let first = wait_for_generation(&ws, 0, 1);
    let Some((pid1, port1)) = first else {
        panic!("the app never answered:\n{}", lines.text())
    };
    assert!(
        lines.wait_for(0, "krepis dev: ready", RELOAD),
        "{}",
        lines.text()
    );
    let crates = ws.root.canonicalize().unwrap().join("crates");
    assert!(
        lines.text().contains(&crates.display().to_string()),
        "the workspace's crates are watched:\n{}",
        lines.text()
    );

    // 1. A valid Rust edit: rebuilt, then a new process answers with it.
    let mark = lines.len();
    let seen = listeners(&ws.ports).len();
    let edited = Instant::now();
    edit(&ws.ffi_source, "    1\n", "    2\n");
    let second = wait_for_generation(&ws, seen, 2);
    let Some((pid2, port2)) = second else {
        panic!("no rebuild and restart:\n{}", lines.since(mark))
    };
    eprintln!("rebuild + restart took {:?}", edited.elapsed());
    assert_ne!(pid2, pid1);
    let log = lines.since(mark);
    assert!(log.contains("change accepted"), "{log}");
    assert!(get(port1).is_none(), "the old process was stopped");

    // 2. A broken Rust edit: the compiler error is shown, nothing restarts,
    //    and the old process keeps answering with the old build.
    let mark = lines.len();
    let seen = listeners(&ws.ports).len();
    edit(&ws.ffi_source, "    2\n", "    \"two\"\n");
    assert!(
        lines.wait_for(mark, "keeps serving", RELOAD),
        "no failure report:\n{}",
        lines.since(mark)
    );
    let shown = lines.since(mark);
    assert!(
        shown.contains("error[E0308]"),
        "the error is shown:\n{shown}"
    );
    assert!(shown.contains("src/lib.rs"), "{shown}");
    assert!(
        shown.contains(&format!(
            "building the kernel (cargo build -p krepis-ffi) failed; the running app (pid {pid2}) keeps serving"
        )),
        "{shown}"
    );
    assert_eq!(
        get(port2),
        Some(format!("generation=2 pid={pid2}")),
        "the old process still answers"
    );
    assert_eq!(listeners(&ws.ports).len(), seen, "nothing was restarted");

    // 2b. A TypeScript edit while the kernel is still broken must not restart
    //     the app on the stale library: the failed build is judged again.
    let mark = lines.len();
    let main = ws.app.join("main.ts");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{source}// touched\n")).unwrap();
    let verdict = eventually(RELOAD, || {
        let log = lines.since(mark);
        (log.contains("keeps serving") || log.contains("change accepted")).then_some(log)
    });
    let Some(verdict) = verdict else {
        panic!("the TS edit was not judged:\n{}", lines.since(mark))
    };
    assert!(
        verdict.contains("error[E0308]") && verdict.contains("keeps serving"),
        "the broken kernel still blocks the reload:\n{verdict}"
    );
    assert_eq!(get(port2), Some(format!("generation=2 pid={pid2}")));
    assert_eq!(listeners(&ws.ports).len(), seen, "nothing was restarted");

    // 3. Fixed: rebuilt and restarted again.
    let mark = lines.len();
    let edited = Instant::now();
    edit(&ws.ffi_source, "    \"two\"\n", "    3\n");
    let third = wait_for_generation(&ws, seen, 3);
    assert!(
        third.is_some(),
        "not reloaded after the fix:\n{}",
        lines.since(mark)
    );
    eprintln!(
        "rebuild + restart after the fix took {:?}",
        edited.elapsed()
    );

    // 3b. The root manifest (workspace dependencies, profiles) counts too,
    //     though the root is not watched recursively (its target/ is huge).
    let mark = lines.len();
    let seen = listeners(&ws.ports).len();
    let manifest = ws.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n[profile.dev]\nopt-level = 1\n")).unwrap();
    let fourth = wait_for_generation(&ws, seen, 3);
    let Some((_, port4)) = fourth else {
        panic!(
            "no reload after a root Cargo.toml edit:\n{}",
            lines.since(mark)
        )
    };
    assert!(
        lines.since(mark).contains("change accepted"),
        "{}",
        lines.since(mark)
    );

    // 4. SIGTERM to the supervisor: it, its app and its checker all exit.
    assert!(
        pids_with_env("KREPIS_E2E_TAG", &tag).len() >= 2,
        "supervisor and app found"
    );
    kill(Pid::from_raw(supervisor.id() as i32), Signal::SIGTERM).unwrap();
    let status = eventually(Duration::from_secs(30), || supervisor.try_wait())
        .expect("supervisor exits after SIGTERM");
    assert_eq!(status.code(), Some(128 + 15));
    assert_none_left(&tag);
    assert!(get(port4).is_none(), "nothing listens any more");
    eprintln!("whole test took {:?}", started.elapsed());
}
