//! Report golden files: `tests/report-golden/` holds a small old-cluster bundle, a new
//! cluster export and a mapping, chosen so that the report shows a file only in the bundle
//! with rewritten references (`site-overrides.prop`, issue 13's held-out case: a dashboard
//! link), a reference rewritten inside a persistent query's script ("in a script: review"),
//! a node file copied to its new node with its bundle mode, the restart step (with the
//! default layout, v2, the new PQ is one apply does not write: the restart step neither
//! counts it nor reloads PQs), and the title block. `expected/report.{txt,md,json,html}` were written out and checked line by line by
//! hand (columns counted in the source files; the restart order and commands derived from
//! the target's `cluster.cnf`); the parts that vary per run are placeholders filled here
//! from values computed independently of the tool: `{TARGET}` (the temp target's absolute
//! path), `{BUNDLE_SHA256}` (SHA-256 over every bundle file's path, a NUL and the file's
//! SHA-256, in path order), `{MAPPING_SHA256}` and `{VERSION}`. The generation time is
//! pinned with `SOURCE_DATE_EPOCH`. The HTML golden starts at `<body>` (the stylesheet is
//! checked by printing it, not byte for byte).

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::etcd::EtcdServer;
use crate::support::fs::copy_dir;

/// 2026-12-03T09:30:00Z (`date -u -d @1796290200`).
const EPOCH: &str = "1796290200";
const NODE_FILE: &str = "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report-golden")
}

/// The case in a temp dir, the node file given mode 0640 (git keeps only 0644/0755).
fn setup(d: &Path) {
    for part in ["bundle", "target"] {
        copy_dir(&case_dir().join(part), &d.join(part));
    }
    fs::copy(case_dir().join("mapping.yaml"), d.join("mapping.yaml")).unwrap();
    fs::set_permissions(
        d.join("bundle").join(NODE_FILE),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
}

/// `dh-migrate` run in `d` with a cleared environment (HOME is `d`).
pub(crate) fn dh(d: &Path) -> Command {
    let mut c = Command::cargo_bin("dh-migrate").unwrap();
    c.current_dir(d)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d);
    c
}

fn report(d: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = dh(d)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["report", "bundle", "--mapping", "mapping.yaml"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Every regular file under `root` by relative path.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The bundle's content hash, computed here from its definition.
fn contents_hash(root: &Path) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in files(root) {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(&bytes));
    }
    hex::encode(h.finalize())
}

fn expected(d: &Path, name: &str) -> String {
    let text = fs::read_to_string(case_dir().join("expected").join(name)).unwrap();
    let target = fs::canonicalize(d.join("target")).unwrap();
    let mapping = hex::encode(Sha256::digest(fs::read(d.join("mapping.yaml")).unwrap()));
    text.replace("{TARGET}", target.to_str().unwrap())
        .replace("{BUNDLE_SHA256}", &contents_hash(&d.join("bundle")))
        .replace("{MAPPING_SHA256}", &mapping)
        .replace("{VERSION}", env!("CARGO_PKG_VERSION"))
}

/// Line-by-line comparison with the first differing line in the message.
fn assert_same(what: &str, got: &str, want: &str) {
    if got != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let i = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "{what} differs from its golden file at line {}:\n got: {:?}\nwant: {:?}",
            i + 1,
            g.get(i),
            w.get(i)
        );
    }
}

#[test]
fn every_format_matches_its_golden_file_added_file_rewrites_and_script_rewrites() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    for (format, file) in [
        ("text", "report.txt"),
        ("markdown", "report.md"),
        ("json", "report.json"),
        ("html", "report.html"),
    ] {
        let (code, stdout, stderr) = report(d, &["--target", "target", "--format", format]);
        assert_eq!(code, Some(1), "{format}: {stderr}");
        assert_eq!(stderr, "", "{format}");
        let got = match format {
            "html" => &stdout[stdout.find("<body>").expect("a body")..],
            _ => stdout.as_str(),
        };
        assert_same(format, got, &expected(d, file));
    }
}

#[test]
fn json_golden_validates_against_the_v2_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let doc: Value = serde_json::from_str(&expected(d, "report.json")).unwrap();
    super::report_cli::assert_valid(&doc);
    assert_eq!(doc["schema"], "dh-migrate/report/v2");
    assert_eq!(doc["summary"]["rewrites_in_scripts"], 1);
    // A rewrite without its review flag is rejected.
    let mut broken = doc.clone();
    broken["files"][1]["rewrites"][0]
        .as_object_mut()
        .unwrap()
        .remove("in_script");
    assert!(!super::report_cli::validator().is_valid(&broken));
}

#[test]
fn html_title_block_names_time_version_hashes_and_target_and_ends_with_the_restart_step() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let (_, html, _) = report(d, &["--target", "target", "--format", "html"]);
    let target = fs::canonicalize(d.join("target")).unwrap();
    let row = |label: &str, value: &str| format!("<dt>{label}</dt><dd>{value}");
    let code = |v: &str| format!(r#"<code class="nb">{v}</code>"#);
    assert!(html.contains(&row(
        "Generated",
        &format!("{} {}", code("2026-12-03T09:30:00Z"), code("(UTC)"))
    )));
    assert!(html.contains(&row(
        "Tool",
        &format!("{} {}", code("dh-migrate"), code(env!("CARGO_PKG_VERSION")))
    )));
    assert!(html.contains(&row(
        "Bundle",
        &format!(
            "{} {} {} {}",
            code("bundle"),
            code("SHA-256"),
            code("(contents)"),
            code(&contents_hash(&d.join("bundle")))
        )
    )));
    assert!(html.contains(&row(
        "Target",
        &format!("{} {}", code("directory"), code(target.to_str().unwrap()))
    )));
    // The restart step comes after every file section, before the sign-off.
    let restart = html
        .find(r#"<section class="restart" id="restart">"#)
        .unwrap();
    assert!(html.rfind(r#"<section class="file""#).unwrap() < restart);
    assert!(restart < html.find(r#"<section class="signoff">"#).unwrap());
    assert!(html[restart..].contains(
        "<pre class=\"commands\">$ sudo -u dhadmin /usr/illumon/latest/bin/dh_monit restart all\n"
    ));
    // A host name is never split: no break hint inside one.
    assert!(!html.contains("infra-a.<wbr>") && !html.contains("example.<wbr>"));
}

#[test]
fn an_archive_bundle_is_hashed_as_the_file_sha256sum_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/old-cluster.tar.gz");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = dh(d)
        .args(["report"])
        .arg(&archive)
        .arg("--target")
        .arg(fixtures.join("new-cluster"))
        .arg("--mapping")
        .arg(fixtures.join("mapping.yaml"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = hex::encode(Sha256::digest(fs::read(&archive).unwrap()));
    assert_eq!(doc["document"]["bundle_sha256"], want.as_str());
    assert_eq!(doc["document"]["bundle_sha256_of"], "archive");
}

#[test]
fn an_etcd_target_is_named_by_its_endpoint_and_the_revision_it_was_read_at() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let etcd = EtcdServer::start();
    etcd.put(
        "/deephaven/config/props/iris-environment.prop",
        &fs::read(d.join("target/config/props/iris-environment.prop")).unwrap(),
    );
    // A fresh etcd is at revision 1; the one put makes it 2.
    let status: Value =
        serde_json::from_slice(&etcd.etcdctl(&["endpoint", "status", "-w", "json"]).stdout)
            .unwrap();
    assert_eq!(status[0]["Status"]["header"]["revision"], 2);
    let (code, stdout, stderr) = report(
        d,
        &[
            "--endpoints",
            &etcd.endpoint(),
            "--cluster-cnf",
            "target/cluster/cluster.cnf",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    super::report_cli::assert_valid(&doc);
    assert_eq!(
        doc["document"]["target"],
        serde_json::json!({"kind": "etcd", "endpoints": [etcd.endpoint()], "revision": 2})
    );
    // The restart step is there for an etcd target too (nodes from --cluster-cnf).
    assert_eq!(doc["restart"][0]["node"], "infra-a.new.example.com");
}

#[test]
fn plan_lists_script_rewrites_as_their_own_class_and_counts_them_in_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let out = dh(d)
        .args([
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
        ])
        .args(["--diff", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let section = "\nIn a script: review (1): references rewritten inside persistent-query scripts (a script may build host names in ways no tool can see):\n  config/pq/Refresh.xml:6:35  query-1.old.example.com -> query-a.new.example.com  (<PersistentQuery/Script> text)\n\nSummary\n";
    assert!(text.contains(section), "{text}");
    assert!(text.contains("  references rewritten  6 (host: 6; 1 in a script: review)\n"));
}

#[test]
fn plan_says_a_node_file_is_copied_to_its_node_with_its_mode_not_added() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let out = dh(d)
        .args([
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
        ])
        .args(["--diff", "target"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!(
        "\n== {NODE_FILE}  (1 reference(s) rewritten)\n-- a node file: copied to node infra-a.new.example.com with mode 0640 (never into etcd)\n"
    )), "{text}");
    // An etcd item only in the bundle is still one that applying adds.
    assert!(text.contains(
        "\n== config/props/site-overrides.prop  (3 reference(s) rewritten)\n-- the new cluster has no such file: applying adds it\n"
    ), "{text}");
}

/// `plan --format json` lists the reference rewritten inside the PQ script in its own class,
/// with its place (line 6, column 35 of `config/pq/Refresh.xml`, counted in the file by
/// hand), and validates against `docs/plan.schema.json`.
#[test]
fn plan_json_lists_script_rewrites_for_review() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let out = dh(d)
        .args([
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::support::fs::assert_schema_valid("docs/plan.schema.json", &doc);
    assert_eq!(doc["summary"]["rewrites_in_scripts"], 1);
    assert_eq!(
        doc["rewrites_in_scripts"],
        serde_json::json!([{
            "file": "config/pq/Refresh.xml",
            "line": 6,
            "column": 35,
            "before": "query-1.old.example.com",
            "after": "query-a.new.example.com",
            "context": "<PersistentQuery/Script> text"
        }])
    );
}
