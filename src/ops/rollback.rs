//! `rollback`: undo an apply from its run record. Only keys still holding the value the
//! apply wrote are restored; a second rollback finds nothing left to do.

use super::{read_text, FileRole, OpsError};
use crate::apply::{RolledBack, RunRecord};
use crate::etcd::KvStore;
use std::path::Path;

/// How to roll back.
#[derive(Debug, Clone, Copy, Default)]
pub struct RollbackOptions {
    /// Count and check only; write nothing.
    pub dry_run: bool,
    pub max_txn_ops: Option<usize>,
}

/// Reads a run record.
pub fn load_record(path: &Path) -> Result<RunRecord, OpsError> {
    Ok(RunRecord::parse(&read_text(path, FileRole::Option)?)?)
}

pub fn rollback(
    store: &mut dyn KvStore,
    record: &RunRecord,
    opts: RollbackOptions,
) -> Result<RolledBack, OpsError> {
    Ok(crate::apply::rollback(
        store,
        record,
        opts.dry_run,
        opts.max_txn_ops,
    )?)
}
