//! `dh-migrate plan` through the real binary: every way a plan fails (exit code, the place
//! named as `file:line:col`, and nothing written anywhere), `--emit` refusing a non-empty
//! folder, `--dry-run`, and the saved plan of `--out`. Also the library-level byte-fidelity
//! property: migrating with an empty mapping changes no byte.

use dh_migrate::bundle::Bundle;
use dh_migrate::contexts::RoleContexts;
use dh_migrate::mapping::Mapping;
use dh_migrate::migrate::migrate;
use dh_migrate::tree::ConfigTree;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;

use crate::support;
// Runs the binary in a folder with a cleared environment (HOME is that folder).
use support::fs::listing;

const OLD_CNF: &str = "\
# Old cluster: dh-query-1 runs query workers and the DIS.
DH_CLUSTER_NAME=\"plan-old\"
DH_NODE_1_NAME=\"dh-infra-1.old.example.com\"
DH_NODE_1_IP=\"10.1.2.11\"
DH_NODE_1_ROLE_INFRA=\"true\"
DH_NODE_2_NAME=\"dh-query-1.old.example.com\"
DH_NODE_2_IP=\"10.1.2.21\"
DH_NODE_2_ROLE_QUERY=\"true\"
DH_NODE_2_ROLE_DIS=\"true\"
";

const NEW_CNF: &str = "\
# New cluster: the DIS has its own node.
DH_CLUSTER_NAME=\"plan-new\"
DH_NODE_1_NAME=\"infra-a.new.example.com\"
DH_NODE_1_IP=\"10.20.0.11\"
DH_NODE_1_ROLE_INFRA=\"true\"
DH_NODE_2_NAME=\"query-a.new.example.com\"
DH_NODE_2_IP=\"10.20.0.21\"
DH_NODE_2_ROLE_QUERY=\"true\"
DH_NODE_3_NAME=\"ingest-a.new.example.com\"
DH_NODE_3_IP=\"10.20.0.31\"
DH_NODE_3_ROLE_DIS=\"true\"
";

/// The complete mapping: dh-query-1 splits (queries stay on query-a, the DIS moves).
const MAPPING: &str = "\
version: 1
hosts:
  dh-infra-1.old.example.com: infra-a.new.example.com
  10.1.2.11: 10.20.0.11
  dh-query-1.old.example.com:
    default: query-a.new.example.com
    roles:
      dis: ingest-a.new.example.com
  10.1.2.21:
    default: 10.20.0.21
    roles:
      dis: 10.20.0.31
";

const GOOD_PROPS: &str = "\
# Success case: dh-query-1 runs queries; its DIS moved.
q.host=dh-query-1.old.example.com
[service.name=db_dis] {
    d.host=dh-query-1.old.example.com
    d.address=10.1.2.21
}
infra.url=https://dh-infra-1.old.example.com:8000/
";

/// GOOD_PROPS migrated with MAPPING, written by hand.
const GOOD_PROPS_AFTER: &str = "\
# Success case: query-a runs queries; its DIS moved.
q.host=query-a.new.example.com
[service.name=db_dis] {
    d.host=ingest-a.new.example.com
    d.address=10.20.0.31
}
infra.url=https://infra-a.new.example.com:8000/
";

const GOOD_ROUTING: &str = "\
dataImportServers:
  db_dis:
    host: dh-query-1.old.example.com
    tailerPort: 22021
";

const GOOD_ROUTING_AFTER: &str = "\
dataImportServers:
  db_dis:
    host: ingest-a.new.example.com
    tailerPort: 22021
";

/// A temp dir holding `bundle/` (cluster.cnf plus the given props and routing files),
/// `target/` (the new cluster.cnf) and `mapping.yaml`.
fn setup(props: Option<&str>, routing: Option<&str>, mapping: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    write("bundle/cluster/cluster.cnf", OLD_CNF);
    if let Some(p) = props {
        write("bundle/config/props/iris-environment.prop", p);
    }
    if let Some(r) = routing {
        write("bundle/config/routing/routing.yaml", r);
    }
    write("target/cluster/cluster.cnf", NEW_CNF);
    write("mapping.yaml", mapping);
    tmp
}

/// Runs `dh-migrate` in `dir` with a cleared environment (HOME is `dir` itself, so
/// anything written there shows in the listing).
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    crate::support::cli::run(dir, args)
}

const PLAN_ALL: &[&str] = &[
    "plan",
    "bundle",
    "--target",
    "target",
    "--mapping",
    "mapping.yaml",
    "--emit",
    "emitted",
    "--out",
    "plan.json",
    "--diff",
    "none",
];

/// Runs a plan that must fail with `code`, with every `expected` line in stderr, nothing
/// on stdout, and nothing written: the temp dir is exactly as before.
fn assert_fails(tmp: &tempfile::TempDir, code: i32, expected: &[&str]) -> String {
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN_ALL);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
    for e in expected {
        assert!(stderr.contains(e), "stderr lacks {e:?}; stderr:\n{stderr}");
    }
    assert!(!tmp.path().join("emitted").exists());
    assert!(!tmp.path().join("plan.json").exists());
    assert_eq!(listing(tmp.path()), before, "the temp dir changed");
    stderr
}

#[test]
fn unresolved_reference_fails_with_6_naming_its_place() {
    let mapping = "\
version: 1
hosts:
  dh-infra-1.old.example.com: infra-a.new.example.com
  10.1.2.11: 10.20.0.11
";
    let props = "\
# Unresolved: the mapping lacks dh-query-1.
a.host=dh-infra-1.old.example.com
b.host=dh-query-1.old.example.com:22013
";
    let tmp = setup(Some(props), None, mapping);
    let stderr = assert_fails(
        &tmp,
        6,
        &[
            // Grouped per old node: one line with the count and the places.
            "error: the plan is incomplete, nothing was written: 1 problem(s)\n",
            "\n  dh-query-1.old.example.com: 2 reference(s) name this old node but are neither mapped nor kept: config/props/iris-environment.prop:1:33 `dh-query-1` (comment); config/props/iris-environment.prop:3:8 `dh-query-1.old.example.com` (property b.host)\n",
        ],
    );
    // The mapped host is not a problem.
    assert!(!stderr.contains("dh-infra-1"), "{stderr}");
}

#[test]
fn split_host_in_a_scope_naming_two_roles_is_ambiguous() {
    let props = "\
[service.name=db_query_server|db_dis] {
    shared.host=dh-query-1.old.example.com
}
";
    let tmp = setup(Some(props), None, MAPPING);
    assert_fails(
        &tmp,
        6,
        &[
            "1 problem(s)",
            "config/props/iris-environment.prop:2:17: `dh-query-1.old.example.com`",
            "ambiguous",
            "(query -> query-a.new.example.com, dis -> ingest-a.new.example.com)",
        ],
    );
}

#[test]
fn anchor_aliased_from_dis_and_a_role_less_path_is_ambiguous() {
    let routing = "\
anchors:
  - &split-host dh-query-1.old.example.com
dataImportServers:
  db_dis:
    host: *split-host
tableDataServices:
  db_rqs_users:
    host: *split-host
";
    let tmp = setup(None, Some(routing), MAPPING);
    assert_fails(
        &tmp,
        6,
        &[
            "1 problem(s)",
            "config/routing/routing.yaml:2:17: `dh-query-1.old.example.com`",
            "ambiguous",
            "(default -> query-a.new.example.com, dis -> ingest-a.new.example.com)",
        ],
    );
}

#[test]
fn role_without_value_and_no_default_fails_with_6() {
    let mapping = "\
version: 1
hosts:
  dh-query-1.old.example.com:
    roles:
      dis: ingest-a.new.example.com
";
    let props = "\
top.host=dh-query-1.old.example.com
[service.name=db_query_server] {
    q.host=dh-query-1.old.example.com
}
[service.name=db_dis] {
    d.host=dh-query-1.old.example.com
}
";
    let tmp = setup(Some(props), None, mapping);
    let stderr = assert_fails(
        &tmp,
        6,
        &[
            "2 problem(s)",
            "config/props/iris-environment.prop:1:10: `dh-query-1.old.example.com` (property top.host): no role decides this place and the node has no `default`",
            "config/props/iris-environment.prop:3:12: `dh-query-1.old.example.com`",
            "role query has no new host and the node has no `default`",
        ],
    );
    // The dis reference has its value.
    assert!(!stderr.contains(":6:12"), "{stderr}");
}

/// Each invalid mapping fails with 5 and its place in the mapping file, before anything.
#[test]
fn invalid_mappings_fail_with_5_naming_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "version: 1\nhosts:\n  dh-infra-1.old.example.com: infra-a.new.example.com\nkept:\n  - ldap.corp.example.com\n",
            "error: mapping.yaml:4:1: unknown key `kept` (expected `version`, `hosts`, `keep`, `merge` or `carry-binary`)",
        ),
        (
            "version: 1\nhosts:\n  dh-query-1.old.example.com:\n    defualt: query-a.new.example.com\n",
            "error: mapping.yaml:4:5: unknown key `defualt` (expected `default` or `roles`)",
        ),
        (
            "version: 1\nhosts:\n  dh-query-1.old.example.com: query-a.new.example.com\n  10.1.2.21: 10.20.0.21\n  DH-Query-1.Old.Example.com: query-b.new.example.com\n",
            "error: mapping.yaml:5:3: old host `DH-Query-1.Old.Example.com` is listed twice (first on line 3)",
        ),
        (
            "version: 1\nhosts:\n  dh-query-1.old.example.com:\n    default: query-a.new.example.com\n    roles:\n      ingest: ingest-a.new.example.com\n",
            "error: mapping.yaml:6:7: unknown role `ingest`",
        ),
        (
            "version: 1\nhosts:\n  dh-query-1.old.example.com: query_a.new.example.com\n",
            "error: mapping.yaml:3:31: new value `query_a.new.example.com` is not a valid host name or IPv4 address",
        ),
        (
            "version: 1\nhosts:\n  10.1.2.21: 10.20.0.999\n",
            "error: mapping.yaml:3:14: new value `10.20.0.999` is not a valid host name or IPv4 address",
        ),
    ];
    for (mapping, expected) in cases {
        let tmp = setup(Some(GOOD_PROPS), None, mapping);
        let stderr = assert_fails(&tmp, 5, &[expected]);
        assert!(
            stderr.starts_with(expected),
            "mapping:\n{mapping}\nstderr:\n{stderr}"
        );
    }
}

/// Kept and mapped (case-insensitively): the error points at the `keep:` entry itself
/// (line 6, column 5, where the host starts), like every other mapping error.
#[test]
fn kept_and_mapped_host_fails_with_5_naming_the_keep_entry() {
    let mapping = "\
version: 1
hosts:
  dh-query-1.old.example.com: query-a.new.example.com
keep:
  - ldap.corp.example.com
  - DH-QUERY-1.OLD.EXAMPLE.COM
";
    let tmp = setup(Some(GOOD_PROPS), None, mapping);
    let stderr = assert_fails(&tmp, 5, &["is both kept and mapped (mapped on line 3)"]);
    assert!(
        stderr.starts_with(
            "error: mapping.yaml:6:5: `DH-QUERY-1.OLD.EXAMPLE.COM` is both kept and mapped"
        ),
        "{stderr}"
    );
}

#[test]
fn mapping_key_naming_no_host_of_the_bundle_fails_with_6_naming_the_line() {
    let mapping = format!("{MAPPING}  dh-query-9.old.example.com: query-z.new.example.com\n");
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), &mapping);
    assert_fails(
        &tmp,
        6,
        &[
            "1 problem(s)",
            "\n  mapping.yaml:13: `dh-query-9.old.example.com` names no host of the bundle",
        ],
    );
}

#[test]
fn emit_into_a_non_empty_folder_fails_with_13_and_changes_nothing() {
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), MAPPING);
    fs::create_dir(tmp.path().join("emitted")).unwrap();
    fs::write(tmp.path().join("emitted/notes.txt"), "keep me\n").unwrap();
    let before = listing(tmp.path());
    let out = run(tmp.path(), PLAN_ALL);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(13), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
    assert!(
        stderr.starts_with("error: emitted already exists and is not empty"),
        "{stderr}"
    );
    assert_eq!(listing(tmp.path()), before);
    assert!(!tmp.path().join("plan.json").exists());
}

#[test]
fn dry_run_with_emit_and_out_says_so_and_writes_nothing() {
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), MAPPING);
    let before = listing(tmp.path());
    let mut args = PLAN_ALL.to_vec();
    args.push("--dry-run");
    let out = run(tmp.path(), &args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("Plan: bundle -> target\nMapping: mapping.yaml\n"),
        "{stdout}"
    );
    // Two migrated files and the manifest.
    assert_eq!(
        stderr,
        "dry run: would write 3 file(s) to emitted; nothing was written\n\
         dry run: would write the saved plan to plan.json; nothing was written\n"
    );
    assert_eq!(listing(tmp.path()), before);
}

/// The bundle hash as the saved plan defines it: SHA-256 over every bundle file, in path
/// order, of its path, a zero byte and the SHA-256 of its content.
fn bundle_hash(files: &[(&str, &str)]) -> String {
    let mut sorted = files.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    for (path, content) in sorted {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(content.as_bytes()));
    }
    hex::encode(h.finalize())
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn out_writes_a_saved_plan_binding_the_bundle_hash() {
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), MAPPING);
    let before = listing(tmp.path());
    let out = run(
        tmp.path(),
        &[
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
            "--out",
            "plan.json",
            "--diff",
            "none",
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "wrote the saved plan to plan.json\n");
    // Exactly one new file.
    let mut after = listing(tmp.path());
    let plan = after.remove("plan.json").flatten().expect("plan.json");
    assert_eq!(after, before);
    let plan: serde_json::Value = serde_json::from_slice(&plan).unwrap();
    assert_eq!(plan["schema"], "dh-migrate/plan/v1");
    // Recorded absolute (issue 8), so `apply --plan` works from any directory.
    assert_eq!(
        plan["bundle"],
        tmp.path().join("bundle").display().to_string().as_str()
    );
    assert_eq!(
        plan["bundle_sha256"],
        bundle_hash(&[
            ("cluster/cluster.cnf", OLD_CNF),
            ("config/props/iris-environment.prop", GOOD_PROPS),
            ("config/routing/routing.yaml", GOOD_ROUTING),
        ])
        .as_str()
    );
    assert_eq!(
        plan["mapping"],
        tmp.path()
            .join("mapping.yaml")
            .display()
            .to_string()
            .as_str()
    );
    assert_eq!(plan["mapping_sha256"], sha(MAPPING).as_str());
    let items = plan["items"].as_array().unwrap();
    let items: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap(),
                i["before_sha256"].as_str().unwrap(),
                i["after_sha256"].as_str().unwrap(),
            )
        })
        .collect();
    let (p_before, p_after) = (sha(GOOD_PROPS), sha(GOOD_PROPS_AFTER));
    let (r_before, r_after) = (sha(GOOD_ROUTING), sha(GOOD_ROUTING_AFTER));
    assert_eq!(
        items,
        vec![
            (
                "config/props/iris-environment.prop",
                p_before.as_str(),
                p_after.as_str()
            ),
            (
                "config/routing/routing.yaml",
                r_before.as_str(),
                r_after.as_str()
            ),
        ]
    );
}

#[test]
fn emit_writes_the_hand_migrated_files() {
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), MAPPING);
    let out = run(
        tmp.path(),
        &[
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
            "--emit",
            "emitted",
            "--diff",
            "none",
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "wrote the migrated tree to emitted (3 files)\n");
    let e = tmp.path().join("emitted");
    assert_eq!(
        fs::read_to_string(e.join("config/props/iris-environment.prop")).unwrap(),
        GOOD_PROPS_AFTER
    );
    assert_eq!(
        fs::read_to_string(e.join("config/routing/routing.yaml")).unwrap(),
        GOOD_ROUTING_AFTER
    );
    assert_eq!(
        fs::read_to_string(e.join("MANIFEST.sha256")).unwrap(),
        format!(
            "{}  config/props/iris-environment.prop\n{}  config/routing/routing.yaml\n",
            sha(GOOD_PROPS_AFTER),
            sha(GOOD_ROUTING_AFTER)
        )
    );
}

#[test]
fn empty_mapping_changes_no_byte_of_the_fixture_bundle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/old-cluster");
    let bundle = Bundle::open(&root).unwrap();
    let tree = ConfigTree::from_bundle(&bundle).unwrap();
    let m = migrate(&tree, &Mapping::default(), &RoleContexts::builtin()).unwrap();
    // The 21 migrated files of the fixture (see tests/golden.rs, FIXTURE_MIGRATED).
    assert_eq!(m.files.len(), 21);
    for f in m.files.values() {
        assert!(f.after == f.before, "{} changed", f.path);
        let on_disk = fs::read_to_string(root.join(&f.path)).unwrap();
        assert!(*f.before == *on_disk, "{} is not the file's bytes", f.path);
    }
    // Nothing is mapped, so every reference is a problem, and none was rewritten.
    assert!(!m.is_complete());
    assert_eq!(m.rewrites().count(), 0);
}

#[test]
fn plan_json_is_one_schema_valid_document_with_summary_changes_and_restart_step() {
    let tmp = setup(Some(GOOD_PROPS), Some(GOOD_ROUTING), MAPPING);
    let before = listing(tmp.path());
    let out = run(
        tmp.path(),
        &[
            "plan",
            "bundle",
            "--target",
            "target",
            "--mapping",
            "mapping.yaml",
            "--format",
            "json",
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        listing(tmp.path()),
        before,
        "plan --format json writes nothing"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::support::fs::assert_schema_valid("docs/plan.schema.json", &doc);
    assert_eq!(doc["schema"], "dh-migrate/plan-output/v1");
    assert_eq!(doc["bundle"], "bundle");
    assert_eq!(doc["mapping"], "mapping.yaml");
    let changes = doc["changes"].as_array().unwrap();
    let paths: Vec<&str> = changes
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"config/props/iris-environment.prop"),
        "{paths:?}"
    );
    assert!(doc["summary"]["references_rewritten"].as_u64().unwrap() > 0);
    assert!(doc["restart"].is_array());
}
