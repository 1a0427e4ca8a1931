//! `backup`: one new, verified bundle of a running cluster, with the parts
//! `backup_deephaven` takes (etcd snapshot, configuration items, per-node files,
//! WorkspaceData, the MySQL ACL dump), then optional retention.
//!
//! The bundle is the contract's layout, so every other command reads it: the snapshot at
//! `etcd/snapshot.db`, the configuration items exported by the etcd layout under
//! `config/`, per-node files under `files/`, WorkspaceData under `workspace/`, the dump at
//! `mysql/dbacl_iris.sql`, and `MANIFEST.sha256` over all of them. It is written by
//! [`writer::BundleWriter`] (hidden until complete and verified), under an exclusive lock
//! of the destination folder ([`retain::lock`]). Retention runs only after the new bundle
//! is in place. This module never reads the environment and never sees clap; the
//! command-line edge (`cli/backup.rs`) resolves the options, connects to etcd, and
//! switches user.

pub mod restore;
pub mod retain;
pub mod sources;
pub mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::etcd::{EtcdError, RealEtcd, SnapshotError, SnapshotInfo};
use crate::export::{ExportError, Exported};
use crate::layout::Layout;
pub use retain::{LockError, Removed, RetainError};
pub use sources::{MysqlSource, Skipped, SourceError, SourceFile};
pub use writer::{BundleFormat, BundleWriter, WriteError};

/// Where the snapshot goes in the bundle.
pub const SNAPSHOT_PATH: &str = "etcd/snapshot.db";
/// Where the MySQL/MariaDB dump goes in the bundle.
pub const MYSQL_PATH: &str = "mysql/dbacl_iris.sql";

/// Which parts to take: `backup_deephaven`'s part options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// `-e`: the whole etcd through the maintenance API.
    pub etcd: bool,
    /// `-A`: ACL items from etcd, and the MySQL dump when a MySQL source is given.
    pub acls: bool,
    /// `-p`: persistent-query definitions.
    pub pqs: bool,
    /// `-w`: the WorkspaceData table's files.
    pub workspace: bool,
    /// `-s`: table schemas.
    pub schemas: bool,
    /// `-P`: property files, and the per-node configuration files under `files/`.
    pub props: bool,
    /// `-r`: the routing file and the DIS configurations.
    pub routing: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        etcd: true,
        acls: true,
        pqs: true,
        workspace: true,
        schemas: true,
        props: true,
        routing: true,
    };

    pub fn any(self) -> bool {
        self != Parts::default()
    }

    /// Whether items of the layout kind `kind` are exported. A kind the options do not
    /// name (a site's own layout) is taken with everything (`-a`) only.
    pub fn takes_kind(self, kind: &str) -> bool {
        match kind {
            "props" => self.props,
            "routing" | "dis" => self.routing,
            "schema" => self.schemas,
            "pq" => self.pqs,
            "acl" => self.acls,
            _ => self == Parts::ALL,
        }
    }

    fn takes_items(self) -> bool {
        self.props || self.routing || self.schemas || self.pqs || self.acls
    }

    /// Whether etcd must be reached.
    pub fn needs_etcd(self) -> bool {
        self.etcd || self.takes_items()
    }
}

/// Everything one backup needs, resolved.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder the bundle goes into (created when missing).
    pub dir: PathBuf,
    pub parts: Parts,
    /// `-R`: after success, remove dh-migrate bundles older than this many days.
    pub retain_days: Option<u64>,
    /// Where `/` is for the per-node configuration (tests use a temporary folder).
    pub files_root: PathBuf,
    /// The database root (`/db`).
    pub db_root: PathBuf,
    pub format: BundleFormat,
    pub dry_run: bool,
    /// Where the ACLs live when they are in MySQL/MariaDB.
    pub mysql: Option<MysqlSource>,
    pub layout: Layout,
    /// The backup's time (its name).
    pub now: SystemTime,
}

/// What etcd a backup reads: the configuration items and a snapshot.
pub trait EtcdSource {
    fn items(&mut self, layout: &Layout) -> Result<Exported, ExportError>;
    fn snapshot_to(&mut self, out: &mut dyn io::Write) -> Result<SnapshotInfo, SnapshotError>;
}

impl EtcdSource for RealEtcd {
    fn items(&mut self, layout: &Layout) -> Result<Exported, ExportError> {
        crate::export::read(self, layout)
    }

    fn snapshot_to(&mut self, out: &mut dyn io::Write) -> Result<SnapshotInfo, SnapshotError> {
        RealEtcd::snapshot_to(self, out)
    }
}

/// One part of the summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartSummary {
    pub part: &'static str,
    pub files: usize,
    /// Unknown in a dry run for streamed parts (snapshot, dump).
    pub bytes: Option<u64>,
}

/// What a backup did (or, in a dry run, would do): the one document `--json` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The new bundle (in a dry run: the path it would have).
    pub bundle: PathBuf,
    pub format: BundleFormat,
    pub dry_run: bool,
    pub parts: Vec<PartSummary>,
    /// Files in the bundle, manifest excluded.
    pub files: usize,
    pub bytes: u64,
    /// The etcd revision the configuration items were read at.
    pub etcd_revision: Option<i64>,
    /// Keys under the layout prefix that are no configuration item (not exported; the
    /// snapshot has them).
    pub etcd_other_keys: usize,
    /// Every path (in a dry run: what would be written), bundle-relative.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Bundles retention removed (in a dry run: would remove).
    pub removed: Vec<Removed>,
    /// Leftovers of killed runs that were cleaned up.
    pub stale_removed: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot create the backup folder {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("etcd snapshot: {0}")]
    Etcd(#[from] EtcdError),
    #[error("etcd snapshot: {0}")]
    Snapshot(SnapshotError),
    #[error("reading the configuration items from etcd: {0}")]
    Export(#[from] ExportError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Retain(#[from] RetainError),
    #[error("internal: the selected parts need etcd but no connection was given")]
    NoEtcd,
}

impl From<SnapshotError> for BackupError {
    fn from(e: SnapshotError) -> BackupError {
        match e {
            SnapshotError::Etcd(e) => BackupError::Etcd(e),
            e => BackupError::Snapshot(e),
        }
    }
}

/// Runs one backup. `note` receives progress lines (for `--verbose`).
pub fn run(
    opts: &Options,
    mut etcd: Option<&mut dyn EtcdSource>,
    note: &mut dyn FnMut(&str),
) -> Result<Summary, BackupError> {
    if !opts.dry_run {
        std::fs::create_dir_all(&opts.dir).map_err(|source| BackupError::Dir {
            path: opts.dir.clone(),
            source,
        })?;
    }
    // Held to the end, retention included.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(retain::lock(&opts.dir)?)
    };
    let stale_removed = if opts.dry_run {
        Vec::new()
    } else {
        retain::remove_stale_partials(&opts.dir)?
    };
    for p in &stale_removed {
        note(&format!(
            "removed {} (left by a backup that did not finish)",
            p.display()
        ));
    }

    let parts = opts.parts;
    let mut skipped = Vec::new();
    // The destination never copies itself, wherever it is.
    let dest_abs = std::fs::canonicalize(&opts.dir).unwrap_or_else(|_| opts.dir.clone());
    let config_files = if parts.props {
        let (files, sk) = sources::config_files(&opts.files_root, &[opts.dir.clone(), dest_abs])?;
        skipped.extend(sk);
        files
    } else {
        Vec::new()
    };
    let workspace = if parts.workspace {
        let (files, sk) = sources::workspace_files(&opts.db_root)?;
        skipped.extend(sk);
        files
    } else {
        Vec::new()
    };
    let mut items = if parts.takes_items() {
        let source = etcd.as_deref_mut().ok_or(BackupError::NoEtcd)?;
        let mut exported = source.items(&opts.layout)?;
        let keep: std::collections::BTreeSet<String> = exported
            .items
            .keys()
            .filter(|path| {
                opts.layout
                    .key_for(path)
                    .is_some_and(|(_, item)| parts.takes_kind(&item.kind))
            })
            .cloned()
            .collect();
        exported.items.retain(|p, _| keep.contains(p));
        Some(exported)
    } else {
        None
    };
    let dump_mysql = parts.acls && opts.mysql.is_some();

    let ext = opts.format.extension();
    let name = retain::free_name(&opts.dir, opts.now, ext);
    if opts.dry_run {
        return Ok(dry_summary(
            opts,
            &name,
            items,
            &config_files,
            &workspace,
            dump_mysql,
            skipped,
        ));
    }

    let mut w = BundleWriter::create(&opts.dir, &name, opts.format)?;
    let mut parts_done = Vec::new();
    if parts.etcd {
        note("taking the etcd snapshot");
        let source = etcd.ok_or(BackupError::NoEtcd)?;
        let dest = w_path(&opts.dir, SNAPSHOT_PATH);
        let bytes = w.add_hashed_by(SNAPSHOT_PATH, 0o600, |out| match source.snapshot_to(out) {
            Ok(info) => Ok(info.file_sha256),
            Err(SnapshotError::Write(source)) => {
                Err(BackupError::Write(WriteError::Io { path: dest, source }))
            }
            Err(e) => Err(e.into()),
        })?;
        parts_done.push(PartSummary {
            part: "etcd-snapshot",
            files: 1,
            bytes: Some(bytes),
        });
    }
    let (mut etcd_revision, mut etcd_other_keys) = (None, 0);
    // Taken, and dropped once written: the verification below holds the text again.
    if let Some(exported) = items.take() {
        etcd_revision = Some(exported.header_revision);
        etcd_other_keys = exported.unknown.len();
        let mut counts: Vec<PartSummary> = Vec::new();
        for (path, (value, _)) in &exported.items {
            w.add_from(path, 0o644, &mut value.as_slice())?;
            count_item(&mut counts, item_part(&opts.layout, path), value.len());
        }
        note(&format!(
            "exported {} configuration item(s) at etcd revision {}",
            exported.items.len(),
            exported.header_revision
        ));
        parts_done.extend(counts);
    }
    for (part, files) in [("files", &config_files), ("workspace", &workspace)] {
        if files.is_empty() {
            continue;
        }
        let mut bytes = 0;
        for f in files.iter() {
            let input = std::fs::File::open(&f.from).map_err(|source| SourceError::Io {
                path: f.from.clone(),
                source,
            })?;
            let mut input = ReadSide {
                inner: input,
                failed: false,
            };
            let dest = w_path(&opts.dir, &f.to);
            bytes += w.add_with(&f.to, f.mode, |out| {
                io::copy(&mut input, out).map(|_| ()).map_err(|source| {
                    // A read error names the source file, a write error the bundle's.
                    if input.failed {
                        BackupError::Source(SourceError::Io {
                            path: f.from.clone(),
                            source,
                        })
                    } else {
                        BackupError::Write(WriteError::Io { path: dest, source })
                    }
                })
            })?;
        }
        note(&format!("copied {} {part} file(s)", files.len()));
        parts_done.push(PartSummary {
            part,
            files: files.len(),
            bytes: Some(bytes),
        });
    }
    if dump_mysql {
        if let Some(mysql) = &opts.mysql {
            note("dumping the dbacl_iris database");
            let dest = w_path(&opts.dir, MYSQL_PATH);
            let bytes = w.add_with(MYSQL_PATH, 0o600, |out| {
                mysql
                    .dump(out, &|source| SourceError::Io {
                        path: dest.clone(),
                        source,
                    })
                    .map_err(BackupError::from)
            })?;
            parts_done.push(PartSummary {
                part: "mysql",
                files: 1,
                bytes: Some(bytes),
            });
        }
    }
    let (files, bytes) = (w.files(), w.bytes());
    let paths = Vec::new();
    let bundle = w.finish()?;
    note(&format!("wrote and verified {}", bundle.display()));

    let removed = match opts.retain_days {
        Some(days) => {
            let removed = retain::expired(&opts.dir, days, SystemTime::now(), &bundle)?;
            retain::remove(&removed)?;
            removed
        }
        None => Vec::new(),
    };
    Ok(Summary {
        bundle,
        format: opts.format,
        dry_run: false,
        parts: parts_done,
        files,
        bytes,
        etcd_revision,
        etcd_other_keys,
        paths,
        skipped,
        removed,
        stale_removed,
    })
}

/// A reader that remembers whether it failed, to tell read errors from write errors
/// after a copy.
struct ReadSide<R> {
    inner: R,
    failed: bool,
}

impl<R: io::Read> io::Read for ReadSide<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

/// A path inside the bundle being written, for messages (the bundle's final name).
fn w_path(dir: &Path, rel: &str) -> PathBuf {
    dir.join(rel)
}

/// Counts one item of `bytes` bytes into its part's summary.
fn count_item(parts: &mut Vec<PartSummary>, part: &'static str, bytes: usize) {
    match parts.iter_mut().find(|c| c.part == part) {
        Some(c) => {
            c.files += 1;
            *c.bytes.get_or_insert(0) += bytes as u64;
        }
        None => parts.push(PartSummary {
            part,
            files: 1,
            bytes: Some(bytes as u64),
        }),
    }
}

/// The summary part an exported item belongs to, by its layout kind.
fn item_part(layout: &Layout, path: &str) -> &'static str {
    match layout.key_for(path).map(|(_, item)| item.kind.as_str()) {
        Some("props") => "property-files",
        Some("routing") | Some("dis") => "routing",
        Some("schema") => "schemas",
        Some("pq") => "persistent-queries",
        Some("acl") => "acls",
        _ => "other-items",
    }
}

#[allow(clippy::too_many_arguments)]
fn dry_summary(
    opts: &Options,
    name: &str,
    items: Option<Exported>,
    config_files: &[SourceFile],
    workspace: &[SourceFile],
    dump_mysql: bool,
    skipped: Vec<Skipped>,
) -> Summary {
    let mut parts = Vec::new();
    let mut paths = Vec::new();
    let mut bytes = 0u64;
    if opts.parts.etcd {
        parts.push(PartSummary {
            part: "etcd-snapshot",
            files: 1,
            bytes: None,
        });
        paths.push(SNAPSHOT_PATH.to_string());
    }
    let (mut etcd_revision, mut etcd_other_keys) = (None, 0);
    if let Some(exported) = &items {
        etcd_revision = Some(exported.header_revision);
        etcd_other_keys = exported.unknown.len();
        for (path, (value, _)) in &exported.items {
            count_item(&mut parts, item_part(&opts.layout, path), value.len());
            bytes += value.len() as u64;
            paths.push(path.clone());
        }
    }
    for (part, files) in [("files", config_files), ("workspace", workspace)] {
        if files.is_empty() {
            continue;
        }
        let size: u64 = files.iter().map(|f| f.size).sum();
        bytes += size;
        parts.push(PartSummary {
            part,
            files: files.len(),
            bytes: Some(size),
        });
        paths.extend(files.iter().map(|f| f.to.clone()));
    }
    if dump_mysql {
        parts.push(PartSummary {
            part: "mysql",
            files: 1,
            bytes: None,
        });
        paths.push(MYSQL_PATH.to_string());
    }
    let removed = match opts.retain_days {
        Some(days) => {
            retain::expired(&opts.dir, days, SystemTime::now(), Path::new("")).unwrap_or_default()
        }
        None => Vec::new(),
    };
    Summary {
        bundle: opts.dir.join(format!("{name}{}", opts.format.extension())),
        format: opts.format,
        dry_run: true,
        files: paths.len(),
        parts,
        bytes,
        etcd_revision,
        etcd_other_keys,
        paths,
        skipped,
        removed,
        stale_removed: Vec::new(),
    }
}
