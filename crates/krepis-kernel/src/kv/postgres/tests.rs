//! Tests against a real PostgreSQL that each test starts in a temp directory with
//! `tools/pg_temp.sh` (`initdb` + `pg_ctl`, a free port on 127.0.0.1).

use std::path::PathBuf;
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

    /// The URL of a new, empty database on this server.
    pub(crate) fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let mut admin = postgres::Client::connect(&self.url, NoTls).unwrap();
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

#[test]
fn instances_racing_check_and_set_lose_no_update() {
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let counter = key("counter");
    std::thread::scope(|s| {
        for _ in 0..4 {
            // A store (and pool) each, as separate app instances would have.
            let kv = Kv::open_target(&url).unwrap();
            let counter = &counter;
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
                }
            });
        }
    });
    let kv = Kv::open_target(&url).unwrap();
    assert_eq!(read_u64(&kv, &counter).map(|(_, n)| n), Some(200));
}

#[test]
fn a_message_whose_listener_died_is_delivered_again_after_its_lease() {
    let server = TempPostgres::start();
    let url = server.fresh_database();
    let a = Kv::open_target(&url).unwrap();
    let b = Kv::open_target(&url).unwrap();
    let write = AtomicWrite {
        enqueues: vec![Enqueue {
            payload: Value::u64(7),
            delay_ms: 0,
            keys_if_undelivered: vec![],
            backoff_schedule: None,
        }],
        ..Default::default()
    };
    a.commit(write, Durability::Sync).unwrap().unwrap();
    let cancel = AtomicBool::new(false);
    let first = a
        .dequeue(Duration::from_secs(10), &cancel)
        .unwrap()
        .unwrap();
    // `a` never finishes it; `b` sees nothing while the lease holds...
    assert!(
        b.dequeue(Duration::from_millis(200), &cancel)
            .unwrap()
            .is_none()
    );
    // ...and gets it once the lease runs out.
    let again = b
        .dequeue(Duration::from_millis(LEASE_MS * 3), &cancel)
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
    let (a, b) = (key("a"), key("b"));
    let stop = AtomicBool::new(false);
    let (acknowledged, errors) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let (mut acknowledged, mut errors) = (0u64, vec![]);
                    while !stop.load(Ordering::Relaxed) {
                        // Both keys get the same number in one commit.
                        let n = Value::u64(1);
                        let write = AtomicWrite {
                            mutations: [&a, &b]
                                .map(|k| Mutation {
                                    key: k.clone(),
                                    kind: MutationKind::Sum(n.clone()),
                                    expire_in_ms: None,
                                })
                                .to_vec(),
                            ..Default::default()
                        };
                        match kv.commit(write, Durability::Sync) {
                            Ok(_) => acknowledged += 1,
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
    // A commit cut off by the restart may have applied without its acknowledgement.
    assert!(
        a >= acknowledged,
        "{a} stored < {acknowledged} acknowledged"
    );
}
