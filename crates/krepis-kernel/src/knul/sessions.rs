//! The server's TLS session cache in sled, so a restarted server resumes the sessions (and
//! accepts the 0-RTT data) of tickets it issued before the restart.
//!
//! rustls issues TLS 1.3 tickets that name an entry of this cache and *takes* (removes) the
//! entry when a client resumes with it, so each ticket resumes once: a replayed ClientHello
//! finds nothing and falls back to a full handshake, across restarts too. (The client side
//! cannot persist its tickets: rustls 0.23 keeps client session values opaque — see
//! rustls/rustls#2287.) The entries hold resumption secrets: keep the directory private.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{KernelError, Result};

/// Entries kept at most; past that the cache starts over (tickets then fall back to full
/// handshakes, which is always safe).
const MAX_ENTRIES: usize = 16 * 1024;

/// See the module docs.
pub struct SledSessions {
    db: sled::Db,
}

impl std::fmt::Debug for SledSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSessions").finish_non_exhaustive()
    }
}

impl SledSessions {
    /// Opens (or creates) the cache in directory `dir`.
    pub fn open(dir: &Path) -> Result<Arc<Self>> {
        // A server SIGKILLed while sled wrote its snapshot must still restart.
        crate::sled_open::remove_unfinished_if_unused(dir)?;
        let config = sled::Config::new().path(dir);
        let db = crate::sled_open::open(&config, Duration::from_secs(5)).map_err(|e| {
            KernelError::Internal(format!("open session store {}: {e}", dir.display()))
        })?;
        Ok(Arc::new(Self { db }))
    }
}

impl rustls::server::StoresServerSessions for SledSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if self.db.len() >= MAX_ENTRIES && self.db.clear().is_err() {
            return false;
        }
        // Flushed at once: a ticket the client holds must survive a crash of this process.
        self.db.insert(key, value).is_ok() && self.db.flush().is_ok()
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db.get(key).ok().flatten().map(|v| v.to_vec())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.db.remove(key).ok().flatten().map(|v| v.to_vec());
        if value.is_some() {
            let _ = self.db.flush();
        }
        value
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::StoresServerSessions;

    #[test]
    fn entries_survive_a_reopen_and_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledSessions::open(dir.path()).unwrap();
        assert!(store.put(b"k".to_vec(), b"v".to_vec()));
        drop(store);
        let store = SledSessions::open(dir.path()).unwrap();
        assert_eq!(store.get(b"k").as_deref(), Some(&b"v"[..]));
        assert_eq!(store.take(b"k").as_deref(), Some(&b"v"[..]));
        assert_eq!(store.take(b"k"), None);
    }

    #[test]
    fn a_store_left_with_a_torn_snapshot_reopens_with_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledSessions::open(dir.path()).unwrap();
        assert!(store.put(b"k".to_vec(), b"v".to_vec()));
        drop(store);
        // What a SIGKILL in the middle of sled's snapshot write leaves behind.
        std::fs::write(dir.path().join("snap.FFFFFFFFFFFFFFFF.generating"), b"torn").unwrap();
        let store = SledSessions::open(dir.path()).unwrap();
        assert_eq!(store.get(b"k").as_deref(), Some(&b"v"[..]));
        // While it is open, another opener leaves a snapshot in progress alone.
        std::fs::write(dir.path().join("snap.FFFFFFFFFFFFFFFE.generating"), b"live").unwrap();
        crate::sled_open::remove_unfinished_if_unused(dir.path()).unwrap();
        assert!(dir.path().join("snap.FFFFFFFFFFFFFFFE.generating").exists());
    }
}
