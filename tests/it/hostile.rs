//! Hostile inputs, each a scaled-down probe of `scripts/bench-hostile.sh` (generated here,
//! nothing large committed): the error, the exit code and that nothing was written; for the
//! probes that used to be quadratic or unbounded, counts that show the work stopped where
//! it should (the entry named is the first oversized one; every reference on a long line is
//! found at its exact column). No test here measures time.

use dh_migrate::bundle::{Bundle, BundleError, LimitKind, Limits, Problem};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::cli::run as run_sealed;
use crate::support::fs::{copy_dir, listing};

fn run(dir: &Path, args: &[&str]) -> Output {
    run_sealed(dir, args)
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A `.tar.zst` of `count` zero-filled files of `size` bytes under `config/props/`,
/// streamed (never held whole).
fn zero_bomb(path: &Path, count: usize, size: u64) {
    let file = fs::File::create(path).unwrap();
    let enc = zstd::stream::write::Encoder::new(file, 3).unwrap();
    let mut b = tar::Builder::new(enc);
    for i in 0..count {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        b.append_data(
            &mut h,
            format!("config/props/bomb-{i:02}.prop"),
            io::repeat(0).take(size),
        )
        .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn decompression_bomb_stops_at_its_first_entry_with_exit_3_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // 40 files of 2 MiB against a 1 MiB limit: the probe (40 x 60 MiB against the
    // default 16 MiB) scaled down 30 times.
    zero_bomb(&tmp.path().join("bomb.tar.zst"), 40, 2 << 20);
    let before = listing(tmp.path());
    let out = run(
        tmp.path(),
        &["inspect", "bomb.tar.zst", "--max-file-size", "1M"],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "entry \"config/props/bomb-00.prop\" is 2097152 bytes, over the limit of 1048576 bytes"
        ) && stderr.contains("--max-file-size"),
        "{stderr}"
    );
    // Stopped there: no later entry is named.
    assert!(!stderr.contains("bomb-01"), "{stderr}");
    assert_eq!(out.stdout, b"");
    assert_eq!(listing(tmp.path()), before, "something was written");
}

#[test]
fn the_bundle_limit_stops_at_the_entry_that_crosses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("many.tar.zst");
    zero_bomb(&path, 10, 300 << 10);
    let limits = Limits {
        file: 1 << 20,
        bundle: 1 << 20,
    };
    let mut advanced = 0;
    let err = Bundle::open_with_limits(&path, limits, &mut |_| advanced += 1).unwrap_err();
    let BundleError::Invalid { problems, .. } = err else {
        panic!("expected Invalid, got {err:?}");
    };
    // 3 x 300 KiB fit in 1 MiB; the fourth crosses it, and is the only problem.
    assert_eq!(
        problems,
        vec![Problem::TooLarge {
            entry: "config/props/bomb-03.prop".into(),
            size: 300 << 10,
            limit: 1 << 20,
            kind: LimitKind::Bundle,
        }]
    );
    // The defaults let the same bundle through.
    let bundle = Bundle::open_with_limits(&path, Limits::default(), &mut |_| {}).unwrap();
    assert_eq!(bundle.files().count(), 10);
}

#[test]
fn a_directory_bundle_over_the_file_limit_is_refused_before_anything_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("b");
    fs::create_dir_all(root.join("config/props")).unwrap();
    fs::write(root.join("config/props/a.prop"), vec![b'#'; 4096]).unwrap();
    let err = Bundle::open_with_limits(
        &root,
        Limits {
            file: 1024,
            bundle: 1 << 20,
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("entry \"config/props/a.prop\" is 4096 bytes, over the limit of 1024"),
        "{err}"
    );
}

#[test]
fn a_file_carried_to_the_nodes_may_exceed_the_configuration_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("b");
    fs::create_dir_all(root.join("files/etc/sysconfig/illumon.d/java_lib")).unwrap();
    fs::write(
        root.join("files/etc/sysconfig/illumon.d/java_lib/custom.jar"),
        vec![0u8; 8192],
    )
    .unwrap();
    let limits = Limits {
        file: 1024,
        bundle: 1 << 20,
    };
    let bundle = Bundle::open_with_limits(&root, limits, &mut |_| {}).unwrap();
    assert_eq!(bundle.files().count(), 1);
    assert!(bundle
        .files()
        .all(|f| f.content.as_ref().map(|c| c.len()) == Some(8192)));
}

const CNF: &str = "DH_NODE_1_NAME=\"dh-infra-1.old.example.com\"\nDH_NODE_1_IP=\"10.1.2.11\"\n";

/// Line and column of every reference to `file` in an `inspect --format json` document.
fn positions(json: &serde_json::Value, file: &str, out: &mut Vec<(u64, u64)>) {
    match json {
        serde_json::Value::Object(map) => {
            if map.get("file").and_then(|f| f.as_str()) == Some(file) {
                if let Some(pos) = map.get("pos") {
                    out.push((pos["line"].as_u64().unwrap(), pos["col"].as_u64().unwrap()));
                }
            }
            map.values().for_each(|v| positions(v, file, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| positions(v, file, out)),
        _ => {}
    }
}

#[test]
fn every_reference_on_one_long_line_is_found_at_its_column() {
    // The probe has 40,000 references on one line (quadratic: 8.2 s); 4,000 here.
    const N: usize = 4000;
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    fs::create_dir_all(b.join("cluster")).unwrap();
    fs::create_dir_all(b.join("config/props")).unwrap();
    fs::write(b.join("cluster/cluster.cnf"), CNF).unwrap();
    let unit = "dh-infra-1.old.example.com,";
    fs::write(
        b.join("config/props/iris-environment.prop"),
        format!("# é\nhosts={}\n", unit.repeat(N)),
    )
    .unwrap();
    let out = run(tmp.path(), &["inspect", "bundle", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut found = Vec::new();
    positions(&json, "config/props/iris-environment.prop", &mut found);
    found.sort();
    let expected: Vec<(u64, u64)> = (0..N)
        .map(|i| (2, (1 + "hosts=".len() + i * unit.len()) as u64))
        .collect();
    // Compared by count and first difference: a failure must not print 4,000 pairs.
    assert_eq!(found.len(), N);
    let first_wrong = found.iter().zip(&expected).position(|(f, e)| f != e);
    assert_eq!(
        first_wrong,
        None,
        "{:?}",
        first_wrong.map(|i| (found[i], expected[i]))
    );
}

#[test]
fn key_files_are_0600_in_folders_0700_when_emitted_from_a_directory_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("old");
    copy_dir(&fixture("old-cluster"), &bundle);
    let key = "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt";
    // A directory bundle copied with a default umask: the key file reads 0644.
    fs::set_permissions(bundle.join(key), fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        tmp.path(),
        &[
            "plan",
            "old",
            "--target",
            fixture("new-cluster").to_str().unwrap(),
            "--mapping",
            fixture("mapping.yaml").to_str().unwrap(),
            "--emit",
            "emitted",
            "--diff",
            "none",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let emitted = tmp.path().join("emitted");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&emitted.join(key)), 0o600);
    assert_eq!(mode(emitted.join(key).parent().unwrap()), 0o700);
    // Other files keep the bundle's modes; no folder is wider than 0755.
    assert_eq!(
        mode(&emitted.join("config/props/iris-environment.prop")),
        0o644
    );
    for (rel, content) in listing(&emitted) {
        if content.is_none() {
            assert_eq!(mode(&emitted.join(&rel)) & 0o022, 0, "{rel}");
        }
    }
}

/// Probe 5, scaled down: a mapping naming 20,000 hosts the bundle does not know. Each is a
/// problem ("names no host of the bundle"); the error leads with that cause, counts them
/// all, shows only the first few, and nothing is written. (The work per host is a hash
/// lookup: `scripts/bench-hostile.sh` runs the 100,000-host probe.)
#[test]
fn a_mapping_with_20000_unknown_hosts_fails_with_6_leading_with_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture("old-cluster"), &tmp.path().join("old"));
    copy_dir(&fixture("new-cluster"), &tmp.path().join("new"));
    let mut mapping = fs::read_to_string(fixture("mapping.yaml")).unwrap();
    let at = mapping.find("hosts:\n").unwrap() + "hosts:\n".len();
    let unknown: String = (0..20_000)
        .map(|i| format!("  u{i:05}.unknown-cluster.example.com: infra-a.new.example.com\n"))
        .collect();
    mapping.insert_str(at, &unknown);
    fs::write(tmp.path().join("mapping.yaml"), mapping).unwrap();
    let before = listing(tmp.path());
    let out = run(
        tmp.path(),
        &[
            "plan",
            "old",
            "--target",
            "new",
            "--mapping",
            "mapping.yaml",
            "--emit",
            "out",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    let first = stderr
        .lines()
        .find(|l| l.contains("unknown-cluster"))
        .unwrap();
    assert!(
        first.contains("u00000.unknown-cluster.example.com")
            && first.contains("names no host of the bundle"),
        "the cause comes first: {first}"
    );
    // Bounded output: the 20,000 are counted, not all printed.
    assert!(
        stderr.contains("and 19980 more mapping keys that name no host of the bundle"),
        "{}",
        &stderr[..stderr.len().min(3000)]
    );
    assert!(
        stderr.lines().count() < 200,
        "{} lines",
        stderr.lines().count()
    );
    assert!(out.stdout.is_empty());
    assert_eq!(listing(tmp.path()), before, "nothing written");
}
