//! `dh-migrate apply`: resolve the flags (a saved plan supplies the bundle and mapping),
//! then `ops::apply_prepare`, show the plan, confirm, `ops::apply_execute`, and print the
//! restart step.

use super::args::{load, ColorChoice, ContextArgs, EtcdArgs, OutputFormat, SecretArgs};
use super::Ctx;
use crate::error::{CliError, ErrorKind};
use crate::ops::apply::{Executed, Prepared};
use crate::ops::{release_at_exit, ApplyOptions, Inputs, Sources, TargetSource};
use crate::planfile::PlanFile;
use crate::planview::{
    plan_doc, render_text, AppliedDoc, ApplyDoc, DiffMode, FilesOutDoc, ViewOptions, APPLY_SCHEMA,
};
use crate::ui::{esc, Ui};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Migrate the bundle and import it into the new cluster's etcd.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Bundle directory or archive (default with --plan: the plan's bundle).
    pub bundle: Option<PathBuf>,
    /// Mapping file (default with --plan: the plan's mapping).
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// The new cluster's installer cluster.cnf (nodes and roles, for the restart step).
    /// Without it, the nodes come from the mapping.
    #[arg(long, value_name = "FILE")]
    pub cluster_cnf: Option<PathBuf>,
    /// Accept mapping values that are not nodes of the new cluster with a warning.
    #[arg(long)]
    pub allow_unknown_hosts: bool,
    /// A bundle with both config/ files and etcd/snapshot.db: use the files' copy of every
    /// item that differs (default: the snapshot's, which is what etcd held; each difference
    /// is warned of).
    #[arg(long)]
    pub prefer_files: bool,
    /// The default since the snapshot wins; accepted so older runbooks keep working.
    #[arg(long, hide = true, conflicts_with = "prefer_files")]
    pub prefer_snapshot: bool,
    /// A saved plan (`plan --out`): refused when the bundle, mapping or etcd changed since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Write the migrated file-system parts here, one folder per new node.
    #[arg(long, value_name = "DIR")]
    pub files_out: Option<PathBuf>,
    /// Where to save the run record (previous values, for rollback) [default:
    /// $XDG_STATE_HOME/dh-migrate/runs/, else ~/.local/state/dh-migrate/runs/].
    #[arg(long, value_name = "FILE")]
    pub run_record: Option<PathBuf>,
    /// Operations per etcd transaction, for servers with a lower --max-txn-ops than 128.
    #[arg(long, value_name = "N")]
    pub max_txn_ops: Option<usize>,
    /// The old node the bundle's `files/` came from (default: the only infra node).
    #[arg(long, value_name = "OLD-HOST")]
    pub files_node: Option<String>,
    /// Which diffs to show before applying.
    #[arg(long, value_enum, default_value = "target")]
    pub diff: DiffMode,
    /// Output format: text, or one JSON document at the end (docs/plan.schema.json).
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Colour: auto, always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    #[command(flatten)]
    pub contexts: ContextArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Test seam: stop after N transactions, as if interrupted.
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_batches: Option<usize>,
}

/// Asks on the terminal, or refuses without one.
pub fn confirm(ui: &Ui, question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !ui.interactive() {
        return Err(CliError::new(
            ErrorKind::Declined,
            "confirmation needed but there is no terminal; nothing was written",
        )
        .hint("review the plan, then run again with --yes (or --dry-run to only look)"));
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| {
            CliError::new(
                ErrorKind::Declined,
                format!("no answer ({e}); nothing was written"),
            )
        })?;
    if ok {
        Ok(())
    } else {
        Err(CliError::new(
            ErrorKind::Declined,
            "declined; nothing was written",
        ))
    }
}

/// The default run record: a name no other apply uses (UTC time to the nanosecond and the
/// process id) in the user's state directory, never the working directory.
pub fn default_record(env: &HashMap<String, String>) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "dh-migrate-run-{}.{:09}-{}.json",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    );
    state_dir(env).join("runs").join(name)
}

/// `$XDG_STATE_HOME/dh-migrate`, else `~/.local/state/dh-migrate` (XDG base directories:
/// a relative XDG_STATE_HOME is ignored).
fn state_dir(env: &HashMap<String, String>) -> PathBuf {
    match env.get("XDG_STATE_HOME").map(Path::new) {
        Some(p) if p.is_absolute() => p.join("dh-migrate"),
        _ => {
            let home = env
                .get("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".local/state/dh-migrate")
        }
    }
}

/// How a caller (the command, or the wizard) wants an apply shown and confirmed.
pub struct Flow {
    pub diff: DiffMode,
    pub format: OutputFormat,
    pub yes: bool,
}

pub fn run(args: ApplyArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let saved = match &args.plan {
        Some(p) => {
            let text = crate::ops::read_text(p, crate::ops::FileRole::Option)?;
            Some((
                p.clone(),
                PlanFile::parse(&text).map_err(|source| crate::ops::OpsError::BadPlanFile {
                    path: p.clone(),
                    source,
                })?,
            ))
        }
        None => None,
    };
    let from_plan = |given: &Option<PathBuf>, recorded: fn(&PlanFile) -> &str, what: &str| {
        given
            .clone()
            .or_else(|| saved.as_ref().map(|(_, s)| PathBuf::from(recorded(s))))
            .ok_or_else(|| {
                CliError::new(
                    ErrorKind::Usage,
                    format!("apply needs the {what} (or --plan PLAN.json)"),
                )
            })
    };
    let bundle = from_plan(&args.bundle, |s| &s.bundle, "BUNDLE argument")?;
    let mapping = from_plan(&args.mapping, |s| &s.mapping, "--mapping file")?;
    let sources = Sources {
        bundle,
        target: Some(TargetSource::Etcd(args.etcd.settings(&ctx.env)?)),
        cluster_cnf: args.cluster_cnf.clone(),
        mapping: Some(mapping),
        contexts: args.contexts.role_contexts.clone(),
        layout: args.etcd.layout.clone(),
        etcd_prefix: args.etcd.etcd_prefix.clone(),
        allow_unknown_hosts: args.allow_unknown_hosts,
        prefer_files: args.prefer_files,
    };
    let mut inputs = load(&ctx.ui, sources)?;
    let ui = ctx.ui.clone().with_color(args.color);
    let opts = ApplyOptions {
        files_node: args.files_node.clone(),
        secrets: args.secrets.policy(),
        files_out: args.files_out.clone(),
        max_txn_ops: args.max_txn_ops,
        stop_after: args.stop_after_batches,
        record: args
            .run_record
            .clone()
            .unwrap_or_else(|| default_record(&ctx.env)),
        saved_plan: saved,
        dry_run: args.dry_run,
    };
    let flow = Flow {
        diff: args.diff,
        format: args.format,
        yes: args.yes,
    };
    let code = apply(&ui, &mut inputs, &opts, &flow)?;
    release_at_exit(inputs);
    Ok(code)
}

/// Prepares, shows, confirms and executes an apply on loaded inputs.
pub fn apply(
    ui: &Ui,
    inputs: &mut Inputs,
    opts: &ApplyOptions,
    flow: &Flow,
) -> Result<ExitCode, CliError> {
    let mut prepared = crate::ops::apply_prepare(inputs, opts)?;
    let view = ViewOptions {
        diff: flow.diff,
        color: ui.color(),
        bundle: inputs.bundle_label(),
        target: inputs.target.label.clone(),
        mapping: inputs.mapping()?.path.display().to_string(),
        restart: false,
        snapshot: false,
        secrets: opts.secrets,
    };
    let json = flow.format == OutputFormat::Json;
    if !json {
        ui.out(&render_text(&prepared.plan, &view))?;
    }
    for w in &prepared.plan.warnings {
        ui.status(&format!("warning: {}", esc(w)))?;
    }
    for s in &prepared.plan.not_created {
        ui.status(&format!(
            "not written: {}: {}; after apply, import the migrated file with: {}",
            esc(&s.path),
            s.why,
            s.command
        ))?;
    }
    if prepared.nothing_to_do() {
        if json {
            ui.json(&apply_doc(&prepared, &view, None, false))?;
        } else {
            ui.out("\nRestart step: nothing was written, no restart needed.\n")?;
        }
        ui.status(&format!("nothing to do: etcd already holds the migrated configuration (revision {} unchanged); nothing was written", prepared.revision))?;
        release_at_exit(prepared);
        return Ok(ExitCode::SUCCESS);
    }
    if opts.dry_run {
        ui.status(&format!(
            "dry run: would write {} key(s) to etcd (about {} transaction(s)){}; nothing was written",
            prepared.changes.len(),
            prepared.transactions,
            opts.files_out.as_ref().map_or(String::new(), |d| format!(
                " and the file-system parts to {}",
                esc(&d.display().to_string())
            ))
        ))?;
        if json {
            ui.json(&apply_doc(&prepared, &view, None, true))?;
        }
        release_at_exit(prepared);
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        ui,
        &format!(
            "Write {} key(s) to etcd at {}?",
            prepared.changes.len(),
            inputs.target.endpoints.join(",")
        ),
        flow.yes,
    )?;
    let bar = ui.progress(prepared.transactions as u64, "writing to etcd");
    let done = crate::ops::apply_execute(inputs, &mut prepared, opts, &mut |d, t| bar.set(d, t));
    bar.finish();
    let done = done?;
    if let Some(lower) = done.applied.lowered {
        ui.status(&format!(
            "note: etcd refused transactions of the default size (its --max-txn-ops or --max-request-bytes is lower than etcd's default); nothing of a refused transaction is written, so they were sent again smaller: at most {} operation(s) and about {} bytes each",
            lower.max_ops, lower.max_request_bytes
        ))?;
    }
    match &done.record {
        Some(record) => ui.status(&format!(
            "applied: {} key(s) in {} transaction(s), etcd revision {}; run record (for `dh-migrate rollback`): {}",
            done.applied.keys,
            done.applied.batches,
            done.applied.revision,
            esc(&record.display().to_string())
        ))?,
        None => ui.status("etcd already holds the migrated configuration: nothing written to etcd")?,
    }
    if let Some((dir, n)) = &done.files {
        ui.status(&format!(
            "wrote {n} file-system part(s) for the nodes to {} (see OWNERS.tsv)",
            esc(&dir.display().to_string())
        ))?;
    }
    if json {
        // The snapshot advice goes into the document when this apply wrote.
        let view = ViewOptions {
            snapshot: done.record.is_some(),
            ..view
        };
        ui.json(&apply_doc(&prepared, &view, Some(&done), false))?;
        release_at_exit((prepared, done));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((dir, _)) = &done.files {
        // The node files go in place before the processes that read them restart.
        let text = crate::restart::render_copy_text(&dir.display().to_string(), &prepared.copies);
        let text: String = text.lines().map(|l| format!("{}\n", esc(l))).collect();
        ui.out(&format!("\n{text}"))?;
    }
    ui.out(&format!(
        "\n{}",
        crate::restart::render_text(&prepared.plan.restart)
    ))?;
    // The snapshot warning, once, now that this apply wrote: the migrated items are in, and
    // restoring the old snapshot over them would undo it.
    if let (Some(advice), Some(_)) = (&prepared.plan.snapshot, &done.record) {
        ui.out(&format!("\n{advice}"))?;
    }
    release_at_exit((prepared, done));
    Ok(ExitCode::SUCCESS)
}

/// The `apply --format json` document.
fn apply_doc<'a>(
    prepared: &'a Prepared,
    view: &ViewOptions,
    done: Option<&Executed>,
    dry_run: bool,
) -> ApplyDoc<'a> {
    ApplyDoc {
        schema: APPLY_SCHEMA,
        plan: plan_doc(&prepared.plan, view),
        dry_run,
        keys_to_write: prepared.changes.len(),
        keys: prepared.changes.iter().map(|c| c.key.as_str()).collect(),
        applied: done.map(|d| AppliedDoc {
            keys: d.applied.keys,
            transactions: d.applied.batches,
            revision: d.applied.revision,
        }),
        run_record: done
            .and_then(|d| d.record.as_ref())
            .map(|r| r.display().to_string()),
        files_out: done
            .and_then(|d| d.files.as_ref())
            .map(|(dir, n)| FilesOutDoc {
                dir: dir.display().to_string(),
                files: *n,
                copies: &prepared.copies,
            }),
    }
}
