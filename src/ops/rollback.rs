//! `rollback`: undo an apply from its run record. Only keys still holding the value the
//! apply wrote are restored; a second rollback finds nothing left to do. A record naming
//! keys outside the layout's prefix is refused whole.

use super::{read_text, FileRole, OpsError};
use crate::apply::{check_rollback, rollback_checked, RolledBack, RunRecord};
use crate::etcd::KvStore;
use crate::layout::Layout;
use std::path::Path;

/// How to roll back.
#[derive(Debug, Clone, Copy, Default)]
pub struct RollbackOptions {
    /// Check and list only; write nothing.
    pub dry_run: bool,
    pub max_txn_ops: Option<usize>,
    /// Restore the keys nobody changed since the apply and leave (and name) the others,
    /// instead of refusing the whole rollback.
    pub only_unchanged: bool,
}

/// Reads a run record.
pub fn load_record(path: &Path) -> Result<RunRecord, OpsError> {
    Ok(RunRecord::parse(&read_text(path, FileRole::Option)?)?)
}

/// Checks every key of the record, then (unless a dry run) restores.
pub fn rollback(
    store: &mut dyn KvStore,
    record: &RunRecord,
    layout: &Layout,
    opts: RollbackOptions,
) -> Result<RolledBack, OpsError> {
    let check = check_rollback(store, record, &layout.prefix)?;
    Ok(rollback_checked(
        store,
        check,
        opts.only_unchanged,
        opts.dry_run,
        opts.max_txn_ops,
    )?)
}
