//! Snapshot tests (insta) of what users read: `--help` of every command, and the text of
//! `inspect`, the plan summary with its restart step and snapshot advice, `report`, and
//! `apply --dry-run`-free views. Each snapshot under `tests/it/snapshots/` was reviewed
//! line by line when accepted; a change to any of them fails here until reviewed again.
//! Plus the rule that every flag of every command has a help line.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs the binary in the fixtures folder (so paths print as given, relative), HOME a
/// fresh empty folder; returns (exit code, stdout, stderr).
fn run_in_fixtures(args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = crate::support::cli::run_with_home(&fixtures(), home.path(), args);
    let names: Vec<_> = std::fs::read_dir(home.path()).unwrap().collect();
    assert!(names.is_empty(), "{args:?} wrote into HOME");
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn help(path: &[&str]) -> String {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let (code, stdout, stderr) = run_in_fixtures(&args);
    assert_eq!(code, Some(0), "{stderr}");
    stdout
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn help_of_every_command() {
    for path in [
        &[][..],
        &["inspect"],
        &["plan"],
        &["report"],
        &["apply"],
        &["rollback"],
        &["export"],
        &["mapping"],
        &["mapping", "suggest"],
        &["wizard"],
        &["backup"],
        &["restore"],
    ] {
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help-{}", path.join("-"))
        };
        snap!(name, help(path));
    }
}

#[test]
fn every_flag_of_every_command_has_a_help_line() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if a.is_hide_set() {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {}", a.get_id()));
            }
        }
        for sc in cmd.get_subcommands() {
            walk(sc, &format!("{path} {}", sc.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&dh_migrate::cli::Cli::command(), "dh-migrate", &mut missing);
    assert!(
        missing.is_empty(),
        "flags without a help line: {missing:#?}"
    );
}

#[test]
fn inspect_text() {
    let (code, stdout, stderr) = run_in_fixtures(&["inspect", "old-cluster"]);
    assert_eq!(code, Some(0), "{stderr}");
    snap!("inspect-old-cluster", stdout);
}

#[test]
fn plan_summary_with_restart_step_and_snapshot_advice() {
    let (code, stdout, stderr) = run_in_fixtures(&[
        "plan",
        "old-cluster",
        "--target",
        "new-cluster",
        "--mapping",
        "mapping.yaml",
        "--diff",
        "none",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
    snap!("plan-summary", stdout);
}

#[test]
fn report_text() {
    let (code, stdout, stderr) = run_in_fixtures(&[
        "report",
        "old-cluster",
        "--target",
        "new-cluster",
        "--mapping",
        "mapping.yaml",
    ]);
    assert_eq!(code, Some(1), "differences: {stderr}");
    // The head (result and classes) and every file's verdict; the per-item lines of the
    // two large files are the report tests' business (report_cli).
    let outline: String = stdout
        .lines()
        .enumerate()
        .filter(|(i, l)| *i < 8 || l.starts_with("== "))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    snap!("report-text-outline", outline);
}
