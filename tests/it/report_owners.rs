//! Node files after `apply --files-out`: `OWNERS.tsv` carries each file's owner and group
//! names and mode as the bundle has them (tar headers; a directory bundle's stat, named by
//! the local user and group databases) or says `unknown`, and the apply output prints, per
//! new node, the copy step (`rsync -a`, then `install -D -m ... -o ... -g ...`) before the
//! restart step. Real etcd; the bundle is `tests/report-golden/` (one node file,
//! `tailerConfig.xml`, for `infra-a.new.example.com`).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::etcd::EtcdServer;
use crate::support::fs::copy_dir;

const NODE_FILE: &str = "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml";
const DEST: &str = "/etc/sysconfig/illumon.d/resources/tailerConfig.xml";

fn case_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report-golden")
}

/// Applies `bundle` into a fresh etcd with `--files-out out`; returns stdout.
fn apply(d: &Path, bundle: &str) -> String {
    let etcd = EtcdServer::start();
    let cnf = case_dir().join("target/cluster/cluster.cnf");
    let out = super::report_golden::dh(d)
        .args(["apply", bundle, "--endpoints", &etcd.endpoint()])
        .arg("--mapping")
        .arg(case_dir().join("mapping.yaml"))
        .arg("--cluster-cnf")
        .arg(&cnf)
        .args(["--yes", "--diff", "none", "--files-out", "out"])
        .args(["--run-record", "run.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Owner and group names and ids for a tar entry.
type Owner<'a> = Option<(&'a str, &'a str, u64, u64)>;

/// `d/bundle.tar` from files of the case's bundle, each with its mode and (when given)
/// owner; headers made by `header` (the owner fields of one without an owner stay empty).
fn write_tar(d: &Path, header: fn() -> tar::Header, entries: &[(&str, u32, Owner<'_>)]) {
    let src = case_dir().join("bundle");
    let mut builder = tar::Builder::new(fs::File::create(d.join("bundle.tar")).unwrap());
    for (path, mode, owner) in entries {
        let data = fs::read(src.join(path)).unwrap();
        let mut h = header();
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(*mode);
        if let Some((u, g, uid, gid)) = owner {
            h.set_username(u).unwrap();
            h.set_groupname(g).unwrap();
            h.set_uid(*uid);
            h.set_gid(*gid);
        }
        builder.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap();
}

/// The data lines of OWNERS.tsv.
fn owners(d: &Path) -> Vec<String> {
    fs::read_to_string(d.join("out/OWNERS.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The copy step comes before the restart step and installs with owner, group and mode.
fn assert_copy_step(stdout: &str, install_opts: &str) {
    let copy = stdout
        .find("Copy step: before restarting, put each node's files in place (written to out; apply never puts them into etcd):\n")
        .unwrap_or_else(|| panic!("no copy step:\n{stdout}"));
    let restart = stdout.find("Restart step:").unwrap();
    assert!(copy < restart, "{stdout}");
    let want = format!(
        "  1. infra-a.new.example.com (1 file(s))\n     $ rsync -a out/infra-a.new.example.com/ infra-a.new.example.com:/tmp/dh-migrate-files/\n     then on infra-a.new.example.com:\n     $ sudo install -D -m 0640 {install_opts}/tmp/dh-migrate-files{DEST} {DEST}\n"
    );
    assert!(stdout[copy..restart].contains(&want), "{stdout}");
}

#[test]
fn owners_from_a_tar_bundle_come_from_its_headers_and_unknown_where_it_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_tar(
        d,
        tar::Header::new_ustar,
        &[
            ("cluster/cluster.cnf", 0o644, None),
            ("config/pq/Refresh.xml", 0o644, None),
            ("config/props/iris-environment.prop", 0o644, None),
            ("config/props/site-overrides.prop", 0o644, None),
            (NODE_FILE, 0o640, Some(("irisadmin", "dbmerge", 9000, 9001))),
        ],
    );

    let stdout = apply(d, "bundle.tar");
    assert_eq!(
        owners(d),
        vec![format!(
            "infra-a.new.example.com\t{DEST}\t0640\tirisadmin\tdbmerge\t9000\t9001"
        )]
    );
    assert_copy_step(&stdout, "-o irisadmin -g dbmerge ");
    let mode = fs::metadata(d.join(format!("out/infra-a.new.example.com{DEST}")))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn owners_from_a_tar_without_names_say_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_tar(
        d,
        tar::Header::new_gnu,
        &[
            (NODE_FILE, 0o640, None),
            ("cluster/cluster.cnf", 0o644, None),
            ("config/props/iris-environment.prop", 0o644, None),
        ],
    );
    let stdout = apply(d, "bundle.tar");
    // The headers' owner fields were never filled in: neither names nor ids.
    assert_eq!(
        owners(d),
        vec![format!(
            "infra-a.new.example.com\t{DEST}\t0640\tunknown\tunknown\tunknown\tunknown"
        )]
    );
    assert!(stdout.contains(&format!(
        "     $ sudo install -D -m 0640 /tmp/dh-migrate-files{DEST} {DEST}   # owner/group unknown in the bundle: set them by hand\n"
    )));
}

/// A name from `id` (an independent reading of the local user database).
fn id(flag: &str) -> String {
    let out = std::process::Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn owners_from_a_directory_bundle_come_from_its_stat_and_the_local_names() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_dir(&case_dir().join("bundle"), &d.join("bundle"));
    let node_file = d.join("bundle").join(NODE_FILE);
    fs::set_permissions(&node_file, fs::Permissions::from_mode(0o640)).unwrap();
    let meta = fs::metadata(&node_file).unwrap();
    // The files belong to whoever runs the test; `id` names that user and group.
    assert_eq!(meta.uid().to_string(), id("-u"));
    let stdout = apply(d, "bundle");
    let (user, group) = (id("-un"), id("-gn"));
    assert_eq!(
        owners(d),
        vec![format!(
            "infra-a.new.example.com\t{DEST}\t0640\t{user}\t{group}\t{}\t{}",
            meta.uid(),
            meta.gid()
        )]
    );
    assert_copy_step(&stdout, &format!("-o {user} -g {group} "));
}
