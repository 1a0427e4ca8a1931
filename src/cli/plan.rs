//! `dh-migrate plan`: migrate a bundle for a target and show every change; optionally
//! write the migrated tree (`--emit`) and a saved plan (`--out`). Writes nothing unless
//! the plan is complete.

use super::args::{load, ColorChoice, ContextArgs, SecretArgs, TargetArgs};
use super::Ctx;
use crate::error::CliError;
use crate::ops::{release_at_exit, Inputs, PlanOptions, Planned};
use crate::planview::{render_text, DiffMode, ViewOptions};
use crate::ui::{esc, Ui};
use std::path::PathBuf;
use std::process::ExitCode;

/// Rewrite the bundle's configuration for the new cluster and show the changes against it.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Mapping file (old host -> new host).
    #[arg(long, value_name = "FILE")]
    pub mapping: PathBuf,
    /// Write the migrated tree (bundle layout, migrated parts only) to this new folder.
    #[arg(long, value_name = "DIR")]
    pub emit: Option<PathBuf>,
    /// Write a saved plan (JSON) for `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Which diffs to show.
    #[arg(long, value_enum, default_value = "both")]
    pub diff: DiffMode,
    /// Colour: auto, always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// The old node that the bundle's `files/` came from (default: the only infra node).
    #[arg(long, value_name = "OLD-HOST")]
    pub files_node: Option<String>,
    #[command(flatten)]
    pub contexts: ContextArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

pub fn run(args: PlanArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let sources = args.target.sources(
        &ctx.env,
        &args.bundle,
        Some(args.mapping.clone()),
        &args.contexts,
    )?;
    let inputs = load(&ctx.ui, sources)?;
    let ui = ctx.ui.clone().with_color(args.color);
    let opts = PlanOptions {
        files_node: args.files_node.clone(),
        secrets: args.secrets.policy(),
        emit: args.emit.clone(),
        out: args.out.clone(),
        dry_run: args.dry_run,
    };
    let planned = crate::ops::plan(&inputs, &opts)?;
    show(&ui, &inputs, &planned, args.diff, &opts)?;
    release_at_exit((planned, inputs));
    Ok(ExitCode::SUCCESS)
}

/// Renders a plan and says what was written (the wizard's "run plan now" shows it too).
pub fn show(
    ui: &Ui,
    inputs: &Inputs,
    planned: &Planned,
    diff: DiffMode,
    opts: &PlanOptions,
) -> Result<(), CliError> {
    let view = ViewOptions {
        diff,
        color: ui.color(),
        bundle: inputs.bundle_label(),
        target: inputs.target.label.clone(),
        mapping: inputs.mapping()?.path.display().to_string(),
        restart: true,
        secrets: opts.secrets,
    };
    ui.out(&render_text(&planned.plan, &view))?;
    if let Some(w) = &planned.emitted {
        if w.dry_run {
            ui.status(&format!(
                "dry run: would write {} file(s) to {}; nothing was written",
                w.files,
                esc(&w.path.display().to_string())
            ))?;
        } else {
            ui.status(&format!(
                "wrote the migrated tree to {} ({} files)",
                esc(&w.path.display().to_string()),
                w.files
            ))?;
        }
    }
    if let Some(w) = &planned.saved {
        if w.dry_run {
            ui.status(&format!(
                "dry run: would write the saved plan to {}; nothing was written",
                esc(&w.path.display().to_string())
            ))?;
        } else {
            ui.status(&format!(
                "wrote the saved plan to {}",
                esc(&w.path.display().to_string())
            ))?;
        }
    }
    Ok(())
}
