//! The PostgreSQL backend: one database shared by any number of app instances.
//!
//! Connections come from a pool of synchronous `postgres` clients ([`pool`]: every
//! statement prepared once per connection; TLS per the URL's `sslmode`, see [`config`]
//! and [`tls`]). The [`super::backend::KvBackend`] calls are blocking; the FFI runs
//! commits and waits on Deno's blocking pool. Every statement is in [`sql`].
//!
//! - **Commits** run in one transaction that first takes the next commit number from
//!   `krepis_kv_meta` (see [`sql`]): checks, mutations and enqueues are applied all or
//!   nothing, and a connection lost mid-transaction leaves nothing applied.
//! - **Queues**: a listener leases a due message with `FOR UPDATE SKIP LOCKED`, so each
//!   message is with one instance at a time. While the handler runs, a thread of the
//!   store renews the lease every third of its length ([`config::DEFAULT_LEASE_MS`], or
//!   `krepis_lease_ms` in the URL); an instance that dies stops renewing, its leases run
//!   out and another instance takes the message (at-least-once).
//! - **Change notification** polls the commit counter every [`POLL_MS`]: a commit made by
//!   any instance reaches waiters within that bound plus one query.
//! - **Expiry**: entries past their `expireIn` are invisible to reads at once; about once
//!   a second (driven by commits and by watchers' polls) they are deleted in a commit of
//!   their own, so watchers are told, as Deno KV's expiry collection tells them.
//! - **Conflicts**: a serialization failure or deadlock rolls its transaction back and
//!   is run again ([`conflict`]), so a commit fails only on its checks or a real error.
//! - **Durability**: a sync commit returns after PostgreSQL's commit (with its default
//!   `synchronous_commit = on`); a relaxed one sets `synchronous_commit = off` for its
//!   transaction.

pub mod config;
pub mod conflict;
mod error;
pub mod pool;
pub mod sql;
pub mod tls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::backend::{
    Durability, KvBackend, Message, Versionstamp, Visit, VisitMany, versionstamp,
};
use super::limits::{self, now_ms};
use super::ops::{AtomicWrite, MutationKind, Value, ValueKind};
use super::sum;
use crate::{KernelError, Result};
use config::Settings;
use error::db_err;
use pool::{Attempt, Connection, Login, Pool, Statements, closed_or};

/// How often queue and change waits look at the database.
pub const POLL_MS: u64 = 50;
/// Connections per store.
const POOL_SIZE: u32 = 8;
/// How often expired entries are looked for.
const SWEEP_EVERY_MS: u64 = 1_000;

/// Whether `target` names a PostgreSQL database rather than a directory.
pub fn is_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// A KV store in a PostgreSQL database.
pub struct Postgres {
    pool: Pool,
    /// The highest commit number seen (the change epoch).
    epoch: AtomicU64,
    last_sweep: AtomicU64,
    lease_ms: u64,
    /// Messages this instance is handling: id → the `lease_until` it holds.
    leases: Mutex<HashMap<i64, i64>>,
    /// Counts [`KvBackend::wake_all`] calls; waiters sleep on `woken`.
    wakes: Mutex<u64>,
    woken: Condvar,
}

impl Postgres {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, with
    /// the options of [`config`]) and creates the tables if they are missing.
    pub fn open(url: &str) -> Result<Arc<Self>> {
        let settings = Settings::parse(url)?;
        let login = Login {
            tls: tls::connector(settings.ssl_mode, settings.root_cert.as_deref())?,
            server: settings.server(),
            limit: settings.login_timeout,
            config: settings.driver,
        };
        // One login first, so a refused login, an unreachable server or a refused
        // certificate is reported as such rather than as a pool timeout.
        let mut first = login.connect()?;
        create_schema(&mut first)?;
        let first = Connection::ready(first).map_err(db_err)?;
        let store = Arc::new(Self {
            pool: Pool::new(login, POOL_SIZE, first),
            epoch: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            lease_ms: settings.lease_ms,
            leases: Mutex::new(HashMap::new()),
            wakes: Mutex::new(0),
            woken: Condvar::new(),
        });
        store
            .epoch
            .store(store.current_version()?, Ordering::Relaxed);
        let weak = Arc::downgrade(&store);
        let every = Duration::from_millis(settings.lease_ms / 3);
        std::thread::Builder::new()
            .name("krepis-kv-lease".into())
            .spawn(move || renew_leases(weak, every))
            .map_err(|e| KernelError::io("spawn the lease renewal thread", e))?;
        Ok(store)
    }

    /// Runs a statement on a pooled connection (again on another when it was dead, and
    /// again after a conflict).
    fn read<T>(
        &self,
        mut op: impl FnMut(
            &mut postgres::Client,
            &Statements,
        ) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        conflict::retry(|| {
            self.pool.retry(|conn| {
                let Connection { client, st, .. } = &mut **conn;
                match op(client, st) {
                    Ok(value) => Ok(Attempt::Done(value)),
                    Err(e) => closed_or(conn, e),
                }
            })
        })
    }

    /// Runs `body` in a transaction (begun again on another connection when the first was
    /// dead, and run again after a conflict); `body` returning `None` rolls back.
    fn transaction<T>(
        &self,
        relaxed: bool,
        mut body: impl FnMut(&mut postgres::Transaction<'_>, &Statements) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        conflict::retry(|| {
            self.pool.retry(|conn| {
                let Connection { client, st, .. } = &mut **conn;
                let mut tx = match client.transaction() {
                    Ok(tx) => tx,
                    // Nothing was applied: a dead connection (a restarted server) is retried.
                    Err(e) => return Ok(Attempt::Retry(e)),
                };
                if relaxed {
                    tx.batch_execute(sql::RELAXED_COMMIT).map_err(db_err)?;
                }
                // Dropping the transaction (a failed check or an error) rolls it back.
                let Some(value) = body(&mut tx, st)? else {
                    return Ok(Attempt::Done(None));
                };
                tx.commit().map_err(db_err)?;
                Ok(Attempt::Done(Some(value)))
            })
        })
    }

    fn current_version(&self) -> Result<u64> {
        let version: i64 = self
            .read(|c, st| c.query_one(&st.current_version, &[]))?
            .get(0);
        Ok(version as u64)
    }

    /// About once a second: deletes expired entries in a commit of their own (so the
    /// change epoch grows and watchers re-read).
    fn sweep_now_and_then(&self) {
        let now = now_ms();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let now = now as i64;
        // Best effort: readers skip expired entries anyway; the next sweep retries.
        let due = self.read(|c, st| c.query_opt(&st.expired_due, &[&now]));
        if !matches!(due, Ok(Some(_))) {
            return;
        }
        let _ = self.transaction(false, |tx, st| {
            tx.query_one(&st.next_version, &[]).map_err(db_err)?;
            let removed = tx.execute(&st.sweep_expired, &[&now]).map_err(db_err)?;
            Ok((removed > 0).then_some(()))
        });
    }

    /// Extends the leases of the messages this instance is handling.
    fn renew(&self) {
        let held: Vec<(i64, i64)> = self.leases.lock().iter().map(|(&k, &v)| (k, v)).collect();
        if held.is_empty() {
            return;
        }
        let until = now_ms() as i64 + self.lease_ms as i64;
        for (id, current) in held {
            // A failed renewal is retried a third of a lease later.
            let Ok(renewed) =
                self.read(|c, st| c.execute(&st.renew_lease, &[&id, &current, &until]))
            else {
                return;
            };
            let mut leases = self.leases.lock();
            match (renewed, leases.get_mut(&id)) {
                (1, Some(held)) => *held = until,
                // Lost (the lease ran out first) or finished meanwhile.
                _ => {
                    leases.remove(&id);
                }
            }
        }
    }

    /// Sleeps up to `wait` or until [`KvBackend::wake_all`]; returns whether woken.
    fn sleep(&self, wait: Duration, wakes: u64) -> bool {
        let mut count = self.wakes.lock();
        if *count == wakes {
            self.woken.wait_for(&mut count, wait);
        }
        *count != wakes
    }
}

/// The renewal thread: runs until its store is gone.
fn renew_leases(store: Weak<Postgres>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(store) = store.upgrade() else { return };
        store.renew();
    }
}

/// Creates the tables; instances opening at once may race on `CREATE … IF NOT EXISTS`
/// (PostgreSQL reports a duplicate), so a failed attempt is retried; at SERIALIZABLE the
/// counter row's `INSERT … ON CONFLICT DO NOTHING` may also conflict with running commits.
fn create_schema(conn: &mut postgres::Client) -> Result<()> {
    conflict::retry(|| {
        let mut attempt = 0;
        loop {
            match conn.batch_execute(sql::SCHEMA) {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 5 && !conflict::is_conflict(&e) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20 * attempt));
                }
                Err(e) => return Err(db_err(e)),
            }
        }
    })
}

fn row_value(kind: i16, bytes: Vec<u8>) -> Result<Value> {
    Ok(Value {
        kind: ValueKind::from_tag(kind as u8)?,
        bytes,
    })
}

/// The key a versionstamped set writes: the key with the stamp appended as a string part.
fn stamped_key(key: &[u8], stamp: Versionstamp) -> Vec<u8> {
    let mut out = key.to_vec();
    out.push(0x02);
    for byte in stamp {
        out.extend(format!("{byte:02x}").bytes());
    }
    out.push(0);
    out
}

fn live_entry(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    key: &[u8],
    now: i64,
) -> Result<Option<(u64, Value)>> {
    let row = tx.query_opt(&st.get, &[&key, &now]).map_err(db_err)?;
    row.map(|r| Ok((r.get::<_, i64>(0) as u64, row_value(r.get(1), r.get(2))?)))
        .transpose()
}

fn apply(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    write: &AtomicWrite,
    now: u64,
) -> Result<Option<Versionstamp>> {
    let number = tx
        .query_one(&st.next_version, &[])
        .map_err(db_err)?
        .get::<_, i64>(0);
    let snow = now as i64;
    for check in &write.checks {
        let current = live_entry(tx, st, &check.key, snow)?.map(|(n, _)| versionstamp(n));
        if current != check.versionstamp {
            return Ok(None);
        }
    }
    let stamp = versionstamp(number as u64);
    let mut pending: HashMap<&[u8], Option<Value>> = HashMap::new();
    for m in &write.mutations {
        let expires = m
            .expire_in_ms
            .map(|ms| limits::expiry(now, ms).map(|at| at as i64))
            .transpose()?;
        let (key, value) = match &m.kind {
            MutationKind::Set(value) => (m.key.clone(), Some(value.clone())),
            MutationKind::Delete => (m.key.clone(), None),
            MutationKind::SetVersionstampedKey(value) => {
                (stamped_key(&m.key, stamp), Some(value.clone()))
            }
            kind => {
                let old = match pending.get(m.key.as_slice()) {
                    Some(value) => value.clone(),
                    None => live_entry(tx, st, &m.key, snow)?.map(|(_, v)| v),
                };
                let new = sum::combine(kind, old.as_ref()).expect("sum, min or max")?;
                (m.key.clone(), Some(new))
            }
        };
        match &value {
            Some(v) => tx.execute(
                &st.upsert,
                &[&key, &number, &(v.kind as i16), &v.bytes, &expires],
            ),
            None => tx.execute(&st.delete, &[&key]),
        }
        .map_err(db_err)?;
        pending.insert(m.key.as_slice(), value);
    }
    for e in &write.enqueues {
        let backoff: Vec<i32> = e
            .backoff_schedule
            .clone()
            .unwrap_or_else(|| super::embedded::DEFAULT_BACKOFF.to_vec())
            .into_iter()
            .map(|ms| ms as i32)
            .collect();
        let ready_at = now.saturating_add(e.delay_ms) as i64;
        tx.execute(
            &st.enqueue,
            &[
                &ready_at,
                &(e.payload.kind as i16),
                &e.payload.bytes,
                &backoff,
                &e.keys_if_undelivered,
            ],
        )
        .map_err(db_err)?;
    }
    Ok(Some(stamp))
}

/// A write of plain sets and deletes, as the parameters of [`sql::WRITE`].
struct Plain {
    deletes: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    kinds: Vec<i16>,
    values: Vec<Vec<u8>>,
    expires: Vec<Option<i64>>,
}

impl Plain {
    /// `write` as one statement, when it has no checks, enqueues, `sum`/`min`/`max` or
    /// versionstamped keys.
    fn of(write: &AtomicWrite, now: u64) -> Result<Option<Self>> {
        if !write.checks.is_empty() || !write.enqueues.is_empty() {
            return Ok(None);
        }
        // A key's last mutation is what the commit leaves.
        let mut last: HashMap<&[u8], (Option<&Value>, Option<i64>)> = HashMap::new();
        for m in &write.mutations {
            let value = match &m.kind {
                MutationKind::Set(value) => Some(value),
                MutationKind::Delete => None,
                _ => return Ok(None),
            };
            let expires = m
                .expire_in_ms
                .map(|ms| limits::expiry(now, ms).map(|at| at as i64))
                .transpose()?;
            last.insert(&m.key, (value, expires));
        }
        let mut plain = Self {
            deletes: vec![],
            keys: vec![],
            kinds: vec![],
            values: vec![],
            expires: vec![],
        };
        for (key, (value, expires)) in last {
            match value {
                None => plain.deletes.push(key.to_vec()),
                Some(value) => {
                    plain.keys.push(key.to_vec());
                    plain.kinds.push(value.kind as i16);
                    plain.values.push(value.bytes.clone());
                    plain.expires.push(expires);
                }
            }
        }
        Ok(Some(plain))
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 5] {
        [
            &self.deletes,
            &self.keys,
            &self.kinds,
            &self.values,
            &self.expires,
        ]
    }
}

/// Ends delivery `id` in `tx` (see [`KvBackend::finish`]).
fn finish_in(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    id: i64,
    success: bool,
) -> Result<()> {
    let Some(row) = tx.query_opt(&st.lock_message, &[&id]).map_err(db_err)? else {
        return Err(KernelError::NotFound("Queue message not found".into()));
    };
    let backoff: Vec<i32> = row.get(2);
    if !success && !backoff.is_empty() {
        let ready_at = now_ms() as i64 + i64::from(backoff[0]);
        tx.execute(&st.retry_message, &[&id, &ready_at, &backoff[1..].to_vec()])
            .map_err(db_err)?;
        return Ok(());
    }
    tx.execute(&st.remove_message, &[&id]).map_err(db_err)?;
    let keys: Vec<Vec<u8>> = row.get(3);
    if !success && !keys.is_empty() {
        let number: i64 = tx.query_one(&st.next_version, &[]).map_err(db_err)?.get(0);
        let kind: i16 = row.get(0);
        let payload: Vec<u8> = row.get(1);
        for key in &keys {
            tx.execute(&st.upsert, &[key, &number, &kind, &payload, &None::<i64>])
                .map_err(db_err)?;
        }
    }
    Ok(())
}

impl KvBackend for Postgres {
    fn remote_connections(&self) -> usize {
        POOL_SIZE as usize
    }

    fn get(&self, key: &[u8], visit: Visit<'_>) -> Result<bool> {
        let now = now_ms() as i64;
        let row = self.read(|c, st| c.query_opt(&st.get, &[&key, &now]))?;
        let Some(row) = row else { return Ok(false) };
        let value = row_value(row.get(1), row.get(2))?;
        visit(
            key,
            versionstamp(row.get::<_, i64>(0) as u64),
            value.kind,
            &value.bytes,
        );
        Ok(true)
    }

    fn get_many(&self, keys: &[&[u8]], visit: VisitMany<'_>) -> Result<()> {
        if let [key] = keys {
            // One key: the plain statement (no array to build or search).
            let found = self.get(key, &mut |_, stamp, kind, value| {
                visit(0, Some((stamp, kind, value)))
            })?;
            if !found {
                visit(0, None);
            }
            return Ok(());
        }
        let now = now_ms() as i64;
        let rows = self.read(|c, st| c.query(&st.get_many, &[&keys, &now]))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: &[u8] = row.get(0);
            found.push((
                key,
                row_value(row.get(2), row.get(3))?,
                row.get::<_, i64>(1),
            ));
        }
        for (i, key) in keys.iter().enumerate() {
            let entry = found.iter().find(|(k, ..)| k == key);
            let more = visit(
                i,
                entry.map(|(_, value, n)| (versionstamp(*n as u64), value.kind, &value.bytes[..])),
            );
            if !more {
                break;
            }
        }
        Ok(())
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let now = now_ms() as i64;
        let rows = self.read(|c, st| {
            let statement = if reverse { &st.scan_reverse } else { &st.scan };
            c.query(statement, &[&start, &end, &now, &limit])
        })?;
        let mut seen = 0;
        for row in rows {
            let key: Vec<u8> = row.get(0);
            let value = row_value(row.get(2), row.get(3))?;
            seen += 1;
            if !visit(
                &key,
                versionstamp(row.get::<_, i64>(1) as u64),
                value.kind,
                &value.bytes,
            ) {
                break;
            }
        }
        Ok(seen)
    }

    fn commit(&self, write: AtomicWrite, durability: Durability) -> Result<Option<Versionstamp>> {
        let now = now_ms();
        let relaxed = durability == Durability::Relaxed;
        let stamp = match Plain::of(&write, now)? {
            Some(plain) if !relaxed => conflict::retry(|| {
                // Not retried on a lost connection (it may have committed the statement),
                // only after a conflict (PostgreSQL rolled it back).
                let mut conn = self.pool.get()?;
                let Connection { client, st, .. } = &mut *conn;
                let row = client
                    .query_one(&st.write, &plain.params())
                    .map_err(db_err)?;
                Ok(Some(versionstamp(row.get::<_, i64>(0) as u64)))
            })?,
            Some(plain) => self.transaction(true, |tx, st| {
                let row = tx.query_one(&st.write, &plain.params()).map_err(db_err)?;
                Ok(Some(versionstamp(row.get::<_, i64>(0) as u64)))
            })?,
            None => self.transaction(relaxed, |tx, st| apply(tx, st, &write, now))?,
        };
        if stamp.is_some() {
            self.sweep_now_and_then();
        }
        Ok(stamp)
    }

    fn dequeue(&self, wait: Duration, cancel: &AtomicBool) -> Result<Option<Message>> {
        let deadline = Instant::now() + wait;
        let wakes = *self.wakes.lock();
        loop {
            if cancel.load(Ordering::Acquire) {
                return Ok(None);
            }
            let now = now_ms() as i64;
            let until = now + self.lease_ms as i64;
            // Recorded before the lease is visible to the renewal thread's next pass.
            let mut leases = self.leases.lock();
            let row = self.read(|c, st| c.query_opt(&st.lease, &[&now, &until]))?;
            if let Some(row) = row {
                let id: i64 = row.get(0);
                leases.insert(id, until);
                let value = row_value(row.get(1), row.get(2))?;
                return Ok(Some(Message {
                    id: id as u64,
                    kind: value.kind,
                    payload: value.bytes,
                }));
            }
            drop(leases);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.sleep(left.min(Duration::from_millis(POLL_MS)), wakes);
        }
    }

    fn finish(&self, id: u64, success: bool) -> Result<()> {
        let id = id as i64;
        self.leases.lock().remove(&id);
        self.transaction(false, |tx, st| finish_in(tx, st, id, success).map(Some))?;
        Ok(())
    }

    fn change_epoch(&self) -> u64 {
        if let Ok(version) = self.current_version() {
            self.epoch.fetch_max(version, Ordering::Relaxed);
        }
        self.epoch.load(Ordering::Relaxed)
    }

    fn wait_change(&self, since: u64, wait: Duration, cancel: &AtomicBool) -> u64 {
        let deadline = Instant::now() + wait;
        let wakes = *self.wakes.lock();
        loop {
            // Watchers drive the expiry sweep when no commits do.
            self.sweep_now_and_then();
            let epoch = self.change_epoch();
            let left = deadline.saturating_duration_since(Instant::now());
            if epoch > since || cancel.load(Ordering::Acquire) || left.is_zero() {
                return epoch;
            }
            if self.sleep(left.min(Duration::from_millis(POLL_MS)), wakes) {
                return self.epoch.load(Ordering::Relaxed);
            }
        }
    }

    fn wake_all(&self) {
        *self.wakes.lock() += 1;
        self.woken.notify_all();
    }

    fn flush(&self) -> Result<()> {
        // A sync commit is durable when PostgreSQL acknowledges it; relaxed ones are
        // flushed by PostgreSQL's WAL writer within `wal_writer_delay`.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
