//! The lock file that serializes journal access across processes.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::{KernelError, Result};

/// An exclusive advisory lock on a file, released on drop.
///
/// Locks are per open file, so two journals in one process exclude each other too.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), waiting up to `timeout` for the
    /// current holder to let go.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| KernelError::io(format!("open lock file {}", path.display()), e))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(Self { file }),
                Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {}
                Err(e) => {
                    return Err(KernelError::io(format!("lock {}", path.display()), e));
                }
            }
            if Instant::now() >= deadline {
                return Err(KernelError::Timeout(format!(
                    "the journal at {} is busy in another transaction (waited {} ms)",
                    path.parent().unwrap_or(path).display(),
                    timeout.as_millis()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just makes it prompt.
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_times_out_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = FileLock::acquire(&path, Duration::from_millis(10)).unwrap();
        let err = FileLock::acquire(&path, Duration::from_millis(30))
            .err()
            .unwrap();
        assert!(matches!(err, KernelError::Timeout(_)), "{err}");
        drop(first);
        FileLock::acquire(&path, Duration::from_millis(10)).unwrap();
    }
}
