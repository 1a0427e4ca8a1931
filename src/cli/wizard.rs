//! `dh-migrate wizard`: the interactive way to a mapping file. Needs a terminal (stdin and
//! stderr); without one it exits at once, pointing to `mapping suggest` and `plan`. The
//! file is written (atomically) only after the final confirmation.

use super::args::{load_mapping, ColorChoice, ContextArgs, TargetArgs};
use super::common::open_tree;
use super::plan::{write_atomic, PlanArgs};
use super::report::{ReportArgs, ReportFormat};
use crate::error::{CliError, ErrorKind};
use crate::planview::DiffMode;
use crate::wizard::ask::{Ask, AskError, Terminal};
use crate::wizard::{Finish, Inputs};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Ask for every old host interactively and write a mapping file for `plan` and `apply`.
#[derive(Debug, clap::Args)]
pub struct WizardArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to write the mapping file. When it exists, its answers are the defaults, so
    /// a half-finished session can be resumed.
    #[arg(long, value_name = "FILE", default_value = "mapping.yaml")]
    pub mapping_out: PathBuf,
    /// Ask everything, then print the mapping on stdout instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub contexts: ContextArgs,
}

/// A path as one shell word.
fn shell_word(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:,=@+".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The target flags as given, for the command lines the wizard prints.
fn target_flags(t: &TargetArgs) -> String {
    if let Some(dir) = &t.target {
        return format!("--target {}", shell_word(dir));
    }
    let mut out = Vec::new();
    if !t.etcd.endpoints.is_empty() {
        out.push(format!(
            "--endpoints {}",
            shell_word(Path::new(&t.etcd.endpoints.join(",")))
        ));
    }
    if let Some(d) = &t.etcd.etcd_client_dir {
        out.push(format!("--etcd-client-dir {}", shell_word(d)));
    }
    if out.is_empty() {
        "--target DIR".into()
    } else {
        out.join(" ")
    }
}

fn no_terminal(args: &WizardArgs) -> CliError {
    let bundle = shell_word(&args.bundle);
    let target = target_flags(&args.target);
    let out = shell_word(&args.mapping_out);
    CliError::new(
        ErrorKind::NoTerminal,
        "the wizard needs a terminal (stdin and stderr must both be one); nothing was written",
    )
    .hint(format!(
        "without a terminal, draft the mapping with: dh-migrate mapping suggest {bundle} {target} > {out}"
    ))
    .hint(format!(
        "then review it and run: dh-migrate plan {bundle} {target} --mapping {out}"
    ))
}

fn ask_error(e: AskError, args: &WizardArgs) -> CliError {
    match e {
        AskError::NoTerminal => no_terminal(args),
        AskError::Eof => CliError::new(
            ErrorKind::Declined,
            "input ended before the wizard finished; nothing was written",
        ),
        AskError::Io(e) => CliError::new(
            ErrorKind::Io,
            format!("terminal error: {e}; nothing was written"),
        ),
    }
}

pub fn run(args: WizardArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    // Checked first: without a terminal nothing else is worth doing.
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(no_terminal(&args));
    }
    let existing = if args.mapping_out.exists() {
        Some(load_mapping(&args.mapping_out).map_err(|e| {
            e.hint("fix the file, or give another --mapping-out to start afresh")
        })?)
    } else {
        None
    };
    let contexts = args.contexts.load()?;
    let layout = args.target.etcd.layout()?;
    let (bundle, tree) = open_tree(&args.bundle)?;
    let target = args.target.load(env)?;
    let inputs = Inputs {
        bundle: &bundle,
        tree: &tree,
        target: &target,
        contexts: &contexts,
        layout: &layout,
        bundle_label: args.bundle.display().to_string(),
        target_label: target.label.clone(),
        mapping_out: args.mapping_out.display().to_string(),
        existing,
    };
    let mut term = Terminal::default();
    let text = match crate::wizard::run(&inputs, &mut term).map_err(|e| ask_error(e, &args))? {
        Finish::Write(text) => text,
        Finish::Quit => {
            return Err(CliError::new(
                ErrorKind::Declined,
                "quit without writing; nothing was written",
            ))
        }
    };
    if args.dry_run {
        super::common::print(&text)?;
        eprintln!(
            "dry run: the mapping is on stdout; nothing was written to {}",
            args.mapping_out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    write_atomic(&args.mapping_out, text.as_bytes())?;
    let (bundle_w, target_w, out_w) = (
        shell_word(&args.bundle),
        target_flags(&args.target),
        shell_word(&args.mapping_out),
    );
    let plan_cmd = format!("dh-migrate plan {bundle_w} {target_w} --mapping {out_w}");
    let report_cmd = format!("dh-migrate report {bundle_w} {target_w} --mapping {out_w}");
    eprintln!(
        "wrote {}\n\nNext:\n  {plan_cmd}\n  {report_cmd}\n",
        args.mapping_out.display()
    );
    let items = vec![
        "nothing now (the commands are above)".to_string(),
        format!("run plan now (summary only): {plan_cmd} --diff none"),
        format!("run report now: {report_cmd}"),
    ];
    let next = term
        .select("Run one now?", &items, 0)
        .map_err(|e| ask_error(e, &args))?;
    match next {
        1 => super::plan::run(
            PlanArgs {
                bundle: args.bundle.clone(),
                target: args.target.clone(),
                mapping: args.mapping_out.clone(),
                emit: None,
                out: None,
                dry_run: false,
                diff: DiffMode::None,
                color: ColorChoice::Auto,
                files_node: None,
                contexts: args.contexts.clone(),
            },
            env,
        )
        .map(|_| ExitCode::SUCCESS),
        2 => super::report::run(
            ReportArgs {
                bundle: args.bundle.clone(),
                target: args.target.clone(),
                mapping: Some(args.mapping_out.clone()),
                format: ReportFormat::Text,
                contexts: args.contexts.clone(),
            },
            env,
        )
        // The mapping was written: the report's "differences" status is no failure.
        .map(|_| ExitCode::SUCCESS),
        _ => Ok(ExitCode::SUCCESS),
    }
}
