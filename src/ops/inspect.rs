//! `inspect`: verify a bundle and list its parts and every old-node reference. It works
//! on the bundle alone, streaming (each file parsed, scanned and dropped), so it takes a
//! bundle rather than the full [`super::Inputs`].

use super::OpsError;
use crate::bundle::{Bundle, BundleKind};
use crate::contexts::RoleContexts;
use crate::inspect::InspectReport;
use crate::snapshot_db::{Options, Snapshot};

/// The inspection report of an opened (and so verified) bundle. A directory bundle's
/// etcd snapshot is read through too (trailer and structure, every bucket): one that does
/// not check out makes the bundle invalid. (An archive's snapshot is only hashed.)
pub fn inspect(bundle: &Bundle, contexts: &RoleContexts) -> Result<InspectReport, OpsError> {
    if let Some(path) = directory_snapshot(bundle) {
        let snap = Snapshot::open(&path, Options::default())?;
        snap.status()?;
    }
    Ok(crate::inspect::inspect_streaming(bundle, contexts)?)
}

/// Where a directory bundle's `etcd/snapshot.db` is on disk.
fn directory_snapshot(bundle: &Bundle) -> Option<std::path::PathBuf> {
    const SNAPSHOT: &str = "etcd/snapshot.db";
    if bundle.kind != BundleKind::Directory || bundle.get(SNAPSHOT).is_none() {
        return None;
    }
    let root = match &bundle.prefix {
        Some(p) => bundle.source.join(p),
        None => bundle.source.clone(),
    };
    Some(root.join(SNAPSHOT))
}
