//! The command line: clap arguments, one file per subcommand, and the edge where errors
//! become messages and exit codes.

mod apply;
pub mod args;
pub mod common;
mod inspect;
mod mapping;
pub mod plan;
mod report;
mod snapshot;
mod wizard;

use crate::error::CliError;
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Inspect(inspect::InspectArgs),
    Plan(plan::PlanArgs),
    Report(report::ReportArgs),
    Apply(apply::ApplyArgs),
    Rollback(apply::RollbackArgs),
    Export(apply::ExportArgs),
    /// Work with mapping files (suggest one from the bundle and the target).
    #[command(subcommand)]
    Mapping(mapping::MappingCommand),
    Wizard(wizard::WizardArgs),
    /// Read an etcd v3 snapshot offline: dump its live keys, or show its status.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    // The environment is read once, here; core code never reads it.
    let env: HashMap<String, String> = std::env::vars().collect();
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Plan(a) => plan::run(a, &env),
        Command::Report(a) => report::run(a, &env),
        Command::Apply(a) => apply::run(a, &env),
        Command::Rollback(a) => apply::rollback(a, &env),
        Command::Export(a) => apply::export(a, &env),
        Command::Mapping(c) => mapping::run(c, &env),
        Command::Wizard(a) => wizard::run(a, &env),
        Command::Snapshot(c) => snapshot::run(c),
    }
}

fn report_error(e: &CliError) -> ExitCode {
    eprintln!("error: {}", e.message);
    for h in &e.hints {
        eprintln!("  hint: {h}");
    }
    e.exit_code()
}
