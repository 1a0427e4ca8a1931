//! `dh-migrate wizard`: the interactive way to a mapping file. Needs a terminal (stdin and
//! stderr); without one it exits at once, pointing to `mapping suggest` and `plan`. The
//! file is written (atomically) only after the final confirmation.

use super::args::{load, ContextArgs, SecretArgs, TargetArgs};
use super::report::ReportFormat;
use super::Ctx;
use crate::atomic::{write_atomic, Mode};
use crate::error::{CliError, ErrorKind};
use crate::ops::{ApplyOptions, PlanOptions};
use crate::planview::DiffMode;
use crate::ui::esc;
use crate::wizard::ask::{Ask, AskError, Terminal};
use crate::wizard::{Finish, Inputs};
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

/// Writes the mapping all at once; it gets the old file's mode, or the usual mode for a
/// new file (0666 less the umask): a mapping file holds no secret.
fn write_mapping(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    Ok(write_atomic(path, bytes, Mode::Usual, false)?)
}

pub fn run(args: WizardArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    // Checked first: without a terminal nothing else is worth doing.
    if !ctx.ui.interactive() {
        return Err(no_terminal(&args));
    }
    let existing = if args.mapping_out.exists() {
        Some(
            crate::ops::load_mapping(&args.mapping_out)
                .map_err(|e| {
                    CliError::from(e)
                        .hint("fix the file, or give another --mapping-out to start afresh")
                })?
                .mapping,
        )
    } else {
        None
    };
    let sources = args
        .target
        .sources(&ctx.env, &args.bundle, None, &args.contexts)?;
    let mut inputs = load(&ctx.ui, sources)?;
    let session = Inputs {
        bundle: &inputs.bundle,
        tree: &inputs.tree,
        target: &inputs.target,
        contexts: &inputs.contexts,
        layout: &inputs.layout,
        bundle_label: args.bundle.display().to_string(),
        target_label: inputs.target.label.clone(),
        mapping_out: args.mapping_out.display().to_string(),
        existing,
    };
    let mut term = Terminal::default();
    let text = match crate::wizard::run(&session, &mut term).map_err(|e| ask_error(e, &args))? {
        Finish::Write(text) => text,
        Finish::Quit => {
            return Err(CliError::new(
                ErrorKind::Declined,
                "quit without writing; nothing was written",
            ))
        }
    };
    let ui = &ctx.ui;
    if args.dry_run {
        ui.out(&text)?;
        ui.status(&format!(
            "dry run: the mapping is on stdout; nothing was written to {}",
            esc(&args.mapping_out.display().to_string())
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    write_mapping(&args.mapping_out, text.as_bytes())?;
    let (bundle_w, target_w, out_w) = (
        shell_word(&args.bundle),
        target_flags(&args.target),
        shell_word(&args.mapping_out),
    );
    let plan_cmd = format!("dh-migrate plan {bundle_w} {target_w} --mapping {out_w}");
    let report_cmd = format!("dh-migrate report {bundle_w} {target_w} --mapping {out_w}");
    ui.status(&format!(
        "wrote {}\n\nNext:\n  {}\n  {}\n",
        esc(&args.mapping_out.display().to_string()),
        esc(&plan_cmd),
        esc(&report_cmd)
    ))?;
    let mut items = vec![
        "nothing now (the commands are above)".to_string(),
        "run plan now (the summary, no diffs)".to_string(),
        "run report now".to_string(),
    ];
    // Apply is offered only against a live etcd target; it asks for its own confirmation.
    let live = inputs.target.store.is_some();
    if live {
        items.push("run apply now (it shows the plan and asks before writing)".to_string());
    }
    let next = term
        .select("Run one now?", &items, 0)
        .map_err(|e| ask_error(e, &args))?;
    if next == 0 || (next == 3 && !live) || next > 3 {
        return Ok(ExitCode::SUCCESS);
    }
    // The ops run on the inputs already loaded, with the mapping just written.
    inputs.mapping = Some(crate::ops::load_mapping(&args.mapping_out)?);
    match next {
        1 => {
            let opts = PlanOptions::default();
            let planned = crate::ops::plan(&inputs, &opts)?;
            super::plan::show(ui, &inputs, &planned, DiffMode::None, &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        2 => {
            // The mapping was written: the report's "differences" status is no failure.
            super::report::show(ui, &inputs, ReportFormat::Text, &SecretArgs::default())?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let opts = ApplyOptions {
                record: super::apply::default_record(&ctx.env),
                ..ApplyOptions::default()
            };
            let flow = super::apply::Flow {
                diff: DiffMode::None,
                dry_run: false,
                yes: false,
            };
            super::apply::apply(ui, &mut inputs, &opts, &flow)
        }
    }
}
