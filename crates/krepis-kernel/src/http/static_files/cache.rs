//! The bytes of small, settled files kept in memory, so serving one again reads nothing:
//! the default mount's `pread` (its copy and page-cache walk) was a fifth of its CPU per
//! 1 MiB response, and the socket write's copy a third.
//!
//! A cached version of a file larger than one read chunk lives in a snapshot file of its
//! own ([`SnapshotStore`]): an unlinked file nobody else can name or open, on a disk file
//! system whose page cache uses large folios, or else a sealed memfd (no write, grow or
//! shrink is possible any more). On a plain HTTP/1.x connection a large response is sent
//! from it with `sendfile` (no copy in user space, none into the socket), and elsewhere a
//! read-only mapping of it is lent to the connection as bytes. Smaller files are kept as
//! they were read, without a descriptor. `sendfile` from the page cache of the served file
//! itself can send bytes of two versions when the file is overwritten in place (see
//! [`super::sendfile`]); a snapshot's pages never change, so the default mount keeps its
//! contract, and because a snapshot never shrinks, its mapping never faults.
//!
//! A cached copy is only ever a whole, consistent version: it is read with
//! [`read_checked`] (the file's stamp checked after the read) and used only while the
//! file's device, inode, length, mtime and ctime are the same as when it was read. A file
//! changed in place gets a new ctime (user space cannot set it back), a file replaced by
//! rename is another inode, so either is read afresh. Only files whose ctime is older
//! than [`CacheLimits::settled`] (default [`SETTLED`]) are cached: a change a moment after the read could otherwise land
//! within the same file-system timestamp tick and look like the cached version; files
//! being written are read every time, as before.

use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;

use super::file_body::{CHUNK, read_checked};
use super::negotiate::Stamp;

/// Default largest file kept (2 MiB).
pub const FILE_MAX: u64 = 2 << 20;
/// Default most bytes kept for one server (32 MiB); the oldest entries go first.
pub const TOTAL_MAX: usize = 32 << 20;
/// Default time since a file's last change (ctime) before its bytes are kept (2 s).
pub const SETTLED: Duration = Duration::from_secs(2);

/// What one server's cache may hold (the `staticCache` serve option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// The most bytes kept; the oldest entries go first. 0: nothing is kept.
    pub total: usize,
    /// The largest file kept.
    pub file: u64,
    /// How long ago a file's ctime must be for its bytes to be kept.
    pub settled: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            total: TOTAL_MAX,
            file: FILE_MAX,
            settled: SETTLED,
        }
    }
}

/// One version of a file, as precisely as `stat` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn settled(&self, now: SystemTime, after: Duration) -> bool {
        let (secs, nanos) = self.ctime;
        let Ok(secs) = u64::try_from(secs) else {
            return false;
        };
        let changed = UNIX_EPOCH + Duration::new(secs, nanos.clamp(0, 999_999_999) as u32);
        changed + after < now
    }
}

/// One cached version of a file.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The snapshot file holding the bytes (see [`SnapshotStore`]), for `sendfile`: only for files larger than one
    /// read chunk (smaller responses are never sent with `sendfile`), so the cache holds
    /// at most [`CacheLimits::total`] / [`CHUNK`] descriptors however many small files it keeps.
    pub file: Option<Arc<File>>,
    /// The bytes: a read-only mapping of the snapshot, or for a small file its heap copy.
    pub bytes: Bytes,
}

impl Cached {
    /// Keeps `bytes` (a consistent version, just read): a small file as it is, a larger
    /// one copied into a new snapshot file of `store` (an unlinked file, or a memfd when
    /// that cannot be made) and mapped.
    fn hold(bytes: Bytes, store: &SnapshotStore) -> io::Result<Self> {
        if bytes.len() as u64 <= CHUNK {
            return Ok(Self { file: None, bytes });
        }
        let file = match store {
            // A full disk or a directory gone since start-up: the memfd still works.
            SnapshotStore::Unlinked(dir) => {
                unlinked_snapshot(dir, &bytes).or_else(|_| sealed_snapshot(&bytes))?
            }
            SnapshotStore::Memfd => sealed_snapshot(&bytes)?,
        };
        let mapping = Mapping::of(&file, bytes.len())?;
        Ok(Self {
            file: Some(Arc::new(file)),
            bytes: Bytes::from_owner(mapping),
        })
    }
}

/// Where the snapshots of files larger than one read chunk live, chosen once per process
/// ([`SnapshotStore::detect`]).
///
/// Why not always a memfd: `sendfile` walks its source page by page, and a memfd's pages
/// are 4 KiB unless shmem huge pages are enabled (`never` by default). A disk file
/// system's page cache (ext4 since Linux 6.16, XFS, btrfs) uses large folios, so the same
/// MiB is a handful of folios: measured with perf under the 1 MiB bulk load, the memfd's
/// per-page lookups (`shmem_get_folio`, `filemap_get_entry`, `xas_load`) were ≈12% of the
/// server's CPU, and an unlinked file on ext4 sends like the file itself does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStore {
    /// Unlinked files (`O_TMPFILE | O_EXCL`, mode 0) in this directory: no name, never
    /// linkable into one, not reopenable through `/proc` without privileges, and never
    /// written after they are filled, so their bytes cannot change and their mapping
    /// never faults (only a process that may ptrace the server could reach them).
    Unlinked(std::path::PathBuf),
    /// Sealed memfds (no write, grow or shrink is possible at all).
    Memfd,
}

/// File systems whose page cache is on disk and uses large folios (`statfs` magic).
const LARGE_FOLIO_FILE_SYSTEMS: [u32; 3] = [
    0xEF53,      // ext4
    0x5846_5342, // XFS
    0x9123_683E, // btrfs
];

impl SnapshotStore {
    /// The store for this process: unlinked files in [`std::env::temp_dir`] (`TMPDIR`)
    /// when [`SnapshotStore::in_dir`] accepts it, else memfds. Checked once, at the first
    /// server's start.
    pub fn detect() -> Self {
        static CHOSEN: std::sync::OnceLock<SnapshotStore> = std::sync::OnceLock::new();
        CHOSEN
            .get_or_init(|| Self::in_dir(&std::env::temp_dir()))
            .clone()
    }

    /// Unlinked files in `dir` if one can be made there and it lives on a local file
    /// system whose page cache uses large folios; memfds otherwise (tmpfs is shmem like a
    /// memfd, a network file system's cache is not the server's to rely on).
    pub fn in_dir(dir: &std::path::Path) -> Self {
        let usable = unlinked_file(dir)
            .and_then(|file| rustix::fs::fstatfs(&file).map_err(io::Error::from))
            .is_ok_and(|fs| LARGE_FOLIO_FILE_SYSTEMS.contains(&(fs.f_type as u32)));
        if usable {
            Self::Unlinked(dir.to_path_buf())
        } else {
            Self::Memfd
        }
    }
}

/// A new, empty file in `dir` with no name that can never get one (`O_EXCL`), and mode 0
/// so that no other process without privileges can open it through `/proc`.
fn unlinked_file(dir: &std::path::Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// `bytes` in a new unlinked file in `dir` (see [`SnapshotStore::Unlinked`]).
fn unlinked_snapshot(dir: &std::path::Path, bytes: &[u8]) -> io::Result<File> {
    let mut file = unlinked_file(dir)?;
    // One write of the whole length: the page cache then allocates large folios for it.
    file.write_all(bytes)?;
    Ok(file)
}

/// `bytes` in a new memfd, sealed against writes, growing and shrinking.
fn sealed_snapshot(bytes: &[u8]) -> io::Result<File> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(
        "krepis-static",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    rustix::fs::fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(file)
}

/// A private read-only mapping of a snapshot file's whole length.
struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; it is only read.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared reads of immutable memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `file` must be a snapshot nothing writes or shrinks any more (see [`SnapshotStore`])
    /// and at least `len` long (and `len` not zero), so the mapped pages stay readable and
    /// unchanged for the mapping's life.
    fn of(file: &File, len: usize) -> io::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a fresh mapping chosen by the kernel, of a snapshot as required above.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::PRIVATE,
                file,
                0,
            )
        }?;
        Ok(Self { ptr, len })
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len` mapped, readable bytes that nothing writes (see `of`).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `of`; no slice of it outlives `self` (Bytes owns it).
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

/// Files' bytes by device and inode, bounded by its [`CacheLimits`].
pub struct FileCache {
    limits: CacheLimits,
    store: SnapshotStore,
    inner: Mutex<Entries>,
}

impl Default for FileCache {
    fn default() -> Self {
        Self::new(CacheLimits::default())
    }
}

impl std::fmt::Debug for FileCache {
    /// How much is kept, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.inner.lock();
        f.debug_struct("FileCache")
            .field("files", &entries.by_file.len())
            .field("bytes", &entries.total)
            .field("store", &self.store)
            .finish()
    }
}

#[derive(Default)]
struct Entries {
    by_file: HashMap<(u64, u64), (Version, Cached)>,
    /// Insertion order, for eviction; an entry replaced since is skipped by its version.
    order: VecDeque<Version>,
    total: usize,
}

impl FileCache {
    /// An empty cache that keeps within `limits`, its snapshots in the process's
    /// [`SnapshotStore::detect`].
    pub fn new(limits: CacheLimits) -> Self {
        Self::with_store(limits, SnapshotStore::detect())
    }

    /// An empty cache that keeps within `limits`, its snapshots in `store`.
    pub fn with_store(limits: CacheLimits, store: SnapshotStore) -> Self {
        Self {
            limits,
            store,
            inner: Mutex::default(),
        }
    }

    /// The whole of `file` (opened, with `meta` and `stamp` from that descriptor): the
    /// cached version when it is cached, else read now and kept if the file is settled.
    /// `None` when the file is not one to cache (empty, too large, or changed lately; any
    /// file when the cache is off); an
    /// error when the file changed during the read.
    pub fn whole(&self, file: &File, meta: &Metadata, stamp: &Stamp) -> Option<io::Result<Cached>> {
        let version = Version::of(meta);
        let limits = self.limits;
        if version.len == 0
            || version.len > limits.file.min(limits.total as u64)
            || version.len != stamp.len
        {
            return None;
        }
        let hit = self
            .inner
            .lock()
            .by_file
            .get(&(version.dev, version.ino))
            .filter(|(cached, _)| *cached == version)
            .map(|(_, cached)| cached.clone());
        if let Some(cached) = hit {
            return Some(Ok(cached));
        }
        if !version.settled(SystemTime::now(), limits.settled) {
            return None;
        }
        let read = read_checked(file, stamp, 0, version.len as usize);
        Some(
            read.and_then(|bytes| Cached::hold(bytes, &self.store))
                .inspect(|cached| {
                    self.inner
                        .lock()
                        .insert(version, cached.clone(), limits.total);
                }),
        )
    }
}

impl Entries {
    fn insert(&mut self, version: Version, cached: Cached, total_max: usize) {
        if let Some((_, old)) = self.by_file.remove(&(version.dev, version.ino)) {
            self.total -= old.bytes.len();
        }
        while self.total + cached.bytes.len() > total_max {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            let key = (oldest.dev, oldest.ino);
            if self.by_file.get(&key).is_some_and(|(v, _)| *v == oldest) {
                let (_, gone) = self.by_file.remove(&key).expect("present");
                self.total -= gone.bytes.len();
            }
        }
        self.total += cached.bytes.len();
        self.order.push_back(version);
        self.by_file
            .insert((version.dev, version.ino), (version, cached));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::static_files::file_body::stamp_of;
    use std::io::Write;

    fn open(path: &std::path::Path) -> (File, Metadata, Stamp) {
        let file = File::open(path).unwrap();
        let meta = file.metadata().unwrap();
        let stamp = stamp_of(&file).unwrap();
        (file, meta, stamp)
    }

    /// A cache holding `bytes`, written to `path`, as if read long after they were written.
    /// Returns once the clock is well past the write, so that a later change gets another
    /// ctime even on a coarse file-system clock.
    fn settled_cache_with(path: &std::path::Path, bytes: &[u8]) -> (FileCache, Version) {
        std::fs::write(path, bytes).unwrap();
        let written = std::fs::metadata(path).unwrap().modified().unwrap();
        while SystemTime::now() < written + Duration::from_millis(50) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (file, meta, stamp) = open(path);
        let cache = FileCache::default();
        let version = Version::of(&meta);
        let read = read_checked(&file, &stamp, 0, bytes.len()).unwrap();
        cache.inner.lock().insert(
            version,
            Cached::hold(read, &cache.store).unwrap(),
            TOTAL_MAX,
        );
        (cache, version)
    }

    #[test]
    fn a_held_version_cannot_change_or_shrink() {
        let content = Bytes::from(vec![7u8; CHUNK as usize + 1]);
        let cached = Cached::hold(content.clone(), &SnapshotStore::Memfd).unwrap();
        let mut file = cached.file.as_deref().unwrap().try_clone().unwrap();
        assert!(file.write_all(b"two").is_err());
        assert!(file.set_len(3).is_err());
        assert!(file.set_len(CHUNK * 2).is_err());
        assert_eq!(cached.bytes, content);
        let mut back = vec![0; content.len()];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(back, content);
        // A small file needs no descriptor: it is never sent with sendfile.
        assert!(
            Cached::hold(Bytes::from_static(b"small"), &SnapshotStore::detect())
                .unwrap()
                .file
                .is_none()
        );
    }

    /// The file system type of `path` (`statfs` magic), if it exists.
    fn fs_type(path: &std::path::Path) -> Option<u32> {
        rustix::fs::statfs(path).ok().map(|fs| fs.f_type as u32)
    }

    #[test]
    fn a_directory_that_cannot_hold_unlinked_files_falls_back_to_memfds() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            SnapshotStore::in_dir(&dir.path().join("missing")),
            SnapshotStore::Memfd
        );
        // A regular file is no directory to make files in.
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert_eq!(
            SnapshotStore::in_dir(&dir.path().join("f")),
            SnapshotStore::Memfd
        );
        // tmpfs is shmem, 4 KiB pages like a memfd: nothing to gain there.
        let shm = std::path::Path::new("/dev/shm");
        if fs_type(shm) == Some(0x0102_1994) {
            assert_eq!(SnapshotStore::in_dir(shm), SnapshotStore::Memfd);
        }
        // A disk file system with large folios is taken.
        let tmp = std::env::temp_dir();
        let expected = if fs_type(&tmp).is_some_and(|t| LARGE_FOLIO_FILE_SYSTEMS.contains(&t)) {
            SnapshotStore::Unlinked(tmp.clone())
        } else {
            SnapshotStore::Memfd
        };
        assert_eq!(SnapshotStore::in_dir(&tmp), expected);
        assert_eq!(SnapshotStore::detect(), expected);
    }

    #[test]
    fn an_unlinked_snapshot_has_no_name_and_holds_the_bytes() {
        let SnapshotStore::Unlinked(dir) = SnapshotStore::detect() else {
            eprintln!("no local large-folio file system under the temporary directory");
            return;
        };
        let content: Bytes = (0..CHUNK as usize * 3 + 11)
            .map(|i| (i % 253) as u8)
            .collect();
        let cached = Cached::hold(content.clone(), &SnapshotStore::Unlinked(dir.clone())).unwrap();
        let file = cached.file.as_deref().unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.nlink(), 0, "no name");
        assert_eq!(
            meta.mode() & 0o7777,
            0,
            "no one without privileges can open it"
        );
        assert_eq!(meta.len(), content.len() as u64);
        // O_EXCL: it can never be given a name either.
        let linked = rustix::fs::linkat(
            file,
            "",
            rustix::fs::CWD,
            dir.join("krepis-snapshot-link-test"),
            rustix::fs::AtFlags::EMPTY_PATH,
        );
        assert!(linked.is_err());
        assert_eq!(cached.bytes, content);
        let mut back = vec![0; content.len()];
        std::os::unix::fs::FileExt::read_exact_at(file, &mut back, 0).unwrap();
        assert_eq!(back, content);
        // A directory gone since start-up: the snapshot is a memfd instead.
        let gone =
            Cached::hold(content.clone(), &SnapshotStore::Unlinked(dir.join("gone"))).unwrap();
        assert_eq!(gone.bytes, content);
        assert!(
            gone.file.as_deref().unwrap().write_all(b"x").is_err(),
            "sealed"
        );
    }

    /// Downloads `cached` with `sendfile` through a real socket, calling `change` once the
    /// client has read the first 64 KiB (the server is then blocked mid-file), and returns
    /// what the client received.
    async fn download_across(cached: &Cached, change: impl FnOnce()) -> Vec<u8> {
        use super::super::super::coalesce::Coalesced;
        use super::super::sendfile::{FileSlot, SendfileBody, SendfileStream};
        use http_body_util::BodyExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let slot = FileSlot::new();
        let mut server = SendfileStream::new(Coalesced::new(socket), Arc::clone(&slot));
        let file = Arc::clone(cached.file.as_ref().unwrap());
        let len = cached.bytes.len() as u64;
        let sender = tokio::spawn(async move {
            let mut body = SendfileBody::sealed(slot, file, 0, len);
            while let Some(frame) = body.frame().await {
                server
                    .write_all(&frame.unwrap().into_data().unwrap())
                    .await
                    .unwrap();
            }
            server.shutdown().await.unwrap();
        });
        let mut got = vec![0; 64 << 10];
        client.read_exact(&mut got).await.unwrap();
        change();
        client.read_to_end(&mut got).await.unwrap();
        sender.await.unwrap();
        got
    }

    /// The contract the snapshot exists for, with either store: a download of a cached
    /// version is that version whole, however the file is changed meanwhile.
    #[tokio::test]
    async fn a_snapshot_download_never_sees_the_file_change() {
        for store in [SnapshotStore::detect(), SnapshotStore::Memfd] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            let settled = Duration::from_millis(30);
            let content: Vec<u8> = (0..FILE_MAX as usize).map(|i| (i % 241) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            let written = std::fs::metadata(&path).unwrap().modified().unwrap();
            while SystemTime::now() < written + settled + Duration::from_millis(20) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let cache = FileCache::with_store(
                CacheLimits {
                    settled,
                    ..CacheLimits::default()
                },
                store.clone(),
            );
            let (file, meta, stamp) = open(&path);
            let cached = cache.whole(&file, &meta, &stamp).unwrap().unwrap();
            assert_eq!(cached.bytes, content);
            let in_place = || {
                let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                writer.write_all(&vec![b'b'; content.len()]).unwrap();
            };
            let truncated = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(10)
                    .unwrap();
            };
            let replaced = || {
                std::fs::write(dir.path().join("g"), b"new").unwrap();
                std::fs::rename(dir.path().join("g"), &path).unwrap();
            };
            let changes: [&dyn Fn(); 3] = [&in_place, &truncated, &replaced];
            for (n, change) in changes.into_iter().enumerate() {
                let got = download_across(&cached, change).await;
                assert_eq!(got.len(), content.len(), "{store:?}, change {n}");
                assert!(
                    got == content,
                    "{store:?}, change {n}: another version's bytes"
                );
                assert_eq!(cached.bytes, content, "{store:?}, change {n}: the mapping");
            }
        }
    }

    #[test]
    fn a_recently_changed_file_is_read_but_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"fresh").unwrap();
        let (file, meta, stamp) = open(&path);
        let cache = FileCache::default();
        assert!(cache.whole(&file, &meta, &stamp).is_none());
        assert!(cache.inner.lock().by_file.is_empty());
        let now = SystemTime::now();
        assert!(Version::of(&meta).settled(now + SETTLED * 2, SETTLED));
        assert!(!Version::of(&meta).settled(now + SETTLED * 2, SETTLED * 4));
    }

    #[test]
    fn a_cached_version_is_served_until_the_file_changes_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let (cache, _) = settled_cache_with(&path, b"aaaa");
        let (file, meta, stamp) = open(&path);
        let cached = cache.whole(&file, &meta, &stamp).unwrap().unwrap();
        assert_eq!(&cached.bytes[..], b"aaaa");
        // Same length, in place: the ctime moves, so the cached copy no longer matches.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(b"bbbb")
            .unwrap();
        let (file, meta, stamp) = open(&path);
        // Not settled: read again, not from the cache, and not kept.
        assert!(cache.whole(&file, &meta, &stamp).is_none());
    }

    #[test]
    fn a_file_replaced_by_rename_is_another_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let (cache, old) = settled_cache_with(&path, b"old!");
        std::fs::write(dir.path().join("g"), b"new!").unwrap();
        std::fs::rename(dir.path().join("g"), &path).unwrap();
        let (file, meta, stamp) = open(&path);
        assert_ne!(Version::of(&meta).ino, old.ino);
        assert!(cache.whole(&file, &meta, &stamp).is_none());
    }

    #[test]
    fn the_oldest_entries_go_when_the_total_is_reached() {
        let mut entries = Entries::default();
        let version = |ino| Version {
            dev: 1,
            ino,
            len: FILE_MAX,
            mtime: (0, 0),
            ctime: (0, 0),
        };
        let n = (TOTAL_MAX as u64 / FILE_MAX) + 2;
        let big = Bytes::from(vec![0; FILE_MAX as usize]);
        for ino in 0..n {
            entries.insert(
                version(ino),
                Cached::hold(big.clone(), &SnapshotStore::Memfd).unwrap(),
                TOTAL_MAX,
            );
        }
        assert!(entries.total <= TOTAL_MAX);
        assert!(!entries.by_file.contains_key(&(1, 0)));
        assert!(!entries.by_file.contains_key(&(1, 1)));
        assert!(entries.by_file.contains_key(&(1, n - 1)));
        // Replacing an entry counts its bytes once.
        entries.insert(
            version(n - 1),
            Cached::hold(Bytes::from_static(b"x"), &SnapshotStore::Memfd).unwrap(),
            TOTAL_MAX,
        );
        let sum: usize = entries.by_file.values().map(|(_, c)| c.bytes.len()).sum();
        assert_eq!(sum, entries.total);
    }

    /// Writes `len` bytes to `name` in `dir`; returns once that change is `settled` old.
    fn settled_file(dir: &std::path::Path, name: &str, len: usize, settled: Duration) {
        let path = dir.join(name);
        std::fs::write(&path, vec![name.as_bytes()[0]; len]).unwrap();
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        while SystemTime::now() < written + settled + Duration::from_millis(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_small_total_evicts_and_a_zero_total_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let settled = Duration::from_millis(30);
        let len = CHUNK as usize + 10; // kept in a memfd
        for name in ["a", "b", "c"] {
            settled_file(dir.path(), name, len, settled);
        }
        let tiny = FileCache::new(CacheLimits {
            total: len * 2,
            file: FILE_MAX,
            settled,
        });
        for name in ["a", "b", "c"] {
            let (file, meta, stamp) = open(&dir.path().join(name));
            let cached = tiny.whole(&file, &meta, &stamp).unwrap().unwrap();
            assert_eq!(cached.bytes.len(), len);
            assert!(cached.bytes.iter().all(|&b| b == name.as_bytes()[0]));
        }
        let entries = tiny.inner.lock();
        assert_eq!(entries.by_file.len(), 2, "the oldest went");
        assert_eq!(entries.total, len * 2);
        let a = open(&dir.path().join("a")).1;
        assert!(!entries.by_file.contains_key(&(a.dev(), a.ino())));
        drop(entries);

        let off = FileCache::new(CacheLimits {
            total: 0,
            ..CacheLimits::default()
        });
        let small = FileCache::new(CacheLimits {
            file: len as u64 - 1,
            settled,
            ..CacheLimits::default()
        });
        for cache in [&off, &small] {
            let (file, meta, stamp) = open(&dir.path().join("a"));
            assert!(cache.whole(&file, &meta, &stamp).is_none());
            assert!(cache.inner.lock().by_file.is_empty());
        }
    }
}
