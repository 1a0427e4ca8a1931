//! `dh-migrate rollback RUN_RECORD`: undo an apply from its run record (`ops::rollback`).

use super::apply::confirm;
use super::args::EtcdArgs;
use super::Ctx;
use crate::error::CliError;
use crate::ops::rollback::load_record;
use crate::ops::RollbackOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// Undo an apply from its run record.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The run record an apply saved.
    pub record: PathBuf,
    /// etcd connection (default: the endpoints in the record).
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Check and list what would be restored; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Operations per etcd transaction, for servers with a lower --max-txn-ops than 128.
    #[arg(long, value_name = "N")]
    pub max_txn_ops: Option<usize>,
}

pub fn run(args: RollbackArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let record = load_record(&args.record)?;
    let mut etcd = args.etcd.clone();
    if !etcd.given(&ctx.env) {
        etcd.endpoints = record.endpoints.clone();
    }
    let mut store = etcd.connect(&ctx.env)?;
    let mut opts = RollbackOptions {
        dry_run: true,
        max_txn_ops: args.max_txn_ops,
    };
    let check = crate::ops::rollback(&mut store, &record, opts)?;
    let ui = &ctx.ui;
    ui.status(&format!(
        "rollback: {} key(s) to restore, {} already as before",
        check.restored, check.already
    ))?;
    if check.restored == 0 {
        ui.status("nothing to do; nothing was written")?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        ui.status("dry run: nothing was written")?;
        return Ok(ExitCode::SUCCESS);
    }
    confirm(ui, &format!("Restore {} key(s)?", check.restored), args.yes)?;
    opts.dry_run = false;
    let done = crate::ops::rollback(&mut store, &record, opts)?;
    ui.status(&format!(
        "restored {} key(s) in {} transaction(s)",
        done.restored, done.batches
    ))?;
    Ok(ExitCode::SUCCESS)
}
