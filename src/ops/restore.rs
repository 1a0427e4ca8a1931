//! `restore`: the same cluster put back from a bundle (no mapping). [`prepare`] opens and
//! verifies the bundle, connects to etcd and plans every write (etcd keys that differ,
//! files to create or replace); [`execute`] writes etcd through `apply::apply` (guarded,
//! recorded, all or nothing), then the file-system parts, then the MySQL dump when asked.
//! When etcd cannot be reached and the bundle holds a snapshot, [`prepare`] returns the
//! per-member snapshot restore steps instead.

use super::OpsError;
use crate::apply::{self, Applied, RunOptions};
use crate::backup::restore::{self, FilesDone, RestoreError, RestorePlan};
use crate::backup::{MysqlSource, MYSQL_PATH, SNAPSHOT_PATH};
use crate::bundle::{Bundle, Progress};
use crate::etcd::{EtcdError, EtcdSettings, RealEtcd};
use crate::layout::Layout;
use std::path::Path;

/// A planned restore, ready to execute.
pub struct Prepared {
    /// Where the bundle's files and its etcd snapshot disagree.
    pub warnings: Vec<String>,
    pub bundle: Bundle,
    pub plan: RestorePlan,
    store: RealEtcd,
    endpoints: Vec<String>,
    layout: Layout,
}

/// What [`prepare`] found.
pub enum Preparation {
    Ready(Box<Prepared>),
    /// etcd is down or lost quorum and the bundle holds a snapshot: the steps to rebuild
    /// etcd from it, and the connection error.
    EtcdDown {
        steps: String,
        error: EtcdError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreOpsError {
    #[error(transparent)]
    Ops(#[from] OpsError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("--mysql: the bundle holds no {MYSQL_PATH}; nothing was written")]
    NoDump,
}

impl From<EtcdError> for RestoreOpsError {
    fn from(e: EtcdError) -> RestoreOpsError {
        RestoreOpsError::Ops(OpsError::Etcd(e))
    }
}

/// Opens the bundle, connects, reads etcd's present items and plans the restore.
/// `files` false leaves the file-system parts out; `prefer_files`: a bundle with both
/// `config/` files and an etcd snapshot restores the files (default: the snapshot's copies).
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    bundle: &Path,
    settings: &EtcdSettings,
    layout: Layout,
    files_root: &Path,
    db_root: &Path,
    files: bool,
    prefer_files: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Preparation, RestoreOpsError> {
    let mut opened = Bundle::open_with_progress(bundle, progress).map_err(OpsError::Bundle)?;
    // A bundle whose only configuration is its etcd snapshot (`backup_deephaven --etcd`)
    // restores the snapshot's items, read offline through the layout; with files too, the
    // snapshot's copies win unless `prefer_files` (each difference is a warning, as for
    // every command).
    let warnings = super::snapshot_source::fold_snapshot(&mut opened, &layout, prefer_files)?;
    let mut store = match RealEtcd::connect(settings) {
        Ok(s) => s,
        Err(error @ (EtcdError::Unreachable { .. } | EtcdError::Timeout { .. }))
            if opened.get(SNAPSHOT_PATH).is_some() =>
        {
            let members = snapshot_members(bundle);
            let steps = restore::snapshot_steps(bundle, &members, &settings.endpoints);
            return Ok(Preparation::EtcdDown { steps, error });
        }
        Err(e) => return Err(e.into()),
    };
    let current = crate::export::read(&mut store, &layout)
        .map_err(|e| OpsError::Target(crate::target::TargetError::from(e)))?;
    let mut plan = restore::plan(&opened, &layout, &current, files_root, db_root)?;
    if !files {
        plan.files.clear();
        plan.workspace.clear();
    }
    Ok(Preparation::Ready(Box::new(Prepared {
        warnings,
        bundle: opened,
        plan,
        store,
        endpoints: settings.endpoints.clone(),
        layout,
    })))
}

/// What [`execute`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub applied: Applied,
    pub files: FilesDone,
    pub workspace: FilesDone,
    pub mysql: bool,
}

/// Writes the planned restore: etcd (run record at `record` first), the files (existing
/// different ones saved aside with the suffix `.dh-migrate-saved-STAMP`), the dump.
pub fn execute(
    prepared: Prepared,
    record: &Path,
    mysql: Option<&MysqlSource>,
    stamp: &str,
) -> Result<Restored, RestoreOpsError> {
    let Prepared {
        bundle,
        plan,
        mut store,
        endpoints,
        layout,
        ..
    } = prepared;
    if mysql.is_some() && !plan.has_mysql_dump {
        return Err(RestoreOpsError::NoDump);
    }
    let applied = apply::apply(
        &mut store,
        &layout,
        &plan.changes,
        RunOptions {
            endpoints: &endpoints,
            record,
            draft: None,
            stop_after: None,
            max_ops: None,
            progress: &mut |_, _| {},
        },
    )
    .map_err(OpsError::Apply)?;
    let files = restore::write_files(&bundle, &plan.files, stamp)?;
    let workspace = restore::write_files(&bundle, &plan.workspace, stamp)?;
    if let Some(mysql) = mysql {
        restore::stream_files(&bundle, &[MYSQL_PATH], &mut |_, input| {
            mysql.import(input).map_err(RestoreError::from)
        })?;
    }
    Ok(Restored {
        applied,
        files,
        workspace,
        mysql: mysql.is_some(),
    })
}

/// The old members (name, first peer URL) as the bundle's own snapshot lists them, so the
/// restore steps name them; empty (placeholders per endpoint) when the snapshot is inside an
/// archive or cannot be read.
fn snapshot_members(bundle: &Path) -> Vec<(String, String)> {
    let path = bundle.join(SNAPSHOT_PATH);
    if !path.is_file() {
        return Vec::new();
    }
    let Ok(snapshot) = crate::snapshot_db::Snapshot::open(&path, Default::default()) else {
        return Vec::new();
    };
    let Ok(status) = snapshot.status() else {
        return Vec::new();
    };
    status
        .identity
        .members
        .into_iter()
        .filter_map(|m| Some((m.name, m.peer_urls.into_iter().next()?)))
        .collect()
}
