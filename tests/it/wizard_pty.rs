//! `dh-migrate wizard` driven through a real pseudo-terminal (expectrl), in a temp dir
//! with a cleared environment: a complete session whose mapping file is checked in full
//! and then planned; a resumed session reproducing a file by pressing Enter; invalid host
//! and role input refused and asked again; Ctrl-C and end of input keeping the answers
//! so far in `mapping.yaml.partial` (never the mapping), resumed on the next run; "quit"
//! leaving nothing written, said without `error:`; Home/End/Page Up/Page Down in lists;
//! and no terminal at all (exit 14 with the non-interactive commands as hints).

use expectrl::process::unix::{Signal, WaitStatus};
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Session};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ENTER: &str = "\r";
const UP: &str = "\x1b[A";
const DOWN: &str = "\x1b[B";
const BACKSPACE: &str = "\x7f";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";
const HOME: &str = "\x1b[H";
const END: &str = "\x1b[F";
const PAGE_UP: &str = "\x1b[5~";
const PAGE_DOWN: &str = "\x1b[6~";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub(crate) fn bundle() -> String {
    fixtures().join("old-cluster").display().to_string()
}

pub(crate) fn target() -> String {
    fixtures().join("new-cluster").display().to_string()
}

/// The wizard on the fixtures, in `dir`, inside a pseudo-terminal.
fn spawn(dir: &Path, extra: &[&str]) -> OsSession {
    let mut cmd = crate::support::cli::command(dir, dir);
    cmd.args(["wizard", &bundle(), "--target", &target()])
        .args(extra)
        .env("TERM", "xterm-256color");
    let mut p = Session::spawn(cmd).unwrap();
    p.get_process_mut().set_window_size(120, 40).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(20)));
    p
}

/// Waits for `text` on the terminal, failing with what was seen so far.
fn expect(p: &mut OsSession, text: &str) {
    if let Err(e) = p.expect(text) {
        panic!("waiting for {text:?}: {e}");
    }
}

/// Sends `keys` until `text` shows. The prompt puts the terminal in raw mode only while
/// it waits for a key; a Ctrl-D arriving just before (prompt drawn, read not started)
/// meets the line discipline in cooked mode, where it can be taken as end of input and
/// never reach the prompt (the likely cause of one timeout seen under load).
fn send_until(p: &mut OsSession, keys: &str, text: &str) {
    p.set_expect_timeout(Some(Duration::from_secs(2)));
    for _ in 0..10 {
        p.send(keys).unwrap();
        match p.expect(text) {
            Ok(_) => {
                p.set_expect_timeout(Some(Duration::from_secs(20)));
                return;
            }
            Err(expectrl::Error::ExpectTimeout) => continue,
            Err(e) => panic!("waiting for {text:?}: {e}"),
        }
    }
    panic!("{text:?} never showed after sending {keys:?} ten times");
}

/// Waits for the question about `name` (number `k` of 8), then sends `keys`.
fn answer(p: &mut OsSession, k: usize, name: &str, keys: &str) {
    expect(p, &format!("[{k}/8] {name}"));
    expect(p, &format!("{name} becomes"));
    p.send(keys).unwrap();
}

/// After Ctrl-C: the process died of SIGINT and only the partial answers are there,
/// saying how many of the 8 names were answered.
fn assert_killed_keeping_partial(p: &mut OsSession, dir: &Path, answered: usize) -> String {
    p.expect(Eof).unwrap();
    assert_eq!(
        exit_code(p),
        WaitStatus::Signaled(p.get_process().pid(), Signal::SIGINT, false)
    );
    assert_eq!(files_in(dir), ["mapping.yaml.partial"]);
    let partial = std::fs::read_to_string(dir.join("mapping.yaml.partial")).unwrap();
    assert!(
        partial.starts_with(&format!(
            "# PARTIAL answers of an unfinished wizard session ({answered} of 8 answered), kept to resume it; not the mapping file.\n"
        )),
        "{partial}"
    );
    partial
}

fn exit_code(p: &OsSession) -> WaitStatus {
    p.get_process().wait().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// What the complete session below must write, by hand: the fixture suggestions'
/// evidence (see fixtures/README.md: which old node is which new node and why), the
/// answers given, and a note on every answer that departs from its suggestion.
pub(crate) fn expected_mapping() -> String {
    format!(
        "\
# dh-migrate mapping file, written by `dh-migrate wizard`
# bundle: {bundle}
# target: {target}
# Run the wizard again with --mapping-out pointing to this file to change an answer.
version: 1
hosts:
  # evidence: cluster.cnf: node #1 with role infra on both sides -> infra-a.new.example.com (infra)
  # evidence: cluster.cnf: node #1 with role etcd on both sides -> infra-a.new.example.com (etcd)
  # evidence: iris-endpoints.prop: same key configuration.server.host -> infra-a.new.example.com (infra)
  # evidence: iris-endpoints.prop: same key authentication.server.host -> infra-a.new.example.com (infra)
  # evidence: iris-endpoints.prop: same key db.acl.write.server.host -> infra-a.new.example.com (infra)
  # evidence: iris-endpoints.prop: same key iris.controller.host -> infra-a.new.example.com (infra)
  # ... and 10 more piece(s) of evidence
  dh-infra-1.old.example.com: infra-a.new.example.com
  # evidence: cluster.cnf: node #1 with role query on both sides -> query-a.new.example.com (query)
  # evidence: cluster.cnf: node #1 with role dis on both sides -> ingest-a.new.example.com (dis)
  # evidence: iris-endpoints.prop: same key dis.host.db_dis -> ingest-a.new.example.com (dis)
  # evidence: iris-endpoints.prop: same key query.server.host.1 -> query-a.new.example.com (query)
  # evidence: dis/Ingester1.yaml: same path endpoint.host -> ingest-a.new.example.com (dis)
  dh-query-1.old.example.com:
    default: query-a.new.example.com
    roles:
      dis: ingest-a.new.example.com
  # evidence: cluster.cnf: node #2 with role query on both sides -> query-b.new.example.com (query)
  # evidence: iris-endpoints.prop: same key query.server.host.2 -> query-b.new.example.com (query)
  # answered in the wizard; the suggestion was: query-b.new.example.com
  dh-query-2.old.example.com: query-c.new.example.com
  # evidence: cluster.cnf: node #3 with role query on both sides -> query-c.new.example.com (query)
  # evidence: cluster.cnf: node #1 with role merge on both sides -> query-c.new.example.com (merge)
  # evidence: iris-endpoints.prop: same key merge.server.host.1 -> query-c.new.example.com (merge)
  # evidence: iris-endpoints.prop: same key query.server.host.3 -> query-c.new.example.com (query)
  dh-query-10.old.example.com: query-c.new.example.com
  # evidence: cluster.cnf: node #1 with role infra on both sides -> 10.20.0.11 (infra)
  # evidence: cluster.cnf: node #1 with role etcd on both sides -> 10.20.0.11 (etcd)
  # evidence: iris-endpoints.prop: same key infra.ip.1 -> 10.20.0.11 (infra)
  # evidence: iris-endpoints.prop: same key etcd.endpoints -> 10.20.0.11 (etcd)
  # evidence: iris-environment.prop: same key etcd.client.endpoints -> 10.20.0.11 (etcd)
  10.1.2.11: 10.20.0.11
  # evidence: cluster.cnf: node #1 with role query on both sides -> 10.20.0.21 (query)
  # evidence: cluster.cnf: node #1 with role dis on both sides -> 10.20.0.31 (dis)
  # evidence: iris-endpoints.prop: same key dis.ip.db_dis -> 10.20.0.31 (dis)
  # evidence: iris-endpoints.prop: same key query.server.ip.1 -> 10.20.0.21 (query)
  10.1.2.21:
    default: 10.20.0.21
    roles:
      dis: 10.20.0.31
  # evidence: cluster.cnf: node #3 with role query on both sides -> 10.20.0.23 (query)
  # evidence: cluster.cnf: node #1 with role merge on both sides -> 10.20.0.23 (merge)
  # evidence: iris-endpoints.prop: same key query.server.ip.3 -> 10.20.0.23 (query)
  10.1.2.30: 10.20.0.23
keep:
  # 10.1.2.22: kept as it is (answered in the wizard)
  - 10.1.2.22
",
        bundle = bundle(),
        target = target()
    )
}

#[test]
fn complete_session_writes_the_mapping_and_plan_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &[]);
    // The summary: old nodes with roles and reference counts, new nodes with roles.
    expect(&mut p, "old nodes (4):");
    expect(
        &mut p,
        "dh-query-1.old.example.com       10.1.2.21       query, dis       40 reference(s)",
    );
    expect(&mut p, "New cluster");
    expect(
        &mut p,
        "ingest-a.new.example.com         10.20.0.31      dis",
    );
    // 1: the suggestion, with its evidence shown, and the preview of the answer.
    expect(&mut p, "[1/8] dh-infra-1.old.example.com");
    expect(&mut p, "suggested: infra-a.new.example.com");
    expect(
        &mut p,
        "evidence: cluster.cnf: node #1 with role infra on both sides",
    );
    expect(&mut p, "dh-infra-1.old.example.com becomes");
    p.send(ENTER).unwrap();
    expect(&mut p, "config/props/iris-common.prop:25");
    expect(
        &mut p,
        "- configuration.client.host=dh-infra-1.old.example.com",
    );
    expect(
        &mut p,
        "+ configuration.client.host=infra-a.new.example.com",
    );
    // 2: split by role, accepting the pre-filled default, role list and role host.
    answer(&mut p, 2, "dh-query-1.old.example.com", UP);
    p.send(ENTER).unwrap();
    expect(&mut p, "default (places without a role; empty: none)");
    p.send(ENTER).unwrap();
    expect(&mut p, "roles that go elsewhere");
    p.send(ENTER).unwrap();
    expect(&mut p, "new host for role dis");
    p.send(ENTER).unwrap();
    // The preview shows both values of the split.
    expect(
        &mut p,
        "+ RemoteQueryDispatcherParameters.hosts=query-a.new.example.com,",
    );
    expect(&mut p, "+ DataImportServer.host=ingest-a.new.example.com");
    // 3: another host, typed.
    answer(
        &mut p,
        3,
        "dh-query-2.old.example.com",
        &format!("{UP}{UP}{UP}"),
    );
    p.send(ENTER).unwrap();
    expect(&mut p, "new host for dh-query-2.old.example.com");
    p.send("query-c.new.example.com\r").unwrap();
    expect(
        &mut p,
        "+ \"jdbc:postgresql://query-c.new.example.com:5432/analytics",
    );
    answer(&mut p, 4, "dh-query-10.old.example.com", ENTER);
    answer(&mut p, 5, "10.1.2.11", ENTER);
    answer(&mut p, 6, "10.1.2.21", ENTER);
    // 7: keep it as it is.
    answer(&mut p, 7, "10.1.2.22", &format!("{UP}{UP}"));
    p.send(ENTER).unwrap();
    // 8: the suggestion (another new node's IP would split dh-query-10's name and IP
    // across two new nodes, which plan refuses).
    answer(&mut p, 8, "10.1.2.30", ENTER);
    // Coverage and the plan summary, then the final confirmation.
    expect(&mut p, "Coverage");
    expect(&mut p, "reference(s) resolved, 0 unresolved");
    expect(&mut p, "Plan summary");
    expect(&mut p, "Save the mapping?");
    // Before the confirmation only the answers so far are kept, beside the mapping.
    assert_eq!(files_in(dir.path()), ["mapping.yaml.partial"]);
    p.send(ENTER).unwrap();
    expect(&mut p, "wrote mapping.yaml");
    expect(&mut p, "Run one now?");
    p.send(ENTER).unwrap();
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(&p), WaitStatus::Exited(p.get_process().pid(), 0));

    assert_eq!(files_in(dir.path()), vec!["mapping.yaml".to_string()]);
    let written = std::fs::read_to_string(dir.path().join("mapping.yaml")).unwrap();
    assert_eq!(written, expected_mapping());

    let out = crate::support::cli::run(
        dir.path(),
        &[
            "plan",
            &bundle(),
            "--target",
            &target(),
            "--mapping",
            "mapping.yaml",
            "--diff",
            "none",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Summary"), "{stdout}");
}

#[test]
fn resumed_session_reproduces_the_existing_file_by_pressing_enter() {
    let dir = tempfile::tempdir().unwrap();
    // The complete session's file, plus a kept host the wizard never asks about.
    let seed = format!("{}  - ldap.corp.example.com\n", expected_mapping());
    std::fs::write(dir.path().join("answers.yaml"), &seed).unwrap();
    let mut p = spawn(dir.path(), &["--mapping-out", "answers.yaml"]);
    expect(&mut p, "Answers from answers.yaml are pre-selected");
    for (k, name) in [
        "dh-infra-1.old.example.com",
        "dh-query-1.old.example.com",
        "dh-query-2.old.example.com",
        "dh-query-10.old.example.com",
        "10.1.2.11",
        "10.1.2.21",
        "10.1.2.22",
        "10.1.2.30",
    ]
    .iter()
    .enumerate()
    {
        // The typed answer (query-c, a node of the new cluster) comes back pre-selected
        // in the list of new nodes.
        answer(&mut p, k + 1, name, ENTER);
    }
    expect(&mut p, "Save the mapping?");
    p.send(ENTER).unwrap();
    expect(&mut p, "wrote answers.yaml");
    // Offered next: plan runs (through the library) on the file just written.
    expect(&mut p, "Run one now?");
    p.send(DOWN).unwrap();
    p.send(ENTER).unwrap();
    expect(&mut p, "Mapping: answers.yaml");
    expect(&mut p, "references rewritten");
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(&p), WaitStatus::Exited(p.get_process().pid(), 0));
    assert_eq!(files_in(dir.path()), vec!["answers.yaml".to_string()]);
    let written = std::fs::read_to_string(dir.path().join("answers.yaml")).unwrap();
    assert_eq!(written, seed);
}

#[test]
fn invalid_host_and_role_are_refused_and_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &[]);
    // "type another host" is third from the end.
    answer(
        &mut p,
        1,
        "dh-infra-1.old.example.com",
        &format!("{UP}{UP}{UP}"),
    );
    p.send(ENTER).unwrap();
    expect(&mut p, "new host for dh-infra-1.old.example.com");
    p.send("not a host!\r").unwrap();
    expect(
        &mut p,
        "`not a host!` is not a host name or an IPv4 address",
    );
    expect(&mut p, "new host for dh-infra-1.old.example.com");
    p.send("infra-b.new.example.com\r").unwrap();
    expect(
        &mut p,
        "+ configuration.client.host=infra-b.new.example.com",
    );
    // A split with an unknown role: refused, then the pre-filled list is accepted.
    answer(&mut p, 2, "dh-query-1.old.example.com", UP);
    p.send(ENTER).unwrap();
    expect(&mut p, "default (places without a role; empty: none)");
    p.send(ENTER).unwrap();
    expect(&mut p, "roles that go elsewhere");
    p.send(format!("{BACKSPACE}{BACKSPACE}{BACKSPACE}ingest\r"))
        .unwrap();
    expect(
        &mut p,
        "unknown role `ingest`: expected one of infra, query, merge, dis, etcd",
    );
    expect(&mut p, "roles that go elsewhere");
    p.send(ENTER).unwrap();
    expect(&mut p, "new host for role dis");
    p.send(ENTER).unwrap();
    expect(&mut p, "[3/8] dh-query-2.old.example.com");
    p.send(CTRL_C).unwrap();
    p.expect(Eof).unwrap();
    assert_eq!(
        exit_code(&p),
        WaitStatus::Signaled(p.get_process().pid(), Signal::SIGINT, false)
    );
    // The answers so far are kept beside the mapping, never in it.
    assert_eq!(files_in(dir.path()), ["mapping.yaml.partial"]);
}

#[test]
fn ctrl_c_at_the_final_confirmation_keeps_the_answers_but_writes_no_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &[]);
    for (k, name) in [
        "dh-infra-1.old.example.com",
        "dh-query-1.old.example.com",
        "dh-query-2.old.example.com",
        "dh-query-10.old.example.com",
        "10.1.2.11",
        "10.1.2.21",
        "10.1.2.22",
        "10.1.2.30",
    ]
    .iter()
    .enumerate()
    {
        answer(&mut p, k + 1, name, ENTER);
    }
    expect(&mut p, "Save the mapping?");
    p.send(CTRL_C).unwrap();
    assert_killed_keeping_partial(&mut p, dir.path(), 8);
}

#[test]
fn quitting_without_writing_exits_12_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &[]);
    for k in 1..=8 {
        expect(&mut p, &format!("[{k}/8] "));
        expect(&mut p, " becomes");
        p.send(ENTER).unwrap();
    }
    expect(&mut p, "Save the mapping?");
    p.send(UP).unwrap();
    p.send(ENTER).unwrap();
    // Said plainly, not as an error; the exit status is 12 as before.
    let seen = p
        .expect("quit without writing; nothing was written")
        .unwrap();
    let before = String::from_utf8_lossy(seen.before()).into_owned();
    assert!(!before.contains("error:"), "{before}");
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(&p), WaitStatus::Exited(p.get_process().pid(), 12));
    // The answers kept during the session go too: quitting on purpose writes nothing.
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn without_a_terminal_it_exits_14_with_the_non_interactive_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::cli::command(dir.path(), dir.path());
    cmd.args(["wizard", "old", "--target", "new"])
        .stdin(std::process::Stdio::null());
    let out = assert_cmd::Command::from_std(cmd).output().unwrap();
    assert_eq!(out.status.code(), Some(14));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "\
error: the wizard needs a terminal (stdin and stderr must both be one); nothing was written
  hint: without a terminal, draft the mapping with: dh-migrate mapping suggest old --target new > mapping.yaml
  hint: then review it and run: dh-migrate plan old --target new --mapping mapping.yaml
"
    );
    assert!(files_in(dir.path()).is_empty());
}

/// The first session's answer to question 1: `query-a` (second entry), not the suggestion.
const DEPARTED: &str = "dh-infra-1.old.example.com: query-a.new.example.com\n";

#[test]
fn interrupted_session_keeps_its_answers_and_the_next_run_resumes_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &[]);
    expect(&mut p, "can be resumed");
    answer(
        &mut p,
        1,
        "dh-infra-1.old.example.com",
        &format!("{DOWN}{ENTER}"),
    );
    expect(&mut p, "[2/8] dh-query-1.old.example.com");
    expect(&mut p, "dh-query-1.old.example.com becomes");
    p.send(CTRL_C).unwrap();
    let partial = assert_killed_keeping_partial(&mut p, dir.path(), 1);
    assert!(partial.contains(&format!("  {DEPARTED}")), "{partial}");
    assert!(
        partial.contains("  # dh-query-1.old.example.com: NEW-HOST\n"),
        "{partial}"
    );

    // The next run offers the kept answers; resuming pre-selects them.
    let mut p = spawn(dir.path(), &[]);
    expect(
        &mut p,
        "An unfinished wizard session kept 1 answer(s) in mapping.yaml.partial.",
    );
    expect(&mut p, "Resume?");
    p.send(ENTER).unwrap();
    expect(&mut p, "Answers from mapping.yaml.partial are pre-selected");
    answer(&mut p, 1, "dh-infra-1.old.example.com", ENTER);
    expect(
        &mut p,
        "+ configuration.client.host=query-a.new.example.com",
    );
    // End of input (Ctrl-D in a list): the answers are kept again, exit 12.
    expect(&mut p, "[2/8] dh-query-1.old.example.com");
    expect(&mut p, "dh-query-1.old.example.com becomes");
    send_until(&mut p, CTRL_D, "error: input ended before the wizard finished; the answers so far are kept in mapping.yaml.partial (run the wizard again to resume); nothing was written to mapping.yaml");
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(&p), WaitStatus::Exited(p.get_process().pid(), 12));
    assert_eq!(files_in(dir.path()), ["mapping.yaml.partial"]);

    // Resumed once more and finished: the mapping holds the kept answer, the partial
    // file is gone.
    let mut p = spawn(dir.path(), &[]);
    expect(&mut p, "Resume?");
    p.send(ENTER).unwrap();
    for k in 1..=8 {
        expect(&mut p, &format!("[{k}/8] "));
        expect(&mut p, " becomes");
        p.send(ENTER).unwrap();
    }
    expect(&mut p, "Save the mapping?");
    p.send(ENTER).unwrap();
    expect(&mut p, "wrote mapping.yaml");
    expect(&mut p, "Run one now?");
    p.send(ENTER).unwrap();
    p.expect(Eof).unwrap();
    assert_eq!(files_in(dir.path()), ["mapping.yaml"]);
    let written = std::fs::read_to_string(dir.path().join("mapping.yaml")).unwrap();
    assert!(written.contains(&format!("  {DEPARTED}")), "{written}");
}

#[test]
fn starting_afresh_replaces_the_kept_answers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mapping.yaml.partial"),
        format!("version: 1\nhosts:\n  {DEPARTED}keep: []\n"),
    )
    .unwrap();
    let mut p = spawn(dir.path(), &[]);
    expect(&mut p, "Resume?");
    p.send(format!("{DOWN}{ENTER}")).unwrap();
    // The suggestion is pre-selected again, not the kept answer.
    answer(&mut p, 1, "dh-infra-1.old.example.com", ENTER);
    expect(
        &mut p,
        "+ configuration.client.host=infra-a.new.example.com",
    );
    expect(&mut p, "[2/8] dh-query-1.old.example.com");
    p.send(CTRL_C).unwrap();
    p.expect(Eof).unwrap();
    let partial = std::fs::read_to_string(dir.path().join("mapping.yaml.partial")).unwrap();
    assert!(
        partial.contains("  dh-infra-1.old.example.com: infra-a.new.example.com\n"),
        "{partial}"
    );
    assert!(!partial.contains(DEPARTED), "{partial}");
}

#[test]
fn home_end_page_up_and_page_down_move_in_lists() {
    // The list for question 1: infra-a (suggested, first) ... "split it by role" (last).
    // Each key sequence ends on an entry it could not reach if a key were ignored.
    for (keys, then) in [
        (
            END.to_string(),
            "default (places without a role; empty: none)",
        ),
        (
            PAGE_DOWN.to_string(),
            "default (places without a role; empty: none)",
        ),
        (
            format!("{END}{HOME}"),
            "+ configuration.client.host=infra-a.new.example.com",
        ),
        (
            format!("{END}{PAGE_UP}"),
            "+ configuration.client.host=infra-a.new.example.com",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut p = spawn(dir.path(), &[]);
        answer(
            &mut p,
            1,
            "dh-infra-1.old.example.com",
            &format!("{keys}{ENTER}"),
        );
        expect(&mut p, then);
        p.send(CTRL_C).unwrap();
        p.expect(Eof).unwrap();
    }
}
