//! The server's tokio runtime, and who drives it.
//!
//! One worker (the default) is a current-thread runtime with no thread of its own: the
//! caller drives it. TypeScript does so in *turns* from its own thread (a synchronous call
//! runs what is ready, polls the sockets once and returns), and only when a turn finds no
//! work does it *park* a blocking thread inside the runtime until there is some. Under load
//! every hand-off therefore stays on the JS thread; nothing crosses threads. A lock keeps
//! the runtime to one driver at a time (tokio would also hand its core over safely).
//!
//! More workers give a multi-thread runtime whose worker threads drive it; turns and parks
//! then only wait on it.

use std::future::Future;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};

use crate::{KernelError, Result};

/// Tasks a current-thread turn runs before it polls the sockets again (tokio's default is
/// 61): one turn should answer a whole batch of connections at once.
const EVENT_INTERVAL: u32 = 512;

/// A runtime, and the lock its drivers take.
pub struct Host {
    handle: Handle,
    runtime: Mutex<Option<Runtime>>,
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
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
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
    /// current-thread one (waiting while another thread drives it); `None` once stopped.
    /// Must not be called from one of the runtime's own tasks.
    pub fn drive<F: Future>(&self, work: F) -> Option<F::Output> {
        let runtime = self.runtime.lock();
        Some(runtime.as_ref()?.block_on(work))
    }

    /// Stops the runtime and waits until every task has been dropped (after a driver that
    /// is inside it has returned). Must not be called from one of the runtime's own tasks.
    pub fn stop(&self) {
        let runtime = self.runtime.lock().take();
        drop(runtime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

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
            // A current-thread runtime runs the task only while someone drives it.
            host.drive(is_started).unwrap().unwrap();
            host.stop();
            assert!(dropped.load(Ordering::SeqCst), "threads={threads}");
            assert!(host.drive(async {}).is_none(), "stopped");
        }
    }

    #[test]
    fn a_current_thread_runtime_runs_only_while_driven() {
        let host = Host::start(1).unwrap();
        assert!(host.turned());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        host.handle()
            .spawn(async move { flag.store(true, Ordering::SeqCst) });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!ran.load(Ordering::SeqCst), "nobody drove it yet");
        host.drive(tokio::task::yield_now()).unwrap();
        assert!(ran.load(Ordering::SeqCst));
    }
}
