//! `dh-migrate report` through the real binary: exit codes (0 clean, 1 differences, 2 or
//! more errors), the JSON output validated against `docs/report.schema.json` with
//! hand-checked values, the Markdown and HTML renderings (structure, escaping, a
//! self-contained page), and planted secrets: no secret value of the bundle or the target
//! reaches any output of `report`, `plan` or `inspect`, while `plan --emit` keeps the real
//! values and modes.
//!
//! Expected values come from reading the fixtures (fixtures/README.md) by hand.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support;
use support::fs::{copy_dir, listing};

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `dh-migrate` in `dir` with a cleared environment (HOME is `dir`, so anything
/// written there shows in the listing).
fn run(dir: &Path, args: &[&str]) -> Run {
    let out = crate::support::cli::run(dir, args);
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Replaces the one occurrence of `from` in the file (which must be there exactly once).
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    fs::write(path, text.replace(from, to)).unwrap();
}

/// `dir/bundle`: the fixture bundle without its manifest and etcd snapshot (so files can
/// be edited: the snapshot's copies would otherwise stand in for edited items).
fn bundle_copy(dir: &Path) -> PathBuf {
    let b = dir.join("bundle");
    copy_dir(Path::new(&fixture("old-cluster")), &b);
    fs::remove_file(b.join("MANIFEST.sha256")).unwrap();
    fs::remove_file(b.join("etcd/snapshot.db")).unwrap();
    b
}

fn report_args<'a>(bundle: &'a str, target: &'a str, mapping: Option<&'a str>) -> Vec<&'a str> {
    let mut a = vec!["report", bundle, "--target", target];
    if let Some(m) = mapping {
        a.extend(["--mapping", m]);
    }
    a
}

/// The fingerprint the tool shows for a secret, computed here independently.
fn fingerprint(value: &str) -> String {
    let hex = hex::encode(Sha256::digest(value.as_bytes()));
    format!("<secret sha256:{}>", &hex[..8])
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn file<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no file {path} in the report"))
}

fn difference<'a>(doc: &'a Value, path: &str, item: &str) -> &'a Value {
    file(doc, path)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["item"] == item)
        .unwrap_or_else(|| panic!("no item {item} in {path}"))
}

pub(crate) fn validator() -> jsonschema::Validator {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"))
            .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

pub(crate) fn assert_valid(doc: &Value) {
    let v = validator();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn report_exits_0_on_a_hand_made_pair_that_agrees_and_1_when_a_value_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("b/config/props/iris-environment.prop"), "foo=1\n");
    write(&d.join("t/config/props/iris-environment.prop"), "foo=1\n");
    let before = listing(d);
    let r = run(d, &report_args("b", "t", None));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert!(
        r.stdout
            .contains("Result: no differences: applying would change nothing"),
        "{}",
        r.stdout
    );

    write(&d.join("t/config/props/iris-environment.prop"), "foo=2\n");
    let before_md = listing(d);
    let mut args = report_args("b", "t", None);
    args.extend(["--format", "markdown"]);
    let r = run(d, &args);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert!(r.stdout.contains(
        "| site customization carried over | `foo` | *(as migrated)* | `1` | `2` | 1 (target 1) |"
    ));
    assert!(r.stdout.contains("```diff\n--- target/config/props/iris-environment.prop\n+++ migrated/config/props/iris-environment.prop\n@@ -1,1 +1,1 @@\n-foo=2\n+foo=1\n```\n"), "{}", r.stdout);
    // Diff-only: nothing written anywhere.
    assert_ne!(before, before_md);
    assert_eq!(listing(d), before_md);
}

#[test]
fn report_exits_0_when_the_target_already_holds_the_migrated_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (old, new, mapping) = (
        fixture("old-cluster"),
        fixture("new-cluster"),
        fixture("mapping.yaml"),
    );
    let r = run(
        d,
        &[
            "plan",
            &old,
            "--target",
            &new,
            "--mapping",
            &mapping,
            "--emit",
            "emitted",
            "--diff",
            "none",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The new cluster as it is after apply: its own files, overlaid with the migrated tree.
    copy_dir(Path::new(&new), &d.join("target"));
    copy_dir(&d.join("emitted"), &d.join("target"));
    fs::remove_file(d.join("target/MANIFEST.sha256")).unwrap();
    let before = listing(d);

    let r = run(d, &report_args(&old, "target", Some(&mapping)));
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "");
    assert!(r.stdout.contains("Result: no differences"));

    let mut args = report_args(&old, "target", Some(&mapping));
    args.extend(["--format", "json"]);
    let r = run(d, &args);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let doc = json(&r);
    assert_valid(&doc);
    assert_eq!(doc["summary"]["clean"], true);
    assert_eq!(doc["summary"]["files_changed"], 0);
    assert_eq!(doc["summary"]["files_only_in_bundle"], 0);
    // What stays listed: the new cluster's own PQ and the installer-owned files.
    assert_eq!(
        file(&doc, "config/pq/WebClientData.xml")["status"],
        "only-in-target"
    );
    assert_eq!(
        file(&doc, "config/props/iris-endpoints.prop")["status"],
        "installer-owned"
    );

    let mut args = report_args(&old, "target", Some(&mapping));
    args.extend(["--format", "html"]);
    let r = run(d, &args);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains(r#"<div class="banner clean""#));
    assert!(r.stdout.contains("No differences"));
    assert_eq!(listing(d), before, "report wrote something");
}

#[test]
fn report_exits_1_on_the_fixtures_with_and_without_a_mapping() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new, mapping) = (
        fixture("old-cluster"),
        fixture("new-cluster"),
        fixture("mapping.yaml"),
    );
    // Changed: iris-environment.prop, routing.yaml, dis/Ingester1.yaml (in both trees).
    // Added: acls 1, pq 3, iris-common.prop, dis 3, schemas 6, the auth key, hostconfig,
    // tailerConfig.xml, tailerConfigDis.xml = 18.
    let r = run(tmp.path(), &report_args(&old, &new, Some(&mapping)));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert!(r
        .stdout
        .contains("Result: differences: applying would change 3 file(s) and add 14 (4 of them node file(s), copied to their nodes, not into etcd). 4 more file(s) only in the bundle are not written by apply: import them with the vendor's tool (see each file)."));
    assert!(r.stdout.contains("reference(s) rewritten"));

    let r = run(tmp.path(), &report_args(&old, &new, None));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert!(r
        .stdout
        .contains("Mapping: none (the bundle is compared as backed up)"));
    assert!(r
        .stdout
        .contains("Result: differences: applying would change 3 file(s) and add 14 (4 of them node file(s), copied to their nodes, not into etcd). 4 more file(s) only in the bundle are not written by apply: import them with the vendor's tool (see each file)."));
}

#[test]
fn report_errors_exit_2_or_more_with_nothing_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (old, new, mapping) = (
        fixture("old-cluster"),
        fixture("new-cluster"),
        fixture("mapping.yaml"),
    );

    // No target at all: usage.
    let r = run(d, &["report", &old]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("--target"), "{}", r.stderr);

    // A target folder that does not exist: unreadable target.
    let r = run(d, &report_args(&old, "no-such-target", Some(&mapping)));
    assert!(
        matches!(r.code, Some(2) | Some(7)),
        "{:?} {}",
        r.code,
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("no-such-target"), "{}", r.stderr);

    // A mapping that is not YAML: mapping invalid, naming file and line.
    write(&d.join("bad.yaml"), "version: 1\nhosts: [oops\n");
    let r = run(d, &report_args(&old, &new, Some("bad.yaml")));
    assert_eq!(r.code, Some(5), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("bad.yaml:3:"), "{}", r.stderr);

    // A mapping without dh-query-2: its references are unresolved.
    let text = fs::read_to_string(&mapping).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.contains("dh-query-2.old.example.com") && !l.contains("10.1.2.22"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text);
    write(&d.join("partial.yaml"), &without);
    let r = run(d, &report_args(&old, &new, Some("partial.yaml")));
    assert_eq!(r.code, Some(6), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    // Grouped per old node: the count, then the first places.
    assert!(
        r.stderr.contains(
            "dh-query-2.old.example.com: 24 reference(s) name this old node but are neither mapped nor kept: "
        ) && r
            .stderr
            .contains("; config/props/iris-environment.prop:6:61 `dh-query-2` (comment) and 21 more"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// JSON

#[test]
fn json_report_validates_against_the_schema_and_holds_hand_checked_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new, mapping) = (
        fixture("old-cluster"),
        fixture("new-cluster"),
        fixture("mapping.yaml"),
    );
    let mut args = report_args(&old, &new, Some(&mapping));
    args.extend(["--format", "json"]);
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let doc = json(&r);
    assert_valid(&doc);

    assert_eq!(doc["schema"], "dh-migrate/report/v2");
    assert_eq!(doc["bundle"], old.as_str());
    assert_eq!(doc["target"], new.as_str());
    assert_eq!(doc["mapping"], mapping.as_str());
    let s = &doc["summary"];
    assert_eq!(s["clean"], false);
    assert_eq!(s["files_changed"], 3);
    // The 3 new PQs and the ACL export are only in the bundle too, but apply does not
    // write them (the default layout is version 2): counted apart.
    assert_eq!(s["files_only_in_bundle"], 14);
    assert_eq!(s["files_not_written"], 4);
    assert_eq!(s["files_only_in_target"], 1); // config/pq/WebClientData.xml
                                              // cluster.cnf, iris-defaults.prop, iris-endpoints.prop and the etcd client
                                              // endpoints/user/password files: all differ between the two clusters.
    assert_eq!(s["installer_owned"], 6);
    assert_eq!(s["by_class"]["installer-owned"], 6);

    let vendor = file(&doc, "config/routing/dis/vendor_feed.yaml");
    assert_eq!(vendor["status"], "only-in-bundle");
    assert_eq!(vendor["differences"][0]["class"], "site-customization");
    assert_eq!(vendor["diff"], Value::Null);
    let endpoints = file(&doc, "config/props/iris-endpoints.prop");
    assert_eq!(endpoints["status"], "installer-owned");
    assert_eq!(endpoints["differences"][0]["class"], "installer-owned");
    let env = "config/props/iris-environment.prop";
    assert_eq!(file(&doc, env)["status"], "changed");

    // Old line 107 `PersistentQueryController.host=dh-infra-1.old.example.com`; the new
    // cluster has `...=infra-a.new.example.com` on its line 12.
    let d = difference(&doc, env, "PersistentQueryController.host");
    assert_eq!(d["class"], "explained-by-mapping");
    assert_eq!(d["bundle"], "dh-infra-1.old.example.com");
    assert_eq!(d["migrated"], "infra-a.new.example.com");
    assert_eq!(d["target"], "infra-a.new.example.com");
    assert_eq!(d["line"], 107);
    assert_eq!(d["target_line"], 12);
    assert_eq!(d["secret"], false);
    // Declared 8192 (line 116), then 12288 (line 165): the last wins. New cluster: 4096.
    let d = difference(&doc, env, "RemoteQueryDispatcher.workerHeapMB");
    assert_eq!(d["class"], "site-customization");
    assert_eq!(d["migrated"], "12288");
    assert_eq!(d["target"], "4096");
    assert_eq!(d["line"], 165);
    // New in the new cluster only: kept, so apply writes it too (merge, never overwrite).
    let d = difference(&doc, env, "RemoteQueryDispatcher.useEnvoy");
    assert_eq!(d["class"], "new-default");
    assert_eq!(d["migrated"], "true");
    assert_eq!(d["target"], "true");
    assert_eq!(s["by_class"]["removed-by-apply"], 0);
    // A secret: only its fingerprint.
    let d = difference(&doc, env, "smtp.password");
    assert_eq!(d["secret"], true);
    assert_eq!(d["migrated"], fingerprint("fake-smtp-secret-0ld"));
    assert!(!r.stdout.contains("fake-smtp-secret-0ld"));
    // The DIS config's host takes the dis role's value.
    let d = difference(&doc, "config/routing/dis/Ingester1.yaml", "endpoint.host");
    assert_eq!(d["class"], "explained-by-mapping");
    assert_eq!(d["migrated"], "ingest-a.new.example.com");
    let diff = file(&doc, "config/routing/dis/Ingester1.yaml")["diff"]
        .as_str()
        .unwrap();
    assert!(diff.starts_with(
        "--- target/config/routing/dis/Ingester1.yaml\n+++ migrated/config/routing/dis/Ingester1.yaml\n"
    ));
    assert!(diff.contains("\n+  - {namespace: Market, tableName: NBBO}\n"));

    // Without a mapping: mapping null, nothing rewritten; still valid.
    let mut args = report_args(&old, &new, None);
    args.extend(["--format", "json"]);
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, Some(1));
    let doc = json(&r);
    assert_valid(&doc);
    assert_eq!(doc["mapping"], Value::Null);
    assert_eq!(doc["summary"]["references_rewritten"], 0);
    let d = difference(&doc, env, "PersistentQueryController.host");
    assert_eq!(d["class"], "site-customization");
    assert_eq!(d["migrated"], "dh-infra-1.old.example.com");
}

/// Breaks a copy of a valid report in one way.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn schema_rejects_documents_that_break_it() {
    // The validator must actually check: each broken copy of a real report fails.
    let tmp = tempfile::tempdir().unwrap();
    let mut args = report_args(
        &fixture("old-cluster"),
        &fixture("new-cluster"),
        Some(&fixture("mapping.yaml")),
    )
    .into_iter()
    .map(str::to_string)
    .collect::<Vec<_>>();
    args.extend(["--format".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc = json(&run(tmp.path(), &args));
    let v = validator();
    assert!(v.is_valid(&doc));
    let broken: Vec<(&str, Breaker)> = vec![
        (
            "schema",
            Box::new(|d| d["schema"] = "dh-migrate/report/v1".into()),
        ),
        (
            "status",
            Box::new(|d| d["files"][0]["status"] = "modified".into()),
        ),
        (
            "class",
            Box::new(|d| d["files"][0]["differences"][0]["class"] = "custom".into()),
        ),
        (
            "by_class",
            Box::new(|d| {
                d["summary"]["by_class"]
                    .as_object_mut()
                    .unwrap()
                    .remove("new-default");
            }),
        ),
        (
            "count",
            Box::new(|d| d["summary"]["files_changed"] = (-1).into()),
        ),
        (
            "missing",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("files");
            }),
        ),
        (
            "secret",
            Box::new(|d| {
                let f = d["files"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|f| f["path"] == "config/props/iris-environment.prop")
                    .unwrap();
                let s = f["differences"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|x| x["secret"] == true)
                    .unwrap();
                s["migrated"] = "plain-text-password".into();
            }),
        ),
    ];
    for (what, f) in broken {
        let mut d = doc.clone();
        f(&mut d);
        assert!(!v.is_valid(&d), "the schema accepted a broken {what}");
    }
}

// ---------------------------------------------------------------------------------------
// Markdown and HTML

/// A bundle whose `iris.web.bannerText` holds markup and Markdown table syntax.
const INJECTED: &str = r#"<b>x</b>& "q" 'a' | `tick`"#;

fn injected_bundle(d: &Path) -> PathBuf {
    let b = bundle_copy(d);
    edit(
        &b.join("config/props/iris-environment.prop"),
        "iris.web.bannerText=\n",
        &format!("iris.web.bannerText={INJECTED}\n"),
    );
    b
}

#[test]
fn markdown_report_has_its_sections_and_escapes_table_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    injected_bundle(d);
    let (new, mapping) = (fixture("new-cluster"), fixture("mapping.yaml"));
    let mut args = report_args("bundle", &new, Some(&mapping));
    args.extend(["--format", "markdown"]);
    let r = run(d, &args);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "", "a files-only bundle: nothing to warn of");
    let md = &r.stdout;
    assert!(md.starts_with("# dh-migrate report\n"), "{md}");
    assert!(md.contains("- **Bundle:** `bundle` (SHA-256 of the contents: `"));
    assert!(md.contains("**Result: differences.** Applying would change 3 file(s) and add 14 (4 of them node file(s), copied to their nodes, not into etcd). 4 more file(s) only in the bundle are not written by apply: import them with the vendor's tool (see each file).\n"));
    assert!(md.contains("| class | differences |\n|---|---:|\n"));
    assert!(md.contains("| installer-owned (ignored) | 6 |\n"));
    assert!(md.contains(
        "\n### `config/routing/dis/vendor_feed.yaml` (only in the bundle: apply adds it)\n\nWhole file: site customization carried over.\n"
    ));
    assert!(md.contains("\n### `config/props/iris-environment.prop` (changed by apply)\n\n| class | item | bundle | migrated | target | line |\n|---|---|---|---|---|---|\n"));
    assert!(md.contains(
        "| explained by the mapping | `PersistentQueryController.host` | `dh-infra-1.old.example.com` | `infra-a.new.example.com` | `infra-a.new.example.com` | 107 (target 12) |\n"
    ));
    assert!(md.contains("\n```diff\n--- target/config/routing/dis/Ingester1.yaml\n"));
    // The injected value: a code span longer than its backticks, `|` escaped.
    assert!(
        md.contains(r#"| `` <b>x</b>& "q" 'a' \| `tick` `` |"#),
        "{}",
        md.lines().find(|l| l.contains("bannerText")).unwrap_or("")
    );
    // Every table row keeps its column count: 7 unescaped pipes for 6 columns (6 for the
    // 5 columns of the rewritten references).
    for line in md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains('`'))
    {
        let cells = line
            .match_indices('|')
            .filter(|(i, _)| *i == 0 || line.as_bytes()[i - 1] != b'\\');
        let n = cells.count();
        assert!(n == 7 || n == 6 || n == 3, "{n} cells in {line}");
    }
    // Fences are balanced.
    assert_eq!(md.matches("```diff\n").count(), 3);
    // ... and the restart step's.
    assert_eq!(md.matches("\n## Restart step\n\n```text\n").count(), 1);
    assert_eq!(md.lines().filter(|l| *l == "```").count(), 4);
}

#[test]
fn html_report_is_self_contained_and_escapes_every_value() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    injected_bundle(d);
    let (new, mapping) = (fixture("new-cluster"), fixture("mapping.yaml"));
    let mut args = report_args("bundle", &new, Some(&mapping));
    args.extend(["--format", "html"]);
    let r = run(d, &args);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr, "", "a files-only bundle: nothing to warn of");
    let html = &r.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_lowercase();
    for banned in [
        "<script", "<link", "<iframe", "<img", "src=", "@import", "url(",
    ] {
        assert!(!lower.contains(banned), "the page has {banned}");
    }
    // Links only within the page.
    for (i, _) in lower.match_indices("href=") {
        assert!(
            lower[i..].starts_with("href=\"#"),
            "external link: {}",
            &html[i..i + 40]
        );
    }
    assert!(lower.contains("<style>"));
    assert!(html.contains(r#"<div class="banner differences""#));
    assert!(html.contains("Differences"));
    // The sticky index links to every file section.
    assert_eq!(html.matches("<section class=\"file\"").count(), 28);
    assert!(html.contains(r##"<a href="#f0""##));
    assert!(html.contains(r#"<section class="file" id="f27">"#));

    // The injected value, escaped wherever it appears (table cell, diff line); `<wbr>` and
    // the unbreakable spans are the page's own line-break hints, not part of the value.
    let text = unwrap_nb(&html.replace("<wbr>", ""));
    assert!(!text.contains("<b>x</b>"), "unescaped markup in the page");
    let escaped = "&lt;b&gt;x&lt;/b&gt;&amp; &quot;q&quot; &#39;a&#39; | `tick`";
    assert!(
        text.contains(&format!(
            r#"<td data-label="migrated"><code>{escaped}</code></td>"#
        )),
        "table cell"
    );
    assert!(
        text.contains(&format!(
            r#"<span class="add">+iris.web.bannerText={escaped}</span>"#
        )),
        "diff line"
    );
    // Diff lines keep their markers beside the colour.
    assert!(text.contains(r#"<span class="del">-# iris-environment.prop -- site-specific settings for this cluster.</span>"#));
    assert!(
        text.contains(r#"<span class="hdr">--- target/config/props/iris-environment.prop</span>"#)
    );
}

/// `html` without the `<span class="nb">` wrappers (which hold no other markup).
fn unwrap_nb(html: &str) -> String {
    let open = r#"<span class="nb">"#;
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        rest = &rest[i + open.len()..];
        let end = rest.find("</span>").unwrap();
        out.push_str(&rest[..end]);
        rest = &rest[end + "</span>".len()..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// Planted secrets

const SECRETS: [&str; 5] = [
    "PLANTED-SECRET-1-prop",
    "PLANTED-SECRET-2-yaml",
    "PLANTED-SECRET-3-xml",
    "PLANTED-SECRET-4-etcd",
    "PLANTED-SECRET-5-key",
];

const KEY: &str = "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt";
const ETCD_PW: &str = "files/etc/sysconfig/deephaven/etcd/client/root/password";
const TAILER: &str = "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml";

/// `d/bundle` with a planted secret in a property, a YAML scalar, an XML attribute, the
/// etcd client password file and the auth key (mode 0600), and `d/target`: the new
/// cluster holding different secrets at the same places, so every one of them differs.
fn planted(d: &Path) {
    let b = bundle_copy(d);
    edit(
        &b.join("config/props/iris-environment.prop"),
        "smtp.password=fake-smtp-secret-0ld\n",
        &format!("smtp.password={}\n", SECRETS[0]),
    );
    edit(
        &b.join("config/routing/dis/Ingester1.yaml"),
        "webServerParameters:\n  enabled: false\n",
        &format!(
            "webServerParameters:\n  enabled: false\n  password: {}\n",
            SECRETS[1]
        ),
    );
    edit(
        &b.join(TAILER),
        r#"<Process name="tailer1" "#,
        &format!(r#"<Process name="tailer1" password="{}" "#, SECRETS[2]),
    );
    write(&b.join(ETCD_PW), &format!("{}\n", SECRETS[3]));
    let key = b.join(KEY);
    let old_key = fs::read_to_string(&key).unwrap();
    write(&key, &format!("{}\n{old_key}", SECRETS[4]));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();

    let t = d.join("target");
    copy_dir(Path::new(&fixture("new-cluster")), &t);
    edit(
        &t.join("config/props/iris-environment.prop"),
        "smtp.port=25\n",
        "smtp.port=25\nsmtp.password=PLANTED-TARGET-1\n",
    );
    edit(
        &t.join("config/routing/dis/Ingester1.yaml"),
        "webServerParameters:\n  enabled: false\n",
        "webServerParameters:\n  enabled: false\n  password: PLANTED-TARGET-2\n",
    );
    let tailer = fs::read_to_string(b.join(TAILER))
        .unwrap()
        .replace(SECRETS[2], "PLANTED-TARGET-3");
    write(&t.join(TAILER), &tailer);
    write(&t.join(ETCD_PW), "PLANTED-TARGET-4\n");
    write(&t.join(KEY), &format!("PLANTED-TARGET-5\n{old_key}"));
}

fn assert_no_planted(what: &str, text: &str) {
    assert!(
        !text.contains("PLANTED-"),
        "{what} shows a secret: {}",
        text.lines().find(|l| l.contains("PLANTED-")).unwrap_or("")
    );
}

#[test]
fn planted_secrets_never_reach_report_plan_or_inspect_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    planted(d);
    let mapping = fixture("mapping.yaml");

    let mut runs: Vec<(String, Vec<&str>)> = Vec::new();
    for format in ["text", "markdown", "json", "html"] {
        let mut a = report_args("bundle", "target", Some(&mapping));
        a.extend(["--format", format]);
        runs.push((format!("report --format {format}"), a.clone()));
        let mut a = report_args("bundle", "target", None);
        a.extend(["--format", format]);
        runs.push((format!("report --format {format} (no mapping)"), a));
    }
    let plan = |extra: &[&'static str]| {
        let mut a = vec!["plan", "bundle", "--target", "target", "--mapping"];
        a.push(mapping.as_str());
        a.extend_from_slice(extra);
        a
    };
    runs.push(("plan --diff both".into(), plan(&["--diff", "both"])));
    runs.push((
        "plan --diff both --color always".into(),
        plan(&["--diff", "both", "--color", "always"]),
    ));
    runs.push(("plan --out".into(), plan(&["--out", "plan.json"])));
    runs.push(("inspect".into(), vec!["inspect", "bundle"]));
    runs.push((
        "inspect --format json".into(),
        vec!["inspect", "bundle", "--format", "json"],
    ));

    for (what, args) in &runs {
        let r = run(d, args);
        let expected = if what.starts_with("report") { 1 } else { 0 };
        assert_eq!(r.code, Some(expected), "{what}: {}", r.stderr);
        assert!(!r.stdout.is_empty(), "{what} printed nothing");
        assert_no_planted(&format!("{what} stdout"), &r.stdout);
        assert_no_planted(&format!("{what} stderr"), &r.stderr);
        // Where the changed password is shown, it is shown as its fingerprint.
        if what.starts_with("report") || (!what.contains("inspect") && !what.contains("color")) {
            let fp = fingerprint(SECRETS[0]);
            let fp_html = fp.replace('<', "&lt;").replace('>', "&gt;");
            assert!(
                r.stdout.contains(&fp) || r.stdout.contains(&fp_html),
                "{what} does not show the fingerprint {fp}"
            );
        }
    }
    let saved = fs::read_to_string(d.join("plan.json")).unwrap();
    assert_no_planted("plan.json", &saved);

    // The differing secrets are reported as differences, by fingerprint.
    let mut a = report_args("bundle", "target", Some(&mapping));
    a.extend(["--format", "json"]);
    let doc = json(&run(d, &a));
    assert_valid(&doc);
    let pw = difference(&doc, "config/props/iris-environment.prop", "smtp.password");
    assert_eq!(pw["secret"], true);
    assert_eq!(pw["class"], "site-customization");
    assert_eq!(pw["migrated"], fingerprint(SECRETS[0]));
    assert_eq!(pw["target"], fingerprint("PLANTED-TARGET-1"));
    let y = difference(
        &doc,
        "config/routing/dis/Ingester1.yaml",
        "webServerParameters.password",
    );
    assert_eq!(y["secret"], true);
    assert_eq!(y["migrated"], fingerprint(SECRETS[1]));
    assert_eq!(file(&doc, TAILER)["status"], "changed");
    assert!(file(&doc, TAILER)["diff"]
        .as_str()
        .unwrap()
        .contains(&format!(r#"password="{}""#, fingerprint(SECRETS[2]))));
    assert_eq!(file(&doc, KEY)["status"], "changed");
    assert_eq!(file(&doc, KEY)["differences"][0]["secret"], true);
    assert_eq!(file(&doc, ETCD_PW)["status"], "installer-owned");

    // Emitted files keep the real values, and the key its mode.
    let r = run(d, &plan(&["--emit", "emitted", "--diff", "none"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_no_planted("plan --emit stdout", &r.stdout);
    assert_no_planted("plan --emit stderr", &r.stderr);
    let e = d.join("emitted");
    let read = |rel: &str| fs::read_to_string(e.join(rel)).unwrap();
    assert!(read("config/props/iris-environment.prop")
        .contains(&format!("smtp.password={}\n", SECRETS[0])));
    assert!(read("config/routing/dis/Ingester1.yaml")
        .contains(&format!("  password: {}\n", SECRETS[1])));
    assert!(read(TAILER).contains(&format!(r#"password="{}""#, SECRETS[2])));
    assert!(read(KEY).starts_with(&format!("{}\n", SECRETS[4])));
    let mode = fs::metadata(e.join(KEY)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The etcd client password is installer-owned: never migrated, never emitted.
    assert!(!e.join(ETCD_PW).exists());
}
