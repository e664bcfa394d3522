//! The server's tokio runtime, and who drives it.
//!
//! One worker (the default) is a current-thread runtime without a thread of its own: its
//! caller drives it. TypeScript does so in *turns* from the JS thread (a synchronous call
//! runs what is ready, polls the sockets once and returns), and only when a turn finds no
//! work does it *park* a blocking thread inside the runtime until there is some. Under load
//! every hand-off therefore stays on the JS thread. A lock keeps the runtime to one driver
//! at a time. When JavaScript neither turns nor parks for [`SPELL`] (a handler computing
//! synchronously), a *watchdog* thread drives it in slices until JavaScript claims it back,
//! so static files, timeouts and idle limits never wait for JavaScript.
//!
//! More workers give a multi-thread runtime whose worker threads drive it; turns and parks
//! then only wait on it.
//!
//! Connections are accepted on this runtime, where they are served; a thread stands by
//! to empty the listen queue while the runtime is held up (see `server::stand_by`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::Notify;

use crate::{KernelError, Result};

/// Tasks a current-thread turn runs before it polls the sockets again (tokio's default is
/// 61): one turn should answer a whole batch of connections at once.
const EVENT_INTERVAL: u32 = 512;
/// How long the runtime may go undriven before the watchdog drives it.
pub const SPELL: Duration = Duration::from_millis(5);
/// Longest [`Host::try_drive`] waits for the watchdog to hand the runtime over (it does in
/// microseconds once claimed; the bound covers a park taking the runtime meanwhile).
const HANDOVER: Duration = Duration::from_millis(1);

struct Shared {
    runtime: Mutex<Option<Runtime>>,
    /// Drivers waiting for the lock: the watchdog hands the runtime over to them.
    claims: AtomicUsize,
    claimed: Notify,
    /// When a driver last let go of the runtime (µs since `epoch`).
    released: AtomicU64,
    /// Whether the watchdog has the runtime (it lets go when claimed; a park does not).
    watching: AtomicBool,
    epoch: Instant,
    stopped: AtomicBool,
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn drive<F: Future>(&self, work: F) -> Option<F::Output> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        self.claimed.notify_waiters();
        let runtime = self.runtime.lock();
        self.claims.fetch_sub(1, Ordering::SeqCst);
        let out = runtime.as_ref().map(|rt| rt.block_on(work));
        self.released.store(self.now(), Ordering::Relaxed);
        out
    }

    /// Drives the runtime while nobody else does, until a driver claims it back.
    fn watch(&self) {
        while !self.stopped.load(Ordering::Relaxed) {
            std::thread::sleep(SPELL);
            let idle = self
                .now()
                .saturating_sub(self.released.load(Ordering::Relaxed));
            if idle < SPELL.as_micros() as u64 || self.claims.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let Some(runtime) = self.runtime.try_lock() else {
                continue; // a turn or a park has it
            };
            if let Some(rt) = runtime.as_ref() {
                self.watching.store(true, Ordering::SeqCst);
                rt.block_on(async {
                    let claimed = self.claimed.notified();
                    tokio::pin!(claimed);
                    claimed.as_mut().enable();
                    if self.claims.load(Ordering::SeqCst) == 0 {
                        claimed.await;
                    }
                });
                self.watching.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// A runtime, and the lock its drivers take.
pub struct Host {
    handle: Handle,
    shared: Arc<Shared>,
    watchdog: Mutex<Option<JoinHandle<()>>>,
    turned: bool,
}

impl Host {
    /// Starts a runtime with `threads` workers (1: driven by its callers).
    pub fn start(threads: usize) -> Result<Self> {
        let turned = threads <= 1;
        let mut builder = if turned {
            let mut builder = Builder::new_current_thread();
            builder.event_interval(EVENT_INTERVAL);
            builder
        } else {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(threads).thread_name("krepis-http");
            builder
        };
        let runtime = builder
            .enable_all()
            .build()
            .map_err(|e| KernelError::io("start the http runtime", e))?;
        let handle = runtime.handle().clone();
        let shared = Arc::new(Shared {
            runtime: Mutex::new(Some(runtime)),
            claims: AtomicUsize::new(0),
            claimed: Notify::new(),
            released: AtomicU64::new(0),
            watching: AtomicBool::new(false),
            epoch: Instant::now(),
            stopped: AtomicBool::new(false),
        });
        let watchdog = if turned {
            let watched = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name("krepis-http".into())
                .spawn(move || watched.watch())
                .map_err(|e| KernelError::io("start the http watchdog", e))?;
            Some(thread)
        } else {
            None
        };
        Ok(Self {
            handle,
            shared,
            watchdog: Mutex::new(watchdog),
            turned,
        })
    }

    /// Where to spawn tasks.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Whether the caller of [`Host::drive`] is what runs the tasks (one worker).
    pub fn turned(&self) -> bool {
        self.turned
    }

    /// Runs `work` to its end on this thread, driving the runtime meanwhile when it is a
    /// current-thread one (taking it over from the watchdog, or waiting while a park has
    /// it); `None` once stopped. Must not be called from one of the runtime's own tasks.
    pub fn drive<F: Future>(&self, work: F) -> Option<F::Output> {
        self.shared.drive(work)
    }

    /// Runs `work` to its end on this thread if the runtime is a current-thread one that is
    /// free or that the watchdog hands over (claimed, as [`Host::drive`] does); `None` when
    /// a park has it (or it is stopped), without waiting for that.
    pub fn try_drive<F: Future>(&self, work: F) -> Option<F::Output> {
        if !self.turned {
            return None;
        }
        let shared = &self.shared;
        let runtime = match shared.runtime.try_lock() {
            Some(runtime) => runtime,
            None if shared.watching.load(Ordering::SeqCst) => {
                shared.claims.fetch_add(1, Ordering::SeqCst);
                shared.claimed.notify_waiters();
                let runtime = shared.runtime.try_lock_for(HANDOVER);
                shared.claims.fetch_sub(1, Ordering::SeqCst);
                runtime?
            }
            None => return None,
        };
        let out = runtime.as_ref().map(|rt| rt.block_on(work));
        shared.released.store(shared.now(), Ordering::Relaxed);
        out
    }

    /// Stops the runtime and waits until every task has been dropped (after a driver that
    /// is inside it has returned). Must not be called from one of the runtime's own tasks.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.claims.fetch_add(1, Ordering::SeqCst);
        self.shared.claimed.notify_waiters();
        let runtime = self.shared.runtime.lock().take();
        self.shared.claims.fetch_sub(1, Ordering::SeqCst);
        // Dropping a runtime waits for its blocking pool, which tokio refuses inside an
        // async context (a caller that runs on a runtime of its own, as Rust callers of a
        // KNUL or HTTP server may); a thread of its own may always wait.
        if let Some(runtime) = runtime {
            let _ = std::thread::spawn(move || drop(runtime)).join();
        }
        if let Some(watchdog) = self.watchdog.lock().take() {
            let _ = watchdog.join();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_drops_pending_tasks_before_returning() {
        for threads in [1, 2] {
            let host = Host::start(threads).unwrap();
            let dropped = Arc::new(AtomicBool::new(false));
            struct Flag(Arc<AtomicBool>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let flag = Flag(Arc::clone(&dropped));
            let (started, is_started) = tokio::sync::oneshot::channel();
            host.handle().spawn(async move {
                let _flag = flag;
                let _ = started.send(());
                std::future::pending::<()>().await;
            });
            host.drive(is_started).unwrap().unwrap();
            host.stop();
            assert!(dropped.load(Ordering::SeqCst), "threads={threads}");
            assert!(host.drive(async {}).is_none(), "stopped");
        }
    }

    #[test]
    fn try_drive_takes_the_runtime_from_the_watchdog_but_never_waits_for_a_park() {
        let host = Arc::new(Host::start(1).unwrap());
        // Nobody drives it: the watchdog takes the runtime, and hands it over when claimed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !host.shared.watching.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the watchdog never took the runtime"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(host.try_drive(async { 7 }), Some(7));
        // A park keeps it until its work is done: no waiting for that.
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (parked, is_parked) = std::sync::mpsc::channel();
        let parker = {
            let host = Arc::clone(&host);
            std::thread::spawn(move || {
                host.drive(async move {
                    parked.send(()).unwrap();
                    let _ = released.await;
                })
            })
        };
        is_parked.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(host.try_drive(async { 7 }), None);
        release.send(()).unwrap();
        parker.join().unwrap().unwrap();
        assert_eq!(host.try_drive(async { 7 }), Some(7));
    }

    #[test]
    fn the_watchdog_drives_a_runtime_nobody_turns_and_hands_it_back() {
        let host = Host::start(1).unwrap();
        assert!(host.turned());
        let (ran, has_run) = std::sync::mpsc::channel();
        host.handle().spawn(async move { ran.send(()).unwrap() });
        // Nobody calls `drive`: the watchdog runs the task.
        has_run.recv_timeout(Duration::from_secs(10)).unwrap();
        // A caller still gets the runtime (the watchdog lets go when claimed).
        for _ in 0..20 {
            assert_eq!(host.drive(async { 7 }), Some(7));
            std::thread::sleep(SPELL * 2);
        }
    }
}
