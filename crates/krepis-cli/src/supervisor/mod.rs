//! `krepis dev`: the supervisor. Runs the app as a Deno child in its own
//! process group, restarts it when sources change (after the gate passes),
//! restarts it with backoff when it crashes, and forwards SIGINT/SIGTERM.

mod backoff;
pub mod gate;
pub mod lsp;
pub mod process;
pub mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::{CliError, Result};
use crate::progress::Steps;
use crate::workspace::{deno_command, deno_lint_command, spawn_error};
use backoff::Backoff;
use gate::{Action, Outcome, Running, Stage, Step};
use lsp::TypeChecker;
use process::GroupChild;
use watch::{Change, Watcher};

/// What to supervise.
pub struct Options {
    /// The app's entry module.
    pub entry: PathBuf,
    /// Arguments passed to the app.
    pub args: Vec<String>,
    /// Directories whose TypeScript changes restart the app.
    pub watch: Vec<PathBuf>,
    /// The Krepis checkout, when the app lives in one: Rust changes there
    /// rebuild the kernel.
    pub workspace: Option<PathBuf>,
    /// The lint configuration that runs only the ctx-first plugin rule
    /// (`packages/smart-gen/ctx_lint.json`), for the gate, if available.
    pub ctx_lint: Option<PathBuf>,
}

enum Event {
    Changed(Change),
    /// A gate finished; gates are numbered so a cancelled one's late answer
    /// is not taken for the current one's.
    GateDone(u64, Outcome),
    Signal(i32),
}

/// How often the loop looks at the child between events.
const TICK: Duration = Duration::from_millis(100);

/// Colour compiler output only when it ends up on a terminal.
fn color_mode() -> &'static str {
    if std::io::stderr().is_terminal() {
        "always"
    } else {
        "never"
    }
}

fn say(line: &str) {
    eprintln!("krepis dev: {line}");
}

struct Supervisor {
    options: Options,
    events: Sender<Event>,
    app: Option<GroupChild>,
    gate: Option<Running>,
    /// The number of the newest gate.
    gate_id: u64,
    /// The incremental type checker (`deno lsp`), when it started.
    checker: Option<Arc<Mutex<TypeChecker>>>,
    /// Its process group, to stop it without waiting for a check in progress.
    checker_pid: Option<u32>,
    /// When the running gate started, to report how long checks take.
    gate_started: Instant,
    /// The running gate is the start-up warm-up (fills Deno's caches so the
    /// first real reload is fast); its result restarts nothing.
    warming: bool,
    pending: Change,
    /// Changes judged by gates since the last accepted one: a change that
    /// failed (a broken kernel build) is judged again with the next edit, so
    /// a later TypeScript edit cannot restart the app on a stale kernel.
    unaccepted: Change,
    restart_at: Option<Instant>,
    backoff: Backoff,
}

impl Supervisor {
    fn spawn_app(&mut self) -> Result<()> {
        let mut cmd = deno_command();
        cmd.arg("run")
            .arg("--allow-all")
            .arg(&self.options.entry)
            .args(&self.options.args)
            .env("KREPIS_DEV", "1");
        let child = GroupChild::spawn(&mut cmd).map_err(|e| spawn_error("deno", e))?;
        say(&format!(
            "started {} (pid {})",
            self.options.entry.display(),
            child.id()
        ));
        self.app = Some(child);
        Ok(())
    }

    fn stop_app(&mut self, signal: Signal) {
        if let Some(app) = self.app.take() {
            app.stop(signal);
        }
    }

    fn restart(&mut self) -> Result<()> {
        self.stop_app(Signal::SIGTERM);
        self.restart_at = None;
        self.spawn_app()
    }

    fn gate_stages(&self, change: Change) -> Vec<Stage> {
        let mut stages = Vec::new();
        if let (true, Some(ws)) = (change.rust, &self.options.workspace) {
            let mut command = Command::new("cargo");
            command
                .args(["build", "-p", "krepis-ffi", "--color", color_mode()])
                .current_dir(ws);
            stages.push(vec![Step::run(
                "building the kernel (cargo build -p krepis-ffi)",
                command,
            )]);
        }
        let mut checks = Vec::new();
        let mut deno_check = deno_command();
        deno_check.arg("check").arg(&self.options.entry);
        let label = format!("type-checking {}", self.options.entry.display());
        // The language server sees the app's own modules; edits elsewhere
        // (the framework, Rust, configuration) get a full `deno check`.
        let incremental = change.ts && !change.outside && !change.rust;
        checks.push(match (&self.checker, incremental) {
            (Some(checker), true) => Step {
                label,
                action: Action::TypeCheck {
                    checker: checker.clone(),
                    fallback: deno_check,
                },
            },
            _ => Step::run(label, deno_check),
        });
        if let Some(config) = &self.options.ctx_lint {
            let mut command = deno_lint_command();
            command
                .arg("--config")
                .arg(config)
                .args(&self.options.watch);
            checks.push(Step::run("checking ctx: KrepisContext parameters", command));
        }
        stages.push(checks);
        stages
    }

    fn start_gate(&mut self, change: Change) {
        let change = change.merge(self.unaccepted);
        self.unaccepted = change;
        let stages = self.gate_stages(change);
        let running = Running::default();
        self.gate_id += 1;
        let id = self.gate_id;
        self.gate = Some(running.clone());
        self.gate_started = Instant::now();
        let events = self.events.clone();
        thread::spawn(move || {
            // The app writes to the same terminal: plain lines, no spinner.
            let mut progress = Steps::shared(stages.len(), "krepis dev: ");
            let outcome = gate::run(stages, &running, |label| progress.step(label));
            progress.finish();
            let _ = events.send(Event::GateDone(id, outcome));
        });
    }

    fn on_change(&mut self, change: Change) {
        if self.warming {
            // A real change beats the warm-up: judge it at once.
            if let Some(gate) = self.gate.take() {
                gate.cancel();
            }
            self.warming = false;
            self.start_gate(change);
        } else if self.gate.is_some() {
            self.pending = self.pending.merge(change);
        } else {
            self.start_gate(change);
        }
    }

    fn on_gate_done(&mut self, outcome: Outcome) -> Result<()> {
        self.gate = None;
        if outcome == Outcome::Passed {
            self.unaccepted = Change::default();
        }
        if std::mem::take(&mut self.warming) {
            match outcome {
                Outcome::Passed => say(&format!(
                    "ready: initial checks took {:.1}s; watching for changes",
                    self.gate_started.elapsed().as_secs_f64()
                )),
                Outcome::Failed { label, output } => {
                    eprintln!("{}", output.trim_end());
                    say(&format!(
                        "{label} failed at start-up; the app runs, but reloads wait until this is fixed"
                    ));
                }
                Outcome::Cancelled => {}
            }
            return Ok(());
        }
        if self.pending.any() {
            // Newer edits arrived while checking; judge those instead.
            let change = std::mem::take(&mut self.pending);
            self.start_gate(change);
            return Ok(());
        }
        match outcome {
            Outcome::Passed => {
                say(&format!(
                    "change accepted (checked in {:.1}s); restarting",
                    self.gate_started.elapsed().as_secs_f64()
                ));
                self.backoff.reset();
                self.restart()
            }
            Outcome::Failed { label, output } => {
                eprintln!("{}", output.trim_end());
                let keeping = match &self.app {
                    Some(app) => format!("the running app (pid {}) keeps serving", app.id()),
                    None => "the app stays stopped".to_string(),
                };
                say(&format!(
                    "{label} failed; {keeping}; fix the error to reload"
                ));
                Ok(())
            }
            Outcome::Cancelled => Ok(()),
        }
    }

    fn stop_checker(&mut self) {
        if let Some(pid) = self.checker_pid.take() {
            // The gate thread may hold the checker; its group is killed directly.
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        self.checker = None;
    }

    fn watch_child(&mut self) {
        let Some(app) = self.app.as_mut() else { return };
        let Some(status) = app.try_wait() else { return };
        let uptime = app.uptime();
        self.stop_app(Signal::SIGKILL);
        if status.success() {
            say("the app exited; waiting for changes");
            return;
        }
        match self.backoff.next(uptime) {
            Some(delay) => {
                say(&format!(
                    "the app crashed ({status}); restarting in {:.1}s",
                    delay.as_secs_f64()
                ));
                self.restart_at = Some(Instant::now() + delay);
            }
            None => say(&format!(
                "the app crashed ({status}) {} times in a row right after starting; \
                 not restarting it until a file changes",
                backoff::GIVE_UP
            )),
        }
    }

    fn shutdown(&mut self, signal: i32) -> CliError {
        if let Some(gate) = self.gate.take() {
            gate.cancel();
        }
        let sig = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
        say(&format!("received {sig}; stopping the app"));
        self.stop_app(sig);
        self.stop_checker();
        CliError::Exit(128 + signal)
    }

    fn run(&mut self, events: mpsc::Receiver<Event>) -> Result<()> {
        self.spawn_app()?;
        if let Some(root) = self.options.entry.parent() {
            if let Some(checker) = TypeChecker::start(root, self.options.watch.clone()) {
                self.checker_pid = checker.pid();
                self.checker = Some(Arc::new(Mutex::new(checker)));
            }
        }
        self.start_gate(Change {
            ts: true,
            ..Change::default()
        });
        self.warming = true;
        loop {
            match events.recv_timeout(TICK) {
                Ok(Event::Changed(change)) => self.on_change(change),
                Ok(Event::GateDone(id, outcome)) if id == self.gate_id => {
                    self.on_gate_done(outcome)?
                }
                Ok(Event::GateDone(..)) => {}
                Ok(Event::Signal(signal)) => return Err(self.shutdown(signal)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.watch_child();
            if self
                .restart_at
                .is_some_and(|at| Instant::now() >= at && self.gate.is_none())
            {
                self.restart()?;
            }
        }
    }
}

/// Runs the supervisor until SIGINT/SIGTERM/SIGHUP; returns
/// [`CliError::Exit`] with `128 + signal` after stopping the app.
pub fn run(options: Options) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| CliError::Failed(format!("cannot install signal handlers: {e}")))?;
    let signal_tx = tx.clone();
    thread::spawn(move || {
        for signal in signals.forever() {
            if signal_tx.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });
    let mut dirs = options.watch.clone();
    if let Some(ws) = &options.workspace {
        for sub in ["crates", "packages", "bindings", "proto"] {
            let dir = ws.join(sub);
            if dir.is_dir() && !dirs.iter().any(|d| dir.starts_with(d)) {
                dirs.push(dir);
            }
        }
    }
    let mut watcher = Watcher::start(&dirs, options.watch.clone(), tx.clone(), Event::Changed)?;
    let mut shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    if let Some(ws) = options.workspace.as_ref() {
        // The root manifests (workspace dependencies, profiles, import map).
        if !dirs.iter().any(|d| ws.starts_with(d)) {
            watcher.watch_shallow(ws)?;
            shown.push(format!("{} (top level)", ws.display()));
        }
    }
    say(&format!("watching {}", shown.join(", ")));
    let mut supervisor = Supervisor {
        options,
        events: tx,
        app: None,
        gate: None,
        gate_id: 0,
        checker: None,
        checker_pid: None,
        gate_started: Instant::now(),
        warming: false,
        pending: Change::default(),
        unaccepted: Change::default(),
        restart_at: None,
        backoff: Backoff::default(),
    };
    let result = supervisor.run(rx);
    supervisor.stop_app(Signal::SIGTERM);
    supervisor.stop_checker();
    result
}
