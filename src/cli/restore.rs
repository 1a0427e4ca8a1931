//! `dh-migrate restore BUNDLE`: the same cluster put back as the bundle holds it, no
//! mapping. etcd first (guarded, recorded, all or nothing, through `apply::apply`), then
//! the file-system parts, then the MySQL dump when asked, then the restart step. When
//! etcd cannot be reached and the bundle holds a snapshot, the per-member snapshot restore
//! steps are printed instead.

use super::apply::{confirm, default_record};
use super::args::EtcdArgs;
use super::backup::MysqlArgs;
use super::Ctx;
use crate::apply::Part;
use crate::backup::restore::{Action, FileAction, RestorePlan};
use crate::backup::MYSQL_PATH;
use crate::error::CliError;
use crate::ops::restore::{self, Preparation};
use crate::ui::esc;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Put a bundle back onto the same cluster after a failure (no mapping)
///
/// Every configuration item into etcd (guarded, recorded, all or nothing), the file-system
/// parts under --files-root (modes kept, existing files saved aside first), WorkspaceData
/// under --db-root, the MySQL dump with --mysql; then the restart step.
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
    /// A bundle with both config/ files and etcd/snapshot.db: restore the files' copy of
    /// every item that differs (default: the snapshot's, which is what etcd held; each
    /// difference is warned of).
    #[arg(long)]
    pub prefer_files: bool,
    /// With --mysql (or a --mysql-* option): import mysql/dbacl_iris.sql (it recreates
    /// the dbacl_iris database).
    #[command(flatten)]
    pub mysql: MysqlArgs,
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

fn listing(plan: &RestorePlan, mysql: bool) -> String {
    crate::text::build(|o| {
        writeln!(
            o,
            "etcd: {} of {} configuration item(s) differ from the bundle",
            plan.changes.iter().filter(|c| c.part == Part::File).count(),
            plan.items
        )?;
        for c in &plan.changes {
            let what = match (c.part, c.previous.is_some()) {
                (Part::File, true) => "replace",
                (Part::File, false) => "create",
                (Part::Name, _) => "  create name part",
                (Part::Guard, _) => "  re-put guard",
            };
            writeln!(o, "  {what} {}  ({})", esc(&c.key), esc(&c.path))?;
        }
        for s in &plan.not_created {
            writeln!(
                o,
                "  not restored {}: {}; import it with: {}",
                esc(&s.path),
                s.why,
                s.command
            )?;
        }
        for (part, actions) in [("files", &plan.files), ("workspace", &plan.workspace)] {
            let unchanged = actions
                .iter()
                .filter(|a| a.action == Action::Unchanged)
                .count();
            writeln!(
                o,
                "{part}: {} file(s), {unchanged} already identical",
                actions.len()
            )?;
            for a in actions.iter().filter(|a| a.action != Action::Unchanged) {
                let what = match a.action {
                    Action::Create => "create",
                    _ => "replace (the present file is saved aside first)",
                };
                let to = a.to.display().to_string();
                writeln!(o, "  {what} {} (mode {:04o})", esc(&to), a.mode)?;
            }
        }
        if mysql {
            writeln!(
                o,
                "mysql: import {MYSQL_PATH} (recreates the dbacl_iris database)"
            )?;
        }
        Ok(())
    })
}

pub fn run(args: RestoreArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let ui = &ctx.ui;
    let layout = args.etcd.layout()?;
    let settings = args.etcd.settings(&ctx.env)?;
    let bar = ui.byte_progress("reading bundle");
    let prepared = match restore::prepare(
        &args.bundle,
        &settings,
        layout,
        &args.files_root,
        &args.db_root,
        !args.etcd_only,
        args.prefer_files,
        &mut |p| bar.update(p),
    )? {
        Preparation::Ready(p) => *p,
        Preparation::EtcdDown { steps, error } => {
            bar.finish();
            ui.out(&steps)?;
            return Err(CliError::from(error).hint(
                "nothing was written; rebuild etcd from the snapshot (steps above), then restore again",
            ));
        }
    };
    bar.finish();
    for w in &prepared.warnings {
        ui.status(&format!("warning: {}", esc(w)))?;
    }
    let plan = &prepared.plan;
    let mysql = args.mysql.source(&args.mysql_client);
    ui.out(&listing(plan, mysql.is_some()))?;
    let pending = |a: &&FileAction| a.action != Action::Unchanged;
    let file_writes =
        plan.files.iter().filter(pending).count() + plan.workspace.iter().filter(pending).count();
    if args.dry_run {
        ui.status("dry run: nothing was written")?;
        return Ok(ExitCode::SUCCESS);
    }
    if plan.changes.is_empty() && file_writes == 0 && mysql.is_none() {
        ui.status("the cluster already matches the bundle: nothing to do")?;
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        ui,
        &format!(
            "Restore {} etcd item(s) and {file_writes} file(s) from {}?",
            plan.changes.len(),
            esc(&args.bundle.display().to_string())
        ),
        args.yes,
    )?;
    let pq_changed = plan
        .changes
        .iter()
        .any(|c| c.path.starts_with("config/pq/"));
    let record = args
        .run_record
        .clone()
        .unwrap_or_else(|| default_record(&ctx.env));
    let stamp = crate::backup::retain::bundle_name(std::time::SystemTime::now())
        .trim_start_matches(crate::backup::retain::NAME_PREFIX)
        .to_string();
    let done = restore::execute(prepared, &record, mysql.as_ref(), &stamp)?;
    if done.applied.keys > 0 {
        ui.status(&format!(
            "etcd: restored {} key(s) in {} transaction(s), revision {}; run record (for `dh-migrate rollback`): {}",
            done.applied.keys,
            done.applied.batches,
            done.applied.revision,
            esc(&record.display().to_string())
        ))?;
    }
    for (part, files) in [("files", &done.files), ("workspace", &done.workspace)] {
        if !files.written.is_empty() {
            ui.status(&format!("{part}: wrote {} file(s)", files.written.len()))?;
        }
        for (from, to) in &files.saved_aside {
            ui.status(&format!(
                "{part}: saved {} aside as {}",
                esc(&from.display().to_string()),
                esc(&to.display().to_string())
            ))?;
        }
    }
    if done.mysql {
        ui.status(&format!("mysql: imported {MYSQL_PATH}"))?;
    }
    let monit = crate::restart::DH_MONIT;
    let user = &args.monit_user;
    let mut step = format!(
        "\nRestart step: on every node, infra nodes first:\n  $ sudo -u {user} {monit} restart all\n  $ sudo -u {user} {monit} up --block\n"
    );
    if pq_changed {
        step.push_str(&format!(
            "  then on the infra node: $ sudo -u {user} {} pq reload\n",
            crate::restart::DHCONFIG
        ));
    }
    ui.out(&step)?;
    Ok(ExitCode::SUCCESS)
}
