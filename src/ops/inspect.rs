//! `inspect`: verify a bundle and list its parts and every old-node reference. It works
//! on the bundle alone, streaming (each file parsed, scanned and dropped), so it takes a
//! bundle rather than the full [`super::Inputs`].

use super::OpsError;
use crate::bundle::Bundle;
use crate::contexts::RoleContexts;
use crate::inspect::InspectReport;
use crate::layout::Layout;

/// The inspection report of an opened (and so verified) bundle. The bundle's etcd
/// snapshot is read through (trailer and structure, every bucket; one that does not check
/// out makes the bundle invalid) and its items are the bundle's configuration, replacing
/// `config/` files that differ (each named in a warning), as every command reads it by
/// default ([`super::snapshot_source::fold_snapshot`]).
pub fn inspect(
    mut bundle: Bundle,
    contexts: &RoleContexts,
    layout: &Layout,
    prefer_files: bool,
) -> Result<InspectReport, OpsError> {
    let warnings = super::snapshot_source::fold_snapshot(&mut bundle, layout, prefer_files)?;
    let mut report = crate::inspect::inspect_streaming(&bundle, contexts)?;
    report.warnings = warnings;
    Ok(report)
}
