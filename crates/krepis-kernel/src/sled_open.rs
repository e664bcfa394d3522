//! Opening sled 0.34 databases robustly; shared by the journal and the KV store.
//!
//! Two workarounds. First, dropping a sled `Db` does not release its file lock at once
//! (background I/O threads still hold the file for a moment), so reopening right after a
//! close in the same process can fail with "could not acquire lock": [`open`] retries that
//! for a while. Second, opening a sled 0.34 database writes a snapshot as `snap.<lsn>.generating`, fsyncs it and
//! renames it to `snap.<lsn>`. When the process is killed before the rename, the next open
//! picks the newest `snap.*` file — the unfinished `.generating` one (sled only skips an
//! old `.in___motion` suffix) — finds its checksum wrong and refuses the whole database as
//! corrupt. An unfinished snapshot is never needed (the log holds everything it would),
//! so it is deleted before sled opens, while the caller holds exclusive access.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{KernelError, Result};

/// Opens `config`, retrying for up to `patience` while sled's own lock is still held — by
/// a database this process just dropped, or by another process.
pub fn open(config: &sled::Config, patience: Duration) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(1);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Deletes unfinished snapshot files from the sled database directory `dir`. The caller
/// must make sure no process has the database open.
pub fn remove_unfinished(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(KernelError::io(format!("list {}", dir.display()), e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())
                .map_err(|e| KernelError::io(format!("remove {}", entry.path().display()), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// [`remove_unfinished`] for a database that has no lock of its own beside sled's: only
/// when no process has it open (sled locks its `db` file while open), so a snapshot that
/// a live process is writing is never touched.
pub fn remove_unfinished_if_unused(dir: &Path) -> Result<()> {
    use fs2::FileExt;
    let Ok(file) = std::fs::File::open(dir.join("db")) else {
        return Ok(()); // a new database
    };
    if file.try_lock_exclusive().is_ok() {
        remove_unfinished(dir)?;
        let _ = FileExt::unlock(&file);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_with_a_torn_snapshot_opens_after_the_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        // What a kill in the middle of sled's snapshot write leaves behind.
        std::fs::write(dir.path().join("snap.FFFFFFFFFFFFFFFF.generating"), b"torn").unwrap();
        // Through `open`: sled's flusher thread can hold the dropped database's lock a while.
        let config = sled::Config::new().path(dir.path());
        let patience = Duration::from_secs(10);
        let Err(err) = open(&config, patience) else {
            panic!("sled should trip over the torn snapshot");
        };
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert_eq!(remove_unfinished(dir.path()).unwrap(), 1);
        let db = open(&config, patience).unwrap();
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
