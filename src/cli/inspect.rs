//! `dh-migrate inspect BUNDLE`: verify a bundle and list its parts and old-node references.

use super::args::OutputFormat;
use super::Ctx;
use crate::contexts::RoleContexts;
use crate::error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verify a bundle (checksums, safe entries, every config file parses) and list its parts
/// and every old-node reference with file and line.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Bundle directory or .tar, .tar.gz, .tgz, .tar.zst archive.
    pub bundle: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// etcd layout through which the bundle's etcd snapshot is read (default: the shipped
    /// templates/etcd-layout-v2.yaml; `dh-migrate layout detect` writes one for a cluster).
    #[arg(long, value_name = "FILE")]
    pub layout: Option<PathBuf>,
    /// Replace the layout's key prefix.
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
    /// A bundle with both config/ files and etcd/snapshot.db: inspect the files' copy of
    /// every item that differs (default: the snapshot's; each difference is listed).
    #[arg(long)]
    pub prefer_files: bool,
}

pub fn run(args: InspectArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    // A bad layout file is reported before the bundle is read.
    let (layout, _) = crate::ops::load_layout(args.layout.as_deref(), args.etcd_prefix.as_deref())?;
    let bar = ctx.ui.byte_progress("reading bundle");
    let bundle = crate::bundle::Bundle::open_with_progress(&args.bundle, &mut |p| bar.update(p));
    bar.finish();
    let report = crate::ops::inspect(
        bundle?,
        &RoleContexts::builtin(),
        &layout,
        args.prefer_files,
    )?;
    match args.format {
        OutputFormat::Text => ctx.ui.out(&crate::inspect::render_text(&report))?,
        OutputFormat::Json => ctx.ui.json(&report)?,
    }
    Ok(ExitCode::SUCCESS)
}
