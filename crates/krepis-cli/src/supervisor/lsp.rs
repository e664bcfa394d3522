//! An incremental type checker for the dev gate: one `deno lsp` kept running
//! with the app's files open. After an edit its diagnostics arrive in a
//! fraction of a second, where a fresh `deno check` re-checks the whole
//! program (seconds). Anything unexpected (no answer, a crash) makes
//! [`TypeChecker::check`] return `Err`, and the gate falls back to
//! `deno check`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::process::GroupChild;
use super::watch::ignored;
use crate::workspace::deno_command;

/// How long start-up (the first full check) may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the diagnostics after an edit may take before falling back.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Diagnostics are complete once the server has been quiet this long.
const QUIET: Duration = Duration::from_millis(150);

/// One error the language server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Diagnostic {
    line: u64,
    character: u64,
    code: String,
    message: String,
}

/// The diagnostics of one document, stamped with the order they arrived in.
#[derive(Debug, Default)]
struct Published {
    seq: u64,
    /// The document version they were computed for.
    version: Option<i64>,
    errors: Vec<Diagnostic>,
}

#[derive(Debug, Default)]
struct State {
    /// Diagnostics by document URI.
    published: HashMap<String, Published>,
    /// Ids of the responses received.
    responses: Vec<i64>,
    /// Count of notifications received, for ordering.
    seq: u64,
    /// The server's output ended.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds or `deadline` passes; returns whether it held.
    fn wait_until(&self, deadline: Instant, mut done: impl FnMut(&State) -> bool) -> bool {
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running `deno lsp` that type-checks the app incrementally.
pub struct TypeChecker {
    child: Option<GroupChild>,
    /// The server's stdin, shared with the thread that answers its requests.
    writer: Writer,
    shared: Arc<Shared>,
    dirs: Vec<PathBuf>,
    /// Open documents: URI → (version, text).
    open: HashMap<String, (i64, String)>,
    next_id: i64,
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The app's modules under `dirs` (tests left out, as `deno check <entry>` leaves them out).
fn app_modules(dirs: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !ignored(&path) {
                    walk(&path, out);
                }
            } else {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let module = [".ts", ".tsx", ".mts"].iter().any(|e| name.ends_with(e));
                let test = ["_test.", ".test.", ".spec."]
                    .iter()
                    .any(|t| name.contains(t));
                if module && !test {
                    out.push(path);
                }
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, &mut out);
    }
    out.sort();
    out
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn errors_of(params: &Value) -> Vec<Diagnostic> {
    let Some(list) = params["diagnostics"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|d| d["severity"].as_u64() == Some(1))
        .map(|d| Diagnostic {
            line: d["range"]["start"]["line"].as_u64().unwrap_or(0),
            character: d["range"]["start"]["character"].as_u64().unwrap_or(0),
            code: match &d["code"] {
                Value::Number(n) => format!("TS{n}"),
                Value::String(s) => s.clone(),
                _ => "error".into(),
            },
            message: d["message"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

impl TypeChecker {
    /// Starts `deno lsp` for the app rooted at `root` and opens the modules
    /// under `dirs`; `None` when the server cannot be started or initialized.
    pub fn start(root: &Path, dirs: Vec<PathBuf>) -> Option<Self> {
        let mut cmd = deno_command();
        cmd.arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = GroupChild::spawn(&mut cmd).ok()?;
        let pipes = child.take_pipes();
        let (stdin, stdout) = (pipes.stdin, pipes.stdout);
        let shared = Arc::new(Shared::default());
        let writer: Writer = Arc::new(Mutex::new(stdin?));
        let mut checker = Self {
            child: Some(child),
            writer: writer.clone(),
            shared: shared.clone(),
            dirs,
            open: HashMap::new(),
            next_id: 1,
        };
        let reader_shared = shared.clone();
        thread::spawn(move || serve_output(stdout, &writer, &reader_shared));
        let root_uri = uri(root);
        let id = checker.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": root_uri,
                "workspaceFolders": [{ "uri": root_uri, "name": "app" }],
                "capabilities": { "workspace": { "configuration": true } },
                "initializationOptions": { "enable": true, "lint": false },
            }),
        )?;
        let deadline = Instant::now() + START_TIMEOUT;
        if !shared.wait_until(deadline, |s| s.responses.contains(&id)) {
            return None;
        }
        checker.notify("initialized", json!({}))?;
        Some(checker)
    }

    /// The server's process id (its process group), for shutting it down
    /// without waiting for a check in progress.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(GroupChild::id)
    }

    fn send(&mut self, message: Value) -> Option<()> {
        write_message(&self.writer, &message)
    }

    fn request(&mut self, method: &str, params: Value) -> Option<i64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        Some(id)
    }

    fn notify(&mut self, method: &str, params: Value) -> Option<()> {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }

    /// Brings the server's documents in line with the files on disk; returns
    /// how many documents changed.
    fn sync(&mut self) -> Option<usize> {
        let modules = app_modules(&self.dirs);
        let current: Vec<String> = modules.iter().map(|p| uri(p)).collect();
        let mut changed = 0;
        let gone: Vec<String> = self
            .open
            .keys()
            .filter(|u| !current.contains(u))
            .cloned()
            .collect();
        for u in gone {
            self.open.remove(&u);
            self.shared.lock().published.remove(&u);
            self.notify(
                "textDocument/didClose",
                json!({ "textDocument": { "uri": u } }),
            )?;
            changed += 1;
        }
        for (path, u) in modules.iter().zip(current) {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            match self.open.get(&u) {
                Some((_, old)) if *old == text => {}
                Some((version, _)) => {
                    let version = version + 1;
                    self.notify(
                        "textDocument/didChange",
                        json!({
                            "textDocument": { "uri": u, "version": version },
                            "contentChanges": [{ "text": text }],
                        }),
                    )?;
                    self.open.insert(u, (version, text));
                    changed += 1;
                }
                None => {
                    self.notify(
                        "textDocument/didOpen",
                        json!({ "textDocument": {
                            "uri": u, "languageId": "typescript", "version": 1, "text": text,
                        } }),
                    )?;
                    self.open.insert(u, (1, text));
                    changed += 1;
                }
            }
        }
        Some(changed)
    }

    /// Sends the app as it is on disk now and returns what to wait for: the
    /// answer comes from [`PendingCheck::wait`], which does not need the
    /// checker, so a newer edit can be sent while an older check still waits.
    /// `Err` says why the server cannot answer; the caller falls back to
    /// `deno check`.
    pub fn prepare(&mut self) -> Result<PendingCheck, String> {
        let mark = self.shared.lock().seq;
        let changed = self.sync().ok_or("the language server stopped")?;
        if changed == 0 {
            return Err("no module changed (configuration edit?)".into());
        }
        let mut expect: Vec<(String, i64)> = self
            .open
            .iter()
            .map(|(u, (version, _))| (u.clone(), *version))
            .collect();
        expect.sort();
        Ok(PendingCheck {
            shared: self.shared.clone(),
            mark,
            expect,
        })
    }

    /// [`TypeChecker::prepare`] and [`PendingCheck::wait`] in one.
    #[cfg(test)]
    pub fn check(&mut self) -> Result<Vec<String>, String> {
        self.prepare()?.wait()
    }
}

/// A check whose answer is awaited.
pub struct PendingCheck {
    shared: Arc<Shared>,
    /// Notifications counted before the edit was sent.
    mark: u64,
    /// Every open document with its current version.
    expect: Vec<(String, i64)>,
}

impl PendingCheck {
    /// Waits for diagnostics of every open document newer than the edit, for
    /// its current version, and then for the server to go quiet (the rest of
    /// a batch). `Ok` holds the errors formatted like `deno check`'s (empty
    /// when the app type-checks).
    pub fn wait(self) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + CHECK_TIMEOUT;
        let fresh = |state: &State| {
            self.expect.iter().all(|(u, version)| {
                state
                    .published
                    .get(u)
                    .is_some_and(|p| p.seq > self.mark && p.version.is_none_or(|v| v == *version))
            })
        };
        if !self.shared.wait_until(deadline, fresh) {
            return Err("the language server did not answer in time".into());
        }
        loop {
            let seen = self.shared.lock().seq;
            let quiet_until = Instant::now() + QUIET;
            let more = self.shared.wait_until(quiet_until, |s| s.seq != seen);
            if !more || Instant::now() >= deadline {
                break;
            }
        }
        let state = self.shared.lock();
        let mut errors = Vec::new();
        for (u, _) in &self.expect {
            let path = u.strip_prefix("file://").unwrap_or(u);
            for d in state.published.get(u).map_or(&[][..], |p| &p.errors) {
                errors.push(format!(
                    "{} [ERROR]: {}\n    at {path}:{}:{}",
                    d.code,
                    d.message,
                    d.line + 1,
                    d.character + 1
                ));
            }
        }
        Ok(errors)
    }
}

impl Drop for TypeChecker {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            child.stop(Signal::SIGTERM);
        }
    }
}

/// The server's stdin; messages are written whole under the lock.
type Writer = Arc<Mutex<ChildStdin>>;

fn write_message(writer: &Writer, message: &Value) -> Option<()> {
    let body = message.to_string();
    let mut stdin = writer.lock().unwrap_or_else(|e| e.into_inner());
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).ok()?;
    stdin.flush().ok()
}

fn respond(writer: &Writer, id: &Value, result: Value) {
    // A failed answer means the server is gone; the reader notices that.
    let _ = write_message(
        writer,
        &json!({ "jsonrpc": "2.0", "id": id, "result": result }),
    );
}

/// Reads the server's messages until it exits: records diagnostics and
/// responses, and answers its requests.
fn serve_output(stdout: Option<ChildStdout>, writer: &Writer, shared: &Shared) {
    if let Some(stdout) = stdout {
        let mut reader = BufReader::new(stdout);
        while let Some(message) = read_message(&mut reader) {
            match (
                message.get("method").and_then(Value::as_str),
                message.get("id"),
            ) {
                (Some("textDocument/publishDiagnostics"), None) => {
                    let params = &message["params"];
                    let Some(u) = params["uri"].as_str() else {
                        continue;
                    };
                    let mut state = shared.lock();
                    state.seq += 1;
                    let published = Published {
                        seq: state.seq,
                        version: params["version"].as_i64(),
                        errors: errors_of(params),
                    };
                    state.published.insert(u.to_string(), published);
                }
                (Some("workspace/configuration"), Some(id)) => {
                    let items = message["params"]["items"].as_array().map_or(1, Vec::len);
                    let settings = json!({ "enable": true, "lint": false });
                    respond(writer, id, Value::Array(vec![settings; items]));
                    continue;
                }
                (Some(_), Some(id)) => {
                    respond(writer, id, Value::Null);
                    continue;
                }
                (None, Some(id)) => {
                    if let Some(id) = id.as_i64() {
                        shared.lock().responses.push(id);
                    }
                }
                _ => continue,
            }
            shared.changed.notify_all();
        }
    }
    shared.lock().closed = true;
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_framed_messages() {
        let text = "Content-Length: 17\r\n\r\n{\"id\":1,\"a\":true}Content-Length: 2\r\n\r\n{}";
        let mut reader = BufReader::new(text.as_bytes());
        assert_eq!(
            read_message(&mut reader),
            Some(json!({ "id": 1, "a": true }))
        );
        assert_eq!(read_message(&mut reader), Some(json!({})));
        assert_eq!(read_message(&mut reader), None);
    }

    #[test]
    fn keeps_only_errors() {
        let params = json!({ "diagnostics": [
            { "severity": 1, "code": 2322, "message": "bad",
              "range": { "start": { "line": 4, "character": 2 } } },
            { "severity": 2, "code": 6133, "message": "unused",
              "range": { "start": { "line": 1, "character": 0 } } },
        ] });
        assert_eq!(
            errors_of(&params),
            [Diagnostic {
                line: 4,
                character: 2,
                code: "TS2322".into(),
                message: "bad".into()
            }]
        );
    }

    #[test]
    fn type_checks_a_real_module_incrementally() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("main.ts");
        std::fs::write(&file, "export const n: number = 1;\n").unwrap();
        std::fs::write(dir.path().join("deno.json"), "{}").unwrap();
        let mut checker = TypeChecker::start(dir.path(), vec![dir.path().to_path_buf()])
            .expect("deno lsp starts");
        assert_eq!(checker.check(), Ok(vec![]));
        std::fs::write(&file, "export const n: number = \"one\";\n").unwrap();
        let errors = checker.check().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("TS2322 [ERROR]: "), "{errors:?}");
        assert!(errors[0].ends_with("main.ts:1:14"), "{errors:?}");
        assert!(
            checker.check().is_err(),
            "nothing changed: the caller falls back"
        );
    }
}
