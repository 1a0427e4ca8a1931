//! `dh-migrate restore BUNDLE`: the same cluster put back as the bundle holds it, no
//! mapping. etcd first (guarded, recorded, all or nothing, through `apply::apply`), then
//! the file-system parts, then the MySQL dump when asked, then the restart step. When
//! etcd cannot be reached and the bundle holds a snapshot, the per-member snapshot restore
//! steps are printed instead.

use super::apply::{apply_error, confirm, default_record};
use super::args::EtcdArgs;
use super::common::{open_bundle, print};
use crate::apply::{self, RunOptions};
use crate::backup::restore::{self, Action, FileAction, RestorePlan};
use crate::backup::{MysqlSource, MYSQL_PATH};
use crate::error::{CliError, ErrorKind};
use crate::etcd::EtcdError;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Put a bundle back onto the same cluster after a failure (no mapping): every
/// configuration item into etcd (guarded, recorded, all or nothing), the file-system parts
/// under --files-root (modes kept, existing files saved aside first), WorkspaceData under
/// --db-root, the MySQL dump with --mysql; then the restart step.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The bundle (folder or archive), e.g. one `dh-migrate backup` wrote.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Where / is for the bundle's files/ part.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub files_root: PathBuf,
    /// The database root the workspace/ part goes under.
    #[arg(long, value_name = "DIR", default_value = "/db")]
    pub db_root: PathBuf,
    /// Leave the file-system parts (files/, workspace/) alone: etcd only.
    #[arg(long)]
    pub etcd_only: bool,
    /// Import mysql/dbacl_iris.sql into MySQL/MariaDB (it recreates the dbacl_iris database).
    #[arg(long)]
    pub mysql: bool,
    /// MySQL/MariaDB socket (implies --mysql).
    #[arg(long, value_name = "PATH")]
    pub mysql_socket: Option<PathBuf>,
    /// MySQL/MariaDB option file holding the credentials (implies --mysql).
    #[arg(long, value_name = "FILE")]
    pub mysql_defaults_file: Option<PathBuf>,
    /// MySQL/MariaDB user (implies --mysql).
    #[arg(long, value_name = "USER")]
    pub mysql_user: Option<String>,
    /// The client program that imports the dump.
    #[arg(long, value_name = "PATH", default_value = "mysql")]
    pub mysql_client: PathBuf,
    /// Where to save the run record (previous value of every key written; for `rollback`).
    #[arg(long, value_name = "FILE")]
    pub run_record: Option<PathBuf>,
    /// The account that runs dh_monit, for the restart step.
    #[arg(long, value_name = "USER", default_value = "irisadmin")]
    pub monit_user: String,
    /// Show what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
}

impl RestoreArgs {
    fn mysql(&self) -> Option<MysqlSource> {
        let wanted = self.mysql
            || self.mysql_socket.is_some()
            || self.mysql_defaults_file.is_some()
            || self.mysql_user.is_some();
        wanted.then(|| MysqlSource {
            program: self.mysql_client.clone(),
            defaults_file: self.mysql_defaults_file.clone(),
            socket: self.mysql_socket.clone(),
            user: self.mysql_user.clone(),
        })
    }
}

fn restore_error(e: restore::RestoreError) -> CliError {
    let kind = match &e {
        restore::RestoreError::Source(crate::backup::SourceError::Tool(_)) => ErrorKind::Tool,
        restore::RestoreError::Changed { .. } | restore::RestoreError::Missing { .. } => {
            ErrorKind::Bundle
        }
        _ => ErrorKind::Io,
    };
    CliError::new(kind, format!("restore: {e}"))
}

fn listing(plan: &RestorePlan, mysql: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "etcd: {} of {} configuration item(s) differ from the bundle",
        plan.changes.len(),
        plan.items
    );
    for c in &plan.changes {
        let what = if c.previous.is_some() {
            "replace"
        } else {
            "create"
        };
        let _ = writeln!(o, "  {what} {}  ({})", c.key, c.path);
    }
    for (part, actions) in [("files", &plan.files), ("workspace", &plan.workspace)] {
        let unchanged = actions
            .iter()
            .filter(|a| a.action == Action::Unchanged)
            .count();
        let _ = writeln!(
            o,
            "{part}: {} file(s), {unchanged} already identical",
            actions.len()
        );
        for a in actions.iter().filter(|a| a.action != Action::Unchanged) {
            let what = match a.action {
                Action::Create => "create",
                _ => "replace (the present file is saved aside first)",
            };
            let _ = writeln!(o, "  {what} {} (mode {:04o})", a.to.display(), a.mode);
        }
    }
    if mysql {
        let _ = writeln!(
            o,
            "mysql: import {MYSQL_PATH} (recreates the dbacl_iris database)"
        );
    }
    o
}

pub fn run(args: RestoreArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let bundle = open_bundle(&args.bundle)?;
    let layout = args.etcd.layout()?;
    let settings = args.etcd.settings(env)?;
    let mut store = match crate::etcd::RealEtcd::connect(&settings) {
        Ok(s) => s,
        Err(e @ (EtcdError::Unreachable { .. } | EtcdError::Timeout { .. }))
            if bundle.get(crate::backup::SNAPSHOT_PATH).is_some() =>
        {
            print(&restore::snapshot_steps(
                &args.bundle,
                &[],
                &settings.endpoints,
            ))?;
            return Err(CliError::from(e)
                .hint("nothing was written; rebuild etcd from the snapshot (steps above), then restore again"));
        }
        Err(e) => return Err(e.into()),
    };
    let current = crate::export::read(&mut store, &layout).map_err(super::args::export_error)?;
    let (files_root, db_root) = (&args.files_root, &args.db_root);
    let mut plan =
        restore::plan(&bundle, &layout, &current, files_root, db_root).map_err(restore_error)?;
    if args.etcd_only {
        plan.files.clear();
        plan.workspace.clear();
    }
    let mysql = args.mysql();
    if mysql.is_some() && !plan.has_mysql_dump {
        return Err(CliError::new(
            ErrorKind::Usage,
            format!("--mysql: the bundle holds no {MYSQL_PATH}; nothing was written"),
        ));
    }
    print(&listing(&plan, mysql.is_some()))?;
    if plan.items == 0 && plan.has_snapshot {
        eprintln!("note: the bundle's configuration is only in etcd/snapshot.db; restore puts back config/ items. Rebuild etcd from the snapshot with `etcdctl snapshot restore` on each member instead.");
    }
    let pending = |a: &&FileAction| a.action != Action::Unchanged;
    let file_writes =
        plan.files.iter().filter(pending).count() + plan.workspace.iter().filter(pending).count();
    if args.dry_run {
        eprintln!("dry run: nothing was written");
        return Ok(ExitCode::SUCCESS);
    }
    if plan.changes.is_empty() && file_writes == 0 && mysql.is_none() {
        eprintln!("the cluster already matches the bundle: nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        &format!(
            "Restore {} etcd item(s) and {file_writes} file(s) from {}?",
            plan.changes.len(),
            args.bundle.display()
        ),
        args.yes,
    )?;
    let record = args.run_record.clone().unwrap_or_else(default_record);
    let applied = apply::apply(
        &mut store,
        &layout,
        &plan.changes,
        RunOptions {
            endpoints: &settings.endpoints,
            record: &record,
            stop_after: None,
            max_ops: None,
            progress: &mut |_, _| {},
        },
    )
    .map_err(apply_error)?;
    if applied.keys > 0 {
        eprintln!(
            "etcd: restored {} key(s) in {} transaction(s), revision {}; run record (for `dh-migrate rollback`): {}",
            applied.keys,
            applied.batches,
            applied.revision,
            record.display()
        );
    }
    let stamp = crate::backup::retain::bundle_name(std::time::SystemTime::now())
        .trim_start_matches(crate::backup::retain::NAME_PREFIX)
        .to_string();
    for (part, actions) in [("files", &plan.files), ("workspace", &plan.workspace)] {
        let done = restore::write_files(&bundle, actions, &stamp).map_err(restore_error)?;
        if !done.written.is_empty() {
            eprintln!("{part}: wrote {} file(s)", done.written.len());
        }
        for (from, to) in &done.saved_aside {
            eprintln!("{part}: saved {} aside as {}", from.display(), to.display());
        }
    }
    if let Some(mysql) = &mysql {
        restore::stream_files(&bundle, &[MYSQL_PATH], &mut |_, input| {
            mysql.import(input).map_err(restore::RestoreError::from)
        })
        .map_err(restore_error)?;
        eprintln!("mysql: imported {MYSQL_PATH}");
    }
    print(&format!(
        "\nRestart step: on every node, infra nodes first:\n  $ sudo -u {user} {monit} restart all\n  $ sudo -u {user} {monit} up --block\n{pq}",
        user = args.monit_user,
        monit = crate::restart::DH_MONIT,
        pq = if plan.changes.iter().any(|c| c.path.starts_with("config/pq/")) {
            format!(
                "  and on the infra node: $ sudo -u {} {} pq reload\n",
                args.monit_user,
                crate::restart::DHCONFIG
            )
        } else {
            String::new()
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}
