//! The embedded backend: one sled database per directory, written by one committer thread.
//!
//! **Group commit.** Every write goes to the committer thread. It takes all requests that
//! are waiting, applies them one after another (checks see the writes before them), then
//! flushes sled once and `fdatasync`s its log file once, and only then answers every
//! request of the group. sled's own flush ends in `sync_file_range`, which neither saves
//! file metadata nor empties the disk's write cache; the `fdatasync` after it does. So a
//! durable commit costs one sync however many commits share it.
//!
//! **Relaxed commits** are answered as soon as they are applied; sled's background
//! flusher writes them every [`FLUSH_EVERY_MS`] (without `fdatasync`), so a killed
//! process loses its newest relaxed writes, never older ones (measured on a loaded
//! machine: up to 353 ms of them, `deno task bench:storage`).
//!
//! **Layout.** User keys (Deno KV's tuple encoding) start with a type code below `0xff`.
//! Internal records live under `0xff`, outside every range a selector can name:
//! `0xff 'v'` holds the last commit number; `0xff 'q' ready-at seq` holds a queue message;
//! `0xff 'e' expires-at key` indexes entries written with `expireIn`, so the committer
//! sweeps expired entries every second without scanning the store (reads never return
//! them in the meantime).
//! Each user record is: commit number (u64 BE), expiry (ms, u64 BE, 0 = never), value
//! kind (u8), value bytes.
//!
//! **Queue.** A message stays in its `0xff 'q'` record until it is handled; handing it out
//! only marks it in memory. A message being handled when the process dies is therefore
//! delivered again after a restart (at-least-once).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::backend::{Durability, KvBackend, Message, Versionstamp, Visit, versionstamp};
use super::limits::{self, now_ms};
use super::ops::{AtomicWrite, MutationKind, Value, ValueKind};
use super::sum;
use crate::{KernelError, Result};

/// How often sled writes buffered (relaxed) commits out.
pub const FLUSH_EVERY_MS: u64 = 100;

/// Deno KV's retry waits when an enqueue names none.
pub const DEFAULT_BACKOFF: [u32; 5] = [100, 1000, 5000, 30000, 60000];

const HEADER: usize = 17;
const VERSION_KEY: &[u8] = &[0xff, b'v'];
const QUEUE_PREFIX: &[u8] = &[0xff, b'q'];
/// `0xff 'e' expires-at key`: an index of entries written with an expiry.
const EXPIRY_PREFIX: &[u8] = &[0xff, b'e'];
/// How often the committer removes expired entries, and how many at most per pass.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const SWEEP_BATCH: usize = 1000;
/// Most requests applied in one group.
const MAX_GROUP: usize = 512;

fn db_err(e: sled::Error) -> KernelError {
    match e {
        sled::Error::Io(io) => KernelError::io("kv database", io),
        other => KernelError::Internal(format!("kv database: {other}")),
    }
}

/// A stored user record, unless it has expired by `now`: (commit number, kind, value).
fn live(record: &[u8], now: u64) -> Option<(u64, ValueKind, &[u8])> {
    let number = u64::from_be_bytes(record.get(..8)?.try_into().ok()?);
    let expires = u64::from_be_bytes(record.get(8..16)?.try_into().ok()?);
    let kind = ValueKind::from_tag(*record.get(16)?).ok()?;
    (expires == 0 || expires > now).then(|| (number, kind, &record[HEADER..]))
}

fn record(number: u64, expires: u64, value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.bytes.len());
    out.extend(number.to_be_bytes());
    out.extend(expires.to_be_bytes());
    out.push(value.kind as u8);
    out.extend(&value.bytes);
    out
}

/// A queue message as stored: kind, payload, remaining backoff, keys if undelivered.
struct QueuedMessage {
    payload: Value,
    backoff: Vec<u32>,
    keys_if_undelivered: Vec<Vec<u8>>,
}

impl QueuedMessage {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.payload.kind as u8];
        out.extend((self.payload.bytes.len() as u32).to_le_bytes());
        out.extend(&self.payload.bytes);
        out.push(self.backoff.len() as u8);
        for wait in &self.backoff {
            out.extend(wait.to_le_bytes());
        }
        out.extend((self.keys_if_undelivered.len() as u16).to_le_bytes());
        for key in &self.keys_if_undelivered {
            out.extend((key.len() as u16).to_le_bytes());
            out.extend(key);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = || KernelError::Internal("corrupt queue record".into());
        let mut at = 0;
        let mut take = |n: usize| -> Result<&[u8]> {
            let slice = bytes.get(at..at + n).ok_or_else(bad)?;
            at += n;
            Ok(slice)
        };
        let kind = ValueKind::from_tag(take(1)?[0])?;
        let len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let payload = Value {
            kind,
            bytes: take(len)?.to_vec(),
        };
        let n = take(1)?[0];
        let backoff = (0..n)
            .map(|_| Ok(u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?)))
            .collect::<Result<_>>()?;
        let n = u16::from_le_bytes(take(2)?.try_into().map_err(|_| bad())?);
        let keys_if_undelivered = (0..n)
            .map(|_| {
                let len = u16::from_le_bytes(take(2)?.try_into().map_err(|_| bad())?) as usize;
                Ok(take(len)?.to_vec())
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            payload,
            backoff,
            keys_if_undelivered,
        })
    }
}

fn queue_key(ready_at: u64, seq: u64) -> Vec<u8> {
    let mut key = QUEUE_PREFIX.to_vec();
    key.extend(ready_at.to_be_bytes());
    key.extend(seq.to_be_bytes());
    key
}

fn queue_seq(key: &[u8]) -> u64 {
    u64::from_be_bytes(key[10..18].try_into().expect("queue key"))
}

fn queue_ready_at(key: &[u8]) -> u64 {
    u64::from_be_bytes(key[2..10].try_into().expect("queue key"))
}

enum Job {
    Write(AtomicWrite),
    Finish { id: u64, success: bool },
}

struct Request {
    job: Job,
    durability: Durability,
    reply: mpsc::SyncSender<Result<Option<Versionstamp>>>,
}

/// State shared by readers and the committer thread.
struct Shared {
    db: sled::Db,
    /// The log file, kept open to `fdatasync` it after sled's flush.
    log: std::fs::File,
    /// Last commit number (only the committer changes it).
    number: AtomicU64,
    /// Next queue sequence number.
    queue_seq: AtomicU64,
    /// Disk syncs done so far.
    syncs: AtomicU64,
    /// Messages handed out and not finished: seq -> queue key.
    in_flight: Mutex<HashMap<u64, Vec<u8>>>,
    epoch: Mutex<u64>,
    changed: Condvar,
}

/// The sled store of one directory; re-opens of the same directory share it.
pub struct Embedded {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<Embedded>>>> = LazyLock::new(Default::default);

impl Embedded {
    /// Opens (or creates) the store in directory `path`, sharing an open one.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        std::fs::create_dir_all(path)
            .map_err(|e| KernelError::io(format!("create {}", path.display()), e))?;
        let canonical = path
            .canonicalize()
            .map_err(|e| KernelError::io(format!("open {}", path.display()), e))?;
        let mut open = OPEN.lock();
        if let Some(store) = open.get(&canonical).and_then(Weak::upgrade) {
            return Ok(store);
        }
        crate::sled_open::remove_unfinished_if_unused(&canonical)?;
        // Large segments keep every node inline in the log (sled writes nodes above a
        // quarter segment as separate blob files, which our fdatasync would not cover).
        let config = sled::Config::new()
            .path(&canonical)
            .segment_size(8 << 20)
            .flush_every_ms(Some(FLUSH_EVERY_MS));
        // A short wait covers a store this process just closed; another process keeps it.
        let db = crate::sled_open::open(&config, Duration::from_millis(500)).map_err(|e| match e {
            sled::Error::Io(io) if io.to_string().contains("lock") => KernelError::Conflict(format!(
                "KV store {} is open in another process (a store serves one process at a time)",
                canonical.display()
            )),
            other => db_err(other),
        })?;
        let log = std::fs::File::open(canonical.join("db"))
            .map_err(|e| KernelError::io("open the kv log", e))?;
        // The log's directory entry must survive a power loss too (a new store's file).
        std::fs::File::open(&canonical)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| KernelError::io("sync the kv directory", e))?;
        let number = match db.get(VERSION_KEY).map_err(db_err)? {
            Some(bytes) => u64::from_be_bytes(bytes.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        let last_seq = db
            .scan_prefix(QUEUE_PREFIX)
            .keys()
            .filter_map(|k| k.ok().map(|k| queue_seq(&k)))
            .max()
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            db,
            log,
            number: AtomicU64::new(number),
            queue_seq: AtomicU64::new(last_seq + 1),
            syncs: AtomicU64::new(0),
            in_flight: Mutex::new(HashMap::new()),
            epoch: Mutex::new(0),
            changed: Condvar::new(),
        });
        shared.purge_expired()?;
        let (tx, rx) = mpsc::channel();
        let committer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("krepis-kv-commit".into())
                .spawn(move || shared.run_committer(rx))
                .map_err(|e| KernelError::io("start the kv committer", e))?
        };
        let store = Arc::new(Self {
            shared,
            requests: Mutex::new(Some(tx)),
            committer: Mutex::new(Some(committer)),
        });
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(canonical, Arc::downgrade(&store));
        Ok(store)
    }

    /// How many disk syncs the store has done (group commit makes this far fewer than
    /// the durable commits).
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    fn submit(&self, job: Job, durability: Durability) -> Result<Option<Versionstamp>> {
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            job,
            durability,
            reply,
        };
        self.requests
            .lock()
            .as_ref()
            .ok_or_else(|| KernelError::Closed("KV store".into()))?
            .send(request)
            .map_err(|_| KernelError::Closed("KV store".into()))?;
        answer
            .recv()
            .map_err(|_| KernelError::Internal("the kv committer stopped".into()))?
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.requests.lock().take();
        if let Some(thread) = self.committer.lock().take() {
            let _ = thread.join();
        }
        let _ = self.shared.sync();
    }
}

impl Shared {
    fn run_committer(&self, requests: mpsc::Receiver<Request>) {
        let mut next_sweep = std::time::Instant::now() + SWEEP_EVERY;
        loop {
            let first = match requests.recv_timeout(SWEEP_EVERY) {
                Ok(first) => Some(first),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if std::time::Instant::now() >= next_sweep {
                next_sweep = std::time::Instant::now() + SWEEP_EVERY;
                // Best effort: a sweep lost in a crash is redone by the next one.
                if matches!(self.sweep_expired(), Ok(true)) {
                    *self.epoch.lock() += 1;
                    self.changed.notify_all();
                }
            }
            let Some(first) = first else { continue };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match requests.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let results: Vec<_> = group.iter().map(|r| self.apply(&r.job)).collect();
            let wrote = results.iter().any(|r| matches!(r, Ok(Some(_))));
            // A finished message may be due again (a retry) or have written its keys.
            let changed = wrote || group.iter().any(|r| matches!(r.job, Job::Finish { .. }));
            let durable = group.iter().any(|r| r.durability == Durability::Sync);
            let synced = if changed && durable {
                self.sync()
            } else {
                Ok(())
            };
            if changed {
                *self.epoch.lock() += 1;
                self.changed.notify_all();
            }
            for (request, result) in group.into_iter().zip(results) {
                let result = match (&synced, result) {
                    (Err(e), Ok(Some(_))) if request.durability == Durability::Sync => {
                        Err(KernelError::Internal(format!("kv sync failed: {e}")))
                    }
                    (_, result) => result,
                };
                let _ = request.reply.send(result);
            }
        }
    }

    /// Writes sled's buffers and then forces them (and the file's size) to the disk.
    fn sync(&self) -> Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.db.flush().map_err(db_err)?;
        self.log
            .sync_data()
            .map_err(|e| KernelError::io("fdatasync the kv log", e))
    }

    fn current(&self, key: &[u8], now: u64) -> Result<Option<(u64, Value)>> {
        let record = self.db.get(key).map_err(db_err)?;
        Ok(record
            .as_deref()
            .and_then(|r| live(r, now))
            .map(|(n, kind, bytes)| {
                (
                    n,
                    Value {
                        kind,
                        bytes: bytes.to_vec(),
                    },
                )
            }))
    }

    fn apply(&self, job: &Job) -> Result<Option<Versionstamp>> {
        match job {
            Job::Write(write) => self.apply_write(write),
            Job::Finish { id, success } => self.apply_finish(*id, *success).map(|()| None),
        }
    }

    fn apply_write(&self, write: &AtomicWrite) -> Result<Option<Versionstamp>> {
        let now = now_ms();
        for check in &write.checks {
            let current = self.current(&check.key, now)?.map(|(n, _)| versionstamp(n));
            if current != check.versionstamp {
                return Ok(None);
            }
        }
        let number = self.number.load(Ordering::Relaxed) + 1;
        let stamp = versionstamp(number);
        let mut batch = sled::Batch::default();
        // Values this write has set so far, for sum/min/max on a key it touched before.
        let mut pending: HashMap<&[u8], Option<Value>> = HashMap::new();
        for m in &write.mutations {
            let expires = match m.expire_in_ms {
                Some(ms) => limits::expiry(now, ms)?,
                None => 0,
            };
            let (key, value) = match &m.kind {
                MutationKind::Set(value) => (m.key.clone(), Some(value.clone())),
                MutationKind::Delete => (m.key.clone(), None),
                MutationKind::SetVersionstampedKey(value) => {
                    let mut key = m.key.clone();
                    key.push(0x02);
                    for byte in stamp {
                        key.extend(format!("{byte:02x}").bytes());
                    }
                    key.push(0);
                    (key, Some(value.clone()))
                }
                kind => {
                    let old = match pending.get(m.key.as_slice()) {
                        Some(value) => value.clone(),
                        None => self.current(&m.key, now)?.map(|(_, v)| v),
                    };
                    let new = sum::combine(kind, old.as_ref()).expect("sum, min or max")?;
                    (m.key.clone(), Some(new))
                }
            };
            match &value {
                Some(v) => batch.insert(key.as_slice(), record(number, expires, v)),
                None => batch.remove(key.as_slice()),
            }
            if expires != 0 {
                batch.insert([EXPIRY_PREFIX, &expires.to_be_bytes(), &key].concat(), &[]);
            }
            pending.insert(m.key.as_slice(), value);
        }
        for e in &write.enqueues {
            let seq = self.queue_seq.fetch_add(1, Ordering::Relaxed);
            let message = QueuedMessage {
                payload: e.payload.clone(),
                backoff: e
                    .backoff_schedule
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BACKOFF.to_vec()),
                keys_if_undelivered: e.keys_if_undelivered.clone(),
            };
            batch.insert(
                queue_key(now.saturating_add(e.delay_ms), seq),
                message.encode(),
            );
        }
        batch.insert(VERSION_KEY, &number.to_be_bytes());
        self.db.apply_batch(batch).map_err(db_err)?;
        self.number.store(number, Ordering::Relaxed);
        Ok(Some(stamp))
    }

    fn apply_finish(&self, id: u64, success: bool) -> Result<()> {
        let Some(key) = self.in_flight.lock().get(&id).cloned() else {
            return Err(KernelError::NotFound("Queue message not found".into()));
        };
        let result = self.finish_message(&key, id, success);
        self.in_flight.lock().remove(&id);
        result
    }

    fn finish_message(&self, key: &[u8], id: u64, success: bool) -> Result<()> {
        let Some(bytes) = self.db.get(key).map_err(db_err)? else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        batch.remove(key);
        if !success {
            let mut message = QueuedMessage::decode(&bytes)?;
            if !message.backoff.is_empty() {
                let wait = message.backoff.remove(0);
                let ready_at = now_ms().saturating_add(u64::from(wait));
                batch.insert(queue_key(ready_at, id), message.encode());
            } else if !message.keys_if_undelivered.is_empty() {
                let number = self.number.load(Ordering::Relaxed) + 1;
                for k in &message.keys_if_undelivered {
                    batch.insert(k.as_slice(), record(number, 0, &message.payload));
                }
                batch.insert(VERSION_KEY, &number.to_be_bytes());
                self.db.apply_batch(batch).map_err(db_err)?;
                self.number.store(number, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.db.apply_batch(batch).map_err(db_err)
    }

    /// Removes entries whose expiry has passed (up to [`SWEEP_BATCH`]); returns whether
    /// any was removed.
    fn sweep_expired(&self) -> Result<bool> {
        let now = now_ms();
        let mut batch = sled::Batch::default();
        let mut removed = false;
        let until = [EXPIRY_PREFIX, &now.to_be_bytes()].concat();
        for item in self
            .db
            .range(EXPIRY_PREFIX.to_vec()..until)
            .take(SWEEP_BATCH)
        {
            let (index, _) = item.map_err(db_err)?;
            let key = &index[EXPIRY_PREFIX.len() + 8..];
            // The key may have been rewritten since: only a record that is itself
            // expired goes.
            if let Some(record) = self.db.get(key).map_err(db_err)?
                && live(&record, now).is_none()
            {
                batch.remove(key);
                removed = true;
            }
            batch.remove(index);
        }
        self.db.apply_batch(batch).map_err(db_err)?;
        Ok(removed)
    }

    fn purge_expired(&self) -> Result<()> {
        let now = now_ms();
        for item in self.db.range(..QUEUE_PREFIX[..1].to_vec()) {
            let (key, record) = item.map_err(db_err)?;
            if live(&record, now).is_none() {
                self.db.remove(key).map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// The first due message not being handled, or when the next one is due.
    fn take_due(&self) -> Result<std::result::Result<Message, Option<u64>>> {
        let now = now_ms();
        let mut in_flight = self.in_flight.lock();
        let busy: HashSet<u64> = in_flight.keys().copied().collect();
        for item in self.db.scan_prefix(QUEUE_PREFIX) {
            let (key, bytes) = item.map_err(db_err)?;
            let seq = queue_seq(&key);
            if busy.contains(&seq) {
                continue;
            }
            let ready_at = queue_ready_at(&key);
            if ready_at > now {
                return Ok(Err(Some(ready_at)));
            }
            let message = QueuedMessage::decode(&bytes)?;
            in_flight.insert(seq, key.to_vec());
            return Ok(Ok(Message {
                id: seq,
                kind: message.payload.kind,
                payload: message.payload.bytes,
            }));
        }
        Ok(Err(None))
    }
}

impl KvBackend for Embedded {
    fn get(&self, key: &[u8], visit: Visit<'_>) -> Result<bool> {
        let Some(record) = self.shared.db.get(key).map_err(db_err)? else {
            return Ok(false);
        };
        match live(&record, now_ms()) {
            Some((n, kind, value)) => {
                visit(key, versionstamp(n), kind, value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
        visit: Visit<'_>,
    ) -> Result<usize> {
        if start >= end || limit == 0 {
            return Ok(0);
        }
        let now = now_ms();
        let range = self.shared.db.range(start..end);
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut seen = 0;
        for item in iter {
            let (key, record) = item.map_err(db_err)?;
            let Some((n, kind, value)) = live(&record, now) else {
                continue;
            };
            seen += 1;
            if !visit(&key, versionstamp(n), kind, value) || seen == limit {
                break;
            }
        }
        Ok(seen)
    }

    fn commit(&self, write: AtomicWrite, durability: Durability) -> Result<Option<Versionstamp>> {
        self.submit(Job::Write(write), durability)
    }

    fn dequeue(&self, wait: Duration, cancel: &AtomicBool) -> Result<Option<Message>> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let epoch = *self.shared.epoch.lock();
            if cancel.load(Ordering::Acquire) {
                return Ok(None);
            }
            let next_due = match self.shared.take_due()? {
                Ok(message) => return Ok(Some(message)),
                Err(next_due) => next_due,
            };
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let mut until = deadline - now;
            if let Some(at) = next_due {
                until = until.min(Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
            }
            let mut guard = self.shared.epoch.lock();
            if *guard == epoch && !cancel.load(Ordering::Acquire) {
                self.shared.changed.wait_for(&mut guard, until);
            }
        }
    }

    fn finish(&self, id: u64, success: bool) -> Result<()> {
        // Success need not wait for the disk: a lost removal means one more delivery,
        // which at-least-once allows. A retry must be durable like any write.
        let durability = if success {
            Durability::Relaxed
        } else {
            Durability::Sync
        };
        self.submit(Job::Finish { id, success }, durability)
            .map(drop)
    }

    fn change_epoch(&self) -> u64 {
        *self.shared.epoch.lock()
    }

    fn wait_change(&self, since: u64, wait: Duration, cancel: &AtomicBool) -> u64 {
        let mut guard = self.shared.epoch.lock();
        if *guard <= since && !cancel.load(Ordering::Acquire) {
            self.shared.changed.wait_for(&mut guard, wait);
        }
        *guard
    }

    fn wake_all(&self) {
        let _guard = self.shared.epoch.lock();
        self.shared.changed.notify_all();
    }

    fn flush(&self) -> Result<()> {
        self.shared.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::{KeyPart, encode};
    use super::super::ops::Mutation;
    use super::*;

    #[test]
    fn expired_entries_are_swept_from_disk_and_watchers_told() {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(dir.path()).unwrap();
        let key = encode(&[KeyPart::String("session".into())]);
        let write = AtomicWrite {
            mutations: vec![Mutation {
                key: key.clone(),
                kind: MutationKind::Set(Value::u64(1)),
                expire_in_ms: Some(1),
            }],
            ..Default::default()
        };
        store.commit(write, Durability::Sync).unwrap().unwrap();
        let epoch = store.change_epoch();
        let cancel = AtomicBool::new(false);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.shared.db.get(&key).unwrap().is_some() {
            assert!(std::time::Instant::now() < deadline, "never swept");
            store.wait_change(epoch, Duration::from_millis(100), &cancel);
        }
        let told = store.wait_change(epoch, Duration::from_secs(10), &cancel);
        assert!(told > epoch, "watchers were not told");
        let index = store.shared.db.scan_prefix(EXPIRY_PREFIX).count();
        assert_eq!(index, 0, "the expiry index entry stays");
    }
}
