//! The gate a change must pass before the app is restarted: a kernel build
//! for Rust changes, then a type check and the ctx lint (concurrently) for
//! any change. While the gate fails, the running app is left alone.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::lsp::TypeChecker;
use super::process::GroupChild;

/// What a step does.
pub enum Action {
    /// Runs a command (stdout and stderr captured); a non-zero exit fails.
    Run(Command),
    /// Asks the incremental type checker; when it cannot answer, runs
    /// `fallback` (`deno check`) instead.
    TypeCheck {
        /// The running checker.
        checker: Arc<Mutex<TypeChecker>>,
        /// The command to run when the checker cannot answer.
        fallback: Command,
    },
}

/// One step of the gate.
pub struct Step {
    /// What the step does, for messages ("building the kernel").
    pub label: String,
    /// How it does it.
    pub action: Action,
}

impl Step {
    /// A step that runs `command`.
    pub fn run(label: impl Into<String>, command: Command) -> Self {
        Self {
            label: label.into(),
            action: Action::Run(command),
        }
    }
}

/// Steps that run concurrently; the gate runs stages one after another.
pub type Stage = Vec<Step>;

/// How a gate run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step succeeded.
    Passed,
    /// A step failed; `output` is what it printed.
    Failed {
        /// The failing step's label.
        label: String,
        /// Its combined stdout and stderr.
        output: String,
    },
    /// The gate was cancelled (the supervisor is shutting down).
    Cancelled,
}

/// The process groups of the steps currently running, so they can be
/// cancelled from another thread.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<Vec<u32>>>);

impl Running {
    /// Kills every running step's process group.
    pub fn cancel(&self) {
        for pid in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = killpg(Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
    }

    fn add(&self, pid: u32) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    }

    fn remove(&self, pid: u32) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != pid);
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

/// Runs one step to completion and returns its outcome.
fn run_step(step: Step, running: &Running) -> Outcome {
    match step.action {
        Action::Run(command) => run_command(step.label, command, running),
        Action::TypeCheck { checker, fallback } => {
            // The lock is held only to send the edit, not while waiting.
            let pending = checker.lock().unwrap_or_else(|e| e.into_inner()).prepare();
            match pending.and_then(|p| p.wait()) {
                Ok(errors) if errors.is_empty() => Outcome::Passed,
                Ok(errors) => Outcome::Failed {
                    label: step.label,
                    output: errors.join("\n\n"),
                },
                Err(_) => run_command(step.label, fallback, running),
            }
        }
    }
}

/// Runs one command to completion and returns its outcome.
fn run_command(label: String, mut command: Command, running: &Running) -> Outcome {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match GroupChild::spawn(&mut command) {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Failed {
                label,
                output: format!("cannot start: {e}"),
            };
        }
    };
    let pid = child.id();
    running.add(pid);
    let pipes = child.take_pipes();
    let (stdout, stderr) = (pipes.stdout, pipes.stderr);
    let out_reader = thread::spawn(move || read_all(stdout));
    let err_text = read_all(stderr);
    let out_text = out_reader.join().unwrap_or_default();
    // Forget the group before reaping its leader: once reaped, the id may be reused and
    // `Running::cancel` must not signal it.
    child.wait_exited();
    running.remove(pid);
    let status = child.wait();
    match status {
        Some(status) if status.success() => Outcome::Passed,
        Some(status) if status.code().is_none() => Outcome::Cancelled,
        _ => Outcome::Failed {
            label,
            output: format!("{out_text}{err_text}"),
        },
    }
}

/// Runs `stages` in order (the steps of a stage concurrently), stopping after
/// the first stage with a failure; reports the first failing step in stage
/// order. `on_stage` gets each stage's labels as it starts.
pub fn run(stages: Vec<Stage>, running: &Running, mut on_stage: impl FnMut(&str)) -> Outcome {
    for stage in stages {
        let labels: Vec<&str> = stage.iter().map(|s| s.label.as_str()).collect();
        on_stage(&labels.join(" + "));
        let outcomes: Vec<Outcome> = thread::scope(|scope| {
            let handles: Vec<_> = stage
                .into_iter()
                .map(|step| scope.spawn(move || run_step(step, running)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Outcome::Cancelled))
                .collect()
        });
        if outcomes.contains(&Outcome::Cancelled) {
            return Outcome::Cancelled;
        }
        if let Some(failed) = outcomes.into_iter().find(|o| *o != Outcome::Passed) {
            return failed;
        }
    }
    Outcome::Passed
}

fn read_all(stream: Option<impl Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut stream) = stream {
        let _ = stream.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn sh(label: &str, script: &str) -> Step {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Step::run(label, command)
    }

    #[test]
    fn stops_after_the_first_failing_stage_with_its_output() {
        let mut seen = Vec::new();
        let outcome = run(
            vec![
                vec![sh("one", "echo fine")],
                vec![
                    sh(
                        "two",
                        "echo out; echo 'error[E0308]: mismatched types' >&2; exit 101",
                    ),
                    sh("two-b", "true"),
                ],
                vec![sh("three", "exit 0")],
            ],
            &Running::default(),
            |label| seen.push(label.to_string()),
        );
        assert_eq!(seen, ["one", "two + two-b"]);
        assert_eq!(
            outcome,
            Outcome::Failed {
                label: "two".into(),
                output: "out\nerror[E0308]: mismatched types\n".into()
            }
        );
    }

    #[test]
    fn steps_of_a_stage_run_concurrently() {
        // Each step marks that it started, then waits for the other two marks: run one
        // after another, the first would give up after 30 s and fail the stage. (A bound on
        // the elapsed time depended on how fast a loaded machine starts shells.)
        let dir = tempfile::tempdir().unwrap();
        let step = |name: &str| {
            let script = format!(
                "touch {name}; for i in $(seq 3000); do \
                 [ -e a ] && [ -e b ] && [ -e c ] && exit 0; sleep 0.01; done; exit 1"
            );
            let mut command = Command::new("sh");
            command.args(["-c", &script]).current_dir(dir.path());
            Step::run(name, command)
        };
        let running = Running::default();
        let outcome = run(
            vec![vec![step("a"), step("b"), step("c")]],
            &running,
            |_| {},
        );
        assert_eq!(outcome, Outcome::Passed);
        assert!(running.is_empty());
    }

    #[test]
    fn cancel_kills_the_running_steps() {
        let running = Running::default();
        let canceller = running.clone();
        let handle = thread::spawn(move || {
            run(
                vec![vec![sh("slow", "sleep 30"), sh("slower", "sleep 40")]],
                &running,
                |_| {},
            )
        });
        let start = Instant::now();
        while canceller.0.lock().unwrap().len() < 2 {
            thread::sleep(Duration::from_millis(5));
        }
        canceller.cancel();
        assert_eq!(handle.join().unwrap(), Outcome::Cancelled);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
