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
