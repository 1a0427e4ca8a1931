//! `dh-migrate inspect` through the real binary: the fixture bundle as a directory and as
//! a tar.gz (same report), JSON output with hand-checked values, and every kind of bad
//! input (corrupt archive, unsafe entry, manifest mismatch, malformed YAML / XML / property
//! file), each with its exit code and the place named, and nothing written anywhere.

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support;
use support::fs::listing;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

/// Copies `src` to `dst` recursively, giving files the modes the packed fixture records
/// (0600 on key and password files, 0644 otherwise) whatever the checkout left.
fn copy_bundle(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_bundle(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
            let p = to.to_str().unwrap();
            let secret = p.contains("/auth/priv-") || p.ends_with("/etcd/client/root/password");
            let mode = if secret { 0o600 } else { 0o644 };
            fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// Runs `dh-migrate inspect ARGS` in `dir` with a cleared environment (HOME is `dir`) and
/// checks that nothing in `dir` changed.
fn inspect(dir: &Path, args: &[&str]) -> Output {
    let before = listing(dir);
    let argv: Vec<&str> = std::iter::once("inspect")
        .chain(args.iter().copied())
        .collect();
    let out = crate::support::cli::run(dir, &argv);
    assert_eq!(listing(dir), before, "inspect changed {}", dir.display());
    out
}

/// A temp dir holding `old-cluster/` (copy of the fixture) and `old-cluster.tar.gz`.
fn fixture_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_bundle(
        &fixtures().join("old-cluster"),
        &tmp.path().join("old-cluster"),
    );
    fs::copy(
        fixtures().join("old-cluster.tar.gz"),
        tmp.path().join("old-cluster.tar.gz"),
    )
    .unwrap();
    tmp
}

fn text(o: &[u8]) -> String {
    String::from_utf8(o.to_vec()).unwrap()
}

#[test]
fn text_report_lists_nodes_roles_and_references() {
    let tmp = fixture_copy();
    let out = inspect(tmp.path(), &["old-cluster"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(
        stdout.starts_with(
            "Bundle   old-cluster (directory)\n\
             Manifest verified: 28 files, every SHA-256 matches\n"
        ),
        "{stdout}"
    );
    // Each of these starts a line of the report (what follows may grow, e.g. counts).
    for start in [
        "Old nodes (4)",
        "  dh-infra-1.old.example.com  [10.1.2.11] roles: infra, etcd  ",
        "  dh-query-1.old.example.com  [10.1.2.21] roles: query, dis  ",
        "  dh-query-2.old.example.com  [10.1.2.22] roles: query  ",
        "  dh-query-10.old.example.com  [10.1.2.30] roles: query, merge  ",
        "    known from cluster/cluster.cnf:19 (DH_NODE_1_NAME)",
        "    config/props/iris-environment.prop:173:27  dh-query-1.old.example.com  property DataImportServer.host in [service.name=db_dis]",
        "    config/props/iris-endpoints.prop:5:27  dh-infra-1.old.example.com  property configuration.server.host  [installer-owned, not migrated]",
        "  property files                4 file(s)",
        "  workspace data                - (absent)",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(start)),
            "no line starts with {start:?} in:\n{stdout}"
        );
    }
    // A dh-query-10 token is never listed as a dh-query-1 reference: every reference line
    // of the dh-query-1 section names dh-query-1 itself or its IP.
    let section: Vec<&str> = stdout
        .split("\n  dh-query-1.old.example.com  ")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("    known from"))
        .collect();
    assert!(!section.is_empty());
    for l in section {
        let token = l
            .trim_start()
            .split("  ")
            .nth(1)
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            token == "dh-query-1" || token == "dh-query-1.old.example.com" || token == "10.1.2.21",
            "{l}"
        );
    }
}

#[test]
fn archive_gives_the_same_report_as_the_directory() {
    let tmp = fixture_copy();
    let out = inspect(tmp.path(), &["old-cluster.tar.gz"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with(
            "Bundle   old-cluster.tar.gz (tar.gz)\n\
             Folder   old-cluster-backup/\n\
             Manifest verified: 28 files, every SHA-256 matches\n"
        ),
        "{stdout}"
    );
    let json = |bundle: &str| -> Value {
        let out = inspect(tmp.path(), &[bundle, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut dir = json("old-cluster");
    let mut tgz = json("old-cluster.tar.gz");
    assert_eq!(dir["bundle"], "old-cluster");
    assert_eq!(dir["kind"], "directory");
    assert_eq!(dir["prefix"], Value::Null);
    assert_eq!(tgz["bundle"], "old-cluster.tar.gz");
    assert_eq!(tgz["kind"], "tar.gz");
    assert_eq!(tgz["prefix"], "old-cluster-backup");
    for v in [&mut dir, &mut tgz] {
        let o = v.as_object_mut().unwrap();
        o.remove("bundle");
        o.remove("kind");
        o.remove("prefix");
    }
    assert_eq!(dir, tgz);
}

#[test]
fn json_report_has_the_hand_checked_values() {
    let tmp = fixture_copy();
    let out = inspect(tmp.path(), &["old-cluster.tar.gz", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["schema"], "dh-migrate/inspect/v1");
    assert_eq!(r["manifest"], "verified");
    assert_eq!(r["manifest_files"], 28);
    // 28 listed files plus the manifest itself.
    assert_eq!(r["files"].as_array().unwrap().len(), 29);
    let file = |path: &str| -> Value {
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("no {path}"))
            .clone()
    };
    let key = file("files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt");
    assert_eq!(key["mode"], "0600");
    let cnf = file("cluster/cluster.cnf");
    assert_eq!(cnf["format"], "cnf");
    assert_eq!(cnf["migrated"], false);
    let endpoints = file("config/props/iris-endpoints.prop");
    assert_eq!(endpoints["format"], "props");
    assert_eq!(endpoints["migrated"], false);
    let env = file("config/props/iris-environment.prop");
    assert_eq!(env["format"], "props");
    assert_eq!(env["migrated"], true);
    assert_eq!(file("etcd/snapshot.db")["format"], Value::Null);

    let nodes = r["nodes"].as_array().unwrap();
    let summary: Vec<(String, Value, Value)> = nodes
        .iter()
        .map(|n| {
            (
                n["fqdn"].as_str().unwrap().to_string(),
                n["ips"].clone(),
                n["roles"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "dh-infra-1.old.example.com".to_string(),
                serde_json::json!(["10.1.2.11"]),
                serde_json::json!(["infra", "etcd"])
            ),
            (
                "dh-query-1.old.example.com".to_string(),
                serde_json::json!(["10.1.2.21"]),
                serde_json::json!(["query", "dis"])
            ),
            (
                "dh-query-2.old.example.com".to_string(),
                serde_json::json!(["10.1.2.22"]),
                serde_json::json!(["query"])
            ),
            (
                "dh-query-10.old.example.com".to_string(),
                serde_json::json!(["10.1.2.30"]),
                serde_json::json!(["query", "merge"])
            ),
        ]
    );
    assert_eq!(nodes[1]["short"], "dh-query-1");
    let names: Vec<(String, String)> = serde_json::from_value(r["names"].clone()).unwrap();
    let expected: Vec<(String, String)> = [
        ("10.1.2.11", "ip"),
        ("10.1.2.21", "ip"),
        ("10.1.2.22", "ip"),
        ("10.1.2.30", "ip"),
        ("dh-infra-1", "short"),
        ("dh-infra-1.old.example.com", "fqdn"),
        ("dh-query-1", "short"),
        ("dh-query-1.old.example.com", "fqdn"),
        ("dh-query-10", "short"),
        ("dh-query-10.old.example.com", "fqdn"),
        ("dh-query-2", "short"),
        ("dh-query-2.old.example.com", "fqdn"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(names, expected);

    // The DIS host of the db_dis block: line 173, column 27, decided by role dis.
    let dis_ref = nodes[1]["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["file"] == "config/props/iris-environment.prop" && x["pos"]["line"] == 173)
        .expect("reference on line 173");
    assert_eq!(dis_ref["pos"]["col"], 27);
    assert_eq!(dis_ref["text"], "dh-query-1.old.example.com");
    assert_eq!(dis_ref["kind"], "fqdn");
    assert_eq!(
        dis_ref["context"],
        serde_json::json!({
            "kind": "property",
            "key": "DataImportServer.host",
            "scopes": ["[service.name=db_dis]"]
        })
    );
    assert_eq!(dis_ref["roles"], serde_json::json!(["dis"]));
    assert_eq!(dis_ref["migrated"], true);
    assert_eq!(dis_ref["hidden"], false);
    // No reference of dh-query-1 is a dh-query-10 token.
    for x in nodes[1]["references"].as_array().unwrap() {
        let t = x["text"].as_str().unwrap().to_ascii_lowercase();
        assert!(!t.starts_with("dh-query-10"), "{x}");
    }
}

/// Runs inspect on a bad bundle: `code`, nothing on stdout, stderr starting with
/// `error: ` and holding every `expected` piece.
fn assert_bad(dir: &Path, bundle: &str, code: i32, expected: &[&str]) -> String {
    let out = inspect(dir, &[bundle]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
    }
    stderr
}

#[test]
fn corrupt_archive_fails_with_3() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = fs::read(fixtures().join("old-cluster.tar.gz")).unwrap();
    fs::write(tmp.path().join("cut.tar.gz"), &whole[..whole.len() / 2]).unwrap();
    assert_bad(tmp.path(), "cut.tar.gz", 3, &["cut.tar.gz"]);
}

/// A tar whose entries are written with raw headers, so that unsafe names survive.
fn raw_tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        let bytes = h.as_mut_bytes();
        bytes[..100].fill(0);
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes[157..257].fill(0);
        bytes[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn unsafe_archive_entries_fail_with_3_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let props: &[u8] = b"a=b\n";
    fs::write(
        tmp.path().join("escape.tar"),
        raw_tar(&[
            ("config/props/iris-environment.prop", b'0', "", props),
            ("config/../../escape.prop", b'0', "", props),
        ]),
    )
    .unwrap();
    assert_bad(
        tmp.path(),
        "escape.tar",
        3,
        &["escape.tar", "config/../../escape.prop"],
    );
    fs::write(
        tmp.path().join("link.tar"),
        raw_tar(&[("config/props/link.prop", b'2', "/etc/passwd", &[])]),
    )
    .unwrap();
    assert_bad(tmp.path(), "link.tar", 3, &["config/props/link.prop"]);
}

#[test]
fn manifest_mismatch_fails_with_3_naming_the_file() {
    let tmp = fixture_copy();
    let f = tmp
        .path()
        .join("old-cluster/config/routing/dis/Ingester2.yaml");
    let mut bytes = fs::read(&f).unwrap();
    bytes.extend_from_slice(b"# edited after the backup\n");
    fs::write(&f, bytes).unwrap();
    assert_bad(
        tmp.path(),
        "old-cluster",
        3,
        &["old-cluster", "config/routing/dis/Ingester2.yaml"],
    );
}

/// A copy of the fixture without its manifest, with one file replaced by `edit`.
fn broken_copy(path: &str, edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let tmp = fixture_copy();
    let root = tmp.path().join("old-cluster");
    fs::remove_file(root.join("MANIFEST.sha256")).unwrap();
    // Without the snapshot: its copy of the item would stand in for the broken file.
    fs::remove_file(root.join("etcd/snapshot.db")).unwrap();
    let f = root.join(path);
    let t = fs::read_to_string(&f).unwrap();
    fs::write(&f, edit(t)).unwrap();
    tmp
}

#[test]
fn malformed_yaml_fails_with_4_naming_file_line_col() {
    // Line 4 is indented by one space under a two-space map: not a `key: value` line.
    let tmp = broken_copy("config/routing/dis/Ingester1.yaml", |_| {
        "name: Broken\nendpoint:\n  host: x\n tailerPort: 1\n".to_string()
    });
    assert_bad(
        tmp.path(),
        "old-cluster",
        4,
        &["config/routing/dis/Ingester1.yaml:4:2: "],
    );
}

#[test]
fn malformed_xml_fails_with_4_naming_file_line_col() {
    // `  <Owner>irisadmin</Ownr>`: the bad end tag starts at column 19 of line 5.
    let tmp = broken_copy("config/pq/NightlyMerge.xml", |t| {
        t.replacen("<Owner>irisadmin</Owner>", "<Owner>irisadmin</Ownr>", 1)
    });
    assert_bad(
        tmp.path(),
        "old-cluster",
        4,
        &["config/pq/NightlyMerge.xml:5:19: ", "Ownr"],
    );
}

#[test]
fn malformed_property_file_fails_with_4_naming_file_line_col() {
    // A `}` with no open block, inserted as line 11.
    let tmp = broken_copy("config/props/iris-environment.prop", |t| {
        let mut lines: Vec<&str> = t.split_inclusive('\n').collect();
        lines.insert(10, "}\n");
        lines.concat()
    });
    assert_bad(
        tmp.path(),
        "old-cluster",
        4,
        &["config/props/iris-environment.prop:11:1: "],
    );
}
