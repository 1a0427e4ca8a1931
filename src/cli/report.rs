//! `dh-migrate report`: the diff-only report. Never writes to a cluster or a bundle.
//! Exit 0: no differences; 1: differences; 2 or more: error.

use super::args::{load, ContextArgs, SecretArgs, TargetArgs};
use super::Ctx;
use crate::error::CliError;
use crate::ops::{release_at_exit, Inputs};
use crate::report::{html, markdown, text};
use crate::ui::Ui;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Text for a terminal or a ticket.
    #[default]
    Text,
    /// Markdown (tables and diff blocks).
    Markdown,
    /// One JSON document (docs/report.schema.json).
    Json,
    /// One self-contained HTML page.
    Html,
}

/// Show what differs between the (migrated) bundle and the new cluster (diff only).
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Mapping file; without it the bundle is compared as backed up.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub contexts: ContextArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

pub fn run(args: ReportArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let sources =
        args.target
            .sources(&ctx.env, &args.bundle, args.mapping.clone(), &args.contexts)?;
    let inputs = load(&ctx.ui, sources)?;
    let clean = show(&ctx.ui, &inputs, args.format, &args.secrets)?;
    release_at_exit(inputs);
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Builds and prints the report; true when there are no differences.
pub fn show(
    ui: &Ui,
    inputs: &Inputs,
    format: ReportFormat,
    secrets: &SecretArgs,
) -> Result<bool, CliError> {
    let reported = crate::ops::report(inputs, secrets.policy())?;
    match format {
        ReportFormat::Text => ui.out(&text::render(&reported.doc))?,
        ReportFormat::Markdown => ui.out(&markdown::render(&reported.doc))?,
        ReportFormat::Json => ui.json(&reported.doc)?,
        ReportFormat::Html => ui.out(&html::render(&reported.doc))?,
    }
    let clean = reported.clean();
    release_at_exit(reported);
    Ok(clean)
}
