//! Child processes in their own process groups, so that stopping one stops
//! everything it started (a `deno task` shell, deno, its subprocesses) and
//! nothing is left behind.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a child gets to exit after SIGTERM before it is killed.
pub const GRACE: Duration = Duration::from_secs(5);

/// A child's piped standard streams.
pub struct Pipes {
    /// Its stdin, if piped.
    pub stdin: Option<std::process::ChildStdin>,
    /// Its stdout, if piped.
    pub stdout: Option<std::process::ChildStdout>,
    /// Its stderr, if piped.
    pub stderr: Option<std::process::ChildStderr>,
}

/// A running child that leads its own process group.
pub struct GroupChild {
    child: Child,
    started: Instant,
    /// The leader's status once reaped. After that the group id may be reused by an
    /// unrelated process group, so the group is never signalled again.
    reaped: Option<ExitStatus>,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group. On Linux the child
    /// also gets SIGKILL if the supervisor itself dies (even by SIGKILL), so
    /// a crashed supervisor leaves no server holding the port.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs between fork and exec and only calls the
        // async-signal-safe prctl(2).
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn()?;
        Ok(Self {
            child,
            started: Instant::now(),
            reaped: None,
        })
    }

    /// The child's process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How long the child has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status, if the child has exited (never blocks). When the leader has
    /// exited, any members of its group still running are killed before it is reaped.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() && self.leader_exited(false) {
            self.reap();
        }
        self.reaped
    }

    /// Kills the stragglers while the exited leader (a zombie) still holds the group id,
    /// then reaps it: signalling the group after reaping could hit a new group that
    /// reused the id.
    fn reap(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        self.reaped = self.child.wait().ok();
    }

    /// Whether the leader has exited, without reaping it; `block` waits for that.
    #[cfg(target_os = "linux")]
    fn leader_exited(&self, block: bool) -> bool {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        if !block {
            flags |= WaitPidFlag::WNOHANG;
        }
        !matches!(
            waitid(Id::Pid(self.pgid()), flags),
            Ok(WaitStatus::StillAlive)
        )
    }

    /// Without `waitid(WNOWAIT)` the leader is reaped to find out, and its group is not
    /// signalled afterwards.
    #[cfg(not(target_os = "linux"))]
    fn leader_exited(&mut self, block: bool) -> bool {
        let status = if block {
            self.child.wait().ok()
        } else {
            self.child.try_wait().ok().flatten()
        };
        self.reaped = self.reaped.or(status);
        false
    }

    /// Takes the child's standard streams (those that were piped).
    pub fn take_pipes(&mut self) -> Pipes {
        Pipes {
            stdin: self.child.stdin.take(),
            stdout: self.child.stdout.take(),
            stderr: self.child.stderr.take(),
        }
    }

    /// Blocks until the leader exits and returns its status.
    pub fn wait(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() && self.leader_exited(true) {
            self.reap();
        }
        self.reaped
    }

    /// Blocks until the leader exits, without reaping it where the platform allows, so
    /// its process group id stays reserved until [`GroupChild::wait`] reaps it.
    pub fn wait_exited(&mut self) {
        if self.reaped.is_none() {
            self.leader_exited(true);
        }
    }

    /// Sends `signal` to the whole process group, unless the leader was reaped.
    pub fn signal(&self, signal: Signal) {
        if self.reaped.is_some() {
            return;
        }
        // ESRCH (group already gone) is the only expected failure and means
        // there is nothing left to signal.
        let _ = killpg(self.pgid(), signal);
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Stops the group: `signal` first, SIGKILL after [`GRACE`], then reaps
    /// the leader. Any other group members are killed too.
    pub fn stop(mut self, signal: Signal) -> Option<ExitStatus> {
        // `try_wait` and `wait` kill the group's stragglers before reaping the leader.
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        self.signal(signal);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.signal(Signal::SIGKILL);
        self.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
    }

    #[test]
    fn stop_kills_the_whole_group_including_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!(
            "sleep 60 & echo $! > {}; trap '' TERM; wait",
            pidfile.display()
        );
        let child = GroupChild::spawn(Command::new("sh").args(["-c", &script])).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
            assert!(Instant::now() < deadline, "grandchild never started");
            thread::sleep(Duration::from_millis(10));
        }
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(grandchild));
        let leader = child.id() as i32;
        // The shell ignores SIGTERM; it ends only because the group signal
        // also reached its grandchild, which a signal to the leader alone would not.
        child.stop(Signal::SIGTERM);
        assert!(!alive(leader));
        // Generous: the orphaned grandchild counts as alive until init has reaped it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(grandchild) {
            assert!(
                Instant::now() < deadline,
                "grandchild {grandchild} survived"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn try_wait_reports_a_crash() {
        let mut child = GroupChild::spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait() {
                assert_eq!(status.code(), Some(3));
                break;
            }
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(10));
        }
    }
}
