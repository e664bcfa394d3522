//! The server's tokio runtime, driven by a thread of its own.
//!
//! One worker (the default) is a current-thread runtime: sockets, parsing and the bridge's
//! side of every hand-off stay on one thread, with no work-stealing queues in between. More
//! workers give a multi-thread runtime. Either way the `krepis-http` driver thread owns the
//! runtime, so stopping it is "signal and join".

use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::{KernelError, Result};

/// A running runtime and the thread that drives it.
pub struct Host {
    handle: Handle,
    halt: Mutex<Option<oneshot::Sender<()>>>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl Host {
    /// Starts a runtime with `threads` workers.
    pub fn start(threads: usize) -> Result<Self> {
        let mut builder = if threads <= 1 {
            Builder::new_current_thread()
        } else {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        };
        let runtime = builder
            .thread_name("krepis-http")
            .enable_all()
            .build()
            .map_err(|e| KernelError::io("start the http runtime", e))?;
        let handle = runtime.handle().clone();
        let (halt, halted) = oneshot::channel::<()>();
        let driver = std::thread::Builder::new()
            .name("krepis-http".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = halted.await;
                });
                // Dropping the runtime drops every task (and with them every connection).
                drop(runtime);
            })
            .map_err(|e| KernelError::io("start the http thread", e))?;
        Ok(Self {
            handle,
            halt: Mutex::new(Some(halt)),
            driver: Mutex::new(Some(driver)),
        })
    }

    /// Where to spawn tasks.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime and waits until every task has been dropped. Must not be called
    /// from one of the runtime's own tasks.
    pub fn stop(&self) {
        self.signal();
        if let Some(driver) = self.driver.lock().take() {
            let _ = driver.join();
        }
    }

    fn signal(&self) {
        if let Some(halt) = self.halt.lock().take() {
            let _ = halt.send(());
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Never blocks: the driver thread finishes the shutdown on its own.
        self.signal();
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
            let (started, is_started) = std::sync::mpsc::channel();
            host.handle().spawn(async move {
                let _flag = flag;
                started.send(()).unwrap();
                std::future::pending::<()>().await;
            });
            is_started.recv().unwrap();
            host.stop();
            assert!(dropped.load(Ordering::SeqCst), "threads={threads}");
        }
    }
}
