//! `dh-migrate export`: write a cluster's configuration (the layout's etcd items) in the
//! bundle layout (`ops::export`).

use super::args::EtcdArgs;
use super::Ctx;
use crate::error::CliError;
use crate::ui::esc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a cluster's configuration (the layout's etcd items) in the bundle layout.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Destination folder (new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// List what would be exported; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: ExportArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let layout = args.etcd.layout()?;
    crate::emit::check_destination(&args.out)?;
    let mut store = args.etcd.connect(&ctx.env)?;
    let exported = crate::ops::export(&mut store, &layout, &args.out, args.dry_run)?;
    let listing: String = exported
        .items
        .iter()
        .map(|(p, (_, rev))| format!("{}\t{rev}\n", esc(p)))
        .collect();
    let ui = &ctx.ui;
    ui.out(&listing)?;
    if !exported.unknown.is_empty() {
        ui.status(&format!(
            "{} key(s) under {} are not layout items and were not exported (runtime or other keys)",
            exported.unknown.len(),
            esc(&layout.prefix)
        ))?;
    }
    let out = esc(&args.out.display().to_string()).into_owned();
    if args.dry_run {
        ui.status(&format!(
            "dry run: would write {} item(s) to {out}; nothing was written",
            exported.items.len(),
        ))?;
    } else {
        ui.status(&format!(
            "exported {} item(s) at revision {} to {out}",
            exported.items.len(),
            exported.header_revision,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
