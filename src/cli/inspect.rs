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
}

pub fn run(args: InspectArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let bar = ctx.ui.byte_progress("reading bundle");
    let bundle = crate::bundle::Bundle::open_with_progress(&args.bundle, &mut |p| bar.update(p));
    bar.finish();
    let report = crate::ops::inspect(
        bundle?,
        &RoleContexts::builtin(),
        &crate::layout::Layout::builtin(),
    )?;
    match args.format {
        OutputFormat::Text => ctx.ui.out(&crate::inspect::render_text(&report))?,
        OutputFormat::Json => ctx.ui.json(&report)?,
    }
    Ok(ExitCode::SUCCESS)
}
