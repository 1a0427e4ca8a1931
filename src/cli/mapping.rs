//! `dh-migrate mapping suggest`: a ready-to-edit mapping file inferred by aligning the
//! bundle with the target, each pair with its evidence.

use super::args::{ContextArgs, TargetArgs};
use super::common::{open_tree, print};
use crate::error::CliError;
use crate::mapping::suggest::{draft, suggest};
use crate::mapping::write::render;
use crate::scan::inventory::Inventory;
use std::collections::HashMap;
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

pub fn run(cmd: MappingCommand, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    match cmd {
        MappingCommand::Suggest(args) => {
            let contexts = args.contexts.load()?;
            let (_, tree) = open_tree(&args.bundle)?;
            let target = args.target.load(env)?;
            let inv = Inventory::build(&tree, &[]);
            let s = suggest(&tree, &target.tree, &inv, &contexts);
            let unanswered = s.iter().filter(|s| s.target.is_none()).count();
            print(&render(&draft(
                &s,
                &args.bundle.display().to_string(),
                &target.label,
            )))?;
            if unanswered > 0 {
                eprintln!("{unanswered} name(s) have no suggestion: see the TODO entries");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
