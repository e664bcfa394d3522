//! Every SQL statement of the PostgreSQL backend, in one place.
//!
//! Only plain SQL that PostgreSQL-compatible distributed databases also accept is used:
//! `CREATE TABLE/SEQUENCE IF NOT EXISTS`, `INSERT … ON CONFLICT … DO UPDATE`,
//! `UPDATE … RETURNING`, `SELECT … FOR UPDATE SKIP LOCKED`, `bytea` keys compared bytewise,
//! `bigint`, `int4[]`/`bytea[]` columns. No `LISTEN/NOTIFY`, advisory locks, triggers or
//! stored procedures: correctness needs none of them (watch and queue waits poll).
//!
//! Times are milliseconds since the Unix epoch from the instance's clock (like the
//! embedded store); `expires_at` NULL means never.
//!
//! **Commit order.** A commit first increments the single row of `krepis_kv_meta` (row
//! lock held to the end of its transaction), so writers are serialized, checks read the
//! latest committed data even at READ COMMITTED, and the counter is a versionstamp that
//! grows in commit order across every instance sharing the database.

/// Creates the schema; idempotent (run by every instance on open).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS krepis_kv_meta (
  id INT PRIMARY KEY,
  version BIGINT NOT NULL
);
INSERT INTO krepis_kv_meta (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS krepis_kv (
  key BYTEA PRIMARY KEY,
  version BIGINT NOT NULL,
  kind SMALLINT NOT NULL,
  value BYTEA NOT NULL,
  expires_at BIGINT
);
CREATE SEQUENCE IF NOT EXISTS krepis_kv_queue_id;
CREATE TABLE IF NOT EXISTS krepis_kv_queue (
  id BIGINT PRIMARY KEY,
  ready_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL DEFAULT 0,
  kind SMALLINT NOT NULL,
  payload BYTEA NOT NULL,
  backoff INT4[] NOT NULL,
  keys_if_undelivered BYTEA[] NOT NULL
);
CREATE INDEX IF NOT EXISTS krepis_kv_queue_due ON krepis_kv_queue (ready_at, id);
CREATE INDEX IF NOT EXISTS krepis_kv_expiry ON krepis_kv (expires_at);
";

/// The last commit number (the change epoch watchers poll).
pub const CURRENT_VERSION: &str = "SELECT version FROM krepis_kv_meta WHERE id = 1";

/// Takes the next commit number and the writers' lock: `-> version`.
pub const NEXT_VERSION: &str =
    "UPDATE krepis_kv_meta SET version = version + 1 WHERE id = 1 RETURNING version";

/// The live entry under a key: `$1 key, $2 now -> version, kind, value`.
pub const GET: &str = "SELECT version, kind, value FROM krepis_kv
  WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)";

/// The live entries under the keys `$1` at `$2 now` (one statement: one round trip and one
/// snapshot, as Deno KV's `getMany` reads): `-> key, version, kind, value`, any order.
pub const GET_MANY: &str = "SELECT key, version, kind, value FROM krepis_kv
  WHERE key = ANY($1::bytea[]) AND (expires_at IS NULL OR expires_at > $2)";

/// Live entries in `[$1, $2)` at `$3 now`, at most `$4`, ascending.
pub const SCAN: &str = "SELECT key, version, kind, value FROM krepis_kv
  WHERE key >= $1 AND key < $2 AND (expires_at IS NULL OR expires_at > $3)
  ORDER BY key ASC LIMIT $4";

/// As [`SCAN`], descending.
pub const SCAN_REVERSE: &str = "SELECT key, version, kind, value FROM krepis_kv
  WHERE key >= $1 AND key < $2 AND (expires_at IS NULL OR expires_at > $3)
  ORDER BY key DESC LIMIT $4";

/// Writes an entry: `$1 key, $2 version, $3 kind, $4 value, $5 expires_at`.
pub const UPSERT: &str = "INSERT INTO krepis_kv (key, version, kind, value, expires_at)
  VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, kind = EXCLUDED.kind,
    value = EXCLUDED.value, expires_at = EXCLUDED.expires_at";

/// A commit of plain sets and deletes (no checks, `sum`/`min`/`max`, versionstamped keys
/// or enqueues) as one statement, run on its own (autocommit): takes the next commit
/// number, removes the keys `$1` and writes the entries `$2 keys, $3 kinds, $4 values,
/// $5 expires_at` under it: `-> version`. One round trip, and the writers' lock is held
/// for this statement only rather than across the round trips of a transaction. Each
/// key appears once (the caller keeps each key's last mutation).
pub const WRITE: &str = "WITH v AS (
    UPDATE krepis_kv_meta SET version = version + 1 WHERE id = 1 RETURNING version
  ), d AS (
    DELETE FROM krepis_kv WHERE key = ANY($1::bytea[]) AND EXISTS (SELECT 1 FROM v)
  ), w AS (
    INSERT INTO krepis_kv (key, version, kind, value, expires_at)
    SELECT m.key, v.version, m.kind, m.value, m.expires_at
    FROM v, unnest($2::bytea[], $3::int2[], $4::bytea[], $5::int8[])
      AS m(key, kind, value, expires_at)
    ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, kind = EXCLUDED.kind,
      value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
  )
  SELECT version FROM v";

/// Removes an entry: `$1 key`.
pub const DELETE: &str = "DELETE FROM krepis_kv WHERE key = $1";

/// Whether any entry has expired by `$1 now` (checked before [`SWEEP_EXPIRED`] takes the
/// writers' lock; readers skip expired entries meanwhile).
pub const EXPIRED_DUE: &str = "SELECT 1 FROM krepis_kv WHERE expires_at <= $1 LIMIT 1";

/// Removes entries expired by `$1 now`; run after [`NEXT_VERSION`] in one transaction, so
/// the removal is a commit watchers see (as Deno KV's expiry collection is).
pub const SWEEP_EXPIRED: &str = "DELETE FROM krepis_kv WHERE expires_at <= $1";

/// Enqueues: `$1 ready_at, $2 kind, $3 payload, $4 backoff, $5 keys_if_undelivered -> id`.
pub const ENQUEUE: &str = "INSERT INTO krepis_kv_queue
  (id, ready_at, kind, payload, backoff, keys_if_undelivered)
  VALUES (nextval('krepis_kv_queue_id'), $1, $2, $3, $4, $5)";

/// Leases the first due message nobody holds (an expired lease is free again, so a dead
/// instance's message is redelivered): `$1 now, $2 lease_until -> id, kind, payload`.
pub const LEASE: &str = "UPDATE krepis_kv_queue SET lease_until = $2
  WHERE id = (SELECT id FROM krepis_kv_queue
    WHERE ready_at <= $1 AND lease_until <= $1
    ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING id, kind, payload";

/// Extends a lease this instance still holds: `$1 id, $2 its lease_until, $3 new
/// lease_until` (no row: the lease ran out and the message went to another instance).
pub const RENEW_LEASE: &str =
    "UPDATE krepis_kv_queue SET lease_until = $3 WHERE id = $1 AND lease_until = $2";

/// Locks a message being finished: `$1 id -> kind, payload, backoff, keys_if_undelivered`.
pub const LOCK_MESSAGE: &str = "SELECT kind, payload, backoff, keys_if_undelivered
  FROM krepis_kv_queue WHERE id = $1 FOR UPDATE";

/// Removes a message: `$1 id`.
pub const REMOVE_MESSAGE: &str = "DELETE FROM krepis_kv_queue WHERE id = $1";

/// Schedules a retry: `$1 id, $2 ready_at, $3 remaining backoff`.
pub const RETRY_MESSAGE: &str =
    "UPDATE krepis_kv_queue SET ready_at = $2, lease_until = 0, backoff = $3 WHERE id = $1";

/// Lets a relaxed commit return before its WAL is flushed (this transaction only).
pub const RELAXED_COMMIT: &str = "SET LOCAL synchronous_commit = off";
