//! The KV contract, written once against [`Kv`] and run per backend: [`contract`] takes a
//! function that opens a fresh store, so another backend runs the same assertions.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::backend::Durability;
use super::key::{KeyPart, encode};
use super::ops::{AtomicWrite, Check, Enqueue, Mutation, MutationKind, Value, ValueKind};
use super::select::Selector;
use super::*;

/// The key of string parts `parts` (shared with the other KV test modules).
pub(super) fn k(parts: &[&str]) -> Vec<u8> {
    encode(
        &parts
            .iter()
            .map(|p| KeyPart::String(p.to_string()))
            .collect::<Vec<_>>(),
    )
}

fn bytes(b: &[u8]) -> Value {
    Value {
        kind: ValueKind::Bytes,
        bytes: b.to_vec(),
    }
}

fn set(key: &[u8], value: Value) -> Mutation {
    Mutation {
        key: key.to_vec(),
        kind: MutationKind::Set(value),
        expire_in_ms: None,
    }
}

fn commit(kv: &Kv, checks: Vec<Check>, mutations: Vec<Mutation>) -> Result<Option<Versionstamp>> {
    let write = AtomicWrite {
        checks,
        mutations,
        enqueues: vec![],
    };
    kv.commit(write, Durability::Sync)
}

fn get(kv: &Kv, key: &[u8]) -> Option<(Versionstamp, Value)> {
    let mut out = None;
    kv.get(key, &mut |_, vs, kind, b| {
        out = Some((
            vs,
            Value {
                kind,
                bytes: b.to_vec(),
            },
        ));
        true
    })
    .unwrap();
    out
}

fn list(kv: &Kv, selector: &Selector, reverse: bool, limit: usize) -> Vec<Vec<u8>> {
    let (start, end) = selector.range(reverse, None).unwrap();
    let mut keys = vec![];
    kv.scan(&start, &end, reverse, limit, &mut |key, _, _, _| {
        keys.push(key.to_vec());
        true
    })
    .unwrap();
    keys
}

/// Every behaviour of the contract, on stores made by `open`.
pub(crate) fn contract(open: &dyn Fn() -> Kv) {
    // Versionstamps grow; a failed check changes nothing.
    let kv = open();
    let a = k(&["a"]);
    let v1 = commit(&kv, vec![], vec![set(&a, bytes(b"1"))])
        .unwrap()
        .unwrap();
    let stale = Check {
        key: a.clone(),
        versionstamp: None,
    };
    assert_eq!(
        commit(&kv, vec![stale], vec![set(&a, bytes(b"x"))]).unwrap(),
        None
    );
    let fresh = Check {
        key: a.clone(),
        versionstamp: Some(v1),
    };
    let v2 = commit(&kv, vec![fresh], vec![set(&a, bytes(b"2"))])
        .unwrap()
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(get(&kv, &a), Some((v2, bytes(b"2"))));

    // sum/min/max on KvU64, their type errors, and wrap-around.
    let n = k(&["n"]);
    let op = |kind: MutationKind| Mutation {
        key: n.clone(),
        kind,
        expire_in_ms: None,
    };
    commit(
        &kv,
        vec![],
        vec![
            op(MutationKind::Sum(Value::u64(u64::MAX))),
            op(MutationKind::Sum(Value::u64(2))),
        ],
    )
    .unwrap();
    assert_eq!(get(&kv, &n).unwrap().1.as_u64(), Some(1));
    commit(
        &kv,
        vec![],
        vec![
            op(MutationKind::Max(Value::u64(9))),
            op(MutationKind::Min(Value::u64(4))),
        ],
    )
    .unwrap();
    assert_eq!(get(&kv, &n).unwrap().1.as_u64(), Some(4));
    let err = commit(
        &kv,
        vec![],
        vec![Mutation {
            key: a.clone(),
            ..op(MutationKind::Sum(Value::u64(1)))
        }],
    )
    .unwrap_err();
    assert!(
        err.to_string().ends_with("non-U64 value in the database"),
        "{err}"
    );
    let err = commit(&kv, vec![], vec![op(MutationKind::Min(bytes(b"1")))]).unwrap_err();
    assert!(err.to_string().ends_with("non-U64 operand"), "{err}");

    // A versionstamped key carries the commit's versionstamp as its last part.
    let stamp = commit(
        &kv,
        vec![],
        vec![Mutation {
            key: k(&["log"]),
            kind: MutationKind::SetVersionstampedKey(bytes(b"e")),
            expire_in_ms: None,
        }],
    )
    .unwrap()
    .unwrap();
    let hex: String = stamp.iter().map(|b| format!("{b:02x}")).collect();
    let log = Selector::new(Some(k(&["log"])), None, None).unwrap();
    assert_eq!(list(&kv, &log, false, 10), vec![k(&["log", &hex])]);

    // Lists stay inside their selector, in order, reversed and limited.
    for name in ["b", "c", "d"] {
        commit(
            &kv,
            vec![],
            vec![set(&k(&["users", name]), bytes(name.as_bytes()))],
        )
        .unwrap();
    }
    let users = Selector::new(Some(k(&["users"])), None, None).unwrap();
    assert_eq!(
        list(&kv, &users, false, 10),
        vec![k(&["users", "b"]), k(&["users", "c"]), k(&["users", "d"])]
    );
    assert_eq!(
        list(&kv, &users, true, 2),
        vec![k(&["users", "d"]), k(&["users", "c"])]
    );
    let cursor = users.cursor(&k(&["users", "b"]));
    let (start, end) = users.range(false, Some(cursor.as_bytes())).unwrap();
    let mut after = vec![];
    kv.scan(&start, &end, false, 10, &mut |key, _, _, _| {
        after.push(key.to_vec());
        true
    })
    .unwrap();
    assert_eq!(after, vec![k(&["users", "c"]), k(&["users", "d"])]);

    // Expired entries are gone.
    let e = k(&["e"]);
    commit(
        &kv,
        vec![],
        vec![Mutation {
            expire_in_ms: Some(1),
            ..set(&e, bytes(b"x"))
        }],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(get(&kv, &e), None);

    // Queue: a failed delivery is retried per the schedule, then written to its keys.
    let cancel = AtomicBool::new(false);
    let dead = k(&["dead"]);
    let write = AtomicWrite {
        enqueues: vec![Enqueue {
            payload: bytes(b"m"),
            delay_ms: 0,
            keys_if_undelivered: vec![dead.clone()],
            backoff_schedule: Some(vec![1]),
        }],
        ..Default::default()
    };
    let epoch = kv.change_epoch();
    kv.commit(write, Durability::Sync).unwrap().unwrap();
    assert!(kv.wait_change(epoch, Duration::from_secs(5), &cancel) > epoch);
    let first = kv
        .dequeue(Duration::from_secs(5), &cancel)
        .unwrap()
        .unwrap();
    assert_eq!(first.payload, b"m");
    kv.finish(first.id, false).unwrap();
    let second = kv
        .dequeue(Duration::from_secs(5), &cancel)
        .unwrap()
        .unwrap();
    assert_eq!(second.payload, b"m");
    assert!(get(&kv, &dead).is_none());
    kv.finish(second.id, false).unwrap();
    assert_eq!(get(&kv, &dead).unwrap().1, bytes(b"m"));
    assert!(
        kv.dequeue(Duration::from_millis(20), &cancel)
            .unwrap()
            .is_none()
    );
}

#[test]
fn embedded_store_keeps_the_contract() {
    let dirs = std::cell::RefCell::new(vec![]);
    contract(&|| {
        let dir = tempfile::tempdir().unwrap();
        let kv = Kv::open(dir.path()).unwrap();
        dirs.borrow_mut().push(dir);
        kv
    });
}

/// Increments `key` by one with check+set, retrying lost races.
fn increment(kv: &Kv, key: &[u8]) {
    loop {
        let current = get(kv, key);
        let n = current.as_ref().and_then(|(_, v)| v.as_u64()).unwrap_or(0);
        let check = Check {
            key: key.to_vec(),
            versionstamp: current.map(|(vs, _)| vs),
        };
        if commit(kv, vec![check], vec![set(key, Value::u64(n + 1))])
            .unwrap()
            .is_some()
        {
            return;
        }
    }
}

#[test]
fn racing_check_and_set_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Kv::open(dir.path()).unwrap();
    let counter = k(&["counter"]);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| (0..50).for_each(|_| increment(&kv, &counter)));
        }
    });
    assert_eq!(get(&kv, &counter).unwrap().1.as_u64(), Some(400));
}

#[test]
fn concurrent_durable_commits_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded::Embedded::open(dir.path()).unwrap();
    let kv = Kv::with_backend(store.clone());
    let before = store.syncs();
    std::thread::scope(|s| {
        for t in 0..8 {
            let kv = &kv;
            s.spawn(move || {
                let key = k(&["counter", &t.to_string()]);
                (0..50).for_each(|_| increment(kv, &key));
            });
        }
    });
    for t in 0..8 {
        let key = k(&["counter", &t.to_string()]);
        assert_eq!(get(&kv, &key).unwrap().1.as_u64(), Some(50));
    }
    // 400 durable commits on distinct keys: waiting ones join the group being synced.
    let syncs = store.syncs() - before;
    assert!(syncs < 400, "{syncs} syncs for 400 commits");
    eprintln!("{syncs} syncs for 400 durable commits from 8 threads");
}

#[test]
fn messages_being_handled_at_a_restart_are_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    {
        let kv = Kv::open(dir.path()).unwrap();
        let write = AtomicWrite {
            enqueues: vec![Enqueue {
                payload: bytes(b"job"),
                delay_ms: 0,
                keys_if_undelivered: vec![],
                backoff_schedule: None,
            }],
            ..Default::default()
        };
        kv.commit(write, Durability::Sync).unwrap();
        let taken = kv
            .dequeue(Duration::from_secs(5), &cancel)
            .unwrap()
            .unwrap();
        assert_eq!(taken.payload, b"job");
    } // closed before finishing, as a crash would
    let kv = Kv::open(dir.path()).unwrap();
    let again = kv
        .dequeue(Duration::from_secs(5), &cancel)
        .unwrap()
        .unwrap();
    assert_eq!(again.payload, b"job");
    kv.finish(again.id, true).unwrap();
    assert!(
        kv.dequeue(Duration::from_millis(20), &cancel)
            .unwrap()
            .is_none()
    );
}
