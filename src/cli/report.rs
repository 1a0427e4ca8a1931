//! `dh-migrate report`: the diff-only report. Never writes to a cluster or a bundle.
//! Exit 0: no differences; 1: differences; 2 or more: error.

use super::args::{load_mapping, ContextArgs, TargetArgs};
use super::common::{open_tree, print, to_json};
use crate::compare::{compare, Inputs};
use crate::error::CliError;
use crate::mapping::Mapping;
use crate::migrate::migrate;
use crate::report::{build, html, markdown, text};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
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
    /// Show secret values in diffs and reports (they are redacted to fingerprints otherwise).
    #[arg(long)]
    pub show_secrets: bool,
}

pub fn run(args: ReportArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let mapping = match &args.mapping {
        Some(p) => load_mapping(p)?,
        None => Mapping {
            file: "(none)".into(),
            ..Mapping::default()
        },
    };
    let contexts = args.contexts.load()?;
    let layout = args.target.etcd.layout()?;
    let (_, tree) = open_tree(&args.bundle)?;
    let target = args.target.load(env)?;
    let migration = migrate(&tree, &mapping, &contexts)
        .map_err(|e| CliError::new(crate::error::ErrorKind::Internal, e.to_string()))?;
    if args.mapping.is_some() && !migration.is_complete() {
        return Err(super::plan::plan_error(crate::plan::PlanError::Incomplete(
            migration.problem_lines(&mapping.file),
        )));
    }
    let in_scope = |p: &str| target.in_scope(p, &layout);
    let cmp = compare(&Inputs {
        migrated: &migration.files,
        bundle: &tree,
        target: &target.tree,
        in_scope: &in_scope,
        secrets: super::plan::secrets_policy(args.show_secrets),
    });
    let doc = build(
        &args.bundle.display().to_string(),
        &target.label,
        args.mapping
            .as_ref()
            .map(|p| p.display().to_string())
            .as_deref(),
        &cmp,
        migration.counts().rewritten,
    );
    let out = match args.format {
        ReportFormat::Text => text::render(&doc),
        ReportFormat::Markdown => markdown::render(&doc),
        ReportFormat::Json => to_json(&doc)?,
        ReportFormat::Html => html::render(&doc),
    };
    print(&out)?;
    let clean = doc.summary.clean;
    super::plan::release_at_exit((doc, cmp, migration, tree, target));
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
