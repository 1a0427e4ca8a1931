//! `dh-migrate wizard`: the interactive way to a mapping file. Needs a terminal (stdin and
//! stderr); without one it exits at once, pointing to `mapping suggest` and `plan`. The
//! file is written (atomically) only after the final confirmation; the answers so far are
//! kept after each one in `<mapping>.partial` beside it, offered for resuming on the next
//! run, and removed once the mapping is written or the user quits on purpose.

use super::args::{load, ContextArgs, OutputFormat, TargetArgs};
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

/// Where the answers of an unfinished session are kept: beside the mapping, never in it.
fn partial_path(mapping_out: &Path) -> PathBuf {
    let mut p = mapping_out.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

fn ask_error(e: AskError, args: &WizardArgs) -> CliError {
    let partial = partial_path(&args.mapping_out);
    let kept = if partial.exists() {
        format!(
            "the answers so far are kept in {} (run the wizard again to resume); ",
            esc(&partial.display().to_string())
        )
    } else {
        String::new()
    };
    let out = esc(&args.mapping_out.display().to_string()).into_owned();
    match e {
        AskError::NoTerminal => no_terminal(args),
        AskError::Eof => CliError::new(
            ErrorKind::Declined,
            format!("input ended before the wizard finished; {kept}nothing was written to {out}"),
        ),
        AskError::Interrupted => CliError::new(
            ErrorKind::Declined,
            format!("interrupted; {kept}nothing was written to {out}"),
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

/// Removes the partial answers (gone already is fine).
fn remove_partial(partial: &Path) -> Result<(), CliError> {
    match std::fs::remove_file(partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CliError::new(
            ErrorKind::Io,
            format!("removing {}: {e}", esc(&partial.display().to_string())),
        )),
        _ => Ok(()),
    }
}

pub fn run(args: WizardArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    // Checked first: without a terminal nothing else is worth doing.
    if !ctx.ui.interactive() {
        return Err(no_terminal(&args));
    }
    let sources = args
        .target
        .sources(&ctx.env, &args.bundle, None, &args.contexts)?;
    let mut inputs = load(&ctx.ui, sources)?;
    let mut term = Terminal::default();
    let partial = partial_path(&args.mapping_out);
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
    // The answers of an unfinished session: offered by the session after its summary.
    let kept = if partial.exists() {
        let m = crate::ops::load_mapping(&partial).map_err(|e| {
            CliError::from(e).hint(format!(
                "delete {} to start afresh",
                esc(&partial.display().to_string())
            ))
        })?;
        Some((m.mapping, partial.display().to_string()))
    } else {
        None
    };
    let save = |text: &str| {
        write_atomic(&partial, text.as_bytes(), Mode::Usual, false).map_err(|e| e.to_string())
    };
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
        partial: kept,
        // A dry run writes nothing at all, not even the answers so far.
        save_partial: (!args.dry_run).then_some(&save as &dyn Fn(&str) -> Result<(), String>),
    };
    let ui = &ctx.ui;
    let text = match crate::wizard::run(&session, &mut term).map_err(|e| ask_error(e, &args))? {
        Finish::Write(text) => text,
        Finish::Quit => {
            // On purpose: said plainly, not as an error; the exit status stays 12.
            remove_partial(&partial)?;
            ui.status("quit without writing; nothing was written")?;
            return Ok(ExitCode::from(ErrorKind::Declined.exit_code()));
        }
    };
    if args.dry_run {
        ui.out(&text)?;
        ui.status(&format!(
            "dry run: the mapping is on stdout; nothing was written to {}",
            esc(&args.mapping_out.display().to_string())
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    write_mapping(&args.mapping_out, text.as_bytes())?;
    remove_partial(&partial)?;
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
            super::plan::show(
                ui,
                &inputs,
                &planned,
                DiffMode::None,
                OutputFormat::Text,
                &opts,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        2 => {
            // The mapping was written: the report's "differences" status is no failure.
            let opts = crate::ops::ReportOptions {
                generated_at: super::report::generation_time(&ctx.env)?,
                ..crate::ops::ReportOptions::default()
            };
            super::report::show(ui, &inputs, ReportFormat::Text, &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let opts = ApplyOptions {
                record: super::apply::default_record(&ctx.env),
                ..ApplyOptions::default()
            };
            let flow = super::apply::Flow {
                diff: DiffMode::None,
                format: OutputFormat::Text,
                yes: false,
            };
            super::apply::apply(ui, &mut inputs, &opts, &flow)
        }
    }
}
