//! `dh-migrate backup` through the real binary: a real etcd 3.4 loaded with the fixture
//! old cluster's configuration items (at their templates/etcd-layout-v1.yaml keys: these
//! tests are about backup and restore themselves, one key per item, and every command
//! that takes `--layout` gets that file explicitly, see [`with_v1`]; so they also show
//! that layout v1 files keep working), a
//! file-system root and a database root built in temporary folders, and a real MariaDB
//! for the ACL dump.
//!
//! What the bundle must hold is checked independently of the tool: etcd's values through
//! `etcdctl get -w json`, the snapshot through `etcdctl snapshot status` and its own
//! SHA-256 trailer, the files against the tree they were copied from, the dump by
//! loading it into an empty MariaDB. "Nothing that looks like a bundle" is checked by
//! listing the destination: after a failure it holds at most the lock file.

use crate::support;
use crate::support::cli::Run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use support::{free_port, EtcdServer};

const OLD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/old-cluster");
const NEW_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/new-cluster");
const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mapping.yaml");
const LOCK: &str = ".dh-migrate-backup.lock";
const LAYOUT_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/etcd-layout-v1.yaml");

/// `args` with `--layout templates/etcd-layout-v1.yaml` when the command reads etcd
/// items through a layout (a backup only when it talks to etcd).
fn with_v1<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    let layout_command = match args.first() {
        Some(&"backup") => args.contains(&"--endpoints"),
        Some(&("restore" | "plan" | "report" | "apply" | "rollback" | "export")) => true,
        _ => false,
    };
    if layout_command {
        v.extend(["--layout", LAYOUT_V1]);
    }
    v
}

/// A scratch area: cwd, HOME, the backup folder, a files root and a db root.
struct Work {
    tmp: tempfile::TempDir,
    cwd: PathBuf,
    home: PathBuf,
    out: PathBuf,
    files_root: PathBuf,
    db_root: PathBuf,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let [cwd, home, out, files_root, db_root] =
            ["cwd", "home", "out", "root", "db"].map(|d| tmp.path().join(d));
        for d in [&cwd, &home, &files_root, &db_root] {
            std::fs::create_dir(d).unwrap();
        }
        Work {
            tmp,
            cwd,
            home,
            out,
            files_root,
            db_root,
        }
    }

    /// The fixture's per-node files, plus a key file (0600) and things never copied: the
    /// backups folder, an etcd data directory, a link.
    fn with_node_files(self) -> Work {
        support::fs::copy_dir(
            &Path::new(OLD_DIR).join("files/etc"),
            &self.files_root.join("etc"),
        );
        let dh = self.files_root.join("etc/sysconfig/deephaven");
        write_mode(&dh.join("auth/priv-test.base64.txt"), b"c2VjcmV0\n", 0o600);
        write_mode(&dh.join("backups/system/old/x"), b"an older backup", 0o644);
        write_mode(&dh.join("etcd/data/member/wal/0.wal"), b"wal", 0o600);
        std::os::unix::fs::symlink("/etc/hostname", dh.join("hostname-link")).unwrap();
        self
    }

    /// WorkspaceData in the intraday and historical roots, and other DbInternal data and
    /// TempFiles that must not be copied.
    fn with_workspace(self) -> Work {
        let db = &self.db_root;
        for (rel, content) in WORKSPACE {
            write_mode(&db.join(rel), content.as_bytes(), 0o644);
        }
        write_mode(
            &db.join("Intraday/DbInternal/ProcessEventLog/h/2026-12-01/ProcessEventLog/x"),
            b"not copied",
            0o644,
        );
        write_mode(
            &db.join("TempFiles/DbInternal/WorkspaceData/t"),
            b"no",
            0o644,
        );
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs dh-migrate with a cleared environment (PATH, a private HOME, and `env`).
    /// Commands that take a layout get the v1 file ([`with_v1`]).
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, Path::new(*v))).collect();
        let args = with_v1(args);
        Run::from(
            &args,
            support::cli::run_with_env(&self.cwd, &self.home, &env, &args),
        )
    }

    /// `backup -u root` into `out` with the two roots, plus `args`.
    fn backup(&self, endpoint: &str, args: &[&str]) -> Run {
        let mut all = vec![
            "backup",
            "-u",
            "root",
            "-d",
            self.out.to_str().unwrap(),
            "--endpoints",
            endpoint,
            "--files-root",
            self.files_root.to_str().unwrap(),
            "--db-root",
            self.db_root.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `backup -u root -w` (WorkspaceData only: no etcd) into `dir`, plus `args`.
    fn backup_workspace(&self, dir: &Path, args: &[&str]) -> Run {
        let mut all = vec![
            "backup",
            "-u",
            "root",
            "-w",
            "--db-root",
            self.db_root.to_str().unwrap(),
            "-d",
            dir.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Names in the backup folder.
    fn entries(&self) -> Vec<String> {
        entries(&self.out)
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(r) => r
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// After a failure: the folder holds nothing but (perhaps) the lock file.
fn assert_nothing_kept(dir: &Path) {
    let left: Vec<String> = entries(dir).into_iter().filter(|n| n != LOCK).collect();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

const WORKSPACE: [(&str, &str); 3] = [
    (
        "Intraday/DbInternal/WorkspaceData/infra-1/2026-12-02/WorkspaceData/table.size",
        "12\n",
    ),
    (
        "Intraday/DbInternal/WorkspaceData/infra-1/2026-12-02/WorkspaceData/Content.dat",
        "dashboards and notebooks",
    ),
    (
        "Systems/DbInternal/Partitions/0/2026-11-30/WorkspaceData/Content.dat",
        "historical workspaces",
    ),
];

fn write_mode(path: &Path, content: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

trait RunExt {
    fn bundle(&self) -> PathBuf;
}

impl RunExt for Run {
    /// The last stdout line: the new bundle's path.
    fn bundle(&self) -> PathBuf {
        PathBuf::from(self.stdout.lines().last().expect("a path on stdout"))
    }
}

/// The fixture old cluster's configuration items: bundle path -> bytes.
fn fixture_items() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (path, content) in support::fs::listing(&Path::new(OLD_DIR).join("config")) {
        if let Some(content) = content {
            out.insert(format!("config/{path}"), content);
        }
    }
    out
}

/// A real etcd holding the fixture's items at their layout keys, and a runtime key that
/// is no item (only the snapshot carries it).
fn loaded_etcd() -> EtcdServer {
    let server = EtcdServer::start();
    let layout = dh_migrate::layout::Layout::v1();
    for (path, value) in fixture_items() {
        let (key, _) = layout.key_for(&path).expect("a layout key");
        server.put(&key, &value);
    }
    server.put("/deephaven/runtime/leader", b"infra-1");
    server
}

/// etcd's whole keyspace, byte-exact (values base64 in etcdctl's JSON).
fn etcd_values(server: &EtcdServer) -> BTreeMap<String, Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let out = server.etcdctl(&["get", "", "--prefix", "-w", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["kvs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|kv| {
            let key = b64.decode(kv["key"].as_str().unwrap()).unwrap();
            let value = b64.decode(kv["value"].as_str().unwrap_or("")).unwrap();
            (String::from_utf8(key).unwrap(), value)
        })
        .collect()
}

/// Every regular file under `dir` by relative path.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    support::fs::listing(dir)
        .into_iter()
        .filter_map(|(p, c)| c.map(|c| (p, c)))
        .collect()
}

/// The snapshot ends with the SHA-256 of everything before it, as etcd sends it.
fn assert_snapshot_trailer(snapshot: &[u8]) {
    assert_eq!(snapshot.len() % 512, 32, "size {}", snapshot.len());
    let (body, trailer) = snapshot.split_at(snapshot.len() - 32);
    assert_eq!(Sha256::digest(body).as_slice(), trailer);
}

#[test]
fn backup_all_writes_a_bundle_that_inspect_and_plan_read() {
    let server = loaded_etcd();
    let work = Work::new().with_node_files().with_workspace();
    let run = work.backup(&server.endpoint(), &["-a"]).expect(0);
    // Quiet on success: the path, nothing else.
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let bundle = run.bundle();
    let name = bundle.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("dh-migrate-backup-"), "{name}");
    assert_eq!(bundle.parent().unwrap(), work.out);
    assert_eq!(work.entries(), vec![LOCK.to_string(), name.clone()]);
    assert_eq!(mode_of(&bundle), 0o700);

    let mut got = files_of(&bundle);
    // Configuration items: every one, byte for byte as etcd holds them.
    let etcd = etcd_values(&server);
    let layout = dh_migrate::layout::Layout::v1();
    for (path, value) in fixture_items() {
        let (key, _) = layout.key_for(&path).unwrap();
        assert_eq!(etcd[&key], value);
        assert!(
            got.remove(&path).as_deref() == Some(&value[..]),
            "{path} missing or different"
        );
    }
    // The snapshot, with its trailer, readable by etcd's own tool.
    let snapshot = got.remove("etcd/snapshot.db").expect("a snapshot");
    assert_snapshot_trailer(&snapshot);
    let status = server.etcdctl(&[
        "snapshot",
        "status",
        bundle.join("etcd/snapshot.db").to_str().unwrap(),
        "-w",
        "json",
    ]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    // 19 items and the runtime key.
    assert!(status["totalKey"].as_u64().unwrap() >= 20, "{status}");
    // Node files with their modes; never the backups folder, etcd data, or the link.
    let node = |rel: &str| format!("files/etc/sysconfig/{rel}");
    let key = node("deephaven/auth/priv-test.base64.txt");
    assert_eq!(got.remove(&key).unwrap(), b"c2VjcmV0\n");
    assert_eq!(mode_of(&bundle.join(&key)), 0o600);
    for (rel, content) in files_of(&Path::new(OLD_DIR).join("files")) {
        assert_eq!(
            got.remove(&format!("files/{rel}")).as_ref(),
            Some(&content),
            "{rel}"
        );
    }
    for (rel, content) in WORKSPACE {
        assert_eq!(
            got.remove(&format!("workspace/{rel}")).as_deref(),
            Some(content.as_bytes()),
            "{rel}"
        );
    }
    let manifest = String::from_utf8(got.remove("MANIFEST.sha256").unwrap()).unwrap();
    assert!(got.is_empty(), "unexpected files: {:?}", got.keys());
    assert_eq!(manifest.lines().count(), files_of(&bundle).len() - 1);

    let inspect = work.run(&["inspect", bundle.to_str().unwrap()]).expect(0);
    assert!(
        inspect.stdout.contains("every SHA-256 matches"),
        "{}",
        inspect.stdout
    );
    work.run(&[
        "plan",
        bundle.to_str().unwrap(),
        "--target",
        NEW_DIR,
        "--mapping",
        MAPPING,
    ])
    .expect(0);
}

#[test]
fn each_option_alone_takes_only_its_part() {
    let server = loaded_etcd();
    let work = Work::new().with_node_files().with_workspace();
    let cases: [(&str, &[&str]); 7] = [
        ("-e", &["etcd/snapshot.db"]),
        ("-A", &["config/acls/"]),
        ("-p", &["config/pq/"]),
        ("-w", &["workspace/"]),
        ("-s", &["config/schemas/"]),
        ("-P", &["config/props/", "files/"]),
        (
            "-r",
            &["config/routing/routing.yaml", "config/routing/dis/"],
        ),
    ];
    let all = fixture_items();
    for (flag, prefixes) in cases {
        let run = work.backup(&server.endpoint(), &[flag]).expect(0);
        let bundle = run.bundle();
        let got = files_of(&bundle);
        for path in got.keys().filter(|p| *p != "MANIFEST.sha256") {
            assert!(
                prefixes.iter().any(|x| path.starts_with(x)),
                "{flag} wrote {path}"
            );
        }
        // Every item of the part, and for each prefix at least one file.
        for path in all.keys() {
            if prefixes.iter().any(|x| path.starts_with(x)) {
                assert_eq!(got.get(path), all.get(path), "{flag}: {path}");
            }
        }
        for x in prefixes {
            assert!(got.keys().any(|p| p.starts_with(x)), "{flag}: no {x}");
        }
        std::fs::remove_dir_all(&bundle).unwrap();
    }
}

#[test]
fn tar_zst_bundle_and_json_summary() {
    let server = loaded_etcd();
    let work = Work::new().with_node_files();
    let run = work
        .backup(
            &server.endpoint(),
            &["-e", "-P", "--bundle-format", "tar.zst", "--json"],
        )
        .expect(0);
    assert_eq!(run.stdout.lines().count(), 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let bundle = PathBuf::from(json["bundle"].as_str().unwrap());
    assert!(bundle.to_str().unwrap().ends_with(".tar.zst"));
    assert_eq!(json["format"], "tar.zst");
    assert_eq!(json["dry_run"], false);
    let parts: Vec<&str> = json["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, vec!["etcd-snapshot", "property-files", "files"]);
    // The link and the etcd data directory are reported, not copied silently.
    let skipped = json["skipped"].to_string();
    assert!(skipped.contains("hostname-link"), "{skipped}");
    assert!(skipped.contains("etcd data directory"), "{skipped}");
    assert_eq!(
        work.entries(),
        vec![
            LOCK.to_string(),
            bundle.file_name().unwrap().to_string_lossy().into_owned()
        ]
    );
    work.run(&["inspect", bundle.to_str().unwrap()]).expect(0);
}

#[test]
fn dry_run_lists_what_it_would_write_and_writes_nothing() {
    let server = loaded_etcd();
    let work = Work::new().with_node_files();
    let run = work
        .backup(&server.endpoint(), &["-p", "-P", "--dry-run"])
        .expect(0);
    run.stderr_has("nothing was written");
    assert!(run.stdout.contains("config/pq/NightlyMerge.xml\n"));
    assert!(run
        .stdout
        .contains("files/etc/sysconfig/deephaven/auth/priv-test.base64.txt\n"));
    assert!(
        !work.out.exists(),
        "the dry run created {}",
        work.out.display()
    );
}

/// Makes `path` look `days` old by its modification time.
fn age(path: &Path, days: u32) {
    let status = std::process::Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn fake_bundle(dir: &Path, name: &str, manifest: bool, days: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    if manifest {
        std::fs::write(p.join("MANIFEST.sha256"), b"").unwrap();
    }
    age(&p, days);
    p
}

#[test]
fn retention_removes_only_old_dh_migrate_bundles_and_only_after_success() {
    let work = Work::new().with_workspace();
    std::fs::create_dir(&work.out).unwrap();
    let out = &work.out;
    let old = fake_bundle(out, "dh-migrate-backup-20261101T010000Z", true, 30);
    let old_tar = out.join("dh-migrate-backup-20261102T010000Z.tar.zst");
    // A real archive, manifest first, as backup writes them.
    let work2 = Work::new().with_workspace();
    let made = work2
        .backup_workspace(&work2.out, &["--bundle-format", "tar.zst"])
        .expect(0)
        .bundle();
    std::fs::copy(&made, &old_tar).unwrap();
    age(&old_tar, 30);
    let recent = fake_bundle(out, "dh-migrate-backup-20261201T010000Z", true, 1);
    let no_manifest = fake_bundle(out, "dh-migrate-backup-20261001T010000Z", false, 60);
    let foreign = fake_bundle(out, "backup-20261001", true, 60);
    let foreign_file = out.join("dh-migrate-backup-20261001T010000Z.tar.gz");
    std::fs::write(&foreign_file, b"not ours").unwrap();
    age(&foreign_file, 60);
    let not_an_archive = out.join("dh-migrate-backup-20261002T010000Z.tar.zst");
    std::fs::write(&not_an_archive, b"not zstd").unwrap();
    age(&not_an_archive, 60);

    // A failed backup (dead etcd) removes nothing.
    let dead = format!("http://127.0.0.1:{}", free_port());
    work.backup(&dead, &["-a", "-R", "7", "--connect-timeout", "1"])
        .expect(8);
    assert!(old.exists() && old_tar.exists());

    let run = work.backup_workspace(out, &["-R", "7"]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("removed {}", old.display()),
            format!("removed {}", old_tar.display())
        ]
    );
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(!old.exists() && !old_tar.exists());
    for kept in [
        &recent,
        &no_manifest,
        &foreign,
        &foreign_file,
        &not_an_archive,
        &run.bundle(),
    ] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
}

#[test]
fn a_dead_etcd_fails_fast_and_leaves_nothing() {
    let work = Work::new().with_node_files();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = work
        .backup(&dead, &["-a", "--connect-timeout", "1"])
        .expect(8);
    run.stderr_has("etcd is unreachable");
    assert!(run.stdout.is_empty());
    assert_nothing_kept(&work.out);
}

#[test]
fn a_missing_mysqldump_fails_clearly_and_leaves_nothing() {
    let server = loaded_etcd();
    let work = Work::new();
    // A PATH with `id` (for -u) and nothing else.
    let bin = work.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/id", bin.join("id")).unwrap();
    let args = [
        "backup",
        "-u",
        "root",
        "-A",
        "--mysql-socket",
        "/nonexistent/sock",
        "-d",
        work.out.to_str().unwrap(),
        "--endpoints",
        &server.endpoint(),
    ];
    work.run_env(&args, &[("PATH", bin.to_str().unwrap())])
        .expect(21)
        .stderr_has("mysqldump not found");
    assert_nothing_kept(&work.out);
}

#[test]
fn an_unwritable_directory_fails_clearly() {
    let work = Work::new().with_workspace();
    // Root may write anywhere its permissions allow: a path below a regular file cannot
    // be a folder for anyone.
    let file = work.tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("backups");
    let run = work.backup_workspace(&dir, &[]).expect(13);
    run.stderr_has(&format!(
        "cannot create the backup folder {}",
        dir.display()
    ));
    assert!(run.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), b"x");

    // A read-only file system (a read-only tmpfs where mounting is allowed).
    if let Some(ro) = Tmpfs::mount(work.tmp.path().join("ro"), "size=1m,ro") {
        work.backup_workspace(&ro.path, &[])
            .expect(13)
            .stderr_has("Read-only file system");
        assert!(entries(&ro.path).is_empty());
    }
}

/// A tmpfs mounted for one test (root only); unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: PathBuf, options: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_fails_clearly_and_leaves_nothing() {
    let server = loaded_etcd();
    // 400 KiB of values: a snapshot of several hundred KiB.
    for i in 0..4 {
        server.put(
            &format!("/deephaven/runtime/blob{i}"),
            &vec![b'x'; 100 * 1024],
        );
    }
    let work = Work::new();
    let small = work.tmp.path().join("small");
    match Tmpfs::mount(small.clone(), "size=256k") {
        Some(_fs) => {
            work.run(&[
                "backup",
                "-u",
                "root",
                "-e",
                "-d",
                small.to_str().unwrap(),
                "--endpoints",
                &server.endpoint(),
            ])
            .expect(13)
            .stderr_has("No space left on device");
            assert_nothing_kept(&small);
        }
        None => {
            // No mount here: a file size limit instead. The kernel stops the process
            // (SIGXFSZ) mid-write; what it leaves is hidden, and the next run clears it.
            let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dh-migrate"));
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -f 256; exec '{}' backup -u root -e -d '{}' --endpoints {}",
                    exe.display(),
                    small.display(),
                    server.endpoint()
                ))
                .status()
                .unwrap();
            assert!(!status.success());
            assert!(entries(&small)
                .iter()
                .all(|n| n.starts_with('.') && !n.starts_with("dh-migrate-backup-")));
            let run = work
                .run(&[
                    "backup",
                    "-u",
                    "root",
                    "-e",
                    "-d",
                    small.to_str().unwrap(),
                    "--endpoints",
                    &server.endpoint(),
                ])
                .expect(0);
            let name = run
                .bundle()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert_eq!(entries(&small), vec![LOCK.to_string(), name]);
        }
    }
}

#[test]
fn a_held_lock_refuses_a_second_run_and_concurrent_runs_never_share_a_bundle() {
    let server = loaded_etcd();
    let work = Work::new();
    std::fs::create_dir(&work.out).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(work.out.join(LOCK))
        .unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    work.backup(&server.endpoint(), &["-e"])
        .expect(20)
        .stderr_has("another dh-migrate backup is writing to");
    assert_nothing_kept(&work.out);
    drop(lock);

    // Four real runs at once: each one either wrote its own verified bundle or was
    // refused by the lock; never two in one bundle, never a partial one.
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dh-migrate"));
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .env_clear()
                .args(["backup", "-u", "root", "-e", "-p", "-d"])
                .arg(&work.out)
                .args(["--endpoints", &server.endpoint()])
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut written = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => written.push(
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .last()
                    .unwrap()
                    .to_string(),
            ),
            Some(20) => {}
            other => panic!(
                "unexpected {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(!written.is_empty());
    let mut names: Vec<String> = written.clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), written.len(), "two runs reported one bundle");
    let mut want: Vec<String> = written
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    want.push(LOCK.to_string());
    want.sort();
    assert_eq!(work.entries(), want);
    for p in &written {
        work.run(&["inspect", p]).expect(0);
    }
}

#[test]
fn user_switching_runs_through_sudo_only_for_another_account() {
    let work = Work::new().with_workspace();
    let bin = work.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = work.tmp.path().join("sudo.log");
    let fake_sudo = |exit: i32| {
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\necho 'sudo: a password is required' >&2\nexit {exit}\n",
            log.display()
        );
        write_mode(&bin.join("sudo"), script.as_bytes(), 0o755);
    };
    for tool in ["id", "touch"] {
        let _ = std::os::unix::fs::symlink(format!("/usr/bin/{tool}"), bin.join(tool));
    }
    let path = bin.to_str().unwrap().to_string();
    let db = work.db_root.to_str().unwrap().to_string();
    let out = work.out.to_str().unwrap().to_string();
    let args = |user: &'static str| -> Vec<String> {
        ["backup", "-u", user, "-w", "--db-root", &db, "-d", &out]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run = |user: &'static str| {
        let a = args(user);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        work.run_env(&a, &[("PATH", &path)])
    };

    // Already root: no sudo at all.
    fake_sudo(1);
    run("root").expect(0);
    assert!(!log.exists(), "sudo was called for the current user");

    // Another account and sudo refuses: a clear error, nothing written.
    let before = work.entries();
    run("nobody")
        .expect(22)
        .stderr_has("running as nobody through `sudo -n -u nobody`")
        .stderr_has("cannot run as nobody");
    assert_eq!(work.entries(), before);
    let logged = std::fs::read_to_string(&log).unwrap();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dh-migrate"));
    assert_eq!(
        logged.trim_end(),
        format!(
            "-n -u nobody -- {} {}",
            exe.display(),
            args("nobody").join(" ")
        )
    );

    // sudo's exit status is passed on when it ran the command.
    fake_sudo(0);
    run("nobody").expect(0);

    // No such account, or no sudo at all: clear errors.
    run("no-such-user-dhm")
        .expect(22)
        .stderr_has("user no-such-user-dhm does not exist");
    std::fs::remove_file(bin.join("sudo")).unwrap();
    run("nobody").expect(22).stderr_has("sudo is not installed");
}

#[test]
fn backup_acls_dumps_the_mariadb_acl_database() {
    let db = support::mariadb::MariaDb::start();
    db.sql(
        "CREATE DATABASE dbacl_iris;
         USE dbacl_iris;
         CREATE TABLE groups (name VARCHAR(64) PRIMARY KEY, description TEXT);
         CREATE TABLE user_groups (user VARCHAR(64), grp VARCHAR(64), PRIMARY KEY (user, grp));
         INSERT INTO groups VALUES ('iris-superusers', 'admins'), ('traders', 'desk \\'A\\'');
         INSERT INTO user_groups VALUES ('iris', 'iris-superusers'), ('alice', 'traders');",
    );
    let server = loaded_etcd();
    let work = Work::new();
    let run = work
        .backup(
            &server.endpoint(),
            &[
                "-A",
                "--mysql-socket",
                db.socket.to_str().unwrap(),
                "--mysql-user",
                "root",
            ],
        )
        .expect(0);
    let bundle = run.bundle();
    let got = files_of(&bundle);
    assert!(got.contains_key("config/acls/acls.xml"));
    let dump = String::from_utf8(got["mysql/dbacl_iris.sql"].clone()).unwrap();
    assert!(dump.contains("CREATE DATABASE"), "{dump}");
    assert_eq!(mode_of(&bundle.join("mysql/dbacl_iris.sql")), 0o600);

    // The dump alone recreates the database with the same rows.
    let rows = |db: &support::mariadb::MariaDb| {
        db.sql("SELECT * FROM dbacl_iris.groups ORDER BY name; SELECT * FROM dbacl_iris.user_groups ORDER BY user;")
    };
    let before = rows(&db);
    db.sql("DROP DATABASE dbacl_iris;");
    let load = db.client(&[], dump.as_bytes());
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert_eq!(rows(&db), before);
    assert!(before.contains("desk 'A'"), "{before}");
}

/// The command lines in templates/backup/ (cron line, systemd service) are ones the CLI
/// accepts, so the shipped templates cannot drift from the options.
#[test]
fn the_cron_and_systemd_templates_hold_valid_command_lines() {
    use clap::Parser;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/backup");
    for (file, start) in [
        ("dh-migrate-backup.cron", "30 1 * * * irisadmin "),
        ("dh-migrate-backup.service", "ExecStart="),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let joined = text.replace("\\\n", " ");
        let line = joined
            .lines()
            .find_map(|l| l.strip_prefix(start))
            .unwrap_or_else(|| panic!("{file}: no line starting {start:?}"));
        let line = line.split(">>").next().unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "/usr/local/bin/dh-migrate", "{file}");
        let cli =
            dh_migrate::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{file}: {e}"));
        let shown = format!("{:?}", cli.command);
        assert!(shown.starts_with("Backup("), "{file}: {shown}");
        assert!(shown.contains("all: true"), "{file}: {shown}");
        assert!(shown.contains("retain: Some(7)"), "{file}: {shown}");
    }
}

/// The configuration items under the layout prefix, byte-exact.
fn config_keys(server: &EtcdServer) -> BTreeMap<String, Vec<u8>> {
    etcd_values(server)
        .into_iter()
        .filter(|(k, _)| k.starts_with("/deephaven/config/"))
        .collect()
}

#[test]
fn restore_onto_a_fresh_etcd_gives_back_every_item_and_file() {
    let old = loaded_etcd();
    let work = Work::new().with_node_files().with_workspace();
    // An archive bundle: restore streams workspace files out of it again.
    let bundle = work
        .backup(&old.endpoint(), &["-a", "--bundle-format", "tar.zst"])
        .expect(0)
        .bundle();
    let bundle = bundle.to_str().unwrap().to_string();
    let fresh = EtcdServer::start();
    let root = work.tmp.path().join("restored-root");
    let db = work.tmp.path().join("restored-db");
    // A file already there with other content: saved aside, never lost.
    let host = root.join("etc/sysconfig/deephaven/illumon.iris.hostconfig");
    write_mode(&host, b"locally edited\n", 0o644);
    let record = work.tmp.path().join("restore-record.json");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "restore",
            &bundle,
            "--endpoints",
            &fresh.endpoint(),
            "--files-root",
            root.to_str().unwrap(),
            "--db-root",
            db.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        work.run(&a)
    };

    // A dry run lists and writes nothing.
    let before = support::fs::listing(work.tmp.path());
    let dry = run(&["--dry-run"]).expect(0);
    dry.stderr_has("nothing was written");
    assert!(dry
        .stdout
        .contains("create /deephaven/config/props/iris-endpoints.prop"));
    assert!(fresh
        .etcdctl(&["get", "", "--prefix", "--keys-only"])
        .stdout
        .is_empty());
    assert_eq!(support::fs::listing(work.tmp.path()), before);

    let done = run(&["--yes", "--run-record", record.to_str().unwrap()]).expect(0);
    assert!(
        done.stdout.contains("dh_monit restart all"),
        "{}",
        done.stdout
    );
    // Every configuration item byte for byte, the cluster's own iris-endpoints.prop too.
    assert_eq!(config_keys(&fresh), config_keys(&old));
    assert_eq!(config_keys(&fresh).len(), fixture_items().len());
    assert_eq!(mode_of(&record), 0o600);
    // The files with their modes; the edited file saved aside.
    for (rel, content) in files_of(&Path::new(OLD_DIR).join("files")) {
        assert_eq!(std::fs::read(root.join(&rel)).unwrap(), content, "{rel}");
    }
    let key = root.join("etc/sysconfig/deephaven/auth/priv-test.base64.txt");
    assert_eq!(std::fs::read(&key).unwrap(), b"c2VjcmV0\n");
    assert_eq!(mode_of(&key), 0o600);
    let aside: Vec<String> = entries(host.parent().unwrap())
        .into_iter()
        .filter(|n| n.starts_with("illumon.iris.hostconfig.dh-migrate-saved-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(host.parent().unwrap().join(&aside[0])).unwrap(),
        b"locally edited\n"
    );
    done.stderr_has("saved");
    for (rel, content) in WORKSPACE {
        assert_eq!(
            std::fs::read(db.join(rel)).unwrap(),
            content.as_bytes(),
            "{rel}"
        );
    }

    // Again: nothing to do, etcd untouched.
    let rev = |s: &EtcdServer| {
        let out = s.etcdctl(&["get", "x", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["header"]["revision"].as_i64().unwrap()
    };
    let r0 = rev(&fresh);
    run(&["--yes"])
        .expect(0)
        .stderr_has("the cluster already matches the bundle: nothing to do");
    assert_eq!(rev(&fresh), r0);
}

#[test]
fn restore_with_etcd_down_prints_the_snapshot_restore_steps() {
    let server = loaded_etcd();
    let work = Work::new();
    let bundle = work
        .backup(&server.endpoint(), &["-e", "-p"])
        .expect(0)
        .bundle();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = work
        .run(&[
            "restore",
            bundle.to_str().unwrap(),
            "--endpoints",
            &dead,
            "--connect-timeout",
            "1",
            "--yes",
        ])
        .expect(8);
    run.stderr_has("nothing was written");
    // The members come from the bundle's own snapshot (read offline): the old member's
    // name and peer URL, as etcd lists them.
    let listed = server.etcdctl(&["member", "list", "-w", "json"]);
    let members: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let name = members["members"][0]["name"].as_str().unwrap();
    let peer = members["members"][0]["peerURLs"][0].as_str().unwrap();
    let snapshot = bundle.join("etcd/snapshot.db");
    assert!(
        run.stdout.contains(&format!(
            "[{name}] etcdctl snapshot restore {} --name {name} --initial-cluster {name}={peer}",
            snapshot.display()
        )),
        "{}",
        run.stdout
    );
}

/// A directory bundle whose key file is 0644 (as git checks the fixture out): restored, it
/// is 0600, in a folder created 0700; other files keep their modes.
#[test]
fn restore_writes_key_files_0600_in_a_0700_folder_from_any_bundle() {
    let work = Work::new();
    let key_rel = "etc/sysconfig/deephaven/auth/priv-iris.base64.txt";
    assert_eq!(
        mode_of(&Path::new(OLD_DIR).join("files").join(key_rel)) & 0o077,
        0o044
    );
    let fresh = EtcdServer::start();
    let root = work.tmp.path().join("root");
    let root_s = root.to_str().unwrap();
    work.run(&[
        "restore",
        OLD_DIR,
        "--endpoints",
        &fresh.endpoint(),
        "--files-root",
        root_s,
        "--yes",
        "--run-record",
        work.tmp.path().join("r.json").to_str().unwrap(),
    ])
    .expect(0);
    let key = root.join(key_rel);
    assert_eq!(mode_of(&key), 0o600);
    assert_eq!(mode_of(key.parent().unwrap()), 0o700);
    let host = root.join("etc/sysconfig/deephaven/illumon.iris.hostconfig");
    assert_eq!(mode_of(&host), 0o644);
    assert_eq!(mode_of(host.parent().unwrap()), 0o755);
}
