//! The gate a change must pass before the app is restarted: a kernel build
//! for Rust changes, a type check (and the ctx check) for TypeScript changes.
//! While the gate fails, the running app is left alone.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::process::GroupChild;

/// One command of the gate.
pub struct Step {
    /// What the step does, for messages ("building the kernel").
    pub label: String,
    /// The command; its stdout and stderr are captured.
    pub command: Command,
}

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

/// The process group of the step currently running, so it can be cancelled
/// from another thread.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<Option<u32>>>);

impl Running {
    /// Kills the running step's process group, if any.
    pub fn cancel(&self) {
        if let Some(pid) = *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }

    fn set(&self, pid: Option<u32>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = pid;
    }
}

/// Runs `steps` in order, stopping at the first failure. `on_step` is called
/// with each label as it starts (for progress display).
pub fn run(steps: Vec<Step>, running: &Running, mut on_step: impl FnMut(&str)) -> Outcome {
    for mut step in steps {
        on_step(&step.label);
        step.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match GroupChild::spawn(&mut step.command) {
            Ok(child) => child,
            Err(e) => {
                return Outcome::Failed {
                    label: step.label,
                    output: format!("cannot start: {e}"),
                };
            }
        };
        running.set(Some(child.id()));
        let (stdout, stderr) = child.take_output();
        let out_reader = std::thread::spawn(move || read_all(stdout));
        let err_text = read_all(stderr);
        let out_text = out_reader.join().unwrap_or_default();
        let status = child.wait();
        running.set(None);
        match status {
            Some(status) if status.success() => continue,
            Some(status) if status.code().is_none() => return Outcome::Cancelled,
            _ => {
                return Outcome::Failed {
                    label: step.label,
                    output: format!("{out_text}{err_text}"),
                };
            }
        }
    }
    Outcome::Passed
}

fn read_all(stream: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut stream) = stream {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(label: &str, script: &str) -> Step {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Step {
            label: label.to_string(),
            command,
        }
    }

    #[test]
    fn stops_at_the_first_failure_with_its_output() {
        let mut seen = Vec::new();
        let outcome = run(
            vec![
                sh("one", "echo fine"),
                sh(
                    "two",
                    "echo out; echo 'error[E0308]: mismatched types' >&2; exit 101",
                ),
                sh("three", "exit 0"),
            ],
            &Running::default(),
            |label| seen.push(label.to_string()),
        );
        assert_eq!(seen, ["one", "two"]);
        assert_eq!(
            outcome,
            Outcome::Failed {
                label: "two".into(),
                output: "out\nerror[E0308]: mismatched types\n".into()
            }
        );
    }

    #[test]
    fn passes_when_every_step_succeeds() {
        let outcome = run(
            vec![sh("a", "true"), sh("b", "true")],
            &Running::default(),
            |_| {},
        );
        assert_eq!(outcome, Outcome::Passed);
    }

    #[test]
    fn cancel_kills_the_running_step() {
        let running = Running::default();
        let canceller = running.clone();
        let handle =
            std::thread::spawn(move || run(vec![sh("slow", "sleep 30")], &running, |_| {}));
        let start = std::time::Instant::now();
        while canceller.0.lock().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        canceller.cancel();
        assert_eq!(handle.join().unwrap(), Outcome::Cancelled);
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }
}
