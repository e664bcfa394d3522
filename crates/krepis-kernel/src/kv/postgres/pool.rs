//! The connection pool: `r2d2` over synchronous `postgres` clients, each with every
//! statement of [`super::sql`] prepared once when it connects, so an operation costs one
//! round trip per statement (an unprepared query costs two: parse, then execute).
//!
//! Connections are pinged on checkout only when idle for [`PING_IDLE`] (a ping per
//! operation would be one more round trip each), so one the server dropped (a restart)
//! is replaced before use; one that dies in use fails that operation, and
//! [`Pool::retry`] takes another where nothing can have applied.
//!
//! Every login (the store's first connection and the pool's later ones) goes through
//! [`login`], which bounds the whole of it in time.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::{Client, Config, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::detail;
use super::sql;
use crate::{KernelError, Result};

/// How long a pooled connection may sit unused before it is pinged on checkout.
pub const PING_IDLE: Duration = Duration::from_millis(500);

/// The statements of [`super::sql`], prepared on one connection.
pub struct Statements {
    /// [`sql::CURRENT_VERSION`].
    pub current_version: Statement,
    /// [`sql::NEXT_VERSION`].
    pub next_version: Statement,
    /// [`sql::GET`].
    pub get: Statement,
    /// [`sql::GET_MANY`].
    pub get_many: Statement,
    /// [`sql::SCAN`].
    pub scan: Statement,
    /// [`sql::SCAN_REVERSE`].
    pub scan_reverse: Statement,
    /// [`sql::UPSERT`].
    pub upsert: Statement,
    /// [`sql::WRITE`].
    pub write: Statement,
    /// [`sql::DELETE`].
    pub delete: Statement,
    /// [`sql::EXPIRED_DUE`].
    pub expired_due: Statement,
    /// [`sql::SWEEP_EXPIRED`].
    pub sweep_expired: Statement,
    /// [`sql::ENQUEUE`].
    pub enqueue: Statement,
    /// [`sql::LEASE`].
    pub lease: Statement,
    /// [`sql::RENEW_LEASE`].
    pub renew_lease: Statement,
    /// [`sql::LOCK_MESSAGE`].
    pub lock_message: Statement,
    /// [`sql::REMOVE_MESSAGE`].
    pub remove_message: Statement,
    /// [`sql::RETRY_MESSAGE`].
    pub retry_message: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> std::result::Result<Self, postgres::Error> {
        let mut p = |text: &str| client.prepare(text);
        Ok(Self {
            current_version: p(sql::CURRENT_VERSION)?,
            next_version: p(sql::NEXT_VERSION)?,
            get: p(sql::GET)?,
            get_many: p(sql::GET_MANY)?,
            scan: p(sql::SCAN)?,
            scan_reverse: p(sql::SCAN_REVERSE)?,
            upsert: p(sql::UPSERT)?,
            write: p(sql::WRITE)?,
            delete: p(sql::DELETE)?,
            expired_due: p(sql::EXPIRED_DUE)?,
            sweep_expired: p(sql::SWEEP_EXPIRED)?,
            enqueue: p(sql::ENQUEUE)?,
            lease: p(sql::LEASE)?,
            renew_lease: p(sql::RENEW_LEASE)?,
            lock_message: p(sql::LOCK_MESSAGE)?,
            remove_message: p(sql::REMOVE_MESSAGE)?,
            retry_message: p(sql::RETRY_MESSAGE)?,
        })
    }
}

/// A pooled connection and its prepared statements.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Its prepared statements.
    pub st: Statements,
    last_used: Instant,
}

/// How to log in to the server.
#[derive(Clone)]
pub struct Login {
    /// The driver's settings.
    pub config: Config,
    /// The TLS connector for the URL's `sslmode`.
    pub tls: MakeRustlsConnect,
    /// The longest a login may take (`None`: no limit).
    pub limit: Option<Duration>,
    /// `host:port`, for messages.
    pub server: String,
}

impl Login {
    /// Logs in on a thread of its own and waits at most [`Login::limit`]: the driver bounds
    /// the TCP connect only, so a server that accepts and then never answers would hold
    /// the caller forever. A login given up on ends on its thread when the server answers
    /// or the connection breaks, and is dropped there.
    pub fn connect(&self) -> Result<Client> {
        let (done, result) = mpsc::sync_channel(1);
        let (config, tls) = (self.config.clone(), self.tls.clone());
        std::thread::Builder::new()
            .name("krepis-pg-login".into())
            .spawn(move || {
                let _ = done.send(config.connect(tls));
            })
            .map_err(|e| KernelError::io("spawn a PostgreSQL login thread", e))?;
        let outcome = match self.limit {
            Some(limit) => result.recv_timeout(limit).map_err(|_| limit),
            None => result.recv().map_err(|_| Duration::ZERO),
        };
        match outcome {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => {
                let message = format!(
                    "cannot connect to PostgreSQL ({}): {}",
                    self.server,
                    detail(&e)
                );
                Err(match e.as_db_error() {
                    Some(_) => KernelError::PermissionDenied(message),
                    None => KernelError::io(message, std::io::Error::other("connection failed")),
                })
            }
            Err(limit) => Err(KernelError::Timeout(format!(
                "cannot connect to PostgreSQL ({}): no complete login within {} s (connect_timeout)",
                self.server,
                limit.as_secs()
            ))),
        }
    }
}

/// Opens connections for the pool.
pub struct Manager {
    login: Login,
    /// The store's first connection, handed to the pool as its first (a login costs a
    /// few round trips and, with SCRAM, thousands of hash rounds).
    first: Mutex<Option<Connection>>,
}

impl Connection {
    /// Prepares the statements on `client` (the schema must exist).
    pub fn ready(mut client: Client) -> std::result::Result<Self, postgres::Error> {
        let st = Statements::prepare(&mut client)?;
        Ok(Self {
            client,
            st,
            last_used: Instant::now(),
        })
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = KernelError;

    fn connect(&self) -> Result<Connection> {
        if let Some(first) = self.first.lock().take() {
            return Ok(first);
        }
        Connection::ready(self.login.connect()?).map_err(super::error::db_err)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<()> {
        conn.client
            .simple_query("")
            .map(|_| ())
            .map_err(super::error::db_err)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.client.is_closed()
    }
}

/// A checked-out connection.
pub type Conn = r2d2::PooledConnection<Manager>;

/// The pool of one store.
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    size: u32,
}

impl Pool {
    /// A pool of up to `size` connections, `first` and more opened on demand.
    pub fn new(login: Login, size: u32, first: Connection) -> Self {
        let inner = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build_unchecked(Manager {
                login,
                first: Mutex::new(Some(first)),
            });
        Self { inner, size }
    }

    /// A connection, or a clear error when the server cannot be reached.
    pub fn get(&self) -> Result<Conn> {
        for _ in 0..=self.size {
            let mut conn = self
                .inner
                .get()
                .map_err(|e| KernelError::Internal(format!("PostgreSQL unavailable: {e}")))?;
            // A dead one is closed now, so the pool drops it when it comes back.
            if conn.last_used.elapsed() < PING_IDLE || conn.client.simple_query("").is_ok() {
                conn.last_used = Instant::now();
                return Ok(conn);
            }
        }
        Err(KernelError::Internal(
            "PostgreSQL unavailable: no pooled connection answers".into(),
        ))
    }

    /// Runs `op` on a connection; when the connection turns out to be dead before `op`
    /// changed anything (`op` returns [`Attempt::Retry`]), runs it on another, at most
    /// once per pooled connection.
    pub fn retry<T>(&self, mut op: impl FnMut(&mut Conn) -> Result<Attempt<T>>) -> Result<T> {
        let mut last = None;
        for _ in 0..=self.size {
            let mut conn = self.get()?;
            match op(&mut conn)? {
                Attempt::Done(value) => return Ok(value),
                Attempt::Retry(e) => last = Some(e),
            }
        }
        Err(super::error::db_err(last.expect("at least one attempt")))
    }
}

/// What one attempt of [`Pool::retry`] came to.
pub enum Attempt<T> {
    /// Finished (successfully or with an error worth reporting).
    Done(T),
    /// Failed before anything could apply (a connection found dead): try another.
    Retry(postgres::Error),
}

/// `Retry` when `e` came from a connection that is now closed, else the error itself.
pub fn closed_or<T>(conn: &mut Conn, e: postgres::Error) -> Result<Attempt<T>> {
    if conn.client.is_closed() {
        Ok(Attempt::Retry(e))
    } else {
        Err(super::error::db_err(e))
    }
}
