//! `export`: write a cluster's configuration (the layout's etcd items) in the bundle
//! layout, all or nothing.

use super::OpsError;
use crate::emit::{self, OutFile};
use crate::etcd::KvStore;
use crate::export::Exported;
use crate::layout::Layout;
use std::path::Path;

/// Reads every layout item and, unless `dry_run`, writes them as a new tree at `out`.
pub fn export(
    store: &mut dyn KvStore,
    layout: &Layout,
    out: &Path,
    dry_run: bool,
) -> Result<Exported, OpsError> {
    emit::check_destination(out)?;
    let exported = crate::export::read(store, layout).map_err(crate::target::TargetError::from)?;
    if !dry_run {
        let files: Vec<OutFile<'_>> = exported
            .items
            .iter()
            .map(|(p, (v, _))| OutFile {
                path: p,
                content: v,
                mode: 0o644,
            })
            .collect();
        emit::write_bundle_tree(out, &files)?;
    }
    Ok(exported)
}
