//! A bundle whose only configuration is `etcd/snapshot.db` (made here by a real etcd
//! holding the old-cluster fixture's items as the default layout, v2, has them: atomic
//! directories, PQs under serial numbers) is a complete
//! bundle: `inspect` finds the same old nodes and references as the `config/` files give,
//! `plan --emit-result` writes byte for byte what the files bundle gives, from a directory
//! and from a `.tar.gz`; a bundle with both warns of every item that differs; a damaged
//! snapshot makes the bundle invalid (exit 3).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::snapshot_reader::dh;
use crate::snapshot_target::{load, load_v1};
use crate::support::fs::{copy_dir, listing};
use crate::support::EtcdServer;

fn fixtures() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).to_path_buf()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies the old-cluster fixture into `to` without its manifest, without `config/`
/// (when `config` is false) and with `snapshot` as its `etcd/snapshot.db` (or none).
/// Without its ACL export either: the default layout (v2) has no ACL item (Deephaven keeps
/// ACLs as rows), so no snapshot holds it as a file.
fn bundle_from(to: &Path, config: bool, snapshot: Option<&Path>) {
    copy_dir(&fixtures().join("old-cluster"), to);
    std::fs::remove_file(to.join("MANIFEST.sha256")).unwrap();
    std::fs::remove_dir_all(to.join("config/acls")).unwrap();
    if !config {
        std::fs::remove_dir_all(to.join("config")).unwrap();
    }
    std::fs::remove_dir_all(to.join("etcd")).unwrap();
    if let Some(s) = snapshot {
        std::fs::create_dir_all(to.join("etcd")).unwrap();
        std::fs::copy(s, to.join("etcd/snapshot.db")).unwrap();
    }
}

/// `.tar.gz` of the tree `dir`.
fn targz(dir: &Path, out: &Path) {
    let file = std::fs::File::create(out).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap().finish().unwrap();
}

/// The inspect report without what names the bundle or lists its parts.
fn inspect_json(dir: &Path, bundle: &Path) -> Value {
    let o = dh(
        dir,
        &["inspect", bundle.to_str().unwrap(), "--format", "json"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let mut v: Value = serde_json::from_slice(&o.stdout).unwrap();
    without_bundle_fields(&mut v);
    v
}

/// An inspect report without what names the bundle or lists its parts, and without the
/// snapshot itself (a file of one bundle only).
fn without_bundle_fields(v: &mut Value) {
    let m = v.as_object_mut().unwrap();
    for k in [
        "bundle",
        "kind",
        "parts",
        "manifest",
        "manifest_files",
        "old_etcd",
    ] {
        m.remove(k);
    }
    m["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != "etcd/snapshot.db");
}

/// `CMD BUNDLE --mapping M --target T EXTRA...` with the fixture mapping and new cluster.
fn against_new(dir: &Path, cmd: &str, bundle: &Path, extra: &[&str]) -> std::process::Output {
    let (new, mapping) = (
        fixtures().join("new-cluster"),
        fixtures().join("mapping.yaml"),
    );
    let args = [
        cmd,
        bundle.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--target",
        new.to_str().unwrap(),
    ];
    dh(dir, &[&args[..], extra].concat())
}

fn plan(dir: &Path, bundle: &Path, out: &Path) -> std::process::Output {
    against_new(
        dir,
        "plan",
        bundle,
        &["--emit-result", out.to_str().unwrap()],
    )
}

#[test]
fn a_snapshot_only_bundle_inspects_and_plans_as_its_files_do() {
    let server = EtcdServer::start();
    load(&server, &fixtures().join("old-cluster"));
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("old.db");
    let saved = server.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", err(&saved));

    let files = dir.path().join("files-bundle");
    bundle_from(&files, true, None);
    let only = dir.path().join("snapshot-bundle");
    bundle_from(&only, false, Some(&snap));
    assert!(!only.join("config").exists());
    let tgz = dir.path().join("snapshot-bundle.tar.gz");
    targz(&only, &tgz);

    // inspect: the same old nodes, references and files.
    let want = inspect_json(dir.path(), &files);
    assert!(
        want["nodes"].as_array().unwrap().len() >= 4,
        "the fixture has old nodes: {want}"
    );
    for bundle in [&only, &tgz] {
        let got = inspect_json(dir.path(), bundle);
        for k in want.as_object().unwrap().keys() {
            assert!(got[k] == want[k], "{k} differs for {}", bundle.display());
        }
        assert_eq!(got, want);
    }
    // Text: the config/ parts are listed as present.
    let text = dh(dir.path(), &["inspect", only.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(!text.contains("Old nodes (0)"), "{text}");
    assert!(text.contains("config/props/"), "{text}");

    // plan --emit-result: byte-identical trees.
    let out_files = dir.path().join("out-files");
    let p = plan(dir.path(), &files, &out_files);
    assert!(p.status.success(), "{}", err(&p));
    for (bundle, name) in [(&only, "out-only"), (&tgz, "out-tgz")] {
        let out = dir.path().join(name);
        let o = plan(dir.path(), bundle, &out);
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(listing(&out), listing(&out_files), "{}", bundle.display());
    }
    assert!(listing(&out_files).keys().any(|k| k.starts_with("config/")));

    // Files and snapshot both: the snapshot's copies are used (it is what etcd held), each
    // differing item is named.
    let both = dir.path().join("both-bundle");
    bundle_from(&both, true, Some(&snap));
    let edited = both.join("config/props/iris-common.prop");
    let mut text = std::fs::read(&edited).unwrap();
    text.extend_from_slice(b"# edited after the snapshot\n");
    std::fs::write(&edited, text).unwrap();
    let o = dh(dir.path(), &["inspect", both.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("config/props/iris-common.prop differs from its copy in etcd/snapshot.db"),
        "{out}"
    );
    assert_eq!(out.matches("differs from its copy").count(), 1, "{out}");
    let out_both = dir.path().join("out-both");
    let o = plan(dir.path(), &both, &out_both);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("warning: config/props/iris-common.prop differs from its copy in etcd/snapshot.db (etcd key /main/config/props/iris-common.prop/file); the snapshot's copy is used (--prefer-files keeps the config/ file)"),
        "{}",
        err(&o)
    );
    // The edit did not make it into what apply would write: the snapshot's copy did...
    assert_eq!(listing(&out_both), listing(&out_files));
    // ...and the old spelling of that default is still accepted.
    let out_old_flag = dir.path().join("out-old-flag");
    let o = against_new(
        dir.path(),
        "plan",
        &both,
        &[
            "--emit-result",
            out_old_flag.to_str().unwrap(),
            "--prefer-snapshot",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(listing(&out_old_flag), listing(&out_files));
    // Only when the user says the files win does the edit go through.
    let out_files_win = dir.path().join("out-files-win");
    let o = against_new(
        dir.path(),
        "plan",
        &both,
        &[
            "--emit-result",
            out_files_win.to_str().unwrap(),
            "--prefer-files",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("differs from its copy in etcd/snapshot.db (etcd key /main/config/props/iris-common.prop/file); the config/ file is used (--prefer-files)"),
        "{}",
        err(&o)
    );
    let (with_edit, without) = (listing(&out_files_win), listing(&out_files));
    assert_ne!(with_edit, without);
    let changed: Vec<&String> = with_edit
        .keys()
        .filter(|k| *k != "MANIFEST.sha256" && with_edit.get(*k) != without.get(*k))
        .collect();
    assert_eq!(
        changed,
        ["config/props/iris-common.prop"],
        "only the edited item differs"
    );
    // Both flags at once is a usage error.
    let o = against_new(
        dir.path(),
        "plan",
        &both,
        &["--prefer-files", "--prefer-snapshot"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));

    let o = against_new(dir.path(), "report", &both, &[]);
    assert!(
        err(&o).contains("warning: config/props/iris-common.prop differs"),
        "{}",
        err(&o)
    );

    // A damaged snapshot: the bundle is invalid, from a directory and an archive.
    let mut bytes = std::fs::read(only.join("etcd/snapshot.db")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(only.join("etcd/snapshot.db"), bytes).unwrap();
    targz(&only, &tgz);
    for bundle in [&only, &tgz] {
        for cmd in ["inspect", "plan"] {
            let o = if cmd == "plan" {
                plan(dir.path(), bundle, &dir.path().join("never"))
            } else {
                dh(dir.path(), &["inspect", bundle.to_str().unwrap()])
            };
            assert_eq!(
                o.status.code(),
                Some(3),
                "{cmd} {}: {}",
                bundle.display(),
                err(&o)
            );
            assert!(err(&o).contains("snapshot.db"), "{}", err(&o));
            assert!(err(&o).contains("SHA-256"), "{}", err(&o));
        }
    }
    assert!(!dir.path().join("never").exists());
}

const PASSWORD: &str = "Old-Etcd-Secret-4417";

#[test]
fn inspect_and_plan_name_the_old_etcd_identity_a_restore_brings_back() {
    let server = EtcdServer::start();
    load(&server, &fixtures().join("old-cluster"));
    let granted = server.etcdctl(&["lease", "grant", "600"]);
    assert!(granted.status.success(), "{}", err(&granted));
    // "lease 694d8c2f7f0e3b04 granted with TTL(600s)"
    let text = String::from_utf8(granted.stdout).unwrap();
    let lease = text.split_whitespace().nth(1).unwrap().to_string();
    for i in 1..=7 {
        let key = format!("/deephaven/runtime/presence/dh-query-{i}.old.example.com");
        let put = server.etcdctl(&["put", &format!("--lease={lease}"), &key, "up"]);
        assert!(put.status.success(), "{}", err(&put));
    }
    for args in [
        &["user", "add", &format!("iris-config:{PASSWORD}")][..],
        &["role", "add", "deephaven-config-rw"],
        &["user", "grant-role", "iris-config", "deephaven-config-rw"],
    ] {
        let o = server.etcdctl(args);
        assert!(o.status.success(), "{}", err(&o));
    }
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("old.db");
    let saved = server.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", err(&saved));
    let bundle = dir.path().join("bundle");
    bundle_from(&bundle, false, Some(&snap));
    let b = bundle.to_str().unwrap();

    // inspect, text: names only, never the password.
    let o = dh(dir.path(), &["inspect", b]);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("Old etcd identity"), "{text}");
    assert!(
        text.contains("etcd users (1, auth disabled; passwords not shown): iris-config"),
        "{text}"
    );
    assert!(
        text.contains("etcd roles (1): deephaven-config-rw"),
        "{text}"
    );
    assert!(
        text.contains("etcd members (1): m0 (http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("lease-bound runtime keys (7): /deephaven/runtime/presence/dh-query-1.old"),
        "{text}"
    );
    assert!(text.contains("(and 2 more)"), "{text}");
    assert!(!text.contains(PASSWORD));

    // inspect, JSON.
    let o = dh(dir.path(), &["inspect", b, "--format", "json"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(PASSWORD));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let old = &v["old_etcd"];
    assert_eq!(old["users"], serde_json::json!(["iris-config"]));
    assert_eq!(old["roles"], serde_json::json!(["deephaven-config-rw"]));
    assert_eq!(old["leases"], 1);
    assert_eq!(old["leased_keys"], 7);
    assert_eq!(old["first_leased_keys"].as_array().unwrap().len(), 5);
    assert_eq!(old["members"].as_array().unwrap().len(), 1);

    // plan: the snapshot-restore advice names what would come back.
    let o = plan(dir.path(), &bundle, &dir.path().join("out"));
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let advice = &text[text.find("etcd snapshot: the bundle holds").expect(&text)..];
    assert!(
        advice.contains("A restore of this snapshot brings back:"),
        "{advice}"
    );
    assert!(advice.contains("iris-config"), "{advice}");
    assert!(advice.contains("deephaven-config-rw"), "{advice}");
    assert!(advice.contains("lease-bound runtime keys (7)"), "{advice}");
    assert!(!text.contains(PASSWORD) && !err(&o).contains(PASSWORD));
}

#[test]
fn apply_from_a_snapshot_only_bundle_writes_what_apply_from_its_files_writes() {
    let old = EtcdServer::start();
    load(&old, &fixtures().join("old-cluster"));
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("old.db");
    let saved = old.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", err(&saved));
    let files = dir.path().join("files-bundle");
    bundle_from(&files, true, None);
    let only = dir.path().join("snapshot-bundle");
    bundle_from(&only, false, Some(&snap));

    let mut keyspaces = Vec::new();
    for bundle in [&files, &only] {
        let new = EtcdServer::start();
        load(&new, &fixtures().join("new-cluster"));
        let before = new.etcdctl(&["get", "", "--prefix"]).stdout;
        let mapping = fixtures().join("mapping.yaml");
        let o = dh(
            dir.path(),
            &[
                "apply",
                bundle.to_str().unwrap(),
                "--mapping",
                mapping.to_str().unwrap(),
                "--endpoints",
                &new.endpoint(),
                "--diff",
                "none",
                "--yes",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        let after = new.etcdctl(&["get", "", "--prefix"]).stdout;
        assert_ne!(after, before, "apply wrote the migrated items");
        keyspaces.push(after);
    }
    assert_eq!(
        String::from_utf8_lossy(&keyspaces[0]),
        String::from_utf8_lossy(&keyspaces[1])
    );
}

/// `restore` of a bundle whose only configuration is its etcd snapshot (what
/// `backup_deephaven --etcd` gives) onto a fresh etcd puts back every configuration item
/// byte for byte: the snapshot's items are read offline through the layout. With the v1
/// layout (passed explicitly), where every item is one key restore can create; with the
/// default (v2) new PQs are left to the vendor's import (see apply_v2).
#[test]
fn restore_from_a_snapshot_only_bundle_gives_back_every_item() {
    let old = EtcdServer::start();
    load_v1(&old, &fixtures().join("old-cluster"));
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("old.db");
    let saved = old.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", err(&saved));
    let only = dir.path().join("snapshot-bundle");
    bundle_from(&only, false, Some(&snap));
    assert!(!only.join("config").exists());

    let fresh = EtcdServer::start();
    let o = dh(
        dir.path(),
        &[
            "restore",
            only.to_str().unwrap(),
            "--endpoints",
            &fresh.endpoint(),
            "--etcd-only",
            "--yes",
            "--run-record",
            dir.path().join("r.json").to_str().unwrap(),
            "--layout",
            concat!(env!("CARGO_MANIFEST_DIR"), "/templates/etcd-layout-v1.yaml"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let items = |s: &EtcdServer| s.etcdctl(&["get", "/deephaven/config/", "--prefix"]).stdout;
    let restored = items(&fresh);
    assert!(!restored.is_empty(), "restore wrote the items");
    assert_eq!(
        String::from_utf8_lossy(&restored),
        String::from_utf8_lossy(&items(&old))
    );
}

#[test]
fn inspect_reads_a_snapshot_through_the_layout_it_is_given() {
    // A site whose etcd keeps one key per item (layout v1): its snapshot-only bundle shows
    // no configuration through the default (v2) layout, and all of it through its own.
    let server = EtcdServer::start();
    load_v1(&server, &fixtures().join("old-cluster"));
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("old-v1.db");
    let saved = server.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", err(&saved));
    let only = dir.path().join("snapshot-bundle");
    bundle_from(&only, false, Some(&snap));
    let files = dir.path().join("files-bundle");
    bundle_from(&files, true, None);

    let text = |args: &[&str]| {
        let o = dh(dir.path(), args);
        assert!(o.status.success(), "{}", err(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let default = text(&["inspect", only.to_str().unwrap(), "--format", "json"]);
    let default: Value = serde_json::from_str(&default).unwrap();
    let config_refs = |v: &Value| -> usize {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["references"].as_array().unwrap())
            .filter(|r| r["file"].as_str().unwrap().starts_with("config/"))
            .count()
    };
    assert_eq!(config_refs(&default), 0, "{default}");

    let v1 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/etcd-layout-v1.yaml");
    let o = dh(
        dir.path(),
        &[
            "inspect",
            only.to_str().unwrap(),
            "--format",
            "json",
            "--layout",
            v1.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let mut got: Value = serde_json::from_slice(&o.stdout).unwrap();
    without_bundle_fields(&mut got);
    let want = inspect_json(dir.path(), &files);
    assert!(
        config_refs(&want) > 10,
        "the fixture's config/ names old nodes"
    );
    // The v1 layout also holds the ACL export (the files bundle here has none).
    let paths = |v: &Value| -> Vec<String> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .filter(|p| !p.starts_with("config/acls/"))
            .collect()
    };
    assert_eq!(paths(&got), paths(&want));
    let fqdns = |v: &Value| -> Vec<Value> {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["fqdn"].clone())
            .collect()
    };
    assert_eq!(fqdns(&got), fqdns(&want));
    assert!(config_refs(&got) >= config_refs(&want), "{got}");

    // A layout file that does not parse is refused before the bundle is read.
    let bad = dir.path().join("bad-layout.yaml");
    std::fs::write(&bad, "version: 9\n").unwrap();
    let o = dh(
        dir.path(),
        &[
            "inspect",
            only.to_str().unwrap(),
            "--layout",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("bad-layout.yaml"), "{}", err(&o));
}
