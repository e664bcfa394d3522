//! The PostgreSQL backend: one database shared by any number of app instances.
//!
//! Connections come from an `r2d2` pool of synchronous `postgres` clients (the
//! [`super::backend::KvBackend`] calls are blocking; the FFI runs them on Deno's blocking
//! pool). Every statement is in [`sql`].
//!
//! - **Commits** run in one transaction that first takes the next commit number from
//!   `krepis_kv_meta` (see [`sql`]): checks, mutations and enqueues are applied all or
//!   nothing, and a connection lost mid-transaction leaves nothing applied.
//! - **Queues**: a listener leases a due message for [`LEASE_MS`] with
//!   `FOR UPDATE SKIP LOCKED`, so each message is with one instance at a time; an instance
//!   that dies without finishing lets the lease run out and another takes the message
//!   (at-least-once).
//! - **Change notification** polls the commit counter every [`POLL_MS`]: a commit made by
//!   any instance reaches waiters within that bound plus one query.
//! - **Durability**: a sync commit returns after PostgreSQL's commit (with its default
//!   `synchronous_commit = on`); a relaxed one sets `synchronous_commit = off` for its
//!   transaction.

pub mod sql;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use r2d2_postgres::postgres::{self, NoTls};
use r2d2_postgres::{PostgresConnectionManager, r2d2};

use super::backend::{Durability, KvBackend, Message, Versionstamp, Visit, versionstamp};
use super::limits::{self, now_ms};
use super::ops::{AtomicWrite, MutationKind, Value, ValueKind};
use super::sum;
use crate::{KernelError, Result};

/// How long a delivered message stays with its listener before another may take it.
pub const LEASE_MS: u64 = 10_000;
/// How often queue and change waits look at the database.
pub const POLL_MS: u64 = 50;
/// Connections per store.
const POOL_SIZE: u32 = 8;
/// How often commits also remove expired entries.
const SWEEP_EVERY_MS: u64 = 1_000;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Whether `target` names a PostgreSQL database rather than a directory.
pub fn is_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

fn db_err(e: postgres::Error) -> KernelError {
    KernelError::Internal(format!("PostgreSQL: {}", detail(&e)))
}

/// The server's message when there is one (the driver's own `Display` hides it).
fn detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// A KV store in a PostgreSQL database.
pub struct Postgres {
    pool: Pool,
    /// The highest commit number seen (the change epoch).
    epoch: AtomicU64,
    last_sweep: AtomicU64,
}

impl Postgres {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and
    /// creates the tables if they are missing.
    pub fn open(url: &str) -> Result<Arc<Self>> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| KernelError::invalid(format!("invalid PostgreSQL URL: {e}")))?;
        let where_ = match (config.get_hosts().first(), config.get_ports().first()) {
            (Some(postgres::config::Host::Tcp(host)), port) => {
                format!("{host}:{}", port.copied().unwrap_or(5432))
            }
            _ => "the configured server".to_string(),
        };
        // One direct connection first, so a refused login or an unreachable server is
        // reported as such rather than as a pool timeout.
        let mut first = config.connect(NoTls).map_err(|e| {
            let message = format!("cannot connect to PostgreSQL ({where_}): {}", detail(&e));
            match e.as_db_error() {
                Some(_) => KernelError::PermissionDenied(message),
                None => KernelError::io(message, std::io::Error::other("connection failed")),
            }
        })?;
        create_schema(&mut first)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        let store = Self {
            pool,
            epoch: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
        };
        store
            .epoch
            .store(store.current_version()?, Ordering::Relaxed);
        Ok(Arc::new(store))
    }

    fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .map_err(|e| KernelError::Internal(format!("PostgreSQL unavailable: {e}")))
    }

    fn current_version(&self) -> Result<u64> {
        let row = self
            .conn()?
            .query_one(sql::CURRENT_VERSION, &[])
            .map_err(db_err)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn sweep_now_and_then(&self, now: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Best effort: readers skip expired entries anyway.
        if let Ok(mut conn) = self.conn() {
            let _ = conn.execute(sql::SWEEP_EXPIRED, &[&(now as i64)]);
        }
    }
}

/// Creates the tables; instances opening at once may race on `CREATE … IF NOT EXISTS`
/// (PostgreSQL reports a duplicate), so a failed attempt is retried.
fn create_schema(conn: &mut postgres::Client) -> Result<()> {
    let mut attempt = 0;
    loop {
        match conn.batch_execute(sql::SCHEMA) {
            Ok(()) => return Ok(()),
            Err(_) if attempt < 5 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20 * attempt));
            }
            Err(e) => return Err(db_err(e)),
        }
    }
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
    key: &[u8],
    now: i64,
) -> Result<Option<(u64, Value)>> {
    let row = tx.query_opt(sql::GET, &[&key, &now]).map_err(db_err)?;
    row.map(|r| Ok((r.get::<_, i64>(0) as u64, row_value(r.get(1), r.get(2))?)))
        .transpose()
}

fn apply(
    tx: &mut postgres::Transaction<'_>,
    write: &AtomicWrite,
    now: u64,
) -> Result<Option<Versionstamp>> {
    let number = tx
        .query_one(sql::NEXT_VERSION, &[])
        .map_err(db_err)?
        .get::<_, i64>(0);
    let snow = now as i64;
    for check in &write.checks {
        let current = live_entry(tx, &check.key, snow)?.map(|(n, _)| versionstamp(n));
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
                    None => live_entry(tx, &m.key, snow)?.map(|(_, v)| v),
                };
                let new = sum::combine(kind, old.as_ref()).expect("sum, min or max")?;
                (m.key.clone(), Some(new))
            }
        };
        match &value {
            Some(v) => tx.execute(
                sql::UPSERT,
                &[&key, &number, &(v.kind as i16), &v.bytes, &expires],
            ),
            None => tx.execute(sql::DELETE, &[&key]),
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
            sql::ENQUEUE,
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

impl KvBackend for Postgres {
    fn get(&self, key: &[u8], visit: Visit<'_>) -> Result<bool> {
        let row = self
            .conn()?
            .query_opt(sql::GET, &[&key, &(now_ms() as i64)])
            .map_err(db_err)?;
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
        let statement = if reverse {
            sql::SCAN_REVERSE
        } else {
            sql::SCAN
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .conn()?
            .query(statement, &[&start, &end, &(now_ms() as i64), &limit])
            .map_err(db_err)?;
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
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(db_err)?;
        if durability == Durability::Relaxed {
            tx.batch_execute(sql::RELAXED_COMMIT).map_err(db_err)?;
        }
        // Dropping the transaction (a failed check or an error) rolls it back.
        let Some(stamp) = apply(&mut tx, &write, now)? else {
            return Ok(None);
        };
        tx.commit().map_err(db_err)?;
        drop(conn);
        self.sweep_now_and_then(now);
        Ok(Some(stamp))
    }

    fn dequeue(&self, wait: Duration, cancel: &AtomicBool) -> Result<Option<Message>> {
        let deadline = Instant::now() + wait;
        loop {
            if cancel.load(Ordering::Acquire) {
                return Ok(None);
            }
            let now = now_ms() as i64;
            let row = self
                .conn()?
                .query_opt(sql::LEASE, &[&now, &(now + LEASE_MS as i64)])
                .map_err(db_err)?;
            if let Some(row) = row {
                let value = row_value(row.get(1), row.get(2))?;
                return Ok(Some(Message {
                    id: row.get::<_, i64>(0) as u64,
                    kind: value.kind,
                    payload: value.bytes,
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(left.min(Duration::from_millis(POLL_MS)));
        }
    }

    fn finish(&self, id: u64, success: bool) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(db_err)?;
        let id = id as i64;
        let Some(row) = tx.query_opt(sql::LOCK_MESSAGE, &[&id]).map_err(db_err)? else {
            return Err(KernelError::NotFound("Queue message not found".into()));
        };
        let backoff: Vec<i32> = row.get(2);
        if !success && !backoff.is_empty() {
            let ready_at = now_ms() as i64 + i64::from(backoff[0]);
            tx.execute(
                sql::RETRY_MESSAGE,
                &[&id, &ready_at, &backoff[1..].to_vec()],
            )
            .map_err(db_err)?;
        } else {
            tx.execute(sql::REMOVE_MESSAGE, &[&id]).map_err(db_err)?;
            let keys: Vec<Vec<u8>> = row.get(3);
            if !success && !keys.is_empty() {
                let number = tx
                    .query_one(sql::NEXT_VERSION, &[])
                    .map_err(db_err)?
                    .get::<_, i64>(0);
                let kind: i16 = row.get(0);
                let payload: Vec<u8> = row.get(1);
                for key in &keys {
                    tx.execute(sql::UPSERT, &[key, &number, &kind, &payload, &None::<i64>])
                        .map_err(db_err)?;
                }
            }
        }
        tx.commit().map_err(db_err)
    }

    fn change_epoch(&self) -> u64 {
        if let Ok(version) = self.current_version() {
            self.epoch.fetch_max(version, Ordering::Relaxed);
        }
        self.epoch.load(Ordering::Relaxed)
    }

    fn wait_change(&self, since: u64, wait: Duration, cancel: &AtomicBool) -> u64 {
        let deadline = Instant::now() + wait;
        loop {
            let epoch = self.change_epoch();
            let left = deadline.saturating_duration_since(Instant::now());
            if epoch > since || cancel.load(Ordering::Acquire) || left.is_zero() {
                return epoch;
            }
            std::thread::sleep(left.min(Duration::from_millis(POLL_MS)));
        }
    }

    fn wake_all(&self) {
        // Waiters poll every POLL_MS and see their cancel flag then.
    }

    fn flush(&self) -> Result<()> {
        // A sync commit is durable when PostgreSQL acknowledges it; relaxed ones are
        // flushed by PostgreSQL's WAL writer within `wal_writer_delay`.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
