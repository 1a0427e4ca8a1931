//! The offline snapshot reader against real etcd snapshots (`etcdctl snapshot save` on a
//! server the harness starts): the live keyspace equals `etcdctl get` byte for byte after
//! random puts, overwrites, deletes and compactions (values over a page, thousands of keys,
//! leases); `snapshot status` agrees with `etcdctl snapshot status` and lists the old
//! identity without secrets; truncated, bit-flipped and trailer-less files are refused with
//! exit 3 naming the file, and structural damage is caught even without the trailer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::etcd_client::{Client, Compare, CompareOp, DeleteOptions, PutOptions, Txn, TxnOp};
use assert_cmd::Command;
use base64::Engine;
use dh_migrate::snapshot_db::{Options, Snapshot, BATCH_BYTES, BATCH_KEYS};
use proptest::prelude::*;
use serde_json::Value;
use sha2::Digest;

use crate::support::EtcdServer;

/// (value, create_revision, mod_revision, version, lease)
type Record = (Vec<u8>, i64, i64, i64, i64);
/// key -> record
type Keyspace = BTreeMap<Vec<u8>, Record>;

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .expect("etcdctl prints base64")
}

/// The whole keyspace as `etcdctl get --prefix ""` sees it (an independent client).
fn etcdctl_keyspace(server: &EtcdServer) -> Keyspace {
    let out = server.etcdctl(&["get", "", "--prefix", "-w", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("etcdctl JSON");
    let int = |kv: &Value, f: &str| kv.get(f).and_then(Value::as_i64).unwrap_or(0);
    doc.get("kvs")
        .and_then(Value::as_array)
        .map(|kvs| {
            kvs.iter()
                .map(|kv| {
                    (
                        b64(&kv["key"]),
                        (
                            kv.get("value").map(b64).unwrap_or_default(),
                            int(kv, "create_revision"),
                            int(kv, "mod_revision"),
                            int(kv, "version"),
                            int(kv, "lease"),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn reader_keyspace(path: &Path) -> Keyspace {
    let snap = Snapshot::open(path, Options::default()).expect("snapshot opens");
    snap.live(b"")
        .expect("snapshot reads")
        .kvs
        .into_iter()
        .map(|kv| {
            (
                kv.key,
                (
                    kv.value,
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.lease,
                ),
            )
        })
        .collect()
}

/// The keyspace as `Snapshot::for_each_live_rendered` hands it out (the path `snapshot dump`
/// takes): rendered on `threads` workers, batch by batch, in the order emitted.
fn rendered_keyspace(path: &Path, threads: usize) -> Vec<(Vec<u8>, Record)> {
    let snap = Snapshot::open(path, Options::default()).expect("snapshot opens");
    let mut out = Vec::new();
    let mut batches = 0;
    let summary = snap
        .for_each_live_rendered(
            b"",
            threads,
            |buf, kv| {
                let line = (
                    kv.key,
                    kv.value,
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.lease,
                );
                serde_json::to_writer(&mut *buf, &line).unwrap();
                buf.push(b'\n');
            },
            |batch| {
                batches += 1;
                for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let (k, v, c, m, ver, l): (Vec<u8>, Vec<u8>, i64, i64, i64, i64) =
                        serde_json::from_slice(line).unwrap();
                    out.push((k, (v, c, m, ver, l)));
                }
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .expect("snapshot reads")
        .unwrap_or_else(|never| match never {});
    assert_eq!(summary.keys, out.len());
    // Enough keys or value bytes for two batches must have made two batches.
    let value_bytes: usize = out.iter().map(|(_, (v, ..))| v.len()).sum();
    if out.len() > BATCH_KEYS || value_bytes as u64 > 2 * BATCH_BYTES {
        assert!(
            batches > 1,
            "{} keys, {value_bytes} value bytes in one batch",
            out.len()
        );
    }
    out
}

fn save(server: &EtcdServer, dir: &Path) -> PathBuf {
    let path = dir.join("snapshot.db");
    server.etcdctl(&["snapshot", "save", path.to_str().unwrap()]);
    path
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What one random step does.
#[derive(Debug, Clone)]
enum Step {
    /// Puts (value size class, seed) or deletes, each on a key of the pool, in one txn.
    Batch(Vec<(usize, Option<(u8, u8)>)>),
    /// Deletes every key under `/dh/<n>/`.
    DeleteGroup(usize),
    /// Compacts to the current revision (history below it disappears from the file).
    Compact,
}

const GROUPS: usize = 7;

fn pool_key(i: usize) -> String {
    format!("/dh/{}/item-{i:05}", i % GROUPS)
}

/// Value sizes: empty, small, and over one 4 KiB page (overflow pages).
fn value_of(class: u8, seed: u8, i: usize) -> Vec<u8> {
    let len = match class % 4 {
        0 => 0,
        1 | 2 => 1 + (usize::from(seed) * 7 + i) % 200,
        _ => 4097 + (usize::from(seed) * 131 + i) % 9000,
    };
    (0..len)
        .map(|j| (j as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::collection::vec(
            (0..3000usize, prop::option::weighted(0.8, (any::<u8>(), any::<u8>()))),
            1..128
        )
        .prop_map(Step::Batch),
        1 => (0..GROUPS).prop_map(Step::DeleteGroup),
        1 => Just(Step::Compact),
    ]
}

/// Loads `keys` keys, then runs `steps`, through etcd-client (not the code under test).
fn drive(endpoint: &str, keys: usize, steps: &[Step]) {
    runtime().block_on(async {
        let mut c = Client::connect([endpoint], None).await.unwrap();
        let lease = c.lease_grant(600, None).await.unwrap().id();
        let initial: Vec<usize> = (0..keys).collect();
        for chunk in initial.chunks(128) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|&i| {
                    let opts = (i % 500 == 1).then(|| PutOptions::new().with_lease(lease));
                    TxnOp::put(pool_key(i), value_of((i % 4) as u8, 1, i), opts)
                })
                .collect();
            c.txn(Txn::new().and_then(ops)).await.unwrap();
        }
        // etcd refuses a compaction at a revision already compacted (two Compact steps with
        // nothing written between them): compact only past the last one.
        let mut compacted = 0;
        for s in steps {
            match s {
                Step::Batch(ops) => {
                    // One operation per key in a txn (etcd refuses duplicates).
                    let mut seen = std::collections::HashSet::new();
                    let ops: Vec<TxnOp> = ops
                        .iter()
                        .filter(|(i, _)| seen.insert(*i))
                        .map(|(i, op)| match op {
                            Some((class, seed)) => {
                                TxnOp::put(pool_key(*i), value_of(*class, *seed, *i), None)
                            }
                            None => TxnOp::delete(pool_key(*i), None),
                        })
                        .collect();
                    c.txn(Txn::new().and_then(ops)).await.unwrap();
                }
                Step::DeleteGroup(g) => {
                    c.delete(
                        format!("/dh/{g}/"),
                        Some(DeleteOptions::new().with_prefix()),
                    )
                    .await
                    .unwrap();
                }
                Step::Compact => {
                    let rev = c.get("x", None).await.unwrap().header().unwrap().revision();
                    if rev > compacted {
                        c.compact(rev, None).await.unwrap();
                        compacted = rev;
                    }
                }
            }
        }
        // A guarded write, as dh-migrate's apply does, so a compare-txn revision is in too.
        let txn = Txn::new()
            .when([Compare::version("/dh/guarded", CompareOp::Equal, 0)])
            .and_then([TxnOp::put("/dh/guarded", "v", None)]);
        c.txn(txn).await.unwrap();
    });
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    /// The reader's live keyspace is `etcdctl get`'s, byte for byte, revisions and leases
    /// included, whatever history and compactions led to it.
    #[test]
    fn live_keyspace_equals_etcdctl_get(
        keys in 1000..3000usize,
        steps in prop::collection::vec(step(), 0..12),
    ) {
        let server = EtcdServer::start();
        drive(&server.endpoint(), keys, &steps);
        let dir = tempfile::tempdir().unwrap();
        let path = save(&server, dir.path());
        let want = etcdctl_keyspace(&server);
        let got = reader_keyspace(&path);
        prop_assert!(want.len() > 500, "the case holds thousands of keys before deletes");
        prop_assert_eq!(got.len(), want.len());
        prop_assert!(got == want, "first difference: {:?}", got
            .iter()
            .zip(want.iter())
            .find(|(a, b)| a != b)
            .map(|((k, _), (w, _))| (String::from_utf8_lossy(k), String::from_utf8_lossy(w))));
        // The batched, multi-threaded path `snapshot dump` takes hands out the same keys in
        // the same (key) order, across batch boundaries and worker threads.
        let rendered = rendered_keyspace(&path, 3);
        prop_assert!(rendered.iter().eq(got.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>().iter()),
            "the rendered keyspace differs from live()");
        // And the whole-file figures agree with etcdctl's own walk.
        let ours = Snapshot::open(&path, Options::default()).unwrap().status().unwrap();
        let theirs = etcdctl_status(&path);
        prop_assert_eq!(
            (u64::from(ours.hash), ours.revision, ours.total_keys, ours.total_size),
            theirs
        );
    }
}

/// `etcdctl snapshot status -w json`: (hash, revision, totalKey, totalSize).
fn etcdctl_status(path: &Path) -> (u64, u64, u64, u64) {
    let out = std::process::Command::new("/usr/bin/etcdctl")
        .env_clear()
        .args(["snapshot", "status", path.to_str().unwrap(), "-w", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = |n: &str| v[n].as_u64().unwrap();
    (f("hash"), f("revision"), f("totalKey"), f("totalSize"))
}

/// Runs `dh-migrate ARGS` in `dir` with a cleared environment (HOME is `dir`); shared by
/// the snapshot and layout-detect tests.
pub(crate) fn dh(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("dh-migrate")
        .unwrap()
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap()
}

/// A small snapshot with every kind of thing a Deephaven cluster's has: config items, a
/// leased runtime key, etcd users and roles (one password we must never print).
struct Fixture {
    _server: EtcdServer,
    dir: tempfile::TempDir,
    path: PathBuf,
    etcdctl: Keyspace,
}

const PASSWORD: &str = "Never-Print-This-7731";

fn fixture() -> Fixture {
    let server = EtcdServer::start();
    server.put("/main/config/props/iris-environment.prop/file", b"a=b\r\n");
    server.put(
        "/main/config/props/iris-environment.prop/name",
        b"iris-environment.prop",
    );
    runtime().block_on(async {
        let mut c = Client::connect([server.endpoint()], None).await.unwrap();
        let lease = c.lease_grant(300, None).await.unwrap().id();
        // A key that is not UTF-8: keys are bytes in etcd.
        c.put(b"/bin\xffary".to_vec(), "", None).await.unwrap();
        c.put(
            "/main/runtime/presence/dh-query-1",
            "up",
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .unwrap();
    });
    server.etcdctl(&["user", "add", &format!("iris-config:{PASSWORD}")]);
    server.etcdctl(&["role", "add", "datarouting-rw"]);
    server.etcdctl(&[
        "role",
        "grant-permission",
        "datarouting-rw",
        "--prefix=true",
        "readwrite",
        "/main/config/",
    ]);
    server.etcdctl(&["user", "grant-role", "iris-config", "datarouting-rw"]);
    let dir = tempfile::tempdir().unwrap();
    let path = save(&server, dir.path());
    let etcdctl = etcdctl_keyspace(&server);
    Fixture {
        _server: server,
        dir,
        path,
        etcdctl,
    }
}

#[test]
fn dump_prints_etcdctls_keyspace_as_json_lines_and_status_the_old_identity() {
    let f = fixture();
    let p = f.path.to_str().unwrap();
    let out = dh(f.dir.path(), &["snapshot", "dump", p, "--values"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The documented field order.
    assert!(text.lines().all(|l| l.starts_with("{\"key\":")), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut order = Vec::new();
    let mut got = Keyspace::new();
    for l in &lines {
        let key = match l.get("key_b64") {
            Some(k) => b64(k),
            None => l["key"].as_str().unwrap().as_bytes().to_vec(),
        };
        let value = b64(&l["value_b64"]);
        let sha = sha2::Sha256::digest(&value);
        assert_eq!(l["value_sha256"].as_str().unwrap(), hex::encode(sha));
        let int = |f: &str| l[f].as_i64().unwrap();
        order.push(key.clone());
        got.insert(
            key,
            (
                value,
                int("create_revision"),
                int("mod_revision"),
                int("version"),
                int("lease"),
            ),
        );
    }
    assert_eq!(got, f.etcdctl);
    // In key order (byte order, as etcd sorts).
    assert_eq!(order, got.keys().cloned().collect::<Vec<_>>());

    // --prefix and no --values: no value in the output.
    let out = dh(
        f.dir.path(),
        &["snapshot", "dump", p, "--prefix", "/main/config/"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("value_b64"));
    assert!(text.lines().all(|l| l.contains("\"key\":\"/main/config/")));

    // status agrees with etcdctl and names users, roles, members and the leased key.
    let out = dh(f.dir.path(), &["snapshot", "status", p, "--format", "json"]);
    assert!(out.status.success());
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (hash, rev, total, size) = etcdctl_status(&f.path);
    assert_eq!(st["hash"].as_u64(), Some(hash));
    assert_eq!(st["revision"].as_u64(), Some(rev));
    assert_eq!(st["total_keys"].as_u64(), Some(total));
    assert_eq!(st["total_size"].as_u64(), Some(size));
    assert_eq!(st["live_keys"].as_u64(), Some(f.etcdctl.len() as u64));
    assert_eq!(st["identity"]["users"][0]["name"], "iris-config");
    assert_eq!(st["identity"]["users"][0]["roles"][0], "datarouting-rw");
    assert_eq!(st["identity"]["roles"][0]["name"], "datarouting-rw");
    assert_eq!(st["identity"]["members"].as_array().unwrap().len(), 1);
    assert_eq!(st["identity"]["leases"].as_array().unwrap().len(), 1);
    assert_eq!(
        st["leased_keys"][0]["key"],
        "/main/runtime/presence/dh-query-1"
    );
    let text = dh(f.dir.path(), &["snapshot", "status", p]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("iris-config roles: datarouting-rw"), "{text}");
    assert!(text.contains("/main/runtime/presence/dh-query-1"), "{text}");
    for out in [&text, &st.to_string()] {
        assert!(!out.contains(PASSWORD));
    }
}

/// Runs `args` on a damaged copy and expects exit 3 naming the file and `what`.
fn refused(dir: &Path, file: &Path, args: &[&str], what: &str) {
    let mut all = args.to_vec();
    all.push(file.to_str().unwrap());
    let out = dh(dir, &all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{all:?}: {err}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert!(err.contains(what), "{all:?}: expected {what:?} in {err}");
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
}

#[test]
fn damaged_snapshots_are_refused_with_exit_3() {
    let f = fixture();
    let good = std::fs::read(&f.path).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = f.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let d = f.dir.path();
    for cmd in [&["snapshot", "dump"][..], &["snapshot", "status"]] {
        // Truncated anywhere: the trailer is gone or no longer matches.
        let p = write("cut.db", &good[..good.len() / 2 + 100]);
        refused(d, &p, cmd, "no SHA-256 trailer");
        let p = write("cut512.db", &good[..good.len() - 4096]);
        refused(d, &p, cmd, "does not match");
        // One flipped bit anywhere is caught by the trailer.
        let mut flipped = good.clone();
        flipped[good.len() / 3] ^= 0x10;
        let p = write("flip.db", &flipped);
        refused(d, &p, cmd, "SHA-256 trailer does not match");
        // No trailer at all (a raw bbolt file): refused unless told to skip the check.
        let p = write("raw.db", &good[..good.len() - 32]);
        refused(d, &p, cmd, "no SHA-256 trailer");
    }
    let raw = f.dir.path().join("raw.db");
    let out = dh(
        d,
        &[
            "snapshot",
            "dump",
            "--skip-hash-check",
            raw.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        f.etcdctl.len()
    );
    let missing = f.dir.path().join("missing.db");
    refused(d, &missing, &["snapshot", "dump"], "cannot read");
}

/// Without the trailer the bbolt checks still hold: a broken meta page falls back to the
/// other one, two broken ones, a bad page type or a page pointing outside are errors.
#[test]
fn structure_checks_hold_without_the_trailer() {
    let f = fixture();
    let raw = std::fs::read(&f.path).unwrap();
    let raw = &raw[..raw.len() - 32];
    let page = 4096;
    let d = f.dir.path();
    let skip = ["snapshot", "dump", "--skip-hash-check"];
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // Meta page 0's txid changed: its checksum fails, page 1 still serves.
    let mut one = raw.to_vec();
    one[16 + 48] ^= 1;
    let p = write("meta0.db", &one);
    let out = dh(d, &[&skip[..], &[p.to_str().unwrap()]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        f.etcdctl.len()
    );
    // Both meta pages broken.
    one[page + 16 + 48] ^= 1;
    let p = write("meta01.db", &one);
    refused(d, &p, &skip, "both meta pages are invalid");
    // The root bucket's page: its flags made unknown (0x20).
    let root = u64::from_le_bytes(raw[16 + 16..16 + 24].try_into().unwrap()) as usize;
    let mut flags = raw.to_vec();
    flags[root * page + 8] = 0x20;
    let p = write("flags.db", &flags);
    refused(d, &p, &skip, "flags 0x0020");
    // The root page claims to be another page.
    let mut id = raw.to_vec();
    id[root * page] ^= 0x40;
    let p = write("id.db", &id);
    refused(d, &p, &skip, "says it is page");
    // A file cut inside the database (no trailer expected).
    let p = write("short.db", &raw[..raw.len() - page]);
    refused(d, &p, &skip, "truncated");
}

/// A directory bundle whose snapshot does not check out is an invalid bundle for
/// `inspect` (exit 3 naming the snapshot), even without a manifest to catch it first;
/// the same bundle with its snapshot intact inspects fine.
#[test]
fn inspect_refuses_a_bundle_whose_snapshot_is_damaged() {
    let f = fixture();
    let bundle = f.dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("etcd")).unwrap();
    std::fs::create_dir_all(bundle.join("config/props")).unwrap();
    std::fs::write(bundle.join("config/props/iris-environment.prop"), "a=b\n").unwrap();
    let snap = bundle.join("etcd/snapshot.db");
    std::fs::copy(&f.path, &snap).unwrap();
    let b = bundle.to_str().unwrap();
    let ok = dh(f.dir.path(), &["inspect", b]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut bytes = std::fs::read(&snap).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1; // the trailer itself
    std::fs::write(&snap, bytes).unwrap();
    let bad = dh(f.dir.path(), &["inspect", b]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(err.contains("etcd/snapshot.db"), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
}
