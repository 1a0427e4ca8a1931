//! Merge, never overwrite, and mapping errors that lead with their cause, through the real
//! binary: `plan` against the fixture target keeps the new cluster's own settings, a typo
//! in a mapping key is named first with a "did you mean", and unresolved references come
//! grouped per old node.

use assert_cmd::Command;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::fs::{copy_dir, listing};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs `dh-migrate` in `dir` with a cleared environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("dh-migrate")
        .unwrap()
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap()
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
