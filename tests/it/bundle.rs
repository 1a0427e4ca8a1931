//! Tests of the safe bundle reader (`dh_migrate::bundle`): good bundles in every form, a
//! corpus of malicious archives built byte by byte, manifest checks, corrupt archives, and
//! streaming of a large entry.
//!
//! Every archive is built here, in a temp dir, with `tar::Builder`; entries the builder
//! refuses (absolute, `..`) get their name written straight into the header bytes. All
//! expected hashes were computed independently with `sha256sum`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dh_migrate::bundle::{
    manifest_for, Bundle, BundleError, BundleKind, ManifestStatus, Problem, Progress, UnsafeReason,
};

// ---------------------------------------------------------------------------------------
// The good bundle: contents, modes, and hashes from `printf ... | sha256sum`.

const ENV_PROP: &[u8] = b"global.x=1\n";
const ENV_PROP_SHA: &str = "edcf02dcd970beb9423a2d3b2d2863a4e3e7717bf78ad140677e51aade5fc258";
const ROUTING: &[u8] = b"routing: {}\n";
const ROUTING_SHA: &str = "3dddbbb9b7cb758fbb4785157a915f196aeedf91586042427b9420adf3935011";
const TAILER: &[u8] = b"<tailer/>\n";
const TAILER_SHA: &str = "0504a6e47b7d224c95de1b3551b11b7aa83418faf8f151c577615820f5b20237";
const SNAPSHOT: &[u8] = b"SNAPSHOT";
const SNAPSHOT_SHA: &str = "1ca9cd1ccaed5eb975a20557c6019ac0dbdae60b015ef59d3b988393f8779215";
const CNF: &[u8] = b"DH_NODE_1_NAME=infra-1\n";
const CNF_SHA: &str = "b738a072abcc1dbc8edb2eb62fb2bcfeeb7adc0c01b24aa982e24bb073b0baa9";
/// `printf 'tampered\n' | sha256sum`
const TAMPERED_SHA: &str = "92e78d0b032962f47792a9fa95fd981ef63e1e3ef074d536d6304c75eddbe29f";
/// `head -c 67108864 /dev/zero | sha256sum`
const ZEROS_64M_SHA: &str = "3b6a07d0d404fab4e23b6d34bc6696a6a312dd92821332385e5af7c01c421351";

const ENV_PATH: &str = "config/props/iris-environment.prop";
const ROUTING_PATH: &str = "config/routing/routing.yaml";
const TAILER_PATH: &str = "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml";
const SNAPSHOT_PATH: &str = "etcd/snapshot.db";
const CNF_PATH: &str = "cluster/cluster.cnf";

fn manifest_text() -> String {
    format!(
        "# written by the backup job\n\
         {CNF_SHA}  {CNF_PATH}\n\
         {ENV_PROP_SHA}  {ENV_PATH}\n\
         {ROUTING_SHA} *{ROUTING_PATH}\n\
         \n\
         {SNAPSHOT_SHA}  {SNAPSHOT_PATH}\n\
         {TAILER_SHA}  {TAILER_PATH}\n"
    )
}

/// (path, content, mode) of every file of the good bundle, manifest included.
fn good_files() -> Vec<(String, Vec<u8>, u32)> {
    vec![
        (
            "MANIFEST.sha256".into(),
            manifest_text().into_bytes(),
            0o644,
        ),
        (CNF_PATH.into(), CNF.to_vec(), 0o644),
        (ENV_PATH.into(), ENV_PROP.to_vec(), 0o640),
        (ROUTING_PATH.into(), ROUTING.to_vec(), 0o644),
        (SNAPSHOT_PATH.into(), SNAPSHOT.to_vec(), 0o600),
        (TAILER_PATH.into(), TAILER.to_vec(), 0o600),
    ]
}

/// What every form of the good bundle must read as: (path, sha256, size, mode, loaded).
fn expected_listing() -> Vec<(String, String, u64, u32, bool)> {
    let manifest = manifest_text();
    // The manifest's own hash is not listed anywhere; only its presence and size matter.
    vec![
        (
            "MANIFEST.sha256".into(),
            String::new(),
            manifest.len() as u64,
            0o644,
            true,
        ),
        (CNF_PATH.into(), CNF_SHA.into(), 23, 0o644, true),
        (ENV_PATH.into(), ENV_PROP_SHA.into(), 11, 0o640, true),
        (ROUTING_PATH.into(), ROUTING_SHA.into(), 12, 0o644, true),
        (SNAPSHOT_PATH.into(), SNAPSHOT_SHA.into(), 8, 0o600, false),
        (TAILER_PATH.into(), TAILER_SHA.into(), 10, 0o600, true),
    ]
}

fn listing(bundle: &Bundle) -> Vec<(String, String, u64, u32, bool)> {
    bundle
        .files()
        .map(|f| {
            let sha = if f.path == "MANIFEST.sha256" {
                String::new()
            } else {
                f.sha256_hex()
            };
            (f.path.clone(), sha, f.size, f.mode, f.content.is_some())
        })
        .collect()
}

fn write_dir(root: &Path, files: &[(String, Vec<u8>, u32)]) {
    for (path, content, mode) in files {
        let full = root.join(path);
        fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
        fs::write(&full, content).expect("write");
        fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).expect("chmod");
    }
}

// ---------------------------------------------------------------------------------------
// Archive building.

/// One archive entry to write.
enum E {
    File(String, Vec<u8>, u32),
    Dir(String),
    /// Raw entry: name bytes written straight into the header, type byte, link name.
    Raw {
        name: Vec<u8>,
        kind: u8,
        link: Vec<u8>,
        data: Vec<u8>,
    },
}

fn raw(name: &str, kind: u8, link: &str) -> E {
    E::Raw {
        name: name.as_bytes().to_vec(),
        kind,
        link: link.as_bytes().to_vec(),
        data: Vec::new(),
    }
}

fn raw_file(name: &str, data: &[u8]) -> E {
    E::Raw {
        name: name.as_bytes().to_vec(),
        kind: b'0',
        link: Vec::new(),
        data: data.to_vec(),
    }
}

fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(path, data, mode) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                h.set_mtime(1_700_000_000);
                h.set_uid(1000);
                h.set_gid(1000);
                h.set_username("irisadmin").expect("username");
                b.append_data(&mut h, path, data.as_slice())
                    .expect("append file");
            }
            E::Dir(path) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                b.append_data(&mut h, path, io::empty())
                    .expect("append dir");
            }
            E::Raw {
                name,
                kind,
                link,
                data,
            } => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::new(*kind));
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(1_700_000_000);
                if *kind == b'3' || *kind == b'4' {
                    h.set_device_major(1).expect("major");
                    h.set_device_minor(3).expect("minor");
                }
                let bytes = h.as_mut_bytes();
                bytes[..100].fill(0);
                bytes[..name.len()].copy_from_slice(name);
                bytes[157..257].fill(0);
                bytes[157..157 + link.len()].copy_from_slice(link);
                h.set_cksum();
                b.append(&h, data.as_slice()).expect("append raw");
            }
        }
    }
    b.into_inner().expect("finish tar")
}

#[derive(Clone, Copy, Debug)]
enum Z {
    None,
    Gz,
    Zst,
}

fn compress(tar: &[u8], z: Z) -> Vec<u8> {
    match z {
        Z::None => tar.to_vec(),
        Z::Gz => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(tar).expect("gzip");
            enc.finish().expect("gzip finish")
        }
        Z::Zst => zstd::encode_all(tar, 3).expect("zstd"),
    }
}

fn good_entries(prefix: &str) -> Vec<E> {
    let mut entries = vec![];
    if !prefix.is_empty() {
        entries.push(E::Dir(prefix.to_owned()));
    }
    for dir in ["config", "config/props", "config/routing", "etcd"] {
        entries.push(E::Dir(format!("{prefix}{dir}")));
    }
    for (path, content, mode) in good_files() {
        entries.push(E::File(format!("{prefix}{path}"), content, mode));
    }
    entries
}

/// Recursive listing of a directory, to prove a read created nothing.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if fs::symlink_metadata(&p).expect("lstat").is_dir() {
                stack.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

fn invalid_problems(result: Result<Bundle, BundleError>) -> (String, Vec<Problem>) {
    match result {
        Err(e @ BundleError::Invalid { .. }) => {
            let text = e.to_string();
            let BundleError::Invalid { problems, .. } = e else {
                unreachable!()
            };
            (text, problems)
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn unsafe_(entry: &str, reason: UnsafeReason) -> Problem {
    Problem::Unsafe {
        entry: entry.to_owned(),
        reason,
    }
}

// ---------------------------------------------------------------------------------------
// Good bundles.

#[test]
fn good_directory_bundle_is_read_and_verified() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("bundle");
    write_dir(&root, &good_files());
    let bundle = Bundle::open(&root).expect("opens");
    assert_eq!(bundle.kind, BundleKind::Directory);
    assert_eq!(bundle.prefix, None);
    assert_eq!(bundle.manifest, ManifestStatus::Verified { files: 5 });
    assert_eq!(listing(&bundle), expected_listing());
    assert_eq!(bundle.text(ENV_PATH).expect("text"), "global.x=1\n");
    assert!(matches!(
        bundle.text(SNAPSHOT_PATH),
        Err(BundleError::NotLoaded { path }) if path == SNAPSHOT_PATH
    ));
    assert!(matches!(
        bundle.text("config/nope"),
        Err(BundleError::NoSuchFile { path }) if path == "config/nope"
    ));
}

#[test]
fn every_archive_form_reads_the_same_as_the_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plain = tar_bytes(&good_entries(""));
    let wrapped = tar_bytes(&good_entries("backup-2024-05-01/"));
    let dotted = tar_bytes(&good_entries("./"));
    let cases: Vec<(&str, Vec<u8>, BundleKind, Option<&str>)> = vec![
        ("b.tar", compress(&plain, Z::None), BundleKind::Tar, None),
        ("b.tar.gz", compress(&plain, Z::Gz), BundleKind::TarGz, None),
        ("b.tgz", compress(&plain, Z::Gz), BundleKind::TarGz, None),
        (
            "b.tar.zst",
            compress(&plain, Z::Zst),
            BundleKind::TarZst,
            None,
        ),
        (
            "wrapped.tar.gz",
            compress(&wrapped, Z::Gz),
            BundleKind::TarGz,
            Some("backup-2024-05-01"),
        ),
        (
            "wrapped.tar",
            compress(&wrapped, Z::None),
            BundleKind::Tar,
            Some("backup-2024-05-01"),
        ),
        (
            "dotted.tar",
            compress(&dotted, Z::None),
            BundleKind::Tar,
            None,
        ),
        // The type comes from the bytes: a gzip file named .tar, a zstd file named .bin.
        (
            "misnamed.tar",
            compress(&plain, Z::Gz),
            BundleKind::TarGz,
            None,
        ),
        (
            "misnamed.bin",
            compress(&plain, Z::Zst),
            BundleKind::TarZst,
            None,
        ),
    ];
    for (name, bytes, kind, prefix) in cases {
        let path = tmp.path().join(name);
        fs::write(&path, bytes).expect("write archive");
        let bundle = Bundle::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bundle.kind, kind, "{name}");
        assert_eq!(bundle.prefix.as_deref(), prefix, "{name}");
        assert_eq!(
            bundle.manifest,
            ManifestStatus::Verified { files: 5 },
            "{name}"
        );
        assert_eq!(listing(&bundle), expected_listing(), "{name}");
        let env = bundle.get(ENV_PATH).expect("env prop");
        assert_eq!(env.mtime, Some(1_700_000_000), "{name}");
        assert_eq!(env.uid, Some(1000), "{name}");
        assert_eq!(env.uname.as_deref(), Some("irisadmin"), "{name}");
        assert_eq!(bundle.text(ROUTING_PATH).expect("text"), "routing: {}\n");
    }
}

#[test]
fn directory_under_one_top_level_folder_is_stripped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("outer");
    write_dir(&root.join("dh-backup"), &good_files());
    let bundle = Bundle::open(&root).expect("opens");
    assert_eq!(bundle.prefix.as_deref(), Some("dh-backup"));
    assert_eq!(listing(&bundle), expected_listing());
}

#[test]
fn a_part_name_at_the_top_is_not_a_wrapping_folder() {
    // Everything under `config/`: that is the bundle's own part, not a folder to strip.
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("b.tar");
    let entries = vec![E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644)];
    fs::write(&path, tar_bytes(&entries)).expect("write");
    let bundle = Bundle::open(&path).expect("opens");
    assert_eq!(bundle.prefix, None);
    assert_eq!(bundle.manifest, ManifestStatus::Absent);
    assert_eq!(bundle.text(ENV_PATH).expect("text"), "global.x=1\n");
}

#[test]
fn two_top_level_folders_make_the_bundle_invalid_not_empty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("b.tar");
    let entries = vec![
        E::File("a/config/x.prop".into(), b"x=1\n".to_vec(), 0o644),
        E::File("b/config/y.prop".into(), b"y=1\n".to_vec(), 0o644),
    ];
    fs::write(&path, tar_bytes(&entries)).expect("write");
    let (text, problems) = invalid_problems(Bundle::open(&path));
    assert_eq!(
        problems,
        vec![
            Problem::NotAPart { name: "a".into() },
            Problem::NotAPart { name: "b".into() }
        ]
    );
    assert!(
        text.contains("top-level folder \"a\" is not a bundle part"),
        "{text}"
    );
    // The same for a directory bundle, and for a stray folder beside the parts.
    let root = tmp.path().join("dir");
    write_dir(&root.join("one"), &good_files());
    write_dir(&root.join("two"), &good_files());
    let (_, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(problems.len(), 2, "{problems:?}");
    let stray = tmp.path().join("stray");
    write_dir(&stray, &good_files());
    fs::create_dir_all(stray.join("backup-old/config")).expect("mkdir");
    let (_, problems) = invalid_problems(Bundle::open(&stray));
    assert!(
        problems.contains(&Problem::NotAPart {
            name: "backup-old".into()
        }),
        "{problems:?}"
    );
}

#[test]
fn a_manifest_that_is_a_folder_makes_the_bundle_invalid() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (label, extra) in [
        ("empty", vec![E::Dir("MANIFEST.sha256".into())]),
        (
            "holding a file",
            vec![E::File("MANIFEST.sha256/x".into(), b"x".to_vec(), 0o644)],
        ),
    ] {
        let mut entries = vec![E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644)];
        entries.extend(extra);
        let path = tmp.path().join("m.tar");
        fs::write(&path, tar_bytes(&entries)).expect("write");
        let (text, problems) = invalid_problems(Bundle::open(&path));
        assert_eq!(problems, vec![Problem::ManifestNotAFile], "{label}");
        assert!(text.contains("MANIFEST.sha256 is a folder"), "{text}");
    }
    let root = tmp.path().join("dir");
    write_dir(&root, &[(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644)]);
    fs::create_dir(root.join("MANIFEST.sha256")).expect("mkdir");
    let (_, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(problems, vec![Problem::ManifestNotAFile]);
}

#[test]
fn a_pax_global_header_as_git_archive_writes_is_accepted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // `git archive` starts with a global header holding the commit id as a comment.
    let mut entries = vec![E::Raw {
        name: b"pax_global_header".to_vec(),
        kind: b'g',
        link: Vec::new(),
        data: b"52 comment=0123456789abcdef0123456789abcdef01234567\n".to_vec(),
    }];
    entries.extend(good_entries("dh-backup/"));
    for z in [Z::None, Z::Gz, Z::Zst] {
        let path = tmp.path().join(format!("git-{z:?}.tar"));
        fs::write(&path, compress(&tar_bytes(&entries), z)).expect("write");
        let bundle = Bundle::open(&path).expect("a harmless global header is accepted");
        assert_eq!(bundle.prefix.as_deref(), Some("dh-backup"), "{z:?}");
        assert_eq!(listing(&bundle), expected_listing(), "{z:?}");
    }
}

#[test]
fn under_lists_files_below_a_directory_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("bundle");
    write_dir(&root, &good_files());
    // A top-level file (a top-level folder would have to be a part).
    write_dir(&root, &[("configx".into(), b"z".to_vec(), 0o644)]);
    fs::remove_file(root.join("MANIFEST.sha256")).expect("rm manifest");
    let bundle = Bundle::open(&root).expect("opens");
    let paths = |dir: &str| -> Vec<String> { bundle.under(dir).map(|f| f.path.clone()).collect() };
    assert_eq!(
        paths("config"),
        vec![ENV_PATH.to_owned(), ROUTING_PATH.to_owned()]
    );
    assert_eq!(paths("config/"), paths("config"));
    assert_eq!(paths("config/routing"), vec![ROUTING_PATH.to_owned()]);
    assert_eq!(paths("conf"), Vec::<String>::new());
}

#[test]
fn manifest_for_writes_sorted_sha256sum_lines() {
    let a = [0u8; 32];
    let b = [0xabu8; 32];
    let text = manifest_for([("z/last", &a), ("a/first", &b)]);
    assert_eq!(
        text,
        "abababababababababababababababababababababababababababababababab  a/first\n\
         0000000000000000000000000000000000000000000000000000000000000000  z/last\n"
    );
}

// ---------------------------------------------------------------------------------------
// Malicious archives.

/// The names of cwd's top-level entries.
fn cwd_names() -> BTreeSet<String> {
    fs::read_dir(".")
        .expect("read cwd")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn malicious_entries_are_rejected_each_named_with_its_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let unique = format!("dhm-escape-{}", std::process::id());
    let absolute = format!("{}/abs-target", tmp.path().display());
    let parent = format!("../{unique}");
    let cases: Vec<(&str, Vec<E>, Vec<Problem>)> = vec![
        (
            "symlink",
            vec![raw("config/link", b'2', "/etc/passwd")],
            vec![unsafe_("config/link", UnsafeReason::Symlink)],
        ),
        (
            "hardlink",
            vec![raw(
                "config/hard",
                b'1',
                "config/props/iris-environment.prop",
            )],
            vec![unsafe_("config/hard", UnsafeReason::HardLink)],
        ),
        (
            "chardev",
            vec![raw("dev/null", b'3', "")],
            vec![unsafe_("dev/null", UnsafeReason::Device)],
        ),
        (
            "fifo",
            vec![raw("config/fifo", b'6', "")],
            vec![unsafe_("config/fifo", UnsafeReason::Fifo)],
        ),
        (
            "absolute",
            vec![raw_file(&absolute, b"pwned")],
            vec![unsafe_(&absolute, UnsafeReason::Absolute)],
        ),
        (
            "parent",
            vec![raw_file(&parent, b"pwned")],
            vec![unsafe_(&parent, UnsafeReason::ParentDir)],
        ),
        (
            "inner-parent",
            vec![raw_file("a/../../b", b"pwned")],
            vec![unsafe_("a/../../b", UnsafeReason::ParentDir)],
        ),
        (
            "duplicate",
            vec![
                E::File(ENV_PATH.into(), b"first\n".to_vec(), 0o644),
                E::File(ENV_PATH.into(), b"second\n".to_vec(), 0o644),
            ],
            vec![Problem::Duplicate {
                entry: ENV_PATH.into(),
            }],
        ),
        (
            "pax-global-header-setting-a-path",
            vec![E::Raw {
                name: b"pax_global_header".to_vec(),
                kind: b'g',
                link: Vec::new(),
                data: b"15 path=evil/x\n".to_vec(),
            }],
            vec![unsafe_(
                "pax_global_header",
                UnsafeReason::GlobalHeaderOverride,
            )],
        ),
    ];
    let cwd_before = cwd_names();
    let parent_target = Path::new("..").join(&unique);
    for (label, mut entries, expected) in cases {
        // Every archive also has a harmless file, which must not hide the problem.
        entries.insert(0, E::File(ROUTING_PATH.into(), ROUTING.to_vec(), 0o644));
        let tar = tar_bytes(&entries);
        for z in [Z::None, Z::Gz] {
            let path = tmp.path().join(format!("{label}-{z:?}.archive"));
            fs::write(&path, compress(&tar, z)).expect("write");
            let before = tree(tmp.path());
            let (text, problems) = invalid_problems(Bundle::open(&path));
            assert_eq!(problems, expected, "{label} {z:?}");
            assert_eq!(
                tree(tmp.path()),
                before,
                "{label} {z:?}: the read created files"
            );
            // The message names the archive, the entry and the reason.
            assert!(text.contains(&path.display().to_string()), "{text}");
            for p in &expected {
                assert!(text.contains(&p.to_string()), "{label}: {text}");
            }
        }
    }
    assert!(!parent_target.exists(), "a ../ entry escaped the read");
    assert!(!Path::new(&absolute).exists());
    let created: Vec<String> = cwd_names().difference(&cwd_before).cloned().collect();
    for name in ["config", "dev", "a", "b", &unique] {
        assert!(!created.iter().any(|c| c == name), "created {name} in cwd");
    }
}

#[test]
fn problem_messages_say_what_is_wrong() {
    // The wording the user sees, written out by hand for two reasons.
    assert_eq!(
        unsafe_("config/link", UnsafeReason::Symlink).to_string(),
        "entry \"config/link\" is a symbolic link"
    );
    assert_eq!(
        unsafe_("../x", UnsafeReason::ParentDir).to_string(),
        "entry \"../x\" has a path containing \"..\""
    );
}

#[test]
fn several_problems_in_one_archive_are_all_reported_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let entries = vec![
        raw("config/link", b'2', "../../etc/shadow"),
        E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644),
        raw_file("/etc/cron.d/evil", b"* * * * * root sh"),
        raw("nodes/n1/fifo", b'6', ""),
        raw_file("config/../../x", b"x"),
        E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644),
        raw("dev/sda", b'4', ""),
        raw("config/hard", b'1', "/etc/passwd"),
        // Absolute and parent at once: both reasons.
        raw_file("/a/../b", b"y"),
    ];
    let tar = tar_bytes(&entries);
    for z in [Z::None, Z::Gz] {
        let path = tmp.path().join(format!("many-{z:?}.tar"));
        fs::write(&path, compress(&tar, z)).expect("write");
        let (text, problems) = invalid_problems(Bundle::open(&path));
        assert_eq!(
            problems,
            vec![
                unsafe_("config/link", UnsafeReason::Symlink),
                unsafe_("/etc/cron.d/evil", UnsafeReason::Absolute),
                unsafe_("nodes/n1/fifo", UnsafeReason::Fifo),
                unsafe_("config/../../x", UnsafeReason::ParentDir),
                Problem::Duplicate {
                    entry: ENV_PATH.into()
                },
                unsafe_("dev/sda", UnsafeReason::Device),
                unsafe_("config/hard", UnsafeReason::HardLink),
                unsafe_("/a/../b", UnsafeReason::Absolute),
                unsafe_("/a/../b", UnsafeReason::ParentDir),
            ],
            "{z:?}"
        );
        assert!(text.contains("(9 problems)"), "{text}");
        assert_eq!(text.lines().count(), 10, "{text}");
    }
}

#[test]
fn gnu_sparse_entry_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(0);
    h.set_mode(0o644);
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.realsize.copy_from_slice(b"00000000000\0");
    }
    h.set_path("etcd/snapshot.db").expect("path");
    h.set_cksum();
    b.append(&h, io::empty()).expect("append");
    let path = tmp.path().join("sparse.tar");
    fs::write(&path, b.into_inner().expect("finish")).expect("write");
    let (_, problems) = invalid_problems(Bundle::open(&path));
    assert_eq!(
        problems,
        vec![unsafe_("etcd/snapshot.db", UnsafeReason::Sparse)]
    );
}

// ---------------------------------------------------------------------------------------
// Directory bundles with special files.

#[test]
fn directory_bundle_with_links_and_special_files_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("bundle");
    write_dir(&root, &good_files());
    std::os::unix::fs::symlink("/etc/passwd", root.join("config/props/evil.prop"))
        .expect("symlink");
    // A link to a directory must not be walked into.
    std::os::unix::fs::symlink("/etc", root.join("files/etc-link")).expect("symlink dir");
    let _socket = std::os::unix::net::UnixListener::bind(root.join("config/sock")).expect("socket");
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("config/pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let before = tree(tmp.path());
    let (text, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![
            unsafe_("config/pipe", UnsafeReason::Fifo),
            unsafe_("config/props/evil.prop", UnsafeReason::Symlink),
            unsafe_("config/sock", UnsafeReason::Socket),
            unsafe_("files/etc-link", UnsafeReason::Symlink),
        ]
    );
    assert!(text.contains("config/props/evil.prop"), "{text}");
    assert_eq!(tree(tmp.path()), before);
}

// ---------------------------------------------------------------------------------------
// Manifest checks (on a directory bundle, edited after writing the good one).

fn good_dir(tmp: &Path) -> PathBuf {
    let root = tmp.join("bundle");
    write_dir(&root, &good_files());
    root
}

#[test]
fn manifest_mismatch_names_file_expected_and_actual() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    fs::write(root.join(ENV_PATH), b"tampered\n").expect("tamper");
    let (text, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![Problem::ChecksumMismatch {
            path: ENV_PATH.into(),
            expected: ENV_PROP_SHA.into(),
            actual: TAMPERED_SHA.into(),
        }]
    );
    for needle in [ENV_PATH, ENV_PROP_SHA, TAMPERED_SHA] {
        assert!(text.contains(needle), "{text}");
    }
}

#[test]
fn manifest_mismatch_in_an_archive_is_found_before_anything_is_returned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut entries = good_entries("");
    entries.push(E::File("etcd/other.db".into(), b"x".to_vec(), 0o644));
    for e in &mut entries {
        if let E::File(path, data, _) = e {
            if path == SNAPSHOT_PATH {
                *data = b"tampered\n".to_vec();
            }
        }
    }
    let path = tmp.path().join("b.tar.zst");
    fs::write(&path, compress(&tar_bytes(&entries), Z::Zst)).expect("write");
    let (_, problems) = invalid_problems(Bundle::open(&path));
    assert_eq!(
        problems,
        vec![
            Problem::ChecksumMismatch {
                path: SNAPSHOT_PATH.into(),
                expected: SNAPSHOT_SHA.into(),
                actual: TAMPERED_SHA.into(),
            },
            Problem::Unlisted {
                path: "etcd/other.db".into()
            },
        ]
    );
}

#[test]
fn manifest_listed_but_missing_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    fs::remove_file(root.join(CNF_PATH)).expect("rm");
    let (text, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![Problem::Missing {
            path: CNF_PATH.into()
        }]
    );
    assert!(text.contains(CNF_PATH), "{text}");
}

#[test]
fn manifest_unlisted_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    fs::write(root.join("config/props/extra.prop"), b"extra\n").expect("write");
    let (text, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![Problem::Unlisted {
            path: "config/props/extra.prop".into()
        }]
    );
    assert!(text.contains("config/props/extra.prop"), "{text}");
}

#[test]
fn manifest_malformed_line_names_its_number() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    let mut text = manifest_text();
    text.push_str("this is not a checksum line\n");
    fs::write(root.join("MANIFEST.sha256"), text).expect("write");
    let (message, problems) = invalid_problems(Bundle::open(&root));
    // Lines 1-7 are the comment, five listings and a blank line.
    assert_eq!(
        problems,
        vec![Problem::ManifestSyntax {
            line: 8,
            text: "this is not a checksum line".into()
        }]
    );
    assert!(message.contains("line 8"), "{message}");
}

#[test]
fn manifest_duplicate_listing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    let mut text = manifest_text();
    text.push_str(&format!("{ENV_PROP_SHA}  ./{ENV_PATH}\n"));
    fs::write(root.join("MANIFEST.sha256"), text).expect("write");
    let (message, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![Problem::ManifestDuplicate {
            path: ENV_PATH.into(),
            line: 8
        }]
    );
    assert!(message.contains(ENV_PATH), "{message}");
}

#[test]
fn manifest_problems_and_unsafe_entries_are_reported_together() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = good_dir(tmp.path());
    fs::remove_file(root.join(CNF_PATH)).expect("rm");
    fs::write(root.join(ROUTING_PATH), b"tampered\n").expect("tamper");
    std::os::unix::fs::symlink("/etc/passwd", root.join("config/link")).expect("symlink");
    let (_, problems) = invalid_problems(Bundle::open(&root));
    assert_eq!(
        problems,
        vec![
            unsafe_("config/link", UnsafeReason::Symlink),
            Problem::Missing {
                path: CNF_PATH.into()
            },
            Problem::ChecksumMismatch {
                path: ROUTING_PATH.into(),
                expected: ROUTING_SHA.into(),
                actual: TAMPERED_SHA.into(),
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Corrupt and unknown inputs.

/// Deterministic bytes that do not compress (an LCG), so a cut in the compressed file lands
/// inside this entry's data.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 56) as u8
        })
        .collect()
}

fn corrupt_parts(result: Result<Bundle, BundleError>) -> (String, PathBuf, Option<String>) {
    match result {
        Err(e @ BundleError::Corrupt { .. }) => {
            let text = e.to_string();
            let BundleError::Corrupt { archive, entry, .. } = e else {
                unreachable!()
            };
            (text, archive, entry)
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn noisy_tar() -> Vec<u8> {
    let mut entries = vec![E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644)];
    entries.push(E::File(SNAPSHOT_PATH.into(), noise(1 << 20), 0o600));
    tar_bytes(&entries)
}

#[test]
fn truncated_archives_name_the_archive_and_the_entry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tar = noisy_tar();
    for z in [Z::None, Z::Gz, Z::Zst] {
        let full = compress(&tar, z);
        let path = tmp.path().join(format!("cut-{z:?}.tar"));
        fs::write(&path, &full[..full.len() / 2]).expect("write");
        let (text, archive, entry) = corrupt_parts(Bundle::open(&path));
        assert_eq!(archive, path, "{z:?}");
        assert_eq!(entry.as_deref(), Some(SNAPSHOT_PATH), "{z:?}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(SNAPSHOT_PATH), "{text}");
    }
}

#[test]
fn tar_cut_at_an_entry_boundary_is_corrupt() {
    // Only the first entry survives, whole; the end-of-archive blocks are gone.
    let tmp = tempfile::tempdir().expect("tempdir");
    let tar = tar_bytes(&[
        E::File(ENV_PATH.into(), ENV_PROP.to_vec(), 0o644),
        E::File(CNF_PATH.into(), CNF.to_vec(), 0o644),
    ]);
    let path = tmp.path().join("cut.tar");
    // Header (512) + data padded to 512.
    fs::write(&path, &tar[..1024]).expect("write");
    let (_, archive, entry) = corrupt_parts(Bundle::open(&path));
    assert_eq!(archive, path);
    assert_eq!(entry.as_deref(), Some(ENV_PATH));
}

#[test]
fn gzip_with_bad_checksum_trailer_is_corrupt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut gz = compress(&tar_bytes(&good_entries("")), Z::Gz);
    let crc_at = gz.len() - 8;
    gz[crc_at] ^= 0xff;
    let path = tmp.path().join("badcrc.tar.gz");
    fs::write(&path, gz).expect("write");
    let (_, archive, _) = corrupt_parts(Bundle::open(&path));
    assert_eq!(archive, path);
}

#[test]
fn garbage_is_an_unknown_format_and_gzipped_garbage_is_corrupt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("garbage.tar.gz");
    fs::write(&path, noise(4096)).expect("write");
    match Bundle::open(&path) {
        Err(e @ BundleError::UnknownFormat { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()));
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
    let empty = tmp.path().join("empty.tar");
    fs::write(&empty, b"").expect("write");
    assert!(matches!(
        Bundle::open(&empty),
        Err(BundleError::UnknownFormat { path }) if path == empty
    ));
    let gz = tmp.path().join("gzipped-garbage.tar.gz");
    fs::write(&gz, compress(&noise(4096), Z::Gz)).expect("write");
    let (_, archive, entry) = corrupt_parts(Bundle::open(&gz));
    assert_eq!(archive, gz);
    assert_eq!(entry, None);
    let missing = tmp.path().join("nope.tar");
    assert!(matches!(
        Bundle::open(&missing),
        Err(BundleError::NotFound { path }) if path == missing
    ));
}

// ---------------------------------------------------------------------------------------
// Text access.

#[test]
fn non_utf8_config_file_text_names_file_line_and_column() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("bundle");
    write_dir(
        &root,
        &[(
            "config/props/bad.prop".into(),
            b"a=1\n\xffb=2\n".to_vec(),
            0o644,
        )],
    );
    let bundle = Bundle::open(&root).expect("opens: bytes are checked only when read as text");
    match bundle.text("config/props/bad.prop") {
        Err(e @ BundleError::NotUtf8 { .. }) => {
            let text = e.to_string();
            assert!(matches!(
                &e,
                BundleError::NotUtf8 { path, offset: 4, .. } if path == "config/props/bad.prop"
            ));
            assert!(
                text.starts_with("config/props/bad.prop:2:1: not valid UTF-8")
                    && text.contains("offset 4"),
                "{text}"
            );
        }
        other => panic!("expected NotUtf8, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Streaming.

#[test]
fn large_entry_is_hashed_while_streaming_and_not_kept() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("big.tar.gz");
    {
        let file = fs::File::create(&path).expect("create");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(ENV_PROP.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, ENV_PATH, ENV_PROP).expect("small");
        let mut h = tar::Header::new_gnu();
        h.set_size(SIZE);
        h.set_mode(0o600);
        b.append_data(&mut h, SNAPSHOT_PATH, io::repeat(0).take(SIZE))
            .expect("big");
        b.into_inner()
            .expect("tar")
            .finish()
            .expect("gzip")
            .sync_all()
            .expect("sync");
    }
    let file_size = fs::metadata(&path).expect("stat").len();
    let mut events = Vec::new();
    let bundle = Bundle::open_with_progress(&path, &mut |p| events.push(p)).expect("opens");
    let snap = bundle.get(SNAPSHOT_PATH).expect("snapshot");
    assert_eq!(snap.size, SIZE);
    assert_eq!(snap.sha256_hex(), ZEROS_64M_SHA);
    assert_eq!(
        snap.content, None,
        "a 64 MiB snapshot must not be held in memory"
    );
    assert_eq!(snap.mode, 0o600);
    assert_eq!(bundle.text(ENV_PATH).expect("text"), "global.x=1\n");

    // Progress: started with the file size, advanced monotonically up to it, finished.
    assert_eq!(
        events.first(),
        Some(&Progress::Started {
            total_bytes: Some(file_size)
        })
    );
    assert_eq!(events.last(), Some(&Progress::Finished));
    let advances: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Advanced { bytes } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert!(advances.windows(2).all(|w| w[0] < w[1]), "not monotonic");
    assert_eq!(advances.last(), Some(&file_size));
}
