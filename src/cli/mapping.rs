//! `dh-migrate mapping suggest`: a ready-to-edit mapping file inferred by aligning the
//! bundle with the target, each pair with its evidence.

use super::args::{load, ContextArgs, TargetArgs};
use super::Ctx;
use crate::error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Work with mapping files.
#[derive(Debug, clap::Subcommand)]
pub enum MappingCommand {
    /// Print a suggested mapping file, inferred from the bundle and the target.
    Suggest(SuggestArgs),
}

#[derive(Debug, clap::Args)]
pub struct SuggestArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub contexts: ContextArgs,
}

pub fn run(cmd: MappingCommand, ctx: &Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        MappingCommand::Suggest(args) => {
            let sources = args
                .target
                .sources(&ctx.env, &args.bundle, None, &args.contexts)?;
            let inputs = load(&ctx.ui, sources)?;
            let s = crate::ops::suggest(&inputs);
            ctx.ui.out(&s.text)?;
            if s.unanswered > 0 {
                ctx.ui.status(&format!(
                    "{} name(s) have no suggestion: see the TODO entries",
                    s.unanswered
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
