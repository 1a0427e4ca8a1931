//! `dh-migrate wizard`: the interactive way to a mapping file. Needs a terminal (stdin and
//! stderr); without one it exits at once, pointing to `mapping suggest` and `plan`. The
//! file is written (atomically) only after the final confirmation.

use super::args::{load_mapping, ContextArgs, TargetArgs};
use super::common::open_tree;
use super::plan::PlanArgs;
use super::report::ReportArgs;
use crate::error::{CliError, ErrorKind};
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

/// Another subcommand's arguments for this bundle and mapping, built by clap itself so
/// that every flag not given keeps its documented default (target and contexts are
/// copied over afterwards).
fn parse_args<T: clap::Args + clap::FromArgMatches>(
    name: &'static str,
    args: &WizardArgs,
    extra: &[&str],
) -> Result<T, CliError> {
    let cmd = T::augment_args(clap::Command::new(name));
    let mut argv: Vec<std::ffi::OsString> = vec![name.into(), args.bundle.clone().into()];
    argv.push("--mapping".into());
    argv.push(args.mapping_out.clone().into());
    argv.extend(extra.iter().map(Into::into));
    cmd.try_get_matches_from(argv)
        .and_then(|m| T::from_arg_matches(&m))
        .map_err(|e| CliError::new(ErrorKind::Internal, format!("running {name}: {e}")))
}

/// Writes the mapping all at once: a temporary file in the same folder, renamed over
/// the destination, so an interruption leaves either the old file or the new one. Unlike
/// a temporary file's private mode, the result gets the old file's mode, or the usual
/// mode for a new file (0666 less the umask): a mapping file holds no secret.
fn write_mapping(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let err = |e: std::io::Error| {
        CliError::new(ErrorKind::Io, format!("writing {}: {e}", path.display()))
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".dh-migrate-mapping-");
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(
            std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777),
        )
    };
    #[cfg(unix)]
    builder.permissions(mode);
    let mut tmp = builder.tempfile_in(&parent).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

pub fn run(args: WizardArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    // Checked first: without a terminal nothing else is worth doing.
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(no_terminal(&args));
    }
    let existing =
        if args.mapping_out.exists() {
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
    write_mapping(&args.mapping_out, text.as_bytes())?;
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
    let mut items = vec![
        "nothing now (the commands are above)".to_string(),
        "run plan now (the summary, no diffs)".to_string(),
        "run report now".to_string(),
    ];
    // Apply is offered only against a live etcd target; it asks for its own confirmation.
    let live = target.etcd.is_some();
    if live {
        items.push("run apply now (it shows the plan and asks before writing)".to_string());
    }
    let next = term
        .select("Run one now?", &items, 0)
        .map_err(|e| ask_error(e, &args))?;
    match next {
        1 => {
            let mut plan: PlanArgs = parse_args("plan", &args, &["--diff", "none"])?;
            plan.target = args.target.clone();
            plan.contexts = args.contexts.clone();
            super::plan::run(plan, env).map(|_| ExitCode::SUCCESS)
        }
        2 => {
            let mut report: ReportArgs = parse_args("report", &args, &[])?;
            report.target = args.target.clone();
            report.contexts = args.contexts.clone();
            // The mapping was written: the report's "differences" status is no failure.
            super::report::run(report, env).map(|_| ExitCode::SUCCESS)
        }
        3 if live => {
            let mut apply: super::apply::ApplyArgs =
                parse_args("apply", &args, &["--diff", "none"])?;
            apply.etcd = args.target.etcd.clone();
            apply.cluster_cnf = args.target.cluster_cnf.clone();
            apply.contexts = args.contexts.clone();
            super::apply::run(apply, env)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
