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
    /// Takes the lock on `path` (created if missing) if nobody holds it; see [`wait_for`]
    /// to wait for it.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| KernelError::io(format!("open lock file {}", path.display()), e))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(Some(Self { file })),
            Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => Ok(None),
            Err(e) => Err(KernelError::io(format!("lock {}", path.display()), e)),
        }
    }
}

/// Calls `attempt` until it yields a value, backing off, for up to `timeout`; the error
/// names the journal of the lock file `path`.
pub fn wait_for<T>(
    path: &Path,
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = attempt()? {
            return Ok(value);
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

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just makes it prompt.
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(path: &Path, ms: u64) -> Result<FileLock> {
        wait_for(path, Duration::from_millis(ms), || {
            FileLock::try_acquire(path)
        })
    }

    #[test]
    fn a_second_holder_times_out_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = acquire(&path, 10).unwrap();
        let err = acquire(&path, 30).err().unwrap();
        assert!(matches!(err, KernelError::Timeout(_)), "{err}");
        drop(first);
        acquire(&path, 10).unwrap();
    }
}
