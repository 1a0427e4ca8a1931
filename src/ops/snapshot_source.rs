//! A bundle's etcd snapshot as a source of configuration items: every item the etcd
//! layout maps from the snapshot's live keyspace becomes the bundle's `config/...` file,
//! so every use case (inspect, suggest, plan, report, wizard, apply) sees a snapshot-only
//! bundle (what `backup_deephaven --etcd` gives) as if it held the files.
//!
//! The snapshot's old etcd identity (members, users, roles, lease-bound keys: names only)
//! is kept on the bundle for `inspect` and the plan's snapshot advice.
//!
//! When the bundle also holds `config/` files, the snapshot's copies are used (it is what
//! etcd held: the files are exports, which may be stale or edited); the files win only
//! when the user says so (`--prefer-files`). Either way each item whose snapshot copy
//! differs (or is only in one of the two) is returned as a warning naming it.

use super::OpsError;
use crate::backup::restore::stream_files;
use crate::bundle::{Bundle, BundleKind};
use crate::layout::Layout;
use crate::snapshot_db::{Options, Snapshot};
use std::path::PathBuf;

/// Where a bundle holds its etcd snapshot.
pub const SNAPSHOT: &str = "etcd/snapshot.db";

/// Reads `bundle`'s etcd snapshot (if any) through `layout`: adds its items as
/// `config/...` files when the bundle has none, else compares them with the files.
/// Returns the warnings (items that differ). A snapshot whose trailer or structure does
/// not check out fails (the bundle is invalid).
/// The snapshot's copy of every item it holds replaces the file, unless `prefer_files`:
/// then the `config/` files are the configuration and snapshot-only items are left out.
pub fn fold_snapshot(
    bundle: &mut Bundle,
    layout: &Layout,
    prefer_files: bool,
) -> Result<Vec<String>, OpsError> {
    if bundle.get(SNAPSHOT).is_none() {
        return Ok(Vec::new());
    }
    // The reader needs positional reads: an archive's entry is copied to a private
    // temporary file (0600, removed when dropped), its SHA-256 checked on the way.
    let mut _copy = None;
    let path = match directory_snapshot(bundle) {
        Some(path) => path,
        None => {
            let mut tmp = tempfile::Builder::new()
                .prefix("dh-migrate-snapshot-")
                .tempfile()
                .map_err(|source| OpsError::SnapshotCopy {
                    bundle: bundle.source.clone(),
                    detail: source.to_string(),
                })?;
            stream_files(bundle, &[SNAPSHOT], &mut |_, input| {
                std::io::copy(input, tmp.as_file_mut())
                    .map(|_| ())
                    .map_err(|e| crate::backup::restore::RestoreError::Io {
                        path: PathBuf::from(SNAPSHOT),
                        source: e,
                    })
            })
            .map_err(|e| OpsError::SnapshotCopy {
                bundle: bundle.source.clone(),
                detail: e.to_string(),
            })?;
            let path = tmp.path().to_path_buf();
            _copy = Some(tmp);
            path
        }
    };
    let snap = Snapshot::open(&path, Options::default()).map_err(|e| named(e, bundle))?;
    let status = snap.status().map_err(|e| named(e, bundle))?;
    bundle.snapshot_identity = Some(status.old_identity());
    let exported = crate::export::from_snapshot(&snap, layout).map_err(|e| named(e, bundle))?;
    drop(snap);
    drop(_copy);

    if bundle.under("config").next().is_none() {
        for (item, (value, _)) in exported.items {
            bundle.add_derived(&item, value);
        }
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let mut taken = Vec::new();
    for (item, (value, _)) in &exported.items {
        let key = exported.keys.get(item).map(String::as_str).unwrap_or("");
        let taking = "the snapshot's copy is used (--prefer-files keeps the config/ file)";
        match bundle.get(item).and_then(|f| f.content.as_deref()) {
            Some(content) if content == value.as_slice() => continue,
            Some(_) => warnings.push(format!(
                "{item} differs from its copy in {SNAPSHOT} (etcd key {key}); {}",
                if prefer_files {
                    "the config/ file is used (--prefer-files)"
                } else {
                    taking
                }
            )),
            None => warnings.push(format!(
                "{item} is in {SNAPSHOT} (etcd key {key}) but not in config/; {}",
                if prefer_files {
                    "left out (--prefer-files)"
                } else {
                    taking
                }
            )),
        }
        taken.push(item.clone());
    }
    for file in bundle.under("config") {
        if layout.key_for(&file.path).is_some() && !exported.items.contains_key(&file.path) {
            warnings.push(format!(
                "{} is in config/ but not in {SNAPSHOT}; the config/ file is kept",
                file.path
            ));
        }
    }
    if !prefer_files {
        let mut items = exported.items;
        for item in taken {
            if let Some((value, _)) = items.remove(&item) {
                bundle.add_derived(&item, value);
            }
        }
    }
    Ok(warnings)
}

/// A snapshot error names the bundle's entry, not a temporary copy.
fn named(mut e: crate::snapshot_db::SnapshotError, bundle: &Bundle) -> OpsError {
    if bundle.kind != BundleKind::Directory {
        e.file = bundle.source.join(SNAPSHOT);
    }
    OpsError::Snapshot(e)
}

/// Where a directory bundle's `etcd/snapshot.db` is on disk.
pub(super) fn directory_snapshot(bundle: &Bundle) -> Option<PathBuf> {
    if bundle.kind != BundleKind::Directory || bundle.get(SNAPSHOT).is_none() {
        return None;
    }
    let root = match &bundle.prefix {
        Some(p) => bundle.source.join(p),
        None => bundle.source.clone(),
    };
    Some(root.join(SNAPSHOT))
}
