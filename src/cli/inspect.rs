//! `dh-migrate inspect BUNDLE`: verify a bundle and list its parts and old-node references.

use super::common::{open_bundle, print, to_json, OutputFormat};
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

pub fn run(args: InspectArgs) -> Result<ExitCode, CliError> {
    let bundle = open_bundle(&args.bundle)?;
    let report = crate::inspect::inspect_streaming(&bundle, &RoleContexts::builtin())?;
    match args.format {
        OutputFormat::Text => print(&crate::inspect::render_text(&report))?,
        OutputFormat::Json => print(&to_json(&report)?)?,
    }
    Ok(ExitCode::SUCCESS)
}
