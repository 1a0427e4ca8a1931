//! `apply`, `rollback`, `export` and etcd-backed `plan`/`report` through the real binary
//! against real etcd 3.4 servers (tests/support): a single member seeded with the fixture
//! new cluster as installed, a 3-member cluster with a member down, TLS with client
//! certificates, user/password auth, and an endpoint where nothing listens.
//!
//! etcd's content is always checked independently of the tool, with `etcdctl get -w json`
//! (values base64, so byte-exact). The expected migrated values are the files `plan --emit`
//! writes; the lists of keys, their order, batch counts and the host checks below are
//! written by hand from fixtures/README.md and templates/etcd-layout-v1.yaml.
//!
//! These tests are about apply's generic behaviour (guards, batches, interruption,
//! rollback, transports), on one key per item: every command that takes `--layout` runs
//! with `--layout templates/etcd-layout-v1.yaml`, passed explicitly ([`Work::run`]), so
//! they also show that layout v1 files keep working. The default layout (v2, Deephaven's
//! atomic directories) is tested in `apply_v2`.

use crate::support;
use crate::support::cli::Run;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{free_port, Dump, EtcdCluster, EtcdServer, TlsMaterial};

const OLD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/old-cluster");
const OLD_TGZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/old-cluster.tar.gz");
const NEW_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/new-cluster");
const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mapping.yaml");
const LAYOUT_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/etcd-layout-v1.yaml");

/// `args` with `--layout templates/etcd-layout-v1.yaml` when the command takes a layout.
fn with_v1<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    if matches!(
        args.first(),
        Some(&("apply" | "plan" | "report" | "rollback" | "export" | "restore"))
    ) {
        v.extend(["--layout", LAYOUT_V1]);
    }
    v
}

/// The new cluster's configuration items as installed (fixtures/new-cluster/config) and
/// their keys in templates/etcd-layout-v1.yaml.
const NEW_ITEMS: [(&str, &str); 6] = [
    (
        "config/pq/WebClientData.xml",
        "/deephaven/config/pq/WebClientData.xml",
    ),
    (
        "config/props/iris-defaults.prop",
        "/deephaven/config/props/iris-defaults.prop",
    ),
    (
        "config/props/iris-endpoints.prop",
        "/deephaven/config/props/iris-endpoints.prop",
    ),
    (
        "config/props/iris-environment.prop",
        "/deephaven/config/props/iris-environment.prop",
    ),
    (
        "config/routing/dis/Ingester1.yaml",
        "/deephaven/config/routing/dis/Ingester1.yaml",
    ),
    (
        "config/routing/routing.yaml",
        "/deephaven/config/routing/routing.yaml",
    ),
];

/// Every etcd item the migration of fixtures/old-cluster writes (all of the bundle's
/// config items except the installer-owned iris-endpoints.prop and iris-defaults.prop),
/// in bundle-path order, which is the order apply writes them in.
const MIGRATED: [(&str, &str); 17] = [
    ("config/acls/acls.xml", "/deephaven/config/acls/acls.xml"),
    (
        "config/pq/MarketDashboard.xml",
        "/deephaven/config/pq/MarketDashboard.xml",
    ),
    (
        "config/pq/NightlyMerge.xml",
        "/deephaven/config/pq/NightlyMerge.xml",
    ),
    (
        "config/pq/VendorRefresh.xml",
        "/deephaven/config/pq/VendorRefresh.xml",
    ),
    (
        "config/props/iris-common.prop",
        "/deephaven/config/props/iris-common.prop",
    ),
    (
        "config/props/iris-environment.prop",
        "/deephaven/config/props/iris-environment.prop",
    ),
    (
        "config/routing/dis/Ingester1.yaml",
        "/deephaven/config/routing/dis/Ingester1.yaml",
    ),
    (
        "config/routing/dis/Ingester2.yaml",
        "/deephaven/config/routing/dis/Ingester2.yaml",
    ),
    (
        "config/routing/dis/LastBy_Ingest.yaml",
        "/deephaven/config/routing/dis/LastBy_Ingest.yaml",
    ),
    (
        "config/routing/dis/vendor_feed.yaml",
        "/deephaven/config/routing/dis/vendor_feed.yaml",
    ),
    (
        "config/routing/routing.yaml",
        "/deephaven/config/routing/routing.yaml",
    ),
    (
        "config/schemas/Market/Market.Quotes.schema",
        "/deephaven/config/schemas/Market/Quotes.schema",
    ),
    (
        "config/schemas/Market/Market.Trades.schema",
        "/deephaven/config/schemas/Market/Trades.schema",
    ),
    (
        "config/schemas/Orders/Orders.BookSnapshots.schema",
        "/deephaven/config/schemas/Orders/BookSnapshots.schema",
    ),
    (
        "config/schemas/Orders/Orders.Fills.schema",
        "/deephaven/config/schemas/Orders/Fills.schema",
    ),
    (
        "config/schemas/Vendor/Vendor.CorporateActions.schema",
        "/deephaven/config/schemas/Vendor/CorporateActions.schema",
    ),
    (
        "config/schemas/Vendor/Vendor.SecurityMaster.schema",
        "/deephaven/config/schemas/Vendor/SecurityMaster.schema",
    ),
];

/// Keys of the new cluster the migration must leave alone: the installer-owned property
/// files, and the default PQ only the new cluster has.
const UNTOUCHED: [&str; 3] = [
    "/deephaven/config/props/iris-endpoints.prop",
    "/deephaven/config/props/iris-defaults.prop",
    "/deephaven/config/pq/WebClientData.xml",
];

/// The shared scratch area ([`crate::support::cli::Work`]), running every command with
/// the v1 layout.
struct Work(crate::support::cli::Work);

impl std::ops::Deref for Work {
    type Target = crate::support::cli::Work;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Work {
    fn new() -> Work {
        Work(crate::support::cli::Work::new())
    }

    /// Runs dh-migrate with a cleared environment (PATH and a private HOME only), with
    /// the v1 layout ([`with_v1`]).
    fn run(&self, args: &[&str]) -> Run {
        let args = with_v1(args);
        let output = crate::support::cli::run_with_home(&self.cwd, &self.home, &args);
        Run::from(&args, output)
    }

    /// As `run`, with extra environment variables, in `cwd` (default: the working dir).
    fn run_env(&self, cwd: Option<&Path>, env: &[(&str, &Path)], args: &[&str]) -> Run {
        let args = with_v1(args);
        let output =
            crate::support::cli::run_with_env(cwd.unwrap_or(&self.cwd), &self.home, env, &args);
        Run::from(&args, output)
    }

    /// Nothing was written to the working directory or HOME (e.g. no default run record).
    fn assert_cwd_and_home_empty(&self) {
        for d in [&self.cwd, &self.home] {
            let names: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert!(
                names.is_empty(),
                "unexpected files in {}: {names:?}",
                d.display()
            );
        }
    }
}

const GET_ALL: [&str; 5] = ["get", "", "--prefix", "-w", "json"];

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The new cluster as installed: its configuration items at their layout keys.
fn seed(server: &EtcdServer) {
    for (path, key) in NEW_ITEMS {
        server.put(key, &read(&Path::new(NEW_DIR).join(path)));
    }
}

/// Every regular file under `dir`, by relative path.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, read(&path));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The tree `plan FLAG DIR` writes against the new cluster's directory export: bundle
/// path -> bytes.
fn planned_tree(flag: &str) -> BTreeMap<String, Vec<u8>> {
    let work = Work::new();
    let out = work.path("out");
    work.run(&[
        "plan",
        OLD_DIR,
        "--target",
        NEW_DIR,
        "--mapping",
        MAPPING,
        flag,
        &out,
        "--diff",
        "none",
    ])
    .expect(0);
    read_tree(Path::new(&out))
}

/// The migrated tree as `plan --emit` writes it (computed once).
fn emitted() -> &'static BTreeMap<String, Vec<u8>> {
    static EMITTED: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    EMITTED.get_or_init(|| planned_tree("--emit"))
}

fn expected(path: &str) -> &'static [u8] {
    emitted()
        .get(path)
        .unwrap_or_else(|| panic!("plan --emit wrote no {path}"))
}

/// What apply writes, as `plan --emit-result` shows it (computed once): the migrated
/// items merged onto the new cluster's copies.
fn result() -> &'static BTreeMap<String, Vec<u8>> {
    static RESULT: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    RESULT.get_or_init(|| planned_tree("--emit-result"))
}

fn expected_written(path: &str) -> &'static [u8] {
    result()
        .get(path)
        .unwrap_or_else(|| panic!("plan --emit-result wrote no {path}"))
}

/// Every migrated key holds its `plan --emit-result` bytes (the migrated file merged onto
/// the new cluster's copy), checked by hand for leftovers of the old cluster; the seeded
/// keys the migration does not own are as seeded.
fn assert_migrated(dump: &Dump) {
    for (path, key) in MIGRATED {
        let value = dump.value(key);
        assert!(
            value == expected_written(path),
            "{key} differs from plan --emit-result's {path}"
        );
        let text = String::from_utf8_lossy(value);
        for old in ["old.example.com", "10.1.2."] {
            assert!(!text.contains(old), "{key} still names {old}");
        }
    }
    // From fixtures/README.md: the &dis-host anchor definition takes the dis role.
    let routing = String::from_utf8_lossy(dump.value("/deephaven/config/routing/routing.yaml"));
    assert!(
        routing.contains("- &dis-host ingest-a.new.example.com\n"),
        "{routing}"
    );
    for key in UNTOUCHED {
        let (path, _) = NEW_ITEMS.iter().find(|(_, k)| *k == key).unwrap();
        assert!(
            dump.value(key) == read(&Path::new(NEW_DIR).join(path)),
            "{key} is not as installed"
        );
    }
    let keys: BTreeSet<&str> = dump.kvs.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = NEW_ITEMS
        .iter()
        .chain(MIGRATED.iter())
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(keys, want);
}

/// The values and key set are exactly `before`'s (revisions may differ).
fn assert_values_as(before: &Dump, now: &Dump) {
    let (b, n) = (before.values(), now.values());
    assert_eq!(
        b.keys().collect::<Vec<_>>(),
        n.keys().collect::<Vec<_>>(),
        "key set"
    );
    for (k, v) in &b {
        assert!(n[k] == *v, "{k} is not byte-for-byte as before");
    }
}

fn apply_args<'a>(bundle: &'a str, endpoints: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "apply",
        bundle,
        "--mapping",
        MAPPING,
        "--endpoints",
        endpoints,
        "--diff",
        "none",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn apply_writes_exactly_the_migrated_items_then_has_nothing_to_do() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);

    work.run(&["report", OLD_DIR, "--endpoints", &ep, "--mapping", MAPPING])
        .expect(1);
    // Planning against the live etcd emits the same tree as against the directory export.
    let emit = work.path("emit");
    work.run(&[
        "plan",
        OLD_DIR,
        "--endpoints",
        &ep,
        "--mapping",
        MAPPING,
        "--emit",
        &emit,
        "--diff",
        "none",
    ])
    .expect(0);
    let from_etcd = read_tree(Path::new(&emit));
    for (path, _) in MIGRATED {
        assert!(
            from_etcd.get(path).map(Vec::as_slice) == Some(expected(path)),
            "{path}: plan --endpoints --emit differs from plan --target --emit"
        );
    }
    assert_eq!(Dump::of(&server), before, "plan wrote to etcd");

    let record = work.path("run.json");
    let run = work
        .run(&apply_args(
            OLD_DIR,
            &ep,
            &["--yes", "--run-record", &record],
        ))
        .expect(0);
    run.stderr_has("applied: 17 key(s) in 1 transaction(s)");
    let after = Dump::of(&server);
    assert_migrated(&after);
    for key in UNTOUCHED {
        assert_eq!(after.kvs[key], before.kvs[key], "{key} was rewritten");
    }
    assert!(Path::new(&record).is_file());
    // The restart step, infra node first.
    let restart = run
        .stdout
        .find("Restart step:")
        .unwrap_or_else(|| panic!("no restart step:\n{}", run.stdout));
    let steps = &run.stdout[restart..];
    let first = steps
        .lines()
        .find(|l| l.trim_start().starts_with("1. "))
        .unwrap_or_else(|| panic!("no numbered step:\n{steps}"));
    assert!(
        first.trim_start().starts_with("1. infra-a.new.example.com"),
        "{first}"
    );
    assert!(steps.contains("dh_monit restart all"), "{steps}");

    let again = work
        .run(&apply_args(
            OLD_DIR,
            &ep,
            &["--yes", "--run-record", &work.path("run2.json")],
        ))
        .expect(0);
    again.stderr_has("nothing to do");
    assert_eq!(Dump::of(&server), after, "a second apply wrote to etcd");
    assert!(!Path::new(&work.path("run2.json")).exists());

    work.run(&["report", OLD_DIR, "--endpoints", &ep, "--mapping", MAPPING])
        .expect(0);
    work.assert_cwd_and_home_empty();
}

#[test]
fn after_apply_every_setting_only_the_new_cluster_had_is_still_in_etcd() {
    // fixtures/new-cluster's iris-environment.prop has the new version's defaults that
    // the old bundle lacks; apply merges, never overwrites.
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    work.run(&apply_args(
        OLD_DIR,
        &ep,
        &["--yes", "--run-record", &work.path("run.json")],
    ))
    .expect(0);
    let after = Dump::of(&server);
    let env = String::from_utf8_lossy(after.value("/deephaven/config/props/iris-environment.prop"));
    for line in [
        "RemoteQueryDispatcher.useEnvoy=true",
        "iris.web.enableGrpcWeb=true",
        "log.json.enabled=false",
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "{line} is gone from etcd:\n{env}"
        );
    }
    // The bundle's own settings won where both set a key (the old site name, migrated).
    assert!(
        env.lines()
            .any(|l| l.starts_with("iris.site.name=") && !l.ends_with("prod-new")),
        "{env}"
    );
    // Every key of the new cluster's routing file is still there.
    let routing = String::from_utf8_lossy(after.value("/deephaven/config/routing/routing.yaml"));
    let installed = String::from_utf8(read(
        &Path::new(NEW_DIR).join("config/routing/routing.yaml"),
    ))
    .unwrap();
    for top in installed
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && l.ends_with(':'))
    {
        assert!(
            routing.lines().any(|l| l == top),
            "{top} is gone from etcd:\n{routing}"
        );
    }
    // Applying again finds nothing to do: the merged result is stable.
    work.run(&apply_args(
        OLD_DIR,
        &ep,
        &["--yes", "--run-record", &work.path("run2.json")],
    ))
    .expect(0)
    .stderr_has("nothing to do");
}

#[test]
fn dry_run_writes_nothing_and_says_so() {
    let server = EtcdServer::start();
    seed(&server);
    let work = Work::new();
    let before = Dump::of(&server);
    let record = work.path("run.json");
    let run = work
        .run(&apply_args(
            OLD_DIR,
            &server.endpoint(),
            &["--dry-run", "--run-record", &record],
        ))
        .expect(0);
    run.stderr_has("dry run: would write 17 key(s)")
        .stderr_has("nothing was written");
    assert_eq!(Dump::of(&server), before);
    assert!(!Path::new(&record).exists());
    work.assert_cwd_and_home_empty();
}

#[test]
fn without_a_terminal_and_without_yes_apply_declines() {
    let server = EtcdServer::start();
    seed(&server);
    let work = Work::new();
    let before = Dump::of(&server);
    let record = work.path("run.json");
    work.run(&apply_args(
        OLD_DIR,
        &server.endpoint(),
        &["--run-record", &record],
    ))
    .expect(12)
    .stderr_has("no terminal")
    .stderr_has("nothing was written");
    assert_eq!(Dump::of(&server), before);
    assert!(!Path::new(&record).exists());
    work.assert_cwd_and_home_empty();
}

#[test]
fn a_change_between_plan_and_apply_refuses_the_saved_plan() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let plan = work.path("plan.json");
    let plan_args = [
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
    ];
    let record = work.path("run.json");
    let apply = apply_args(
        OLD_DIR,
        &ep,
        &["--plan", &plan, "--yes", "--run-record", &record],
    );

    // A key the apply would overwrite changes.
    work.run(&plan_args).expect(0);
    server.put(
        "/deephaven/config/routing/dis/Ingester1.yaml",
        b"# edited by hand after the plan\n",
    );
    let before = Dump::of(&server);
    work.run(&apply)
        .expect(11)
        .stderr_has("/deephaven/config/routing/dis/Ingester1.yaml")
        .stderr_has("nothing was written");
    assert_eq!(Dump::of(&server), before);

    // A key the apply would create appears.
    std::fs::remove_file(&plan).unwrap();
    work.run(&plan_args).expect(0);
    server.put("/deephaven/config/acls/acls.xml", b"<Acls/>\n");
    let before = Dump::of(&server);
    work.run(&apply)
        .expect(11)
        .stderr_has("/deephaven/config/acls/acls.xml");
    assert_eq!(Dump::of(&server), before);
    assert!(!Path::new(&record).exists());
    work.assert_cwd_and_home_empty();
}

/// With 4 operations per transaction, 17 changes take 5 batches; stopped after 2, the
/// first 8 keys in apply order are written.
const FIRST_8: usize = 8;

fn interrupted_apply(server: &EtcdServer, work: &Work, bundle: &str, record: &str) -> Dump {
    let before = Dump::of(server);
    work.run(&apply_args(
        bundle,
        &server.endpoint(),
        &[
            "--max-txn-ops",
            "4",
            "--stop-after-batches",
            "2",
            "--yes",
            "--run-record",
            record,
        ],
    ))
    .expect(15)
    .stderr_has("stopped after 2 of 5 batch(es)")
    .stderr_has(record);
    let now = Dump::of(server);
    let written: BTreeSet<&str> = MIGRATED[..FIRST_8].iter().map(|(_, k)| *k).collect();
    for (path, key) in &MIGRATED[..FIRST_8] {
        assert!(
            now.value(key) == expected_written(path),
            "{key} not written"
        );
    }
    // Every other key, value and revision, is as before; no other key appeared.
    for (key, kv) in &now.kvs {
        if !written.contains(key.as_str()) {
            assert_eq!(Some(kv), before.kvs.get(key), "{key} changed");
        }
    }
    let keys: BTreeSet<&str> = now.kvs.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = before
        .kvs
        .keys()
        .map(String::as_str)
        .chain(written.iter().copied())
        .collect();
    assert_eq!(keys, want);
    now
}

#[test]
fn an_interrupted_apply_rolls_back_byte_for_byte() {
    let server = EtcdServer::start();
    seed(&server);
    let work = Work::new();
    let before = Dump::of(&server);
    let record = work.path("run.json");
    interrupted_apply(&server, &work, OLD_DIR, &record);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the run record holds previous values");
    }

    work.run(&["rollback", &record, "--yes"])
        .expect(0)
        .stderr_has("restored 8 key(s)");
    let rolled = Dump::of(&server);
    assert_values_as(&before, &rolled);

    work.run(&["rollback", &record, "--yes"])
        .expect(0)
        .stderr_has("nothing to do");
    assert_eq!(Dump::of(&server), rolled);
    work.assert_cwd_and_home_empty();
}

#[test]
fn an_interrupted_apply_converges_when_run_again() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    interrupted_apply(&server, &work, OLD_TGZ, &work.path("run.json"));

    work.run(&apply_args(
        OLD_TGZ,
        &ep,
        &["--yes", "--run-record", &work.path("run2.json")],
    ))
    .expect(0)
    .stderr_has("applied: 9 key(s)");
    let done = Dump::of(&server);
    assert_migrated(&done);

    work.run(&apply_args(
        OLD_TGZ,
        &ep,
        &["--yes", "--run-record", &work.path("run3.json")],
    ))
    .expect(0)
    .stderr_has("nothing to do");
    assert_eq!(Dump::of(&server), done);
    work.assert_cwd_and_home_empty();
}

/// etcd does not publish its limits. A server started with lower ones than etcd's
/// defaults refuses the transactions sized for them, whole; apply and rollback send the
/// same operations again in smaller transactions, and the result is the same.
fn apply_to_a_server_with(flags: &[&str], expect_note: &str, expect_applied: &str) {
    let server = EtcdServer::start_with_flags(flags);
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);
    let record = work.path("run.json");
    work.run(&apply_args(
        OLD_DIR,
        &ep,
        &["--yes", "--run-record", &record],
    ))
    .expect(0)
    .stderr_has("etcd refused transactions of the default size")
    .stderr_has(expect_note)
    .stderr_has(expect_applied);
    assert_migrated(&Dump::of(&server));

    work.run(&["rollback", &record, "--yes"])
        .expect(0)
        .stderr_has("restored 17 key(s)");
    assert_values_as(&before, &Dump::of(&server));
    work.assert_cwd_and_home_empty();
}

#[test]
fn a_server_with_fewer_operations_per_transaction_gets_smaller_transactions() {
    // 17 refused, 8 refused, then 4 + 4 + 4 + 4 + 1.
    apply_to_a_server_with(
        &["--max-txn-ops=4"],
        "at most 4 operation(s)",
        "applied: 17 key(s) in 5 transaction(s)",
    );
}

#[test]
fn a_server_with_a_smaller_request_size_gets_smaller_transactions() {
    // The 17 values take about 36 KB; the largest, iris-environment.prop, about 14 KB.
    apply_to_a_server_with(
        &["--max-request-bytes=16384"],
        "operation(s) and about",
        "applied: 17 key(s) in",
    );
}

/// A 3-member cluster with member `victim(leader)` killed before the apply, listed first
/// among the endpoints so the tool has to move on to a live one.
fn apply_with_a_member_down(victim: impl Fn(usize) -> usize) {
    let mut cluster = EtcdCluster::start(3);
    for (path, key) in NEW_ITEMS {
        cluster.put(&[0, 1, 2], key, &read(&Path::new(NEW_DIR).join(path)));
    }
    let down = victim(cluster.leader_index(&[0, 1, 2]));
    cluster.stop_member(down);
    let all = cluster.endpoints();
    let mut order = vec![all[down].clone()];
    order.extend((0..3).filter(|i| *i != down).map(|i| all[i].clone()));
    let endpoints = order.join(",");

    let work = Work::new();
    work.run(&apply_args(
        OLD_DIR,
        &endpoints,
        &[
            "--max-txn-ops",
            "4",
            "--yes",
            "--run-record",
            &work.path("run.json"),
        ],
    ))
    .expect(0)
    .stderr_has("applied: 17 key(s) in 5 transaction(s)");
    // Each remaining member, asked on its own, holds everything.
    for member in (0..3).filter(|i| *i != down) {
        assert_migrated(&Dump::parse(cluster.etcdctl(&[member], &GET_ALL)));
    }
}

#[test]
fn apply_succeeds_on_a_cluster_with_a_follower_down() {
    apply_with_a_member_down(|leader| (leader + 1) % 3);
}

#[test]
fn apply_succeeds_on_a_cluster_with_the_leader_down() {
    apply_with_a_member_down(|leader| leader);
}

#[test]
fn apply_over_tls_needs_the_client_certificate() {
    let tls = TlsMaterial::generate();
    let server = EtcdServer::start_tls(&tls);
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);
    let [ca, other_ca, cert, key] = [
        &tls.ca_cert,
        &tls.other_ca_cert,
        &tls.client_cert,
        &tls.client_key,
    ]
    .map(|p| p.display().to_string());

    work.run(&apply_args(OLD_DIR, &ep, &["--cacert", &ca, "--yes"]))
        .expect(10)
        .stderr_has("TLS");
    work.run(&apply_args(
        OLD_DIR,
        &ep,
        &[
            "--cacert", &other_ca, "--cert", &cert, "--key", &key, "--yes",
        ],
    ))
    .expect(10)
    .stderr_has("TLS");
    assert_eq!(Dump::of(&server), before);
    work.assert_cwd_and_home_empty();

    work.run(&apply_args(
        OLD_DIR,
        &ep,
        &[
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--yes",
            "--run-record",
            &work.path("run.json"),
        ],
    ))
    .expect(0);
    assert_migrated(&Dump::of(&server));
}

#[test]
fn apply_with_user_and_password_never_shows_the_password() {
    const RIGHT: &str = "Right-Pass-7f3a";
    const WRONG: &str = "Wrong-Pass-91c2";
    let mut server = EtcdServer::start();
    seed(&server);
    server.enable_auth(RIGHT);
    let ep = server.endpoint();
    let work = Work::new();
    let before = Dump::of(&server);
    let right_file = work.path("right");
    let wrong_file = work.path("wrong");
    std::fs::write(&right_file, format!("{RIGHT}\n")).unwrap();
    std::fs::write(&wrong_file, format!("{WRONG}\n")).unwrap();
    let client_dir = work.out.join("client-root");
    std::fs::create_dir(&client_dir).unwrap();
    std::fs::write(client_dir.join("endpoints"), format!("{ep}\n")).unwrap();
    std::fs::write(client_dir.join("user"), "root\n").unwrap();
    std::fs::write(client_dir.join("password"), format!("{RIGHT}\n")).unwrap();
    let client_dir = client_dir.display().to_string();

    let wrong = work
        .run(&apply_args(
            OLD_DIR,
            &ep,
            &["--user", "root", "--password-file", &wrong_file, "--yes"],
        ))
        .expect(9);
    wrong.stderr_has("refused the credentials of user root");
    let mut runs = vec![wrong];
    assert_eq!(Dump::of(&server), before);

    let record = work.path("run.json");
    runs.push(
        work.run(&[
            "apply",
            OLD_DIR,
            "--mapping",
            MAPPING,
            "--etcd-client-dir",
            &client_dir,
            "--diff",
            "none",
            "--yes",
            "--run-record",
            &record,
        ])
        .expect(0),
    );
    assert_migrated(&Dump::of(&server));
    let record_text = String::from_utf8(read(Path::new(&record))).unwrap();
    assert!(
        !record_text.contains(RIGHT),
        "the run record holds the password"
    );

    runs.push(
        work.run(&[
            "rollback",
            &record,
            "--user",
            "root",
            "--password-file",
            &right_file,
            "--yes",
        ])
        .expect(0),
    );
    assert_values_as(&before, &Dump::of(&server));

    runs.push(
        work.run(&apply_args(
            OLD_DIR,
            &ep,
            &[
                "--user",
                "root",
                "--password-file",
                &right_file,
                "--yes",
                "--run-record",
                &work.path("run2.json"),
            ],
        ))
        .expect(0),
    );
    assert_migrated(&Dump::of(&server));

    for run in &runs {
        for secret in [RIGHT, WRONG] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{} shows a password:\n{}\n{}",
                run.what,
                run.stdout,
                run.stderr
            );
        }
    }
    work.assert_cwd_and_home_empty();
}

#[test]
fn an_unreachable_endpoint_fails_fast_naming_it() {
    let port = free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let work = Work::new();
    let started = Instant::now();
    let run = work
        .run(&apply_args(
            OLD_DIR,
            &ep,
            &["--connect-timeout", "1", "--yes"],
        ))
        .expect(8);
    let took = started.elapsed();
    run.stderr_has("unreachable")
        .stderr_has(&format!("127.0.0.1:{port}"));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    work.assert_cwd_and_home_empty();
}

/// A valid schema of about 100 KiB whose content depends on `i`.
fn big_schema(i: usize) -> Vec<u8> {
    let mut s = format!(
        "<Table name=\"T{i:02}\" namespace=\"Big\" storageType=\"NestedPartitionedOnDisk\">\n  \
         <Partitions keyFormula=\"${{autobalance_single}}\"/>\n  \
         <Column name=\"Date\" dataType=\"String\" columnType=\"Partitioning\"/>\n"
    );
    let mut c = 0;
    while s.len() < 100 * 1024 - 64 {
        s.push_str(&format!(
            "  <Column name=\"C{i:02}_{c:05}\" dataType=\"double\"/>\n"
        ));
        c += 1;
    }
    s.push_str("</Table>\n");
    s.into_bytes()
}

/// 64 schemas of 100 KiB: over 6 MiB of values, well past one 4 MiB gRPC reply; with the
/// 6 seeded items, 70 items in all.
const SCHEMAS: usize = 64;

#[test]
fn export_writes_a_verified_bundle_past_the_4_mib_reply_limit() {
    use sha2::{Digest, Sha256};
    let server = EtcdServer::start();
    seed(&server);
    let mut want: BTreeMap<String, Vec<u8>> = NEW_ITEMS
        .iter()
        .map(|(path, _)| (path.to_string(), read(&Path::new(NEW_DIR).join(path))))
        .collect();
    for i in 0..SCHEMAS {
        let value = big_schema(i);
        server.put(
            &format!("/deephaven/config/schemas/Big/T{i:02}.schema"),
            &value,
        );
        want.insert(format!("config/schemas/Big/Big.T{i:02}.schema"), value);
    }
    let total: usize = want.values().map(Vec::len).sum();
    assert!(total > 6 * 1024 * 1024, "{total}");

    let work = Work::new();
    let out = work.path("export");
    let run = work
        .run(&["export", "--endpoints", &server.endpoint(), "--out", &out])
        .expect(0);
    run.stderr_has("exported 70 item(s)");
    let mut got = read_tree(Path::new(&out));
    let manifest = String::from_utf8(got.remove("MANIFEST.sha256").expect("a MANIFEST")).unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, value) in &want {
        assert!(got[path] == *value, "{path} differs from etcd's value");
    }
    let lines: BTreeSet<String> = manifest.lines().map(str::to_owned).collect();
    let want_lines: BTreeSet<String> = want
        .iter()
        .map(|(path, value)| format!("{}  {path}", hex::encode(Sha256::digest(value))))
        .collect();
    assert_eq!(lines, want_lines);

    let inspect = work.run(&["inspect", &out]).expect(0);
    assert!(
        inspect
            .stdout
            .contains("Manifest verified: 70 files, every SHA-256 matches"),
        "{}",
        inspect.stdout
    );
    work.assert_cwd_and_home_empty();
}

#[test]
fn files_out_writes_each_nodes_files_and_nothing_else() {
    let server = EtcdServer::start();
    seed(&server);
    let work = Work::new();
    // Where the tailer file would land if --files-out were ignored: compared before and
    // after rather than assumed absent.
    let absolute = Path::new("/etc/sysconfig/illumon.d/resources/tailerConfig.xml");
    let existed = absolute.exists();
    let files_out = work.cwd.join("node-files");
    let files_out_arg = files_out.display().to_string();
    work.run(&apply_args(
        OLD_TGZ,
        &server.endpoint(),
        &[
            "--files-out",
            &files_out_arg,
            "--yes",
            "--run-record",
            &work.path("run.json"),
        ],
    ))
    .expect(0);
    assert_migrated(&Dump::of(&server));

    let tree = read_tree(&files_out);
    let node_files = [
        (
            "infra-a.new.example.com/etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
            "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
        ),
        (
            "infra-a.new.example.com/etc/sysconfig/deephaven/illumon.iris.hostconfig",
            "files/etc/sysconfig/deephaven/illumon.iris.hostconfig",
        ),
        (
            "infra-a.new.example.com/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
            "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
        ),
        (
            "ingest-a.new.example.com/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml",
            "nodes/dh-query-1.old.example.com/files/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml",
        ),
    ];
    let mut want_names: Vec<&str> = node_files.iter().map(|(out, _)| *out).collect();
    want_names.push("OWNERS.tsv");
    want_names.sort();
    assert_eq!(
        tree.keys().map(String::as_str).collect::<Vec<_>>(),
        want_names
    );
    for (out, emitted_path) in node_files {
        assert!(tree[out] == expected(emitted_path), "{out}");
    }
    // The tailer files name the new nodes only (the DIS one: the dis role's node).
    let dis = String::from_utf8_lossy(&tree[node_files[3].0]);
    assert!(dis.contains("ingest-a"), "{dis}");
    for (out, _) in &node_files[2..] {
        let text = String::from_utf8_lossy(&tree[*out]);
        assert!(!text.contains("old.example.com"), "{out}:\n{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(files_out.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode(node_files[0].0), 0o600, "the auth key keeps 0600");
        assert_eq!(mode(node_files[2].0), 0o644);
    }
    let owners = String::from_utf8(tree["OWNERS.tsv"].clone()).unwrap();
    let rows: Vec<Vec<&str>> = owners
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').take(3).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                "infra-a.new.example.com",
                "/etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
                "0600"
            ],
            vec![
                "infra-a.new.example.com",
                "/etc/sysconfig/deephaven/illumon.iris.hostconfig",
                "0644"
            ],
            vec![
                "infra-a.new.example.com",
                "/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
                "0644"
            ],
            vec![
                "ingest-a.new.example.com",
                "/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml",
                "0644"
            ],
        ]
    );
    // Nothing beside the destination: the working directory holds only it, HOME nothing,
    // and the files did not go to their absolute paths.
    let cwd: Vec<_> = std::fs::read_dir(&work.cwd)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cwd, vec![std::ffi::OsString::from("node-files")]);
    assert_eq!(std::fs::read_dir(&work.home).unwrap().count(), 0);
    assert_eq!(absolute.exists(), existed);
}

#[test]
fn apply_json_is_one_document_and_the_default_run_record_goes_to_the_state_directory() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let state = work.out.join("state");
    let run = work
        .run_env(
            None,
            &[("XDG_STATE_HOME", &state)],
            &apply_args(OLD_DIR, &ep, &["--yes", "--format", "json"]),
        )
        .expect(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    support::fs::assert_schema_valid("docs/plan.schema.json", &doc);
    assert_eq!(doc["schema"], "dh-migrate/apply-output/v1");
    assert_eq!(doc["applied"]["keys"], MIGRATED.len());
    assert_eq!(doc["keys"].as_array().unwrap().len(), MIGRATED.len());
    assert_eq!(doc["plan"]["summary"]["references_rewritten"], 150);
    let record = PathBuf::from(doc["run_record"].as_str().unwrap());
    assert!(
        record.starts_with(state.join("dh-migrate/runs")),
        "{}",
        record.display()
    );
    run.stderr_has(&record.display().to_string());
    assert_migrated(&Dump::of(&server));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // rollback --dry-run lists every key it would restore, and writes nothing.
    let record = record.display().to_string();
    let before = Dump::of(&server);
    let dry = work.run(&["rollback", &record, "--dry-run"]).expect(0);
    let mut listed: Vec<&str> = dry.stdout.lines().collect();
    listed.sort_unstable();
    let mut keys: Vec<&str> = MIGRATED.iter().map(|(_, k)| *k).collect();
    keys.sort_unstable();
    assert_eq!(listed, keys);
    dry.stderr_has("dry run: nothing was written");
    assert_eq!(Dump::of(&server), before);
    work.assert_cwd_and_home_empty();
}

#[test]
fn without_xdg_state_home_the_run_record_goes_under_home() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let run = work.run(&apply_args(OLD_DIR, &ep, &["--yes"])).expect(0);
    let runs = work.home.join(".local/state/dh-migrate/runs");
    let names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    run.stderr_has(&names[0].display().to_string());
    let in_cwd: Vec<_> = std::fs::read_dir(&work.cwd).unwrap().collect();
    assert!(in_cwd.is_empty(), "never the working directory");
}

#[test]
fn a_saved_plan_applies_from_any_directory() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    // Planned with relative paths in one folder...
    let planning = work.out.join("planning");
    crate::support::fs::copy_dir(Path::new(OLD_DIR), &planning.join("old"));
    std::fs::copy(MAPPING, planning.join("mapping.yaml")).unwrap();
    work.run_env(
        Some(&planning),
        &[],
        &[
            "plan",
            "old",
            "--endpoints",
            &ep,
            "--mapping",
            "mapping.yaml",
            "--out",
            "plan.json",
            "--diff",
            "none",
        ],
    )
    .expect(0);
    // ...applied from another.
    let plan = planning.join("plan.json").display().to_string();
    let record = work.path("run.json");
    work.run(&[
        "apply",
        "--plan",
        &plan,
        "--endpoints",
        &ep,
        "--yes",
        "--diff",
        "none",
        "--run-record",
        &record,
    ])
    .expect(0)
    .stderr_has("applied: 17 key(s)");
    assert_migrated(&Dump::of(&server));
    work.assert_cwd_and_home_empty();
}

/// The live etcd's member list names nodes of the new cluster too: a mapping value that
/// only an etcd member's advertised URL names is a new node; without that member it is
/// refused (exit 5) naming it.
#[test]
fn etcd_members_are_nodes_of_the_new_cluster() {
    let work = Work::new();
    let mapping = std::fs::read_to_string(MAPPING).unwrap().replace(
        "dh-query-2.old.example.com: query-b.new.example.com",
        "dh-query-2.old.example.com: etcd-z.new.example.com",
    );
    assert!(mapping.contains("etcd-z.new.example.com"));
    let mapping_path = work.path("mapping.yaml");
    std::fs::write(&mapping_path, mapping).unwrap();
    let plan = |ep: &str| {
        work.run(&[
            "plan",
            OLD_DIR,
            "--mapping",
            &mapping_path,
            "--endpoints",
            ep,
            "--diff",
            "none",
        ])
    };

    // A member that advertises only its loopback URL: etcd-z is no node of the new cluster.
    let plain = EtcdServer::start();
    seed(&plain);
    plan(&plain.endpoint())
        .expect(5)
        .stderr_has("`etcd-z.new.example.com` (for old node `dh-query-2.old.example.com`) is not a node of the new cluster");

    // A member that advertises etcd-z's name: the member list makes it a new node.
    let port = free_port();
    let advertise = format!("--advertise-client-urls=http://etcd-z.new.example.com:{port}");
    let named = EtcdServer::start_with_flags(&[&advertise]);
    seed(&named);
    let listed = named.etcdctl(&["member", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("etcd-z.new.example.com"),
        "the member advertises the name: {}",
        String::from_utf8_lossy(&listed.stdout)
    );
    plan(&named.endpoint()).expect(0);
}

/// `apply --format json --files-out DIR` carries the copy step: every node file with the
/// node it goes to, its path there and the mode to give it (key files 0600).
#[test]
fn apply_json_carries_the_copy_step_of_the_node_files() {
    let server = EtcdServer::start();
    seed(&server);
    let ep = server.endpoint();
    let work = Work::new();
    let out = work.path("node-files");
    let record = work.path("run.json");
    let run = work
        .run(&apply_args(
            OLD_DIR,
            &ep,
            &[
                "--yes",
                "--format",
                "json",
                "--files-out",
                &out,
                "--run-record",
                &record,
            ],
        ))
        .expect(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    support::fs::assert_schema_valid("docs/plan.schema.json", &doc);
    let copies = doc["files_out"]["copies"].as_array().unwrap();
    assert_eq!(
        copies.len(),
        doc["files_out"]["files"].as_u64().unwrap() as usize
    );
    let key = copies
        .iter()
        .find(|c| c["dest"] == "/etc/sysconfig/deephaven/auth/priv-iris.base64.txt")
        .expect("the key file is in the copy step");
    assert_eq!(key["node"], "infra-a.new.example.com");
    assert_eq!(key["mode"], 0o600);
    assert_eq!(
        key["written"],
        "infra-a.new.example.com/etc/sysconfig/deephaven/auth/priv-iris.base64.txt"
    );
    assert!(Path::new(&out)
        .join(key["written"].as_str().unwrap())
        .is_file());
}
