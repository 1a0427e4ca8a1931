//! `dh-migrate report`: the diff-only report. Never writes to a cluster or a bundle.
//! Exit 0: no differences; 1: differences; 2 or more: error.

use super::args::{load, ContextArgs, SecretArgs, TargetArgs};
use super::Ctx;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::ops::{release_at_exit, Inputs, ReportOptions};
use crate::report::{html, markdown, text};
use crate::ui::Ui;
use std::collections::HashMap;
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
    /// The old node that the bundle's shared `files/` come from (default: the old
    /// cluster's only infra node), for where the node files are copied.
    #[arg(long, value_name = "OLD-HOST")]
    pub files_node: Option<String>,
}

pub fn run(args: ReportArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let sources =
        args.target
            .sources(&ctx.env, &args.bundle, args.mapping.clone(), &args.contexts)?;
    let opts = ReportOptions {
        secrets: args.secrets.policy(),
        generated_at: generation_time(&ctx.env)?,
        files_node: args.files_node.clone(),
    };
    let inputs = load(&ctx.ui, sources)?;
    let clean = show(&ctx.ui, &inputs, args.format, &opts)?;
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
    opts: &ReportOptions,
) -> Result<bool, CliError> {
    let reported = crate::ops::report(inputs, opts)?;
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

/// The title block's time: `SOURCE_DATE_EPOCH` when set (a reproducible document), else
/// the clock.
pub fn generation_time(env: &HashMap<String, String>) -> Result<i64, CliError> {
    match env.get("SOURCE_DATE_EPOCH") {
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            CliError::new(
                ErrorKind::Usage,
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970"),
            )
        }),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
    }
}
