//! `restore`: a bundle put back onto the same cluster after a failure (no mapping).
//!
//! - Every configuration item of the bundle the etcd layout maps (the cluster's own
//!   `iris-endpoints.prop` included: on the same cluster it is not foreign) is compared
//!   with etcd; the ones that differ are written by `apply::apply`: guarded by revision or
//!   absence, a run record saved first, batches within etcd's limits, all or nothing.
//! - Then the file-system parts: `files/...` under the files root and `workspace/...`
//!   under the database root, with their modes. A file already there with other content
//!   is first renamed aside (`NAME.dh-migrate-saved-STAMP`); a file already identical is
//!   left alone. Each file is written to a temporary name and renamed, and every byte is
//!   checked against the bundle's SHA-256 while it streams.
//! - Then, when asked, the MySQL/MariaDB dump is fed to the client.
//!
//! The bundle's files are streamed from the bundle (a folder, or the archive read again
//! entry by entry), never held whole in memory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::apply::Change;
use crate::bundle::{Bundle, BundleKind};
use crate::export::Exported;
use crate::layout::Layout;

use super::sources::{mode_of, SourceError};
use super::{MYSQL_PATH, SNAPSHOT_PATH};

/// One file to put back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileAction {
    /// Path in the bundle.
    pub from: String,
    pub to: PathBuf,
    pub mode: u32,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing there yet.
    Create,
    /// Something else there: saved aside, then replaced.
    Replace,
    /// Already identical (content and mode): left alone.
    Unchanged,
}

/// What a restore writes.
#[derive(Debug, Clone, Default)]
pub struct RestorePlan {
    /// etcd keys that differ from the bundle.
    pub changes: Vec<Change>,
    /// Items the bundle holds (written or already equal).
    pub items: usize,
    /// Files a restore does not write (new serial-keyed items, `config/` files no layout
    /// item holds): the vendor's import.
    pub not_created: Vec<crate::apply::Skipped>,
    pub files: Vec<FileAction>,
    pub workspace: Vec<FileAction>,
    pub has_mysql_dump: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bundle file {path} changed since it was verified (SHA-256 differs); nothing more was written")]
    Changed { path: String },
    #[error("bundle file {path} is not there any more")]
    Missing { path: String },
    #[error(transparent)]
    Source(#[from] SourceError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The bundle's configuration items by bundle path: (etcd key, value). Items only held in
/// the snapshot are not among them, nor items keyed by a serial number (layout version 2
/// `scan` kinds) that etcd (`current`) does not hold: see [`not_created`].
pub fn items(
    bundle: &Bundle,
    layout: &Layout,
    current: &Exported,
) -> BTreeMap<String, (String, Vec<u8>)> {
    bundle
        .under("config")
        .filter_map(|f| {
            let key = crate::apply::item_key(layout, current, &f.path)?;
            Some((f.path.clone(), (key, f.content.as_deref()?.to_vec())))
        })
        .collect()
}

/// The bundle's items a restore cannot create: new serial-keyed items (see
/// `apply::not_created`).
pub fn not_created(
    bundle: &Bundle,
    layout: &Layout,
    current: &Exported,
) -> Vec<crate::apply::Skipped> {
    crate::apply::not_created(
        layout,
        bundle.under("config").map(|f| f.path.as_str()),
        |p| current.items.contains_key(p),
    )
}

/// The etcd writes that put `items` back, given what etcd holds now (a version 2 item's
/// `name` and `guard` parts with it, as apply writes them).
pub fn changes(
    items: &BTreeMap<String, (String, Vec<u8>)>,
    layout: &Layout,
    current: &Exported,
) -> Vec<Change> {
    items
        .iter()
        .flat_map(|(path, (key, value))| {
            crate::apply::item_changes(layout, current, path, key.clone(), value.as_slice())
        })
        .collect()
}

/// What to do with each bundle file under `part/`, written below `root`.
fn file_actions(bundle: &Bundle, part: &str, root: &Path) -> Result<Vec<FileAction>, RestoreError> {
    let mut out = Vec::new();
    for f in bundle.under(part) {
        let rel = &f.path[part.len() + 1..];
        let to = root.join(rel);
        // Key files (auth keys, private keys, credential stores) are 0600 whatever the
        // bundle says; everything else keeps its mode (0644 when the bundle has none).
        let mode = if crate::secrets::is_secret_file(&f.path) {
            crate::emit::KEY_FILE_MODE
        } else if f.mode & 0o777 == 0 {
            0o644
        } else {
            f.mode & 0o7777
        };
        let action = match fs::symlink_metadata(&to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Action::Create,
            Err(e) => return Err(io_at(&to)(e)),
            Ok(meta) if meta.is_file() && meta.len() == f.size && mode_of(&meta) == mode => {
                let mut input = fs::File::open(&to).map_err(io_at(&to))?;
                if super::writer::sha256_of(&mut input).map_err(io_at(&to))? == f.sha256 {
                    Action::Unchanged
                } else {
                    Action::Replace
                }
            }
            Ok(_) => Action::Replace,
        };
        out.push(FileAction {
            from: f.path.clone(),
            to,
            mode,
            action,
        });
    }
    Ok(out)
}

/// The whole restore plan against etcd's present content.
pub fn plan(
    bundle: &Bundle,
    layout: &Layout,
    current: &Exported,
    files_root: &Path,
    db_root: &Path,
) -> Result<RestorePlan, RestoreError> {
    let items = items(bundle, layout, current);
    Ok(RestorePlan {
        changes: changes(&items, layout, current),
        items: items.len(),
        not_created: not_created(bundle, layout, current),
        files: file_actions(bundle, "files", files_root)?,
        workspace: file_actions(bundle, "workspace", db_root)?,
        has_mysql_dump: bundle.get(MYSQL_PATH).is_some(),
    })
}

/// Calls `f` with a reader of each bundle file in `paths` (bundle order), streaming from
/// the folder or from the archive read again; every byte is checked against the
/// verified SHA-256 before `f`'s result counts.
pub fn stream_files(
    bundle: &Bundle,
    paths: &[&str],
    f: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), RestoreError>,
) -> Result<(), RestoreError> {
    let wanted: BTreeMap<&str, [u8; 32]> = paths
        .iter()
        .filter_map(|p| bundle.get(p).map(|b| (*p, b.sha256)))
        .collect();
    let mut check = |path: &str, input: &mut dyn Read| -> Result<(), RestoreError> {
        let Some(sha) = wanted.get(path) else {
            return Ok(());
        };
        let mut reader = HashingReader {
            inner: input,
            hash: Sha256::new(),
        };
        f(path, &mut reader)?;
        // Whatever `f` left unread still counts.
        io::copy(&mut reader, &mut io::sink()).map_err(io_at(Path::new(path)))?;
        if <[u8; 32]>::from(reader.hash.finalize()) != *sha {
            return Err(RestoreError::Changed {
                path: path.to_string(),
            });
        }
        Ok(())
    };
    let prefix = bundle
        .prefix
        .clone()
        .map(|p| format!("{}/", p.trim_end_matches('/')));
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    if bundle.kind == BundleKind::Directory {
        let base = match &bundle.prefix {
            Some(p) => bundle.source.join(p),
            None => bundle.source.clone(),
        };
        for path in wanted.keys() {
            let full = base.join(path);
            let mut input = fs::File::open(&full).map_err(io_at(&full))?;
            check(path, &mut input)?;
            seen.insert(path.to_string());
        }
    } else {
        let file = fs::File::open(&bundle.source).map_err(io_at(&bundle.source))?;
        let reader: Box<dyn Read> = match bundle.kind {
            BundleKind::TarGz => Box::new(flate2::read::GzDecoder::new(io::BufReader::new(file))),
            BundleKind::TarZst => {
                Box::new(zstd::Decoder::new(file).map_err(io_at(&bundle.source))?)
            }
            _ => Box::new(io::BufReader::new(file)),
        };
        let mut archive = tar::Archive::new(reader);
        let err = io_at(&bundle.source);
        for entry in archive.entries().map_err(err)? {
            let mut entry = entry.map_err(io_at(&bundle.source))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(io_at(&bundle.source))?;
            let path = path.to_string_lossy().into_owned();
            let path = path.trim_start_matches("./");
            let rel = match &prefix {
                Some(p) => path.strip_prefix(p.as_str()).unwrap_or(path),
                None => path,
            }
            .to_string();
            if wanted.contains_key(rel.as_str()) && !seen.contains(&rel) {
                check(&rel, &mut entry)?;
                seen.insert(rel);
            }
        }
    }
    if let Some(missing) = wanted.keys().find(|p| !seen.contains(**p)) {
        return Err(RestoreError::Missing {
            path: missing.to_string(),
        });
    }
    Ok(())
}

struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hash: Sha256,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Files saved aside and written.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilesDone {
    pub written: Vec<PathBuf>,
    pub saved_aside: Vec<(PathBuf, PathBuf)>,
    pub unchanged: usize,
}

/// Writes the `actions` (of `files/` or `workspace/`): existing different files renamed
/// aside to `NAME.dh-migrate-saved-STAMP` first, each new file written under a temporary
/// name with its mode and renamed into place.
pub fn write_files(
    bundle: &Bundle,
    actions: &[FileAction],
    stamp: &str,
) -> Result<FilesDone, RestoreError> {
    let mut done = FilesDone::default();
    let by_path: BTreeMap<&str, &FileAction> = actions
        .iter()
        .filter(|a| a.action != Action::Unchanged)
        .map(|a| (a.from.as_str(), a))
        .collect();
    done.unchanged = actions.len() - by_path.len();
    let paths: Vec<&str> = by_path.keys().copied().collect();
    stream_files(bundle, &paths, &mut |path, input| {
        let a = by_path[path];
        let dir = a.to.parent().unwrap_or(Path::new("/"));
        create_parent(dir, a.mode == crate::emit::KEY_FILE_MODE).map_err(io_at(dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".dh-migrate-restore-")
            .tempfile_in(dir)
            .map_err(io_at(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(a.mode))
                .map_err(io_at(tmp.path()))?;
        }
        io::copy(input, tmp.as_file_mut()).map_err(io_at(&a.to))?;
        tmp.as_file_mut().flush().map_err(io_at(&a.to))?;
        tmp.as_file().sync_all().map_err(io_at(&a.to))?;
        if a.action == Action::Replace && fs::symlink_metadata(&a.to).is_ok() {
            let mut aside = a.to.clone().into_os_string();
            aside.push(format!(".dh-migrate-saved-{stamp}"));
            let aside = PathBuf::from(aside);
            fs::rename(&a.to, &aside).map_err(io_at(&a.to))?;
            done.saved_aside.push((a.to.clone(), aside));
        }
        tmp.persist(&a.to).map_err(|e| io_at(&a.to)(e.error))?;
        done.written.push(a.to.clone());
        Ok(())
    })?;
    Ok(done)
}

/// Creates `dir` and its missing parents: 0755 at most, and `dir` itself 0700 when it is
/// created to hold a key file (an existing folder is left as it is).
fn create_parent(dir: &Path, for_key: bool) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(up) = dir.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(up)?;
    }
    let mode = if for_key {
        crate::emit::KEY_DIR_MODE
    } else {
        0o755
    };
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Per-member `etcdctl snapshot restore` steps for a cluster that lost quorum: `members`
/// are (name, peer URL) pairs; without them, one placeholder line per endpoint.
pub fn snapshot_steps(bundle: &Path, members: &[(String, String)], endpoints: &[String]) -> String {
    use std::fmt::Write as _;
    let snapshot = if bundle.is_dir() {
        bundle.join(SNAPSHOT_PATH).display().to_string()
    } else {
        format!("<{SNAPSHOT_PATH} extracted from {}>", bundle.display())
    };
    let members: Vec<(String, String)> = if members.is_empty() {
        endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let host = e
                    .split("://")
                    .last()
                    .unwrap_or(e)
                    .split(':')
                    .next()
                    .unwrap_or(e)
                    .to_string();
                (
                    format!("<member-{}-name>", i + 1),
                    format!("https://{host}:2380"),
                )
            })
            .collect()
    } else {
        members.to_vec()
    };
    let initial: Vec<String> = members.iter().map(|(n, p)| format!("{n}={p}")).collect();
    crate::text::build(|o| {
        writeln!(
        o,
        "etcd cannot be reached: it is down or has lost quorum. The bundle holds an etcd snapshot;"
    )?;
        writeln!(o, "to rebuild etcd from it, stop etcd on every member, move each data directory aside, then run")?;
        writeln!(
            o,
            "on each member (a restore makes a new cluster ID; use a new --initial-cluster-token):"
        )?;
        for (name, peer) in &members {
            writeln!(
            o,
            "  [{name}] etcdctl snapshot restore {snapshot} --name {name} --initial-cluster {} --initial-cluster-token <new-token> --initial-advertise-peer-urls {peer} --data-dir /var/lib/etcd/restored",
            initial.join(",")
        )?;
        }
        writeln!(
            o,
            "then point each member's etcd at /var/lib/etcd/restored, start them all, and run"
        )?;
        writeln!(o, "`dh-migrate restore` again for the file-system parts. dh-migrate never runs these commands.")?;
        Ok(())
    })
}
