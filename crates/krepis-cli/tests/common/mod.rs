//! Helpers for the end-to-end tests: real `krepis` and `deno` processes,
//! real sockets on 127.0.0.1, temp directories.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The `krepis` binary under test.
pub fn krepis() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_krepis"));
    cmd.env("PATH", path_with_krepis());
    cmd
}

/// `PATH` with the directory of the binary under test first, so app tasks
/// that call `krepis` run this build.
pub fn path_with_krepis() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_krepis")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A port that was free a moment ago, for a child process to bind. It is picked below the
/// kernel's ephemeral range (where port 0 binds and outgoing connections take theirs), so
/// the other tests' connections cannot take it between this probe and the child's bind.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000, ephemeral.max(10_001));
    for _ in 0..1000 {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = low + (random % u64::from(high - low)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// This checkout's `packages/core`.
pub fn checkout_core() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/core")
}

/// Scaffolds an app with `krepis init` into a fresh temp dir.
pub fn init_app(prefetch: bool) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    let mut cmd = krepis();
    // Linked to this checkout: the tests run offline, without the published packages.
    cmd.arg("init").arg(&app).arg("--core").arg(checkout_core());
    if !prefetch {
        cmd.arg("--no-prefetch");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "krepis init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tmp, app)
}

/// One HTTP/1.1 request with `Connection: close`; `None` when nothing listens.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Collects a child's stderr (and stdout) lines as they arrive.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Starts reading `stream` on a thread.
    pub fn capture(stream: impl Read + Send + 'static) -> Self {
        let lines = Lines::default();
        lines.add(stream);
        lines
    }

    /// Also reads `stream` into the same list.
    pub fn add(&self, stream: impl Read + Send + 'static) {
        let sink = self.0.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// How many lines were read so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Lines after the first `from`.
    pub fn since(&self, from: usize) -> String {
        self.0.lock().unwrap()[from..].join("\n")
    }

    /// Waits until a line after the first `from` contains `needle`.
    pub fn wait_for(&self, from: usize, needle: &str, timeout: Duration) -> bool {
        eventually(timeout, || self.since(from).contains(needle).then_some(())).is_some()
    }
}

/// Whether process `pid` exists (zombies included until reaped).
pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.split(") ")
                    .nth(1)
                    .is_some_and(|rest| rest.starts_with('Z'))
            })
            .unwrap_or(true)
}

/// Asserts that no live process carries the test's `KREPIS_E2E_TAG` (polled: a killed
/// process is gone only once its exit has been processed, later on a loaded machine).
pub fn assert_none_left(tag: &str) {
    let gone = eventually(Duration::from_secs(30), || {
        pids_with_env("KREPIS_E2E_TAG", tag)
            .is_empty()
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "processes left behind: {:?}",
        pids_with_env("KREPIS_E2E_TAG", tag)
    );
}

/// Pids of every live process whose environment has `KEY=value`.
pub fn pids_with_env(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Spawns `cmd` with piped output captured into [`Lines`].
pub fn spawn_captured(cmd: &mut Command) -> (Child, Lines) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::capture(child.stderr.take().unwrap());
    lines.add(child.stdout.take().unwrap());
    (child, lines)
}

/// Every file under `dir` (except `.krepis/`) with its bytes, sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == ".krepis" {
                continue;
            }
            if path.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A child that is SIGKILLed, with every process carrying its
/// `KREPIS_E2E_TAG`, when dropped while still running, so a failed assertion
/// leaves nothing behind.
pub struct KillOnDrop {
    child: Child,
    tag: String,
}

impl KillOnDrop {
    /// Guards `child`; `tag` is the `KREPIS_E2E_TAG` its processes carry.
    pub fn new(child: Child, tag: &str) -> Self {
        Self {
            child,
            tag: tag.to_string(),
        }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited (never blocks).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Blocks until it exits.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for pid in pids_with_env("KREPIS_E2E_TAG", &self.tag) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
