//! The end of a plan, through the real binary on the fixtures: the restart step (order,
//! exact commands, reasons, the user from the new cluster's cluster.cnf, nodes derived from
//! the mapping when the target has no cluster.cnf, `--cluster-cnf`), the etcd snapshot
//! advice, and `mapping suggest` getting every fixture pair right.

use dh_migrate::mapping::{Mapping, Target};
use dh_migrate::roles::Role;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support;
// Runs the binary in a folder with a cleared environment (HOME is that folder).
use support::fs::{copy_dir, listing};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    crate::support::cli::run(dir, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The text from the line starting with `from` to the end (or to the line starting with
/// `to`).
fn section<'a>(text: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in:\n{text}"));
    let rest = &text[start..];
    match to.and_then(|t| rest.find(t)) {
        Some(end) => &rest[..end],
        None => rest,
    }
}

fn plan(dir: &Path, target: &str, extra: &[&str]) -> String {
    let f = fixtures();
    let bundle = f.join("old-cluster");
    let mapping = f.join("mapping.yaml");
    let mut args = vec![
        "plan",
        bundle.to_str().unwrap(),
        "--target",
        target,
        "--mapping",
        mapping.to_str().unwrap(),
        "--diff",
        "none",
    ];
    args.extend_from_slice(extra);
    let before = listing(dir);
    let out = run(dir, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        listing(dir),
        before,
        "plan without --emit/--out writes nothing"
    );
    stdout(&out)
}

#[test]
fn restart_step_puts_infra_first_with_exact_commands_and_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let target = fixtures().join("new-cluster");
    // With the v1 layout (one key per item), apply writes the bundle's PQs, new ones too.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/etcd-layout-v1.yaml");
    let text = plan(
        tmp.path(),
        target.to_str().unwrap(),
        &["--layout", v1.to_str().unwrap()],
    );
    let restart = section(&text, "Restart step:", Some("etcd snapshot:"));
    // Hand-written from the fixtures: infra-a is the only infra node; the DIS node
    // receives the per-node tailer file of dh-query-1; PQ definitions change.
    let expected_head = "\
Restart step: run on each node, in this order (infra nodes first):
  1. infra-a.new.example.com (infra, etcd)
";
    assert!(restart.starts_with(expected_head), "{restart}");
    let infra = section(restart, "  1. infra-a", Some("  2. "));
    assert!(
        infra.contains("why: persistent-query definitions changed"),
        "{infra}"
    );
    let commands: Vec<&str> = infra
        .lines()
        .filter(|l| l.trim_start().starts_with("$ "))
        .collect();
    assert_eq!(
        commands,
        vec![
            "     $ sudo -u irisadmin /usr/illumon/latest/bin/dh_monit restart all",
            "     $ sudo -u irisadmin /usr/illumon/latest/bin/dh_monit up --block",
            "     $ sudo -u irisadmin /usr/illumon/latest/bin/dhconfig pq reload",
        ]
    );
    let dis = section(restart, "  2. ", Some("  3. "));
    assert!(
        dis.starts_with("  2. ingest-a.new.example.com (dis)"),
        "{dis}"
    );
    assert!(
        dis.contains("nodes/dh-query-1.old.example.com/files/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml"),
        "{dis}"
    );
    assert!(
        !dis.contains("pq reload") && !dis.contains("up --block"),
        "{dis}"
    );
    // Every one of the five new nodes is named once, and only infra-a reloads PQs.
    for node in ["infra-a", "ingest-a", "query-a", "query-b", "query-c"] {
        assert_eq!(
            restart
                .matches(&format!(". {node}.new.example.com ("))
                .count(),
            1,
            "{node}: {restart}"
        );
    }
    assert_eq!(restart.matches("pq reload").count(), 1);
    assert!(
        infra.contains("why: 17 configuration item(s) changed in etcd"),
        "{infra}"
    );
}

/// With the default layout (v2) the bundle's three PQs are all new on the new cluster:
/// apply does not write them (Deephaven assigns their serials), nor the ACL export (no
/// item of the layout), so the restart step neither counts them nor reloads PQs.
#[test]
fn restart_step_counts_only_what_apply_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let target = fixtures().join("new-cluster");
    let text = plan(tmp.path(), target.to_str().unwrap(), &[]);
    let restart = section(&text, "Restart step:", Some("etcd snapshot:"));
    // 17 items of the v1 layout, less the 3 PQs and the ACL export.
    let infra = section(restart, "  1. infra-a", Some("  2. "));
    assert!(
        infra.contains("why: 13 configuration item(s) changed in etcd"),
        "{infra}"
    );
    assert!(!restart.contains("pq reload"), "{restart}");
    assert!(!restart.contains("persistent-query"), "{restart}");
}

#[test]
fn snapshot_advice_names_the_new_members_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let target = fixtures().join("new-cluster");
    let text = plan(tmp.path(), target.to_str().unwrap(), &[]);
    let advice = section(&text, "etcd snapshot:", None);
    assert!(advice.contains("etcd users, roles and"), "{advice}");
    assert!(advice.contains("runtime keys"), "{advice}");
    assert!(advice.contains("never runs the commands"), "{advice}");
    // The one etcd member of the new cluster (DH_NODE_1_ROLE_ETCD), its peer URL from its IP
    // and DH_ETCD_PEER_PORT, the token from DH_ETCD_TOKEN.
    assert!(
        advice.contains(
            "[infra-a.new.example.com] etcdctl snapshot restore snapshot.db --name infra-a \
--initial-cluster infra-a=https://10.20.0.11:2380 --initial-cluster-token prod-new-etcd-0b44e6d1 \
--initial-advertise-peer-urls https://10.20.0.11:2380 --data-dir /var/lib/etcd/restored-infra-a"
        ),
        "{advice}"
    );
}

#[test]
fn without_a_cluster_cnf_the_nodes_come_from_the_mapping_and_cluster_cnf_restores_them() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    copy_dir(&fixtures().join("new-cluster"), &target);
    fs::remove_file(target.join("cluster/cluster.cnf")).unwrap();
    let work = tmp.path().join("work");
    fs::create_dir(&work).unwrap();
    let text = plan(&work, target.to_str().unwrap(), &[]);
    let restart = section(&text, "Restart step:", Some("etcd snapshot:"));
    // From the mapping: dh-infra-1 (infra, etcd) -> infra-a; dh-query-1 (query, dis) splits:
    // dis -> ingest-a, the rest -> query-a; dh-query-2 -> query-b; dh-query-10 (query, merge)
    // -> query-c. Without DH_MONIT_USER the user is irisadmin.
    for line in [
        "  1. infra-a.new.example.com (infra, etcd)",
        "  2. ingest-a.new.example.com (dis)",
        "  3. query-c.new.example.com (query, merge)",
        "  4. query-a.new.example.com (query)",
        "  5. query-b.new.example.com (query)",
    ] {
        assert!(restart.contains(line), "missing `{line}` in:\n{restart}");
    }
    // The etcd member and its new IP come from the mapping too.
    assert!(
        text.contains("--initial-advertise-peer-urls https://10.20.0.11:2380"),
        "{text}"
    );

    // --cluster-cnf with another admin user: its DH_MONIT_USER runs dh_monit.
    let cnf = tmp.path().join("cluster.cnf");
    let original = fs::read_to_string(fixtures().join("new-cluster/cluster/cluster.cnf")).unwrap();
    fs::write(
        &cnf,
        original.replace("DH_MONIT_USER=\"irisadmin\"", "DH_MONIT_USER=\"dhadmin\""),
    )
    .unwrap();
    let text = plan(
        &work,
        target.to_str().unwrap(),
        &["--cluster-cnf", cnf.to_str().unwrap()],
    );
    assert!(
        text.contains("$ sudo -u dhadmin /usr/illumon/latest/bin/dh_monit restart all"),
        "{text}"
    );
    assert!(!text.contains("sudo -u irisadmin"), "{text}");
}

#[test]
fn mapping_suggest_gets_every_fixture_pair_right() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    let out = run(
        tmp.path(),
        &[
            "mapping",
            "suggest",
            f.join("old-cluster.tar.gz").to_str().unwrap(),
            "--target",
            f.join("new-cluster").to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suggested = Mapping::parse("suggested", &stdout(&out)).unwrap();
    let expected = Mapping::parse(
        "fixtures/mapping.yaml",
        &fs::read_to_string(f.join("mapping.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        suggested.hosts.len(),
        expected.hosts.len(),
        "{}",
        stdout(&out)
    );
    for rule in &expected.hosts {
        let got = suggested
            .rule(&rule.old)
            .unwrap_or_else(|| panic!("no suggestion for {}", rule.old));
        let values = |t: &Target| -> Vec<(Option<Role>, String)> {
            [
                None,
                Some(Role::Infra),
                Some(Role::Query),
                Some(Role::Merge),
                Some(Role::Dis),
                Some(Role::Etcd),
            ]
            .into_iter()
            .map(|r| {
                (
                    r,
                    t.for_role(r).map(|h| h.value.clone()).unwrap_or_default(),
                )
            })
            .collect()
        };
        assert_eq!(values(&got.target), values(&rule.target), "{}", rule.old);
    }
    // Every pair carries its evidence as comments.
    assert!(stdout(&out).contains("# evidence: iris-endpoints.prop: same key dis.host.db_dis -> ingest-a.new.example.com (dis)"));
    // A suggestion is a complete plan on the fixtures.
    fs::write(tmp.path().join("suggested.yaml"), stdout(&out)).unwrap();
    let out = run(
        tmp.path(),
        &[
            "plan",
            f.join("old-cluster").to_str().unwrap(),
            "--target",
            f.join("new-cluster").to_str().unwrap(),
            "--mapping",
            "suggested.yaml",
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
}
