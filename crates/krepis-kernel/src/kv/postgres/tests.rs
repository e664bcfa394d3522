//! Tests against a real PostgreSQL that each test starts in a temp directory with
//! `tools/pg_temp.sh` (`initdb` + `pg_ctl`, a free port on 127.0.0.1).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

use super::super::key::{KeyPart, encode};
use super::super::ops::{Check, Enqueue, Mutation};
use super::super::{Kv, tests::contract};
use super::*;

/// A PostgreSQL server of its own; stopped and removed on drop.
pub(crate) struct TempPostgres {
    dir: tempfile::TempDir,
    /// `postgres://krepis:krepis@127.0.0.1:PORT/postgres`.
    pub url: String,
    databases: AtomicUsize,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/pg_temp.sh")
}

impl TempPostgres {
    pub(crate) fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("krepis-pg-")
            .tempdir()
            .unwrap();
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run tools/pg_temp.sh");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Self {
            dir,
            url,
            databases: AtomicUsize::new(0),
        }
    }

    /// Runs `tools/pg_temp.sh COMMAND DIR` (stop, resume) and checks it worked.
    fn control(&self, command: &str) {
        let status = std::process::Command::new("bash")
            .arg(script())
            .arg(command)
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "pg_temp.sh {command} failed");
    }

    /// Turns TLS on with this PEM certificate chain and key.
    fn enable_tls(&self, cert: &Path, key: &Path) {
        let status = std::process::Command::new("bash")
            .arg(script())
            .arg("tls")
            .arg(self.dir.path())
            .args([cert, key])
            .status()
            .unwrap();
        assert!(status.success(), "pg_temp.sh tls failed");
    }

    /// The URL of a new, empty database on this server.
    pub(crate) fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let mut admin = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE kv_{n}"))
            .unwrap();
        self.url.replace("/postgres", &format!("/kv_{n}"))
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn key(name: &str) -> Vec<u8> {
    encode(&[KeyPart::String(name.into())])
}

fn read_u64(kv: &Kv, key: &[u8]) -> Option<(Versionstamp, u64)> {
    let mut out = None;
    kv.get(key, &mut |_, vs, kind, bytes| {
        let value = Value {
            kind,
            bytes: bytes.to_vec(),
        };
        out = Some((vs, value.as_u64().unwrap()));
        true
    })
    .unwrap();
    out
}

#[test]
fn postgres_store_keeps_the_contract() {
    let server = TempPostgres::start();
    contract(&|| Kv::open_target(&server.fresh_database()).unwrap());
}

/// 4 stores (and pools), as separate app instances would have, each incrementing one
/// counter 50 times with check+set retries and a `sum` 50 times; returns both results.
fn race_increments(url: &str) -> (Option<u64>, Option<u64>) {
    let (counter, total) = (key("counter"), key("total"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let kv = Kv::open_target(url).unwrap();
            let (counter, total) = (&counter, &total);
            s.spawn(move || {
                for _ in 0..50 {
                    loop {
                        let current = read_u64(&kv, counter);
                        let check = Check {
                            key: counter.clone(),
                            versionstamp: current.map(|(vs, _)| vs),
                        };
                        let next = current.map_or(0, |(_, n)| n) + 1;
                        let write = AtomicWrite {
                            checks: vec![check],
                            mutations: vec![Mutation {
                                key: counter.clone(),
                                kind: MutationKind::Set(Value::u64(next)),
                                expire_in_ms: None,
                            }],
                            ..Default::default()
                        };
                        if kv.commit(write, Durability::Sync).unwrap().is_some() {
                            break;
                        }
                    }
                    let sum = AtomicWrite {
                        mutations: vec![Mutation {
                            key: total.clone(),
                            kind: MutationKind::Sum(Value::u64(1)),
                            expire_in_ms: None,
                        }],
                        ..Default::default()
                    };
                    // No checks: never refused, whatever the other writers do.
                    assert!(kv.commit(sum, Durability::Sync).unwrap().is_some());
                }
            });
        }
    });
    let kv = Kv::open_target(url).unwrap();
    let read = |k: &[u8]| read_u64(&kv, k).map(|(_, n)| n);
    (read(&counter), read(&total))
}

#[test]
fn instances_racing_check_and_set_lose_no_update() {
    let server = TempPostgres::start();
    assert_eq!(
        race_increments(&server.fresh_database()),
        (Some(200), Some(200))
    );
}

#[test]
fn serialization_failures_are_retried_on_a_serializable_database() {
    // At SERIALIZABLE every commit racing another on the counter row fails with 40001;
    // the kernel runs it again, so callers see only check failures.
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let name = url.rsplit('/').next().unwrap();
    let mut admin = postgres::Client::connect(&server.url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_isolation = 'serializable'"
        ))
        .unwrap();
    assert_eq!(race_increments(&url), (Some(200), Some(200)));
}

#[test]
fn a_deadlock_is_a_conflict() {
    // A real deadlock: two transactions each lock a row, then wait for the other's.
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let mut a = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut b = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    a.batch_execute("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    let lock = "SELECT id FROM t WHERE id = $1 FOR UPDATE";
    let mut ta = a.transaction().unwrap();
    let mut tb = b.transaction().unwrap();
    ta.query(lock, &[&1]).unwrap();
    tb.query(lock, &[&2]).unwrap();
    let (ra, rb) = std::thread::scope(|s| {
        let other = s.spawn(move || tb.query(lock, &[&1]).map(|_| ()));
        let ra = ta.query(lock, &[&2]).map(|_| ());
        // The survivor of the two is released by the victim's rollback.
        drop(ta);
        (ra, other.join().unwrap())
    });
    let victim = ra.err().or(rb.err()).expect("PostgreSQL saw a deadlock");
    assert!(conflict::is_conflict(&victim), "{victim}");
    let e = db_err(victim);
    assert!(
        matches!(e, KernelError::Conflict(_)) && e.to_string().contains("deadlock"),
        "{e}"
    );
}

fn enqueue_one(kv: &Kv, n: u64) {
    let write = AtomicWrite {
        enqueues: vec![Enqueue {
            payload: Value::u64(n),
            delay_ms: 0,
            keys_if_undelivered: vec![],
            backoff_schedule: None,
        }],
        ..Default::default()
    };
    kv.commit(write, Durability::Sync).unwrap().unwrap();
}

// Renewed every 500 ms: generous for a loaded machine, short enough for quick tests.
const LEASE_MS: u64 = 1500;

#[test]
fn a_message_whose_listener_died_is_delivered_again_after_its_lease() {
    let server = TempPostgres::start();
    let url = format!("{}?krepis_lease_ms={LEASE_MS}", server.fresh_database());
    let a = Postgres::open(&url).unwrap();
    let b = Kv::open_target(&url).unwrap();
    enqueue_one(&b, 7);
    let cancel = AtomicBool::new(false);
    let first = a
        .dequeue(Duration::from_secs(10), &cancel)
        .unwrap()
        .unwrap();
    // `a` never finishes it and (as if its process had died) stops renewing it; `b`
    // sees nothing while the lease holds...
    a.leases.lock().clear();
    assert!(
        b.dequeue(Duration::from_millis(200), &cancel)
            .unwrap()
            .is_none()
    );
    // ...and gets it once the lease runs out.
    let again = b
        .dequeue(Duration::from_millis(LEASE_MS * 10), &cancel)
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.payload), (first.id, first.payload));
    b.finish(again.id, true).unwrap();
    assert!(
        a.dequeue(Duration::from_millis(200), &cancel)
            .unwrap()
            .is_none()
    );
}

#[test]
fn bad_urls_and_refused_logins_are_clear_errors() {
    let server = TempPostgres::start();
    let Err(e) = Kv::open_target("postgres://krepis@127.0.0.1:notaport/db") else {
        panic!("a bad port was accepted");
    };
    assert!(e.to_string().contains("invalid PostgreSQL URL"), "{e}");
    let wrong = server.url.replace("krepis:krepis@", "krepis:wrong@");
    let Err(e) = Kv::open_target(&wrong) else {
        panic!("a wrong password was accepted");
    };
    assert!(
        matches!(e, KernelError::PermissionDenied(_)) && e.to_string().contains("password"),
        "{e}"
    );
    // A port nobody listens on.
    let Err(e) = Kv::open_target("postgres://krepis:krepis@127.0.0.1:1/postgres") else {
        panic!("connected to port 1");
    };
    assert!(
        e.to_string().contains("cannot connect to PostgreSQL"),
        "{e}"
    );
}

#[test]
fn a_restarted_server_fails_operations_clearly_then_recovers_with_nothing_half_applied() {
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let kv = Kv::open_target(&url).unwrap();
    let (a, b, c, d) = (key("a"), key("b"), key("c"), key("d"));
    let stop = AtomicBool::new(false);
    let (acknowledged, errors) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (a, b, c, d, stop, kv) = (&a, &b, &c, &d, &stop, &kv);
                s.spawn(move || {
                    let (mut acknowledged, mut errors) = (0u64, vec![]);
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        // Both keys get the same number in one commit: three writers
                        // add (a transaction), one sets (the one-statement commit).
                        let (keys, kind) = match w {
                            3 => ([c, d], MutationKind::Set(Value::u64(i))),
                            _ => ([a, b], MutationKind::Sum(Value::u64(1))),
                        };
                        let write = AtomicWrite {
                            mutations: keys
                                .map(|k| Mutation {
                                    key: k.clone(),
                                    kind: kind.clone(),
                                    expire_in_ms: None,
                                })
                                .to_vec(),
                            ..Default::default()
                        };
                        match kv.commit(write, Durability::Sync) {
                            Ok(_) if w < 3 => acknowledged += 1,
                            Ok(_) => {}
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    (acknowledged, errors)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        server.control("stop");
        std::thread::sleep(Duration::from_millis(500));
        server.control("resume");
        // Runs until a commit succeeds after the restart.
        let before = read_u64(&kv, &a).map_or(0, |(_, n)| n);
        let deadline = Instant::now() + Duration::from_secs(60);
        while read_u64(&kv, &a).map_or(0, |(_, n)| n) <= before {
            assert!(Instant::now() < deadline, "the store did not recover");
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, vec![]), |(n, mut all), (k, e)| {
                all.extend(e);
                (n + k, all)
            })
    });
    assert!(
        !errors.is_empty(),
        "no operation failed while the server was down"
    );
    for e in &errors {
        assert!(e.contains("PostgreSQL"), "unclear error: {e}");
    }
    eprintln!(
        "{} commits failed while down, e.g. {}",
        errors.len(),
        errors[0]
    );
    let a = read_u64(&kv, &a).unwrap().1;
    let b = read_u64(&kv, &b).unwrap().1;
    assert_eq!(a, b, "a commit was half applied");
    let (c, d) = (read_u64(&kv, &c).unwrap(), read_u64(&kv, &d).unwrap());
    assert_eq!(c, d, "a one-statement commit was half applied");
    // A commit cut off by the restart may have applied without its acknowledgement.
    assert!(
        a >= acknowledged,
        "{a} stored < {acknowledged} acknowledged"
    );
}

#[test]
fn a_handler_longer_than_the_lease_keeps_its_message() {
    let server = TempPostgres::start();
    let url = format!("{}?krepis_lease_ms={LEASE_MS}", server.fresh_database());
    let a = Kv::open_target(&url).unwrap();
    let b = Kv::open_target(&url).unwrap();
    enqueue_one(&a, 1);
    let cancel = AtomicBool::new(false);
    let held = a
        .dequeue(Duration::from_secs(10), &cancel)
        .unwrap()
        .unwrap();
    // Four leases long: `a`'s renewals keep it from `b`.
    let other = b
        .dequeue(Duration::from_millis(LEASE_MS * 4), &cancel)
        .unwrap();
    assert_eq!(other, None, "the message was taken while its handler ran");
    a.finish(held.id, true).unwrap();
    assert_eq!(
        b.dequeue(Duration::from_millis(LEASE_MS * 2), &cancel)
            .unwrap(),
        None
    );
}

#[test]
fn wake_all_ends_change_and_queue_waits_at_once() {
    let server = TempPostgres::start();
    let kv = Kv::open_target(&server.fresh_database()).unwrap();
    let cancel = AtomicBool::new(false);
    std::thread::scope(|s| {
        let started = Instant::now();
        let waiter =
            s.spawn(|| kv.wait_change(kv.change_epoch(), Duration::from_secs(30), &cancel));
        let closer = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            cancel.store(true, Ordering::Release);
            kv.wake_all();
        });
        assert!(
            kv.dequeue(Duration::from_secs(30), &cancel)
                .unwrap()
                .is_none()
        );
        waiter.join().unwrap();
        closer.join().unwrap();
        // Generous for a loaded machine, far below the 30 s waits.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn an_expired_entry_is_removed_in_a_commit_watchers_see() {
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let (writer, watcher) = (
        Kv::open_target(&url).unwrap(),
        Kv::open_target(&url).unwrap(),
    );
    let session = key("session");
    let write = AtomicWrite {
        mutations: vec![Mutation {
            key: session.clone(),
            kind: MutationKind::Set(Value::u64(1)),
            expire_in_ms: Some(200),
        }],
        ..Default::default()
    };
    writer.commit(write, Durability::Sync).unwrap().unwrap();
    let epoch = watcher.change_epoch();
    assert!(read_u64(&watcher, &session).is_some());
    // No other commit happens: the watcher's own polling sweeps.
    let told = watcher.wait_change(epoch, Duration::from_secs(20), &AtomicBool::new(false));
    assert!(told > epoch, "watchers were not told of the expiry");
    assert_eq!(read_u64(&watcher, &session), None);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows: i64 = admin
        .query_one("SELECT count(*) FROM krepis_kv", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "the expired row stays");
}

/// Makes a CA and a server certificate for `names` (subjectAltName entries) with
/// `openssl` in `dir`; returns (CA file, certificate, key).
fn openssl_certificates(dir: &Path, ca: &str, names: &str) -> (PathBuf, PathBuf, PathBuf) {
    let script = format!(
        "set -e; cd '{dir}'
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
          -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN={ca} \
          -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
          -keyout server.key -out server.csr -subj /CN=krepis-test-server
        printf 'subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
        openssl x509 -req -in server.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial \
          -days 2 -extfile ext.cnf -out server.pem",
        dir = dir.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join(format!("{ca}.pem")),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

fn encrypted(store: &Postgres) -> bool {
    let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    store.read(|c, _| c.query_one(sql, &[])).unwrap().get(0)
}

#[test]
fn sslmode_and_sslrootcert_mean_what_they_mean_in_libpq() {
    let server = TempPostgres::start();
    let certs = tempfile::tempdir().unwrap();
    // The server's certificate names `localhost` only; URLs connect to 127.0.0.1.
    let (ca, cert, private_key) = openssl_certificates(certs.path(), "ca", "DNS:localhost");
    let other = tempfile::tempdir().unwrap();
    let (other_ca, ..) = openssl_certificates(other.path(), "other", "DNS:localhost");
    server.enable_tls(&cert, &private_key);
    let url = server.fresh_database();
    let with = |query: &str| format!("{url}?{query}");
    let root = |path: &Path| path.display().to_string();

    for (query, tls) in [
        ("sslmode=disable".to_string(), false),
        ("sslmode=prefer".to_string(), true),
        ("sslmode=require".to_string(), true),
        (format!("sslmode=verify-ca&sslrootcert={}", root(&ca)), true),
    ] {
        let store = Postgres::open(&with(&query)).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(encrypted(&store), tls, "{query}");
        // The pool's connections use the same settings as the first one.
        let kv = Kv::with_backend(store);
        let write = AtomicWrite {
            mutations: vec![Mutation {
                key: key("tls"),
                kind: MutationKind::Set(Value::u64(1)),
                expire_in_ms: None,
            }],
            ..Default::default()
        };
        kv.commit(write, Durability::Sync).unwrap().unwrap();
    }
    let refused = |query: String| {
        let Err(e) = Postgres::open(&with(&query)) else {
            panic!("{query} was accepted")
        };
        e.to_string()
    };
    // verify-full checks the name: 127.0.0.1 is not in the certificate.
    let e = refused(format!("sslmode=verify-full&sslrootcert={}", root(&ca)));
    assert!(
        e.contains("cannot connect to PostgreSQL") && e.contains("certificate not valid for name"),
        "{e}"
    );
    // A certificate from another CA.
    let e = refused(format!("sslmode=verify-ca&sslrootcert={}", root(&other_ca)));
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");
    // libpq: require with a CA file checks the chain.
    let e = refused(format!("sslmode=require&sslrootcert={}", root(&other_ca)));
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = refused("sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem".into());
    assert!(
        e.contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{e}"
    );
    let e = refused(format!(
        "sslmode=verify-ca&sslrootcert={}",
        root(&private_key)
    ));
    assert!(e.contains("holds no PEM certificate"), "{e}");
}
