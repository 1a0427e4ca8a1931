//! A snapshot file of the new cluster as `--target`: `report` and `plan` read the layout's
//! items from it offline and come to exactly what they say against the live etcd the
//! snapshot was saved from; a damaged target snapshot is a target error (exit 7).

use std::path::Path;

use dh_migrate::layout::Layout;
use serde_json::Value;

use crate::snapshot_reader::dh;
use crate::support::EtcdServer;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

/// Puts every file of `tree/config` that the default layout (v2) maps where Deephaven
/// keeps it: an atomic directory holding `file` (the bytes), `name` (the file name) and a
/// meta subtree (`created`, `updated`, `guard`); persistent queries under `data/pq/` with
/// the serials 101, 102, ... in path order (Deephaven assigns its own).
pub(crate) fn load(server: &EtcdServer, tree: &Path) {
    load_with(server, tree, &Layout::builtin());
}

/// As [`load`], with the v1 layout: each file at its one key.
pub(crate) fn load_v1(server: &EtcdServer, tree: &Path) {
    load_with(server, tree, &Layout::v1());
}

fn load_with(server: &EtcdServer, tree: &Path, layout: &Layout) {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&tree.join("config"), tree, &mut files);
    files.sort();
    let mut n = 0;
    let mut serial = 100;
    for (rel, bytes) in files {
        let dir = match layout.key_for(&rel) {
            Some((key, _)) if layout.version == 1 => {
                server.put(&key, &bytes);
                n += 1;
                continue;
            }
            Some((key, _)) => key.strip_suffix("/file").unwrap().to_string(),
            None if layout.is_item(&rel) => {
                assert!(rel.starts_with("config/pq/"), "{rel}: a scan item");
                serial += 1;
                format!("/main/data/pq/{serial}")
            }
            None => continue,
        };
        let name = rel.rsplit('/').next().unwrap();
        server.put(&format!("{dir}/file"), &bytes);
        server.put(&format!("{dir}/name"), name.as_bytes());
        server.put(&format!("{dir}/meta/created"), b"1714629600000");
        server.put(&format!("{dir}/meta/updated"), b"1714629600000");
        server.put(&format!("{dir}/meta/guard"), b"1");
        n += 1;
    }
    assert!(n > 3, "the fixture has etcd items");
}

/// Drops the fields that name where the target was read from, and when.
fn without_labels(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // The time each report was made differs too when the runs straddle a second.
            m.retain(|k, _| k != "target" && k != "target_label" && k != "generated_at");
            m.values_mut().for_each(without_labels);
        }
        Value::Array(a) => a.iter_mut().for_each(without_labels),
        _ => {}
    }
}

#[test]
fn a_snapshot_target_reads_like_the_live_etcd_it_was_saved_from() {
    let server = EtcdServer::start();
    let new = fixtures().join("new-cluster");
    load(&server, &new);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("new.db");
    server.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    let bundle = fixtures().join("old-cluster");
    let mapping = fixtures().join("mapping.yaml");
    let cnf = new.join("cluster/cluster.cnf");
    let common = [
        "report",
        bundle.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--cluster-cnf",
        cnf.to_str().unwrap(),
        "--format",
        "json",
    ];
    let endpoint = server.endpoint();
    let live = dh(
        dir.path(),
        &[&common[..], &["--endpoints", &endpoint]].concat(),
    );
    let offline = dh(
        dir.path(),
        &[&common[..], &["--target", snap.to_str().unwrap()]].concat(),
    );
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(live.status.code(), Some(1), "{}", err(&live));
    assert_eq!(
        offline.status.code(),
        live.status.code(),
        "{}",
        err(&offline)
    );
    let mut a: Value = serde_json::from_slice(&live.stdout).unwrap();
    let mut b: Value = serde_json::from_slice(&offline.stdout).unwrap();
    without_labels(&mut a);
    without_labels(&mut b);
    assert_eq!(a, b);

    // plan --emit from the snapshot target writes what it writes with the live etcd.
    let out_live = dir.path().join("live");
    let out_snap = dir.path().join("snap");
    let plan = |extra: &[&str], out: &Path| {
        let args = [
            &[
                "plan",
                bundle.to_str().unwrap(),
                "--mapping",
                mapping.to_str().unwrap(),
                "--cluster-cnf",
                cnf.to_str().unwrap(),
                "--emit",
                out.to_str().unwrap(),
            ][..],
            extra,
        ]
        .concat();
        let o = dh(dir.path(), &args);
        assert!(o.status.success(), "{}", err(&o));
    };
    plan(&["--endpoints", &endpoint], &out_live);
    plan(&["--target", snap.to_str().unwrap()], &out_snap);
    assert_eq!(
        crate::support::fs::listing(&out_live),
        crate::support::fs::listing(&out_snap)
    );

    // A damaged target snapshot: a target error, naming the file.
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&snap, bytes).unwrap();
    let bad = dh(
        dir.path(),
        &[&common[..], &["--target", snap.to_str().unwrap()]].concat(),
    );
    assert_eq!(bad.status.code(), Some(7), "{}", err(&bad));
    assert!(err(&bad).contains("new.db"), "{}", err(&bad));
    assert!(err(&bad).contains("SHA-256"), "{}", err(&bad));
}
