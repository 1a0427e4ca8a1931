//! The command line's edge: shell completions and the man page generated from the clap
//! definitions, and `--endpoints` validation (a typo is a usage error, never a connection to
//! some other port).

use assert_cmd::Command;
use std::process::Output;

fn run(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("dh-migrate")
        .unwrap()
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .args(args)
        .output()
        .unwrap();
    (out, dir)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "inspect", "plan", "report", "apply", "rollback", "export", "wizard",
];

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (o, _d) = run(&["completions", shell]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = stdout(&o);
        assert!(text.contains("dh-migrate"), "{shell}");
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell} completions miss {sub}");
        }
        // A flag of a subcommand, so the script covers more than the top level.
        assert!(text.contains("mapping"), "{shell}");
        assert!(o.stderr.is_empty(), "{shell}: data only on stdout");
    }
}

#[test]
fn bash_completions_are_valid_bash() {
    let (o, dir) = run(&["completions", "bash"]);
    let script = dir.path().join("c.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let (o, _d) = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn man_page_is_roff_naming_the_tool_and_its_commands() {
    let (o, _d) = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains(".TH dh-migrate 1"), "{text}");
    assert!(text.contains(".SH NAME"));
    assert!(text.contains(".SH SUBCOMMANDS"));
    // Every subcommand has its own section, with its usage and options, on the one page.
    let detail = &text[text
        .find(".SH \"COMMANDS IN DETAIL\"")
        .expect("detail section")..];
    for sub in SUBCOMMANDS {
        assert!(
            detail.contains(&format!(".SS \"dh\\-migrate {sub}\"")),
            "{sub}"
        );
    }
    let plan = &detail[detail.find(".SS \"dh\\-migrate plan\"").unwrap() + 4..];
    let plan = &plan[..plan.find(".SS").unwrap()];
    assert!(plan.contains("\\fB\\-\\-mapping\\fR"), "{plan}");
    assert!(plan.contains("\\fB\\-\\-emit\\fR"), "{plan}");
}

#[test]
fn malformed_endpoints_are_usage_errors_and_nothing_is_written() {
    for bad in [
        "127.0.0.1:2379x",
        "http://127.0.0.1:99999",
        "ftp://127.0.0.1:2379",
        "127.0.0.1",
    ] {
        let (o, dir) = run(&["export", "--endpoints", bad, "--out", "exported"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains(bad) && err.contains("--endpoints"),
            "{bad}: {err}"
        );
        assert!(
            !dir.path().join("exported").exists(),
            "{bad}: nothing written"
        );
    }
}
