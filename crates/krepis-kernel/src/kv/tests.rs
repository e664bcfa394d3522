use super::key::{KeyPart, encode};
use super::*;

fn k(parts: &[&str]) -> Vec<u8> {
    encode(
        &parts
            .iter()
            .map(|p| KeyPart::String(p.to_string()))
            .collect::<Vec<_>>(),
    )
}

fn open() -> (tempfile::TempDir, Kv) {
    let dir = tempfile::tempdir().unwrap();
    let kv = Kv::open(dir.path(), KvOptions::default()).unwrap();
    (dir, kv)
}

fn keys_in(kv: &Kv, start: &[u8], end: &[u8], reverse: bool, limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    kv.scan(start, end, reverse, limit, |key, _, _| {
        out.push(key.to_vec());
        true
    })
    .unwrap();
    out
}

#[test]
fn set_get_delete_with_growing_versionstamps() {
    let (_dir, kv) = open();
    let key = k(&["a"]);
    assert!(kv.get(&key).unwrap().is_none());
    let v1 = kv.set(&key, b"1", None).unwrap();
    let v2 = kv.set(&key, b"2", None).unwrap();
    assert!(v2 > v1);
    let entry = kv.get(&key).unwrap().unwrap();
    assert_eq!(
        (entry.versionstamp, entry.value.as_slice()),
        (v2, &b"2"[..])
    );
    kv.delete(&key).unwrap();
    assert!(kv.get(&key).unwrap().is_none());
    kv.delete(&key).unwrap();
}

#[test]
fn bad_keys_and_values_are_refused() {
    let (_dir, kv) = open();
    assert!(kv.get(&[]).is_err());
    assert!(kv.set(&[0x99], b"x", None).is_err());
    let too_big = vec![0u8; ops::MAX_VALUE_BYTES + 1];
    assert!(matches!(
        kv.set(&k(&["a"]), &too_big, None),
        Err(KernelError::LimitExceeded(_))
    ));
    assert!(kv.get(&k(&["a"])).unwrap().is_none(), "nothing was written");
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = {
        let kv = Kv::open(dir.path(), KvOptions { sync: true }).unwrap();
        kv.set(&k(&["persist"]), b"yes", None).unwrap()
    };
    let kv = Kv::open(dir.path(), KvOptions::default()).unwrap();
    let entry = kv.get(&k(&["persist"])).unwrap().unwrap();
    assert_eq!(entry.versionstamp, stamp);
    assert!(kv.set(&k(&["next"]), b"", None).unwrap() > stamp);
}

#[test]
fn atomic_checks_guard_all_mutations() {
    let (_dir, kv) = open();
    let (a, b) = (k(&["a"]), k(&["b"]));
    let va = kv.set(&a, b"a", None).unwrap();
    let absent_b = Check {
        key: &b,
        versionstamp: None,
    };
    let stale_a = Check {
        key: &a,
        versionstamp: Some(va - 1),
    };
    let set_b = Mutation::Set {
        key: &b,
        value: b"b",
        expire_in_ms: None,
    };
    let delete_a = Mutation::Delete { key: &a };
    let failed = kv.commit(
        &[absent_b.clone(), stale_a],
        &[set_b.clone(), delete_a.clone()],
    );
    assert_eq!(failed.unwrap(), None);
    assert!(kv.get(&b).unwrap().is_none());
    assert!(kv.get(&a).unwrap().is_some());
    let fresh_a = Check {
        key: &a,
        versionstamp: Some(va),
    };
    let stamp = kv
        .commit(&[absent_b, fresh_a], &[set_b, delete_a])
        .unwrap()
        .unwrap();
    assert_eq!(kv.get(&b).unwrap().unwrap().versionstamp, stamp);
    assert!(kv.get(&a).unwrap().is_none());
}

#[test]
fn concurrent_check_and_set_loses_no_update() {
    let (dir, kv) = open();
    let key = k(&["counter"]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            // Each thread opens the path itself, as separate workers would.
            let kv = Kv::open(dir.path(), KvOptions::default()).unwrap();
            let key = key.clone();
            std::thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..200 {
                    loop {
                        let current = kv.get(&key).unwrap();
                        let n = current
                            .as_ref()
                            .map_or(0, |e| u64::from_le_bytes(e.value[..8].try_into().unwrap()));
                        let check = Check {
                            key: &key,
                            versionstamp: current.map(|e| e.versionstamp),
                        };
                        let next = (n + 1).to_le_bytes();
                        let set = Mutation::Set {
                            key: &key,
                            value: &next,
                            expire_in_ms: None,
                        };
                        if kv.commit(&[check], &[set]).unwrap().is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let value = kv.get(&key).unwrap().unwrap().value;
    assert_eq!(u64::from_le_bytes(value[..8].try_into().unwrap()), 800);
    eprintln!("{retries} retries");
}

#[test]
fn expired_entries_disappear() {
    let (_dir, kv) = open();
    let key = k(&["temp"]);
    // Generous times: a loaded machine may pause this thread for a while.
    kv.set(&key, b"x", Some(1_000)).unwrap();
    kv.set(&k(&["kept"]), b"y", Some(600_000)).unwrap();
    assert!(kv.get(&key).unwrap().is_some());
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert!(kv.get(&key).unwrap().is_none());
    let all = keys_in(&kv, &[0], &[0xff], false, usize::MAX);
    assert_eq!(all, [k(&["kept"])]);
    let check = Check {
        key: &key,
        versionstamp: None,
    };
    assert!(
        kv.commit(&[check], &[]).unwrap().is_some(),
        "expired counts as absent"
    );
}

#[test]
fn ranges_limits_and_reverse() {
    let (_dir, kv) = open();
    for name in ["a", "b", "c", "d"] {
        kv.set(&k(&["users", name]), name.as_bytes(), None).unwrap();
    }
    kv.set(&k(&["users"]), b"the prefix itself", None).unwrap();
    kv.set(&k(&["zebra"]), b"z", None).unwrap();
    let mut start = k(&["users"]);
    let mut end = start.clone();
    start.push(0x00);
    end.push(0xff);
    let all = keys_in(&kv, &start, &end, false, usize::MAX);
    assert_eq!(all, ["a", "b", "c", "d"].map(|n| k(&["users", n])));
    let last_two = keys_in(&kv, &start, &end, true, 2);
    assert_eq!(last_two, [k(&["users", "d"]), k(&["users", "c"])]);
    assert!(keys_in(&kv, &end, &start, false, 10).is_empty());

    let mut page = vec![0u8; 64];
    let used = page::fill(&kv, &mut page, &start, &end, false, 10).unwrap();
    assert!(used > 0 && used <= 64);
    let mut tiny = vec![0u8; 4];
    assert!(page::fill(&kv, &mut tiny, &start, &end, false, 10).is_err());
}

#[test]
fn opens_of_one_path_share_a_store() {
    let (dir, kv) = open();
    let again = Kv::open(dir.path(), KvOptions::default()).unwrap();
    kv.set(&k(&["shared"]), b"1", None).unwrap();
    assert!(again.get(&k(&["shared"])).unwrap().is_some());
}
