//! `apply` and `rollback` with layout version 2 (templates/etcd-layout-v2.yaml: Deephaven's
//! atomic directories, the default layout: most commands here pass no `--layout`; the
//! guard test passes the file explicitly) through the real binary against a real etcd seeded with
//! Deephaven-shaped items: each a directory with `file`, `name` and `meta/{created,
//! updated,guard}`, persistent queries under `data/pq/<serial>`.
//!
//! etcd's content is checked independently of the tool with `etcdctl get -w json`. The
//! keys below are written by hand from templates/etcd-layout-v2.yaml.

use crate::support;
use crate::support::cli::Work;

use std::collections::BTreeMap;
use std::path::Path;

use support::{Dump, EtcdServer};

const OLD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/old-cluster");
const NEW_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/new-cluster");
const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mapping.yaml");
const LAYOUT_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/etcd-layout-v2.yaml");

/// The new cluster's items as installed (fixtures/new-cluster/config, plus the old
/// cluster's MarketDashboard PQ already imported under serial 7) and their directories.
const NEW_ITEMS: [(&str, &str, &str); 7] = [
    (NEW_DIR, "config/pq/WebClientData.xml", "/main/data/pq/1"),
    (OLD_DIR, "config/pq/MarketDashboard.xml", "/main/data/pq/7"),
    (
        NEW_DIR,
        "config/props/iris-defaults.prop",
        "/main/config/props/iris-defaults.prop",
    ),
    (
        NEW_DIR,
        "config/props/iris-endpoints.prop",
        "/main/config/props/iris-endpoints.prop",
    ),
    (
        NEW_DIR,
        "config/props/iris-environment.prop",
        "/main/config/props/iris-environment.prop",
    ),
    (
        NEW_DIR,
        "config/routing/dis/Ingester1.yaml",
        "/main/config/routing/disconfigs/Ingester1",
    ),
    (
        NEW_DIR,
        "config/routing/routing.yaml",
        "/main/config/routing",
    ),
];

/// Items the migration updates: their `file` part changes and their guard is re-put.
const UPDATED: [&str; 4] = [
    "/main/config/props/iris-environment.prop",
    "/main/config/routing",
    "/main/config/routing/disconfigs/Ingester1",
    "/main/data/pq/7",
];

/// Items the migration creates (directory, bundle path): `file` and `name`, no meta.
const CREATED: [(&str, &str); 10] = [
    (
        "/main/config/props/iris-common.prop",
        "config/props/iris-common.prop",
    ),
    (
        "/main/config/routing/disconfigs/Ingester2",
        "config/routing/dis/Ingester2.yaml",
    ),
    (
        "/main/config/routing/disconfigs/LastBy_Ingest",
        "config/routing/dis/LastBy_Ingest.yaml",
    ),
    (
        "/main/config/routing/disconfigs/vendor_feed",
        "config/routing/dis/vendor_feed.yaml",
    ),
    (
        "/main/config/schema/Market/tables/Quotes",
        "config/schemas/Market/Market.Quotes.schema",
    ),
    (
        "/main/config/schema/Market/tables/Trades",
        "config/schemas/Market/Market.Trades.schema",
    ),
    (
        "/main/config/schema/Orders/tables/BookSnapshots",
        "config/schemas/Orders/Orders.BookSnapshots.schema",
    ),
    (
        "/main/config/schema/Orders/tables/Fills",
        "config/schemas/Orders/Orders.Fills.schema",
    ),
    (
        "/main/config/schema/Vendor/tables/CorporateActions",
        "config/schemas/Vendor/Vendor.CorporateActions.schema",
    ),
    (
        "/main/config/schema/Vendor/tables/SecurityMaster",
        "config/schemas/Vendor/Vendor.SecurityMaster.schema",
    ),
];

/// New persistent queries of the bundle: Deephaven assigns their serials, apply leaves
/// them to the vendor's import.
const NEW_PQS: [&str; 2] = ["config/pq/NightlyMerge.xml", "config/pq/VendorRefresh.xml"];

/// The bundle's ACL export: no item of the v2 layout (Deephaven keeps ACLs as rows), left
/// to `dhconfig acls import`.
const ACLS: &str = "config/acls/acls.xml";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Seeds one Deephaven item directory: its bytes, its name, and the meta subtree
/// Deephaven keeps (the guard holds a revision-like counter).
fn seed_item(server: &EtcdServer, dir: &str, name: &str, value: &[u8], serial: usize) {
    server.put(&format!("{dir}/file"), value);
    server.put(&format!("{dir}/name"), name.as_bytes());
    server.put(&format!("{dir}/meta/created"), b"irisadmin@1700000000");
    server.put(&format!("{dir}/meta/updated"), b"irisadmin@1700000001");
    server.put(
        &format!("{dir}/meta/guard"),
        format!("{}", 40 + serial).as_bytes(),
    );
}

/// The new cluster's copy of an item: as installed, or for the PQ imported from the old
/// cluster, that PQ as edited on the new cluster since (a smaller heap).
fn installed(root: &str, path: &str) -> Vec<u8> {
    let bytes = read(&Path::new(root).join(path));
    if root == OLD_DIR {
        let text = String::from_utf8(bytes).unwrap();
        let edited = text.replace(
            "<HeapSizeGB>16.0</HeapSizeGB>",
            "<HeapSizeGB>8.0</HeapSizeGB>",
        );
        assert_ne!(edited, text, "the fixture PQ changed: edit another line");
        return edited.into_bytes();
    }
    bytes
}

fn seed(server: &EtcdServer) {
    for (i, (root, path, dir)) in NEW_ITEMS.iter().enumerate() {
        let name = path.rsplit('/').next().unwrap();
        seed_item(server, dir, name, &installed(root, path), i);
    }
}

/// `args` with the v2 layout file passed explicitly.
fn with_layout<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--layout", LAYOUT_V2]);
    v
}

/// `args` as they are: the default layout (v2).
fn by_default<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.to_vec()
}

fn apply_args<'a>(ep: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = by_default(&[
        "apply",
        OLD_DIR,
        "--mapping",
        MAPPING,
        "--endpoints",
        ep,
        "--diff",
        "none",
    ]);
    v.extend_from_slice(extra);
    v
}

#[test]
fn v2_apply_writes_file_name_and_guard_in_one_transaction_and_rolls_back_byte_for_byte() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);

    // What apply writes for each item, as `plan --emit-result` shows it.
    let result = work.path("result");
    let plan = work.run(&by_default(&[
        "plan",
        OLD_DIR,
        "--endpoints",
        &ep,
        "--mapping",
        MAPPING,
        "--emit-result",
        &result,
        "--diff",
        "none",
        "--format",
        "json",
    ]));
    let plan = plan.expect(0);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let listed: Vec<&str> = doc["not_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    // The ACL export first (no item of the v2 layout holds it), then the new PQs.
    assert_eq!(listed[0], ACLS, "{}", plan.stdout);
    assert_eq!(listed[1..], NEW_PQS, "{}", plan.stdout);
    assert!(doc["not_written"][0]["command"]
        .as_str()
        .unwrap()
        .starts_with("dhconfig acls import FILE (not --replace-all"));
    assert!(doc["not_written"][1]["command"]
        .as_str()
        .unwrap()
        .contains("controller_tool --import -x"));
    for c in doc["changes"].as_array().unwrap() {
        if listed.contains(&c["path"].as_str().unwrap()) {
            assert_eq!(c["writes"], false, "{c}");
        }
    }
    // The ACL export is no node file either.
    assert!(
        !doc["files_for_node"].to_string().contains(ACLS),
        "{}",
        plan.stdout
    );
    support::fs::assert_schema_valid("docs/plan.schema.json", &doc);
    assert_eq!(Dump::of(&server), before, "plan wrote to etcd");

    // The plan's text says the same.
    let text = work
        .run(&by_default(&[
            "plan",
            OLD_DIR,
            "--endpoints",
            &ep,
            "--mapping",
            MAPPING,
            "--diff",
            "none",
        ]))
        .expect(0);
    assert!(
        text.stdout
            .contains("Not written by apply (2): a new persistent query"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("Not written by apply (1): an ACL export: Deephaven keeps ACLs as rows, not files, and no item of the etcd layout holds it; import each migrated file (FILE: under `plan --emit DIR`) with: dhconfig acls import FILE"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("\n  {ACLS}\n")),
        "{}",
        text.stdout
    );
    for pq in NEW_PQS {
        assert!(
            text.stdout.contains(&format!("\n  {pq}\n")),
            "{}",
            text.stdout
        );
    }

    // A dry run counts transactions with items kept whole: 14 items of 2 keys each (an
    // updated one: file and guard; a created one: file and name), so 3 operations per
    // transaction hold one item: 14 transactions (28 keys / 3 would say 10).
    work.run(&apply_args(&ep, &["--dry-run", "--max-txn-ops", "3"]))
        .expect(0)
        .stderr_has("dry run: would write 28 key(s) to etcd (about 14 transaction(s))");
    assert_eq!(UPDATED.len() + CREATED.len(), 14);
    assert_eq!(Dump::of(&server), before, "a dry run wrote to etcd");

    let record = work.path("run.json");
    let run = work
        .run(&apply_args(&ep, &["--yes", "--run-record", &record]))
        .expect(0);
    for pq in NEW_PQS {
        run.stderr_has(&format!("not written: {pq}"));
    }
    run.stderr_has(&format!("not written: {ACLS}: an ACL export"));
    run.stderr_has("controller_tool --import -x");
    let after = Dump::of(&server);

    // Updated items: new bytes, the guard re-put with its value in the same transaction,
    // the rest of the meta subtree and the name untouched.
    let emitted = |path: &str| read(&Path::new(&result).join(path));
    for dir in UPDATED {
        let (root, path, _) = NEW_ITEMS.iter().find(|(_, _, d)| *d == dir).unwrap();
        let (file, file_rev) = after.get(&format!("{dir}/file"));
        assert!(file != &installed(root, path), "{dir} not updated");
        assert!(
            file == &emitted(path),
            "{dir}: not what plan --emit-result shows"
        );
        let (guard, guard_rev) = after.get(&format!("{dir}/meta/guard"));
        assert_eq!(guard, &before.get(&format!("{dir}/meta/guard")).0, "{dir}");
        assert_eq!(guard_rev, file_rev, "{dir}: guard not re-put with the file");
        for part in ["name", "meta/created", "meta/updated"] {
            let key = format!("{dir}/{part}");
            assert_eq!(after.get(&key), before.get(&key), "{key} was touched");
        }
    }
    // Items already as migrated (installer-owned) and the PQ only the new cluster has:
    // not a key of them written.
    for dir in [
        "/main/config/props/iris-defaults.prop",
        "/main/config/props/iris-endpoints.prop",
        "/main/data/pq/1",
    ] {
        for (k, v) in before.kvs.iter().filter(|(k, _)| k.starts_with(dir)) {
            assert_eq!(&after.kvs[k], v, "{k} was written");
        }
    }
    // Created items: file and name (the file name), written together; no meta, no guard.
    for (dir, path) in CREATED {
        let (file, rev) = after.get(&format!("{dir}/file"));
        assert!(
            file == &emitted(path),
            "{dir}: not what plan --emit-result shows"
        );
        let (name, name_rev) = after.get(&format!("{dir}/name"));
        assert_eq!(name.as_slice(), path.rsplit('/').next().unwrap().as_bytes());
        assert_eq!(name_rev, rev, "{dir}: name not written with the file");
        assert!(
            !after
                .kvs
                .keys()
                .any(|k| k.starts_with(&format!("{dir}/meta/"))),
            "{dir}: apply created meta keys"
        );
    }
    // New PQs: nothing under data/pq but the two seeded serials.
    let pq_dirs: std::collections::BTreeSet<&str> = after
        .kvs
        .keys()
        .filter_map(|k| k.strip_prefix("/main/data/pq/"))
        .filter_map(|k| k.split('/').next())
        .collect();
    assert_eq!(pq_dirs, ["1", "7"].into_iter().collect());
    // Every written key is in the run record (schema v2), with its part.
    let rec: serde_json::Value = serde_json::from_slice(&read(Path::new(&record))).unwrap();
    assert_eq!(rec["schema"], "dh-migrate/run/v2");
    let recorded: BTreeMap<&str, &str> = rec["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap(), e["part"].as_str().unwrap()))
        .collect();
    let written: Vec<&String> = after
        .kvs
        .iter()
        .filter(|(k, v)| before.kvs.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(written.len(), recorded.len(), "{written:?} vs {recorded:?}");
    // Exactly the updated and created items' directories were written.
    let dirs: std::collections::BTreeSet<&str> = written
        .iter()
        .map(|k| {
            ["/file", "/name", "/meta/guard"]
                .iter()
                .find_map(|part| k.strip_suffix(part))
                .unwrap_or_else(|| panic!("{k}: not an item part"))
        })
        .collect();
    let want: std::collections::BTreeSet<&str> = UPDATED
        .iter()
        .copied()
        .chain(CREATED.iter().map(|(d, _)| *d))
        .collect();
    assert_eq!(dirs, want);
    for k in written {
        let part = if k.ends_with("/meta/guard") {
            "guard"
        } else if k.ends_with("/name") {
            "name"
        } else {
            "file"
        };
        assert_eq!(recorded.get(k.as_str()), Some(&part), "{k}");
    }
    // A second apply has nothing to do (the guards are not re-put again).
    work.run(&apply_args(
        &ep,
        &["--yes", "--run-record", &work.path("run2.json")],
    ))
    .expect(0)
    .stderr_has("nothing to do");
    assert_eq!(Dump::of(&server), after);

    // Rollback: every key back byte for byte; created names deleted with their files.
    work.run(&by_default(&[
        "rollback",
        &record,
        "--endpoints",
        &ep,
        "--yes",
    ]))
    .expect(0);
    let rolled = Dump::of(&server);
    assert_eq!(rolled.values(), before.values());
    // The guards were re-put with the restored files (Deephaven's CAS sees the rollback).
    for dir in UPDATED {
        assert_eq!(
            rolled.get(&format!("{dir}/meta/guard")).1,
            rolled.get(&format!("{dir}/file")).1,
            "{dir}"
        );
    }
    // A second rollback has nothing left to do.
    work.run(&by_default(&[
        "rollback",
        &record,
        "--endpoints",
        &ep,
        "--yes",
    ]))
    .expect(0);
    assert_eq!(Dump::of(&server), rolled, "a second rollback wrote");
}

#[test]
fn v2_a_guard_changed_between_plan_and_apply_refuses_with_nothing_written() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let plan = work.path("plan.json");
    work.run(&with_layout(&[
        "plan",
        OLD_DIR,
        "--endpoints",
        &ep,
        "--mapping",
        MAPPING,
        "--out",
        &plan,
        "--diff",
        "none",
    ]))
    .expect(0);
    // Deephaven updates the guard of an item the apply would write (its file unchanged).
    server.put("/main/config/props/iris-environment.prop/meta/guard", b"99");
    let before = Dump::of(&server);
    let record = work.path("run.json");
    work.run(&with_layout(&apply_args(
        &ep,
        &["--plan", &plan, "--yes", "--run-record", &record],
    )))
    .expect(11)
    .stderr_has("/main/config/props/iris-environment.prop/meta/guard");
    assert_eq!(Dump::of(&server), before);
    assert!(!Path::new(&record).exists());
}

#[test]
fn v2_restore_writes_items_as_apply_does_and_lists_new_pqs() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);
    let record = work.path("restore.json");
    let run = work
        .run(&by_default(&[
            "restore",
            OLD_DIR,
            "--endpoints",
            &ep,
            "--etcd-only",
            "--yes",
            "--run-record",
            &record,
        ]))
        .expect(0);
    for pq in NEW_PQS {
        assert!(
            run.stdout.contains(&format!("not restored {pq}")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains(&format!("not restored {ACLS}: an ACL export")),
        "{}",
        run.stdout
    );
    let after = Dump::of(&server);
    // The bundle's own bytes, each existing item's guard re-put with its file.
    let dir = "/main/config/props/iris-environment.prop";
    let (file, rev) = after.get(&format!("{dir}/file"));
    assert!(file == &read(&Path::new(OLD_DIR).join("config/props/iris-environment.prop")));
    assert_eq!(after.get(&format!("{dir}/meta/guard")).1, *rev);
    let (pq, pq_rev) = after.get("/main/data/pq/7/file");
    assert!(pq == &read(&Path::new(OLD_DIR).join("config/pq/MarketDashboard.xml")));
    assert_eq!(after.get("/main/data/pq/7/meta/guard").1, *pq_rev);
    // A created item gets its name; no new PQ directory appears.
    assert_eq!(
        after.get("/main/config/props/iris-common.prop/name").0,
        b"iris-common.prop"
    );
    assert!(!after.kvs.keys().any(|k| k.starts_with("/main/data/pq/")
        && !k.starts_with("/main/data/pq/1/")
        && !k.starts_with("/main/data/pq/7/")));
    // And its run record rolls it all back.
    work.run(&by_default(&[
        "rollback",
        &record,
        "--endpoints",
        &ep,
        "--yes",
    ]))
    .expect(0);
    assert_eq!(Dump::of(&server).values(), before.values());
}
