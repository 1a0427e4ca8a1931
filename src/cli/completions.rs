//! `dh-migrate completions SHELL` and `dh-migrate man`: shell completion scripts and a roff
//! man page, generated from the same clap definitions as the parser so they never drift.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::error::{CliError, ErrorKind};

/// Print a shell completion script on stdout.
///
/// Install, for example: bash `dh-migrate completions bash >
/// /etc/bash_completion.d/dh-migrate`; zsh `dh-migrate completions zsh >
/// "${fpath[1]}/_dh-migrate"`; fish `dh-migrate completions fish >
/// ~/.config/fish/completions/dh-migrate.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the man page (roff) on stdout.
///
/// Install: `dh-migrate man > /usr/local/share/man/man1/dh-migrate.1`, then `man dh-migrate`.
#[derive(Debug, Args)]
pub struct ManArgs {}

pub fn completions(args: CompletionsArgs, ctx: &super::Ctx) -> Result<ExitCode, CliError> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "dh-migrate", &mut out);
    ctx.ui.out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(_args: ManArgs, ctx: &super::Ctx) -> Result<ExitCode, CliError> {
    let cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| {
            CliError::new(
                ErrorKind::Internal,
                format!("cannot render the man page: {e}"),
            )
        })?;
    // One page for the whole tool: every subcommand's usage and options follow, so the
    // `dh-migrate-inspect(1)` names listed above need no pages of their own.
    out.extend_from_slice(b".SH \"COMMANDS IN DETAIL\"\n");
    render_subcommands(&cmd, "dh-migrate", &mut out);
    ctx.ui.out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

fn render_subcommands(cmd: &clap::Command, path: &str, out: &mut Vec<u8>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{path} {}", sub.get_name());
        let mut sub = sub.clone().bin_name(name.clone());
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ");
        out.extend_from_slice(format!(".SS \"{}\"\n", roff(&name)).as_bytes());
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            out.extend_from_slice(format!("{}\n.PP\n", roff(&about.to_string())).as_bytes());
        }
        out.extend_from_slice(format!("\\fB{}\\fR\n", roff(usage)).as_bytes());
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let mut label = Vec::new();
            if let Some(short) = arg.get_short() {
                label.push(format!("-{short}"));
            }
            if let Some(long) = arg.get_long() {
                label.push(format!("--{long}"));
            }
            if label.is_empty() {
                label.push(arg.get_id().to_string().to_uppercase());
            }
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            out.extend_from_slice(
                format!(
                    ".TP\n\\fB{}\\fR\n{}\n",
                    roff(&label.join(", ")),
                    roff(&help)
                )
                .as_bytes(),
            );
        }
        render_subcommands(&sub, &name, out);
    }
}

/// Escape text for roff: backslashes and hyphens, and a leading `.` or `'` that would read
/// as a request.
fn roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with(['.', '\'']) {
            out.push_str("\\&");
        }
        out.push_str(&line.replace('\\', "\\e").replace('-', "\\-"));
        out.push('\n');
    }
    out.truncate(out.trim_end_matches('\n').len());
    out
}
