//! The command line: clap arguments, one file per subcommand (each resolves its flags,
//! calls one use case in `ops`, and renders), and the edge where errors become messages
//! and exit codes (`crate::error`). This file only dispatches.

mod apply;
pub mod args;
mod backup;
mod completions;
mod export;
mod inspect;
mod layout;
mod limits;
mod mapping;
mod plan;
mod report;
mod restore;
mod rollback;
mod run_as;
mod snapshot;
mod wizard;

use crate::error::CliError;
use crate::ui::Ui;
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::process::ExitCode;

/// Moves a Deephaven cluster's configuration from a backup bundle onto a newly installed
/// cluster.
#[derive(Debug, Parser)]
#[command(name = "dh-migrate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub limits: limits::LimitArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Inspect(inspect::InspectArgs),
    Plan(plan::PlanArgs),
    Report(report::ReportArgs),
    Apply(apply::ApplyArgs),
    Rollback(rollback::RollbackArgs),
    Export(export::ExportArgs),
    /// Work with mapping files (suggest one from the bundle and the target).
    #[command(subcommand)]
    Mapping(mapping::MappingCommand),
    Wizard(wizard::WizardArgs),
    Backup(backup::BackupArgs),
    Restore(restore::RestoreArgs),
    /// Read an etcd v3 snapshot offline: dump its live keys, or show its status.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Work with etcd layout files (detect one from a cluster or a snapshot).
    #[command(subcommand)]
    Layout(layout::LayoutCommand),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

/// What every command handler gets: the output layer and the environment, read once.
pub struct Ctx {
    pub ui: Ui,
    pub env: HashMap<String, String>,
}

pub fn main() -> ExitCode {
    crate::timing::mark("start");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // The environment is read once, here; core code never reads it. The terminals are
    // asked about once, by Ui.
    let ctx = Ctx {
        ui: Ui::default(),
        env: std::env::vars().collect(),
    };
    let code = match run(cli, &ctx) {
        Ok(code) => code,
        Err(e) => report_error(&ctx.ui, &e),
    };
    crate::timing::mark("done");
    code
}

fn run(cli: Cli, ctx: &Ctx) -> Result<ExitCode, CliError> {
    cli.limits.install();
    match cli.command {
        Command::Inspect(a) => inspect::run(a, ctx),
        Command::Plan(a) => plan::run(a, ctx),
        Command::Report(a) => report::run(a, ctx),
        Command::Apply(a) => apply::run(a, ctx),
        Command::Rollback(a) => rollback::run(a, ctx),
        Command::Export(a) => export::run(a, ctx),
        Command::Mapping(c) => mapping::run(c, ctx),
        Command::Wizard(a) => wizard::run(a, ctx),
        Command::Backup(a) => backup::run(a, ctx),
        Command::Restore(a) => restore::run(a, ctx),
        Command::Snapshot(c) => snapshot::run(c, ctx),
        Command::Layout(c) => layout::run(c, ctx),
        Command::Completions(a) => completions::completions(a, ctx),
        Command::Man(a) => completions::man(a, ctx),
    }
}

fn report_error(ui: &Ui, e: &CliError) -> ExitCode {
    // stderr itself failing leaves nothing to tell; the exit code still says it.
    let _ = ui.status(&format!("error: {}", e.message));
    for c in e.causes() {
        let _ = ui.status(&format!("  caused by: {c}"));
    }
    for h in &e.hints {
        let _ = ui.status(&format!("  hint: {h}"));
    }
    e.exit_code()
}
