//! Merge, never overwrite, and mapping errors that lead with their cause, through the real
//! binary: `plan` against the fixture target keeps the new cluster's own settings, a typo
//! in a mapping key is named first with a "did you mean", and unresolved references come
//! grouped per old node.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::fs::{copy_dir, listing};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs `dh-migrate` in `dir` with a cleared environment (the one runner).
fn run(dir: &Path, args: &[&str]) -> Output {
    crate::support::cli::run(dir, args)
}

/// A temp dir with `old/` and `new/` (copies of the fixture bundle and target) and
/// `mapping.yaml` (the fixture mapping with `edit` applied).
fn setup(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("old-cluster"), &tmp.path().join("old"));
    copy_dir(&fixtures().join("new-cluster"), &tmp.path().join("new"));
    let mapping = fs::read_to_string(fixtures().join("mapping.yaml")).unwrap();
    fs::write(tmp.path().join("mapping.yaml"), edit(mapping)).unwrap();
    tmp
}

const PLAN: &[&str] = &[
    "plan",
    "old",
    "--target",
    "new",
    "--mapping",
    "mapping.yaml",
    "--diff",
    "none",
];

#[test]
fn a_typo_in_a_mapping_key_is_named_first_with_did_you_mean_then_what_it_leaves_unresolved() {
    let tmp = setup(|m| m.replace("dh-query-2.old.example.com:", "dh-qeury-2.old.example.com:"));
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    // The cause comes first.
    assert!(
        lines[1].contains("`dh-qeury-2.old.example.com` names no host of the bundle")
            && lines[1].ends_with("did you mean `dh-query-2.old.example.com`?"),
        "{stderr}"
    );
    // Then the references it leaves unresolved, grouped: one line for the node, with a
    // count and at most three places.
    let group: Vec<&&str> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("dh-query-2.old.example.com: "))
        .collect();
    assert_eq!(group.len(), 1, "{stderr}");
    assert!(group[0].contains("reference(s) name this old node but are neither mapped nor kept: "));
    assert!(group[0].matches(" (").count() <= 3, "{stderr}");
    assert!(group[0].contains(" more"), "{stderr}");
    assert_eq!(listing(tmp.path()), before, "nothing may be written");
}

/// A temp dir with `bundle/` (the encodings golden bundle plus `extra` files) and
/// `target/`, and `mapping.yaml` (the golden mapping plus `mapping_extra`).
fn setup_bundle(extra: &[(&str, &[u8])], mapping_extra: &str) -> tempfile::TempDir {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/encodings");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&golden.join("in"), &tmp.path().join("bundle"));
    copy_dir(&golden.join("target"), &tmp.path().join("target"));
    let mapping = fs::read_to_string(golden.join("mapping.yaml")).unwrap();
    fs::write(tmp.path().join("mapping.yaml"), mapping + mapping_extra).unwrap();
    for (rel, bytes) in extra {
        let p = tmp.path().join("bundle").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    tmp
}

const PLAN_EMIT: &[&str] = &[
    "plan",
    "bundle",
    "--target",
    "target",
    "--mapping",
    "mapping.yaml",
    "--diff",
    "none",
    "--emit",
    "emitted",
];

/// A jar-like binary: a zip header, the old FQDN in ASCII at byte 30, and the old IP in
/// UTF-16LE at byte 80 (as Java class constants and keystores hold them).
fn jar() -> Vec<u8> {
    let mut b = b"PK\x03\x04\x14\x00\x08\x00\x08\x00".to_vec();
    b.resize(30, 0xC3);
    b.extend_from_slice(b"dh-infra-1.old.example.com");
    b.resize(80, 0x01);
    for u in "10.1.2.11".encode_utf16() {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b.extend_from_slice(&[0xFF, 0x00, 0xFE]);
    b
}

#[test]
fn a_binary_file_hiding_an_old_host_fails_the_plan_naming_file_and_offset() {
    let jar = jar();
    let tmp = setup_bundle(&[("files/opt/lib/custom.jar", &jar)], "");
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN_EMIT);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("files/opt/lib/custom.jar: byte 30: `dh-infra-1.old.example.com` (ASCII) names an old node inside a binary file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("files/opt/lib/custom.jar: byte 80: `10.1.2.11` (UTF-16LE)"),
        "{stderr}"
    );
    assert_eq!(listing(tmp.path()), before, "nothing may be written");
}

#[test]
fn a_binary_file_listed_under_carry_binary_is_carried_unchanged() {
    let jar = jar();
    let tmp = setup_bundle(
        &[("files/opt/lib/custom.jar", &jar)],
        "carry-binary:\n  - files/opt/lib/*.jar\n",
    );
    let out = run(tmp.path(), PLAN_EMIT);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_file_that_declares_an_encoding_it_does_not_hold_fails_naming_the_file_and_writes_nothing() {
    // A UTF-16LE BOM followed by a lone high surrogate: not decodable.
    let bad: &[u8] = &[0xFF, 0xFE, b'<', 0, b'a', 0, 0x00, 0xD8, b'>', 0];
    let tmp = setup_bundle(
        &[("files/etc/sysconfig/illumon.d/resources/bad.xml", bad)],
        "",
    );
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN_EMIT);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("files/etc/sysconfig/illumon.d/resources/bad.xml:1:1: cannot be read as text: it is not valid UTF-16LE"),
        "{stderr}"
    );
    assert_eq!(listing(tmp.path()), before, "nothing may be written");
}

#[test]
fn a_mapping_value_that_is_not_a_node_of_the_new_cluster_fails_with_5_listing_the_new_nodes() {
    let tmp = setup(|m| {
        m.replace(
            "dh-query-2.old.example.com: query-b.new.example.com",
            "dh-query-2.old.example.com: query-z.new.example.com",
        )
    });
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("`query-z.new.example.com` (for old node `dh-query-2.old.example.com`) is not a node of the new cluster; its nodes are: infra-a.new.example.com (10.20.0.11), query-a.new.example.com (10.20.0.21), ingest-a.new.example.com (10.20.0.31), query-b.new.example.com (10.20.0.22), query-c.new.example.com (10.20.0.23)"),
        "{stderr}"
    );
    assert_eq!(listing(tmp.path()), before, "nothing may be written");
    // --allow-unknown-hosts: the same finding, as a warning.
    let mut args = PLAN.to_vec();
    args.push("--allow-unknown-hosts");
    let out = run(tmp.path(), &args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: mapping.yaml:")
            && stderr.contains("`query-z.new.example.com` (for old node `dh-query-2.old.example.com`) is not a node of the new cluster"),
        "{stderr}"
    );
}

#[test]
fn an_old_node_whose_name_and_ip_go_to_different_new_nodes_fails_with_5() {
    // dh-query-2's name goes to query-b, its IP to query-a's.
    let tmp = setup(|m| m.replace("10.1.2.22: 10.20.0.22", "10.1.2.22: 10.20.0.21"));
    let out = run(tmp.path(), PLAN);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("old node `dh-query-2.old.example.com`: its name goes to `query-b.new.example.com` but its IP `10.1.2.22` goes to `10.20.0.21`, a different node of the new cluster"),
        "{stderr}"
    );
}

#[test]
fn a_role_sent_to_a_new_node_without_that_role_is_a_warning() {
    // dh-query-1's DIS role goes to query-b (a query node) by name and IP.
    let tmp = setup(|m| {
        m.replace(
            "dis: ingest-a.new.example.com",
            "dis: query-b.new.example.com",
        )
        .replace("dis: 10.20.0.31", "dis: 10.20.0.22")
    });
    let out = run(tmp.path(), PLAN);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: mapping.yaml:") && stderr.contains("old node `dh-query-1.old.example.com` role dis goes to `query-b.new.example.com`, which the new cluster lists with role(s) query only"),
        "{stderr}"
    );
}

#[test]
fn a_target_that_names_no_node_gives_one_warning_and_goes_on() {
    let tmp = setup_bundle(&[], "");
    fs::remove_dir_all(tmp.path().join("target/cluster")).unwrap();
    fs::create_dir_all(tmp.path().join("target/config/props")).unwrap();
    fs::write(
        tmp.path().join("target/config/props/iris-environment.prop"),
        "a=1\n",
    )
    .unwrap();
    let out = run(tmp.path(), PLAN_EMIT);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("warning: the target names no node").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn mapping_suggest_against_the_same_cluster_maps_every_host_to_itself() {
    let root = fixtures();
    let out = run(
        &root,
        &[
            "mapping",
            "suggest",
            "old-cluster",
            "--target",
            "old-cluster",
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("TODO"), "{stdout}");
    let m = dh_migrate::mapping::Mapping::parse("suggested", &stdout).unwrap();
    assert!(m.hosts.len() >= 8, "{stdout}");
    for h in &m.hosts {
        match &h.target {
            dh_migrate::mapping::Target::Host(n) => assert_eq!(n.value, h.old, "{stdout}"),
            other => panic!("{}: {other:?}", h.old),
        }
    }
}

#[test]
fn plan_emit_result_writes_what_apply_would_write_merged() {
    let tmp = setup(|m| m);
    let mut args = PLAN.to_vec();
    args.extend(["--emit-result", "result"]);
    let out = run(tmp.path(), &args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let env =
        fs::read_to_string(tmp.path().join("result/config/props/iris-environment.prop")).unwrap();
    // The new cluster's own defaults are kept, marked, after the bundle's last line.
    let old = fs::read_to_string(fixtures().join("old-cluster/config/props/iris-environment.prop"))
        .unwrap();
    let last = old.lines().last().unwrap();
    assert!(
        env.contains(&format!(
            "{last}\n# kept from the new cluster by dh-migrate (only it sets these)\nRemoteQueryDispatcher.useEnvoy=true\niris.web.enableGrpcWeb=true\nlog.json.enabled=false\n"
        )),
        "{env}"
    );
    // Items only the new cluster has are there as installed, installer-owned ones too.
    for p in [
        "config/pq/WebClientData.xml",
        "config/props/iris-endpoints.prop",
    ] {
        assert_eq!(
            fs::read(tmp.path().join("result").join(p)).unwrap(),
            fs::read(fixtures().join("new-cluster").join(p)).unwrap(),
            "{p}"
        );
    }
    // Per-node files are not configuration items.
    assert!(!tmp.path().join("result/files").exists());
    assert!(tmp.path().join("result/MANIFEST.sha256").is_file());
}

#[test]
fn inspect_lists_references_in_other_encodings_and_binaries_and_the_files_not_read_as_text() {
    let jar = jar();
    let tmp = setup_bundle(&[("files/opt/lib/custom.jar", &jar)], "");
    let out = run(tmp.path(), &["inspect", "bundle"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A reference inside the UTF-16LE tailer file, listed like any other.
    assert!(
        stdout.contains("files/etc/sysconfig/illumon.d/resources/tailer-utf16le.xml:3:"),
        "{stdout}"
    );
    assert!(stdout.contains("mysql/dbacl_iris.sql:2:"), "{stdout}");
    assert!(
        stdout.contains("  files/opt/lib/custom.jar: byte 30  dh-infra-1.old.example.com  (ASCII)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Files not read as text (1)\n  files/opt/lib/custom.jar  (binary: scanned as bytes for old-node names)"),
        "{stdout}"
    );
}

#[test]
fn the_merge_section_drops_and_keeps_what_it_names() {
    let tmp = setup(|m| {
        format!(
            "{m}merge:\n  config/props/iris-environment.prop:\n    drop: [log.json.enabled]\n    new-wins: [iris.site.name]\n"
        )
    });
    let mut args = PLAN.to_vec();
    args.extend(["--emit-result", "result"]);
    let out = run(tmp.path(), &args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let env =
        fs::read_to_string(tmp.path().join("result/config/props/iris-environment.prop")).unwrap();
    assert!(!env.contains("log.json.enabled"), "dropped:\n{env}");
    assert!(
        env.contains("RemoteQueryDispatcher.useEnvoy=true"),
        "kept:\n{env}"
    );
    assert!(env.lines().any(|l| l == "iris.site.name=prod-new"), "{env}");
    assert!(
        !env.lines().any(|l| l == "iris.site.name=prod-old"),
        "the new cluster's value won:\n{env}"
    );
}

#[test]
fn a_merge_section_entry_that_decides_nothing_fails_with_5_naming_its_line() {
    // Typos: a drop name, a new-wins name, and an item the new cluster does not have.
    let tmp = setup(|m| {
        format!(
            "{m}merge:\n  config/props/iris-environment.prop:\n    drop: [log.json.enable]\n    new-wins: [iris.site.nme]\n  config/props/iris-enviroment.prop:\n    drop: [x]\n"
        )
    });
    let lines = fs::read_to_string(tmp.path().join("mapping.yaml"))
        .unwrap()
        .lines()
        .count();
    let mut args = PLAN.to_vec();
    args.extend(["--emit-result", "result"]);
    let out = run(tmp.path(), &args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("merge: section names what is not there"),
        "{stderr}"
    );
    for needle in [
        format!(
            "mapping.yaml:{}: merge: `log.json.enable` matches no setting only the new cluster has in config/props/iris-environment.prop",
            lines - 3
        ),
        format!(
            "mapping.yaml:{}: merge: `iris.site.nme` matches no setting both the bundle and the new cluster set in config/props/iris-environment.prop",
            lines - 2
        ),
        format!(
            "mapping.yaml:{}: merge: `config/props/iris-enviroment.prop` is not an item both the bundle and the new cluster have",
            lines - 1
        ),
    ] {
        assert!(stderr.contains(&needle), "{needle}\n{stderr}");
    }
    assert!(!tmp.path().join("result").exists(), "nothing written");
}
