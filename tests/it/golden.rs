//! Golden rewrite cases: `tests/golden/<case>/in/` (a small bundle), `target/` (a small
//! target export), `mapping.yaml`, and `out/`, the expected migrated files written by hand.
//! Each case runs the real binary (`plan --emit`) and every emitted file must equal its
//! `out/` twin byte for byte, with no file missing or extra. A last case migrates the real
//! fixture bundle with an identity mapping: nothing may change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every regular file under `root`, by `/`-separated relative path, with its bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What one `plan --emit` run produced.
struct Run {
    stdout: String,
    stderr: String,
    emitted: BTreeMap<String, Vec<u8>>,
}

/// Runs `dh-migrate plan BUNDLE --target TARGET --mapping MAPPING --emit <tmp>/emitted
/// --diff none` from `cwd` with a cleared environment; the run must succeed.
fn plan_emit(cwd: &Path, bundle: &str, target: &str, mapping: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let emitted = tmp.path().join("emitted");
    let emitted_arg = emitted.display().to_string();
    let out = crate::support::cli::run_with_home(
        cwd,
        tmp.path(),
        &[
            "plan",
            bundle,
            "--target",
            target,
            "--mapping",
            mapping,
            "--emit",
            &emitted_arg,
            "--diff",
            "none",
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan failed in {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        cwd.display()
    );
    Run {
        stdout,
        stderr,
        emitted: read_tree(&emitted),
    }
}

/// The paths a `MANIFEST.sha256` lists (`<hex>  <path>` per line).
fn manifest_paths(manifest: &[u8]) -> Vec<String> {
    std::str::from_utf8(manifest)
        .unwrap()
        .lines()
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("manifest line");
            assert_eq!(hash.len(), 64, "{l}");
            path.to_string()
        })
        .collect()
}

/// Shows the first differing line of two texts, for a readable failure.
fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let e = String::from_utf8_lossy(expected);
    let a = String::from_utf8_lossy(actual);
    for (i, (le, la)) in e.split('\n').zip(a.split('\n')).enumerate() {
        if le != la {
            return format!("line {}:\n  expected {le:?}\n  actual   {la:?}", i + 1);
        }
    }
    format!(
        "lengths differ: expected {} bytes, actual {} bytes",
        expected.len(),
        actual.len()
    )
}

/// Runs one case and compares the emitted tree with `out/`. Returns the run for extra checks.
fn run_case(name: &str) -> Run {
    let case = golden_dir().join(name);
    let run = plan_emit(&case, "in", "target", "mapping.yaml");
    let expected = read_tree(&case.join("out"));
    assert!(!expected.is_empty(), "{name}: out/ is empty");
    assert!(
        run.stderr.contains("wrote the migrated tree to"),
        "{name}: {}",
        run.stderr
    );
    let mut emitted = run.emitted.clone();
    let manifest = emitted
        .remove("MANIFEST.sha256")
        .unwrap_or_else(|| panic!("{name}: no MANIFEST.sha256 emitted"));
    for (path, bytes) in &emitted {
        let want = expected
            .get(path)
            .unwrap_or_else(|| panic!("{name}: emitted {path}, which out/ does not have"));
        assert!(
            want == bytes,
            "{name}: {path} differs from out/{path}: {}",
            first_difference(want, bytes)
        );
    }
    for path in expected.keys() {
        assert!(
            emitted.contains_key(path),
            "{name}: out/{path} was not emitted"
        );
    }
    // The emitted manifest covers exactly the emitted files.
    let mut listed = manifest_paths(&manifest);
    listed.sort();
    assert_eq!(
        listed,
        expected.keys().cloned().collect::<Vec<_>>(),
        "{name}: manifest"
    );
    run
}

#[test]
fn every_case_directory_is_a_known_case() {
    // A case added on disk but not here (or removed) fails, so none is skipped silently.
    let mut cases: Vec<String> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("in").is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            "encodings",
            "keep",
            "props",
            "role-contexts",
            "yaml-block-scalars"
        ]
    );
    for c in &cases {
        let dir = golden_dir().join(c);
        assert!(dir.join("target").is_dir(), "{c}: no target/");
        assert!(dir.join("out").is_dir(), "{c}: no out/");
        assert!(dir.join("mapping.yaml").is_file(), "{c}: no mapping.yaml");
        assert!(
            dir.join("in/cluster/cluster.cnf").is_file(),
            "{c}: no in/cluster/cluster.cnf"
        );
    }
}

#[test]
fn encodings_case_rewrites_each_file_in_its_own_encoding() {
    // ISO-8859-1 (declared, and a property file as Java reads it), UTF-16 LE and BE with
    // a BOM, Shift_JIS, and the MySQL ACL dump: every host rewritten, every other byte
    // as it was, each file written back in its own encoding.
    let run = run_case("encodings");
    assert!(
        run.stdout
            .contains("  files migrated        6 (6 rewritten)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn props_case_rewrites_exactly_the_references() {
    let run = run_case("props");
    assert!(
        run.stdout
            .starts_with("Plan: in -> target\nMapping: mapping.yaml\n"),
        "{}",
        run.stdout
    );
    // Counted by hand in out/: 36 in iris-environment.prop, 6 in iris-common.prop.
    assert!(
        run.stdout
            .contains("  files migrated        2 (2 rewritten)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  references rewritten  42 (host: 42)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn role_contexts_case_resolves_each_reference_by_its_role() {
    let run = run_case("role-contexts");
    // Counted by hand: dis 6 (props) + 5 (routing) + 3 + 1 (DIS configs) + 9 (tailer);
    // infra 2 (props) + 1 (routing); by host alone or the default: 9 + 5 + 1.
    assert!(
        run.stdout
            .contains("  references rewritten  42 (dis: 24, host: 15, infra: 3)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn keep_case_leaves_kept_hosts_alone() {
    let run = run_case("keep");
    assert!(
        run.stdout.contains("  references rewritten  4 (host: 4)\n"),
        "{}",
        run.stdout
    );
    // dh-legacy-1 in the comment, FQDN, IP, short name, upper case, three in the header.
    assert!(
        run.stdout.contains("  references kept       8\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn yaml_block_scalars_case_rewrites_inside_them_keeping_their_style() {
    let run = run_case("yaml-block-scalars");
    // Counted by hand: routing 2 + 1 + 2 + 2 + 1, the DIS config 1 + 1.
    assert!(
        run.stdout
            .contains("  references rewritten  10 (host: 10)\n"),
        "{}",
        run.stdout
    );
}

/// The files of fixtures/old-cluster that dh-migrate migrates: every configuration file
/// except the installer-owned ones (cluster.cnf, iris-endpoints.prop, iris-defaults.prop,
/// the etcd client configuration) and the parts that are not configuration (manifest,
/// snapshot).
const FIXTURE_MIGRATED: &[&str] = &[
    "config/acls/acls.xml",
    "config/pq/MarketDashboard.xml",
    "config/pq/NightlyMerge.xml",
    "config/pq/VendorRefresh.xml",
    "config/props/iris-common.prop",
    "config/props/iris-environment.prop",
    "config/routing/dis/Ingester1.yaml",
    "config/routing/dis/Ingester2.yaml",
    "config/routing/dis/LastBy_Ingest.yaml",
    "config/routing/dis/vendor_feed.yaml",
    "config/routing/routing.yaml",
    "config/schemas/Market/Market.Quotes.schema",
    "config/schemas/Market/Market.Trades.schema",
    "config/schemas/Orders/Orders.BookSnapshots.schema",
    "config/schemas/Orders/Orders.Fills.schema",
    "config/schemas/Vendor/Vendor.CorporateActions.schema",
    "config/schemas/Vendor/Vendor.SecurityMaster.schema",
    "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
    "files/etc/sysconfig/deephaven/illumon.iris.hostconfig",
    "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
    "nodes/dh-query-1.old.example.com/files/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml",
];

#[test]
fn identity_mapping_on_the_fixtures_changes_no_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Against the old cluster itself (a same-cluster restore): the identity mapping's
    // values must be nodes of the target, and are.
    let run = plan_emit(
        root,
        "fixtures/old-cluster",
        "fixtures/old-cluster",
        "tests/golden/fixtures-identity/mapping.yaml",
    );
    let mut emitted = run.emitted;
    assert!(emitted.remove("MANIFEST.sha256").is_some());
    assert_eq!(
        emitted.keys().map(String::as_str).collect::<Vec<_>>(),
        FIXTURE_MIGRATED
    );
    for (path, bytes) in &emitted {
        let original = fs::read(root.join("fixtures/old-cluster").join(path)).unwrap();
        assert!(
            &original == bytes,
            "{path} changed under the identity mapping: {}",
            first_difference(&original, bytes)
        );
    }
    assert!(
        run.stdout.contains("  references rewritten  0 (none)\n"),
        "{}",
        run.stdout
    );
}
