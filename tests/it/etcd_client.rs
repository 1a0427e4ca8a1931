//! The etcd seam against real etcd 3.4 servers: round trips, paging past the 4 MiB reply
//! limit, transaction limits and batching, compare-and-swap conflicts, TLS with client
//! certificates, user/password auth, unreachable endpoints, and a cluster with one member
//! down. Every expectation is written by hand; `etcdctl` serves as the independent reader
//! or concurrent writer where the code under test must not judge itself.

use crate::support;

use std::time::{Duration, Instant};

use dh_migrate::etcd::{
    batches, EtcdError, EtcdSettings, Expect, KvStore, Limits, Op, RealEtcd, Secret,
};
use support::{free_port, EtcdCluster, EtcdServer, TlsMaterial};

fn settings(endpoints: Vec<String>) -> EtcdSettings {
    let mut s = EtcdSettings::new(endpoints);
    s.connect_timeout = Duration::from_secs(5);
    s.request_timeout = Duration::from_secs(20);
    s
}

fn connect(server: &EtcdServer) -> RealEtcd {
    RealEtcd::connect(&settings(vec![server.endpoint()])).expect("connect to test etcd")
}

fn put(key: &[u8], value: &[u8], expect: Expect) -> Op {
    Op::Put {
        key: key.to_vec(),
        value: value.into(),
        expect,
    }
}

/// A value of `len` bytes whose content depends on `seed`, so mixed-up values are caught.
fn value(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7) % 251) as u8)
        .collect()
}

fn etcdctl_value(server: &EtcdServer, key: &str) -> String {
    let out = server.etcdctl(&["get", key, "--print-value-only"]);
    String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_owned()
}

#[test]
fn put_get_round_trip_of_arbitrary_bytes() {
    let server = EtcdServer::start();
    let mut etcd = connect(&server);
    let key = b"/dh/bin\x00\xff\xfe key".to_vec();
    let bytes: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let rev = etcd
        .commit(&[put(&key, &bytes, Expect::Absent)])
        .expect("commit");

    let kv = etcd.get(&key).expect("get").expect("key present");
    assert_eq!(kv.key, key);
    assert_eq!(kv.value, bytes);
    assert_eq!(kv.mod_revision, rev);
    assert_eq!(kv.create_revision, rev);
    assert_eq!(etcd.get(b"/dh/missing").expect("get"), None);

    // An independent client sees the same write.
    etcd.commit(&[put(b"/dh/text", b"hello etcd", Expect::Absent)])
        .expect("commit");
    assert_eq!(etcdctl_value(&server, "/dh/text"), "hello etcd");
}

#[test]
fn get_prefix_pages_past_the_4_mib_reply_limit() {
    let server = EtcdServer::start();
    let mut etcd = connect(&server);
    // 70 values of 100 KiB: 7 MiB under one prefix, far over one 4 MiB gRPC reply.
    let n = 70;
    let ops: Vec<Op> = (0..n)
        .map(|i| {
            put(
                format!("/big/{i:03}").as_bytes(),
                &value(i, 100 * 1024),
                Expect::Absent,
            )
        })
        .collect();
    // Neighbours that share the first bytes but are outside the prefix.
    etcd.commit(&[
        put(b"/bif", b"before", Expect::Absent),
        put(b"/big0", b"after", Expect::Absent),
    ])
    .expect("neighbours");
    let mut last = 0;
    for batch in batches(ops, etcd.limits()).expect("batches") {
        last = etcd.commit(&batch).expect("commit batch");
    }

    let (kvs, rev) = etcd.get_prefix(b"/big/").expect("paged read");
    assert_eq!(rev, last);
    assert_eq!(kvs.len(), n);
    for (i, kv) in kvs.iter().enumerate() {
        assert_eq!(
            kv.key,
            format!("/big/{i:03}").into_bytes(),
            "key order at {i}"
        );
        assert_eq!(kv.value, value(i, 100 * 1024), "value of key {i}");
    }
    let total: usize = kvs.iter().map(|kv| kv.value.len()).sum();
    assert!(total > 6 * 1024 * 1024, "{total}");

    // The whole keyspace (empty prefix) includes the neighbours, in byte order.
    let (all, _) = etcd.get_prefix(b"").expect("read all");
    assert_eq!(all.len(), n + 2);
    assert_eq!(all[0].key, b"/bif".to_vec());
    assert_eq!(all[n + 1].key, b"/big0".to_vec());
}

#[test]
fn transactions_hold_128_ops_and_batches_split_by_count_and_size() {
    let server = EtcdServer::start();
    let mut etcd = connect(&server);
    assert_eq!(etcd.limits().max_ops, 128);

    let full: Vec<Op> = (0..128)
        .map(|i| put(format!("/full/{i:03}").as_bytes(), b"x", Expect::Absent))
        .collect();
    etcd.commit(&full).expect("a 128-op transaction");
    assert_eq!(etcd.get_prefix(b"/full/").expect("read").0.len(), 128);

    // One more than etcd allows is refused by the server, and nothing lands.
    let over: Vec<Op> = (0..129)
        .map(|i| put(format!("/over/{i:03}").as_bytes(), b"x", Expect::Absent))
        .collect();
    match etcd.commit(&over) {
        Err(EtcdError::OverLimit { detail, .. }) => {
            assert!(detail.contains("too many operations"), "{detail}")
        }
        other => panic!("expected the server to refuse 129 ops, got {other:?}"),
    }
    assert!(etcd.get_prefix(b"/over/").expect("read").0.is_empty());

    // 300 small ops: split by count.
    let small: Vec<Op> = (0..300)
        .map(|i| {
            put(
                format!("/count/{i:03}").as_bytes(),
                &value(i, 100),
                Expect::Absent,
            )
        })
        .collect();
    let split = batches(small, etcd.limits()).expect("batches");
    assert_eq!(
        split.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![128, 128, 44]
    );
    for batch in &split {
        etcd.commit(batch).expect("commit count batch");
    }
    let (kvs, _) = etcd.get_prefix(b"/count/").expect("read");
    assert_eq!(kvs.len(), 300);
    assert!(kvs
        .iter()
        .enumerate()
        .all(|(i, kv)| kv.value == value(i, 100)));

    // 40 ops of 100 KiB (4 MiB): split by size. Each op is estimated at
    // 3 * 10 (key) + 102400 + 64 = 102494 bytes; 14 fit in 1.5 MiB - 64 KiB = 1507328.
    let large: Vec<Op> = (0..40)
        .map(|i| {
            put(
                format!("/size/{i:04}").as_bytes(),
                &value(i, 100 * 1024),
                Expect::Absent,
            )
        })
        .collect();
    assert_eq!(large[0].request_bytes(), 102_494);
    let split = batches(large, etcd.limits()).expect("batches");
    assert_eq!(
        split.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![14, 14, 12]
    );
    for batch in &split {
        etcd.commit(batch).expect("etcd accepts each size batch");
    }
    let (kvs, _) = etcd.get_prefix(b"/size/").expect("read");
    assert_eq!(kvs.len(), 40);
    assert!(kvs
        .iter()
        .enumerate()
        .all(|(i, kv)| kv.value == value(i, 100 * 1024)));

    // A single value over the request limit cannot be batched at all.
    let huge = vec![put(b"/huge", &vec![0u8; 2 * 1024 * 1024], Expect::Absent)];
    match batches(huge, Limits::ETCD_DEFAULT) {
        Err(EtcdError::TooLarge { key, bytes }) => {
            assert_eq!(key, "/huge");
            assert_eq!(bytes, 3 * 5 + 2 * 1024 * 1024 + 64);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_key_changed_after_reading_conflicts_and_nothing_is_written() {
    let server = EtcdServer::start();
    let mut etcd = connect(&server);
    etcd.commit(&[
        put(b"/cas/a", b"a1", Expect::Absent),
        put(b"/cas/b", b"b1", Expect::Absent),
        put(b"/cas/gone", b"g1", Expect::Absent),
    ])
    .expect("seed");
    let a = etcd.get(b"/cas/a").expect("get").expect("a");
    let b = etcd.get(b"/cas/b").expect("get").expect("b");
    let gone = etcd.get(b"/cas/gone").expect("get").expect("gone");

    // Someone else writes /cas/b after we read it.
    server.etcdctl(&["put", "/cas/b", "changed-by-someone-else"]);

    let err = etcd
        .commit(&[
            put(b"/cas/a", b"a2", Expect::ModRevision(a.mod_revision)),
            put(b"/cas/b", b"b2", Expect::ModRevision(b.mod_revision)),
            put(b"/cas/new", b"n", Expect::Absent),
            Op::Delete {
                key: b"/cas/gone".to_vec(),
                expect: Expect::ModRevision(gone.mod_revision),
            },
        ])
        .expect_err("a stale guard must fail the transaction");
    match err {
        EtcdError::Conflict { keys } => assert_eq!(keys, vec!["/cas/b".to_owned()]),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Nothing of that transaction landed.
    assert_eq!(
        etcd.get(b"/cas/a").expect("get").expect("a").value,
        b"a1".to_vec()
    );
    assert_eq!(etcd.get(b"/cas/new").expect("get"), None);
    assert_eq!(
        etcd.get(b"/cas/gone")
            .expect("get")
            .expect("still there")
            .value,
        b"g1".to_vec()
    );
    assert_eq!(etcdctl_value(&server, "/cas/b"), "changed-by-someone-else");

    // With fresh revisions the same write goes through, deletion included.
    let b = etcd.get(b"/cas/b").expect("get").expect("b");
    etcd.commit(&[
        put(b"/cas/a", b"a2", Expect::ModRevision(a.mod_revision)),
        put(b"/cas/b", b"b2", Expect::ModRevision(b.mod_revision)),
        Op::Delete {
            key: b"/cas/gone".to_vec(),
            expect: Expect::ModRevision(gone.mod_revision),
        },
    ])
    .expect("fresh guards");
    assert_eq!(etcdctl_value(&server, "/cas/b"), "b2");
    assert_eq!(etcd.get(b"/cas/gone").expect("get"), None);
}

#[test]
fn expect_absent_guards_creation() {
    let server = EtcdServer::start();
    let mut etcd = connect(&server);
    etcd.commit(&[put(b"/abs/k", b"first", Expect::Absent)])
        .expect("create");
    match etcd.commit(&[
        put(b"/abs/k", b"second", Expect::Absent),
        put(b"/abs/other", b"o", Expect::Absent),
    ]) {
        Err(EtcdError::Conflict { keys }) => assert_eq!(keys, vec!["/abs/k".to_owned()]),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(etcdctl_value(&server, "/abs/k"), "first");
    assert_eq!(etcd.get(b"/abs/other").expect("get"), None);
    // A revision guard on a key that does not exist fails too.
    match etcd.commit(&[put(b"/abs/missing", b"m", Expect::ModRevision(2))]) {
        Err(EtcdError::Conflict { keys }) => assert_eq!(keys, vec!["/abs/missing".to_owned()]),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[test]
fn tls_with_client_certificates() {
    let tls = TlsMaterial::generate();
    let server = EtcdServer::start_tls(&tls);
    assert!(server.endpoint().starts_with("https://"));

    let mut s = settings(vec![server.endpoint()]);
    s.cacert = Some(tls.ca_cert.clone());
    s.cert = Some(tls.client_cert.clone());
    s.key = Some(tls.client_key.clone());
    let mut etcd = RealEtcd::connect(&s).expect("TLS connect with a client certificate");
    etcd.commit(&[put(b"/tls/k", b"over tls", Expect::Absent)])
        .expect("commit over TLS");
    assert_eq!(etcdctl_value(&server, "/tls/k"), "over tls");

    // Without the client certificate the server refuses the handshake.
    let mut no_cert = s.clone();
    no_cert.cert = None;
    no_cert.key = None;
    match RealEtcd::connect(&no_cert) {
        Err(EtcdError::Tls { .. }) => {}
        Err(other) => panic!("expected Tls, got {other:?}"),
        Ok(_) => panic!("connected without a client certificate"),
    }

    // A CA that did not sign the server certificate: the client refuses the server.
    let mut wrong_ca = s.clone();
    wrong_ca.cacert = Some(tls.other_ca_cert.clone());
    match RealEtcd::connect(&wrong_ca) {
        Err(EtcdError::Tls { .. }) => {}
        Err(other) => panic!("expected Tls, got {other:?}"),
        Ok(_) => panic!("trusted a server signed by another CA"),
    }
}

#[test]
fn user_password_auth_and_wrong_password() {
    let mut server = EtcdServer::start();
    let password = "Corr3ct-Horse-pw";
    server.enable_auth(password);

    let mut s = settings(vec![server.endpoint()]);
    s.user = Some("root".to_owned());
    s.password = Some(Secret::new(password));
    let mut etcd = RealEtcd::connect(&s).expect("connect as root");
    etcd.commit(&[put(b"/auth/k", b"v", Expect::Absent)])
        .expect("commit as root");
    assert_eq!(etcdctl_value(&server, "/auth/k"), "v");

    let wrong = "Wrong-Secret-9x";
    let mut bad = s.clone();
    bad.password = Some(Secret::new(wrong));
    let err = match RealEtcd::connect(&bad) {
        Err(e) => e,
        Ok(_) => panic!("connected with a wrong password"),
    };
    assert!(
        matches!(&err, EtcdError::Auth { user: Some(u), .. } if u == "root"),
        "{err:?}"
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong), "password leaked: {text}");
        assert!(!text.contains(password), "password leaked: {text}");
    }

    // No credentials at all: reachable, but the first read is refused as an auth error.
    let mut anonymous =
        RealEtcd::connect(&settings(vec![server.endpoint()])).expect("status needs no auth");
    match anonymous.get(b"/auth/k") {
        Err(EtcdError::Auth { user: None, .. }) => {}
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[test]
fn an_endpoint_with_nothing_listening_is_unreachable_within_the_connect_timeout() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let mut s = settings(vec![endpoint.clone()]);
    s.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = RealEtcd::connect(&s);
    let elapsed = started.elapsed();
    match result {
        Err(EtcdError::Unreachable { endpoints, .. }) => assert_eq!(endpoints, vec![endpoint]),
        Err(other) => panic!("expected Unreachable, got {other:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    // The connect timeout plus scheduling slack on a loaded machine.
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
}

#[test]
fn a_three_member_cluster_with_one_member_down_still_commits() {
    let mut cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints();
    assert_eq!(endpoints.len(), 3);

    // Connected while all members run, then the leader (the hardest member to lose) is
    // killed. The next commit may first meet etcd's own "request timed out, possibly due to
    // previous leader failure" (after about 5 s); it must be retried until it lands, and a
    // first attempt that did land must not be reported as a conflict with itself.
    let mut before = RealEtcd::connect(&settings(endpoints.clone())).expect("connect");
    before
        .commit(&[put(b"/ha/1", b"one", Expect::Absent)])
        .expect("commit with 3 members");
    let leader = cluster.leader_index(&[0, 1, 2]);
    cluster.stop_member(leader);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let rev = before
        .commit(&[put(b"/ha/2", b"two", Expect::Absent)])
        .expect("commit with 2 of 3");
    assert_eq!(
        before
            .get(b"/ha/2")
            .expect("get")
            .expect("present")
            .mod_revision,
        rev
    );

    // A fresh connection given all three endpoints, one of them dead (and a new leader).
    let mut after = RealEtcd::connect(&settings(endpoints)).expect("connect with one member down");
    after
        .commit(&[put(b"/ha/3", b"three", Expect::Absent)])
        .expect("commit after reconnect");
    let (kvs, _) = after.get_prefix(b"/ha/").expect("read");
    let values: Vec<&[u8]> = kvs.iter().map(|kv| kv.value.as_slice()).collect();
    assert_eq!(values, vec![&b"one"[..], b"two", b"three"]);

    // The surviving members agree, read independently.
    let out = cluster.etcdctl(&survivors, &["get", "/ha/3", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "three");
}
