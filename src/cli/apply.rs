//! `dh-migrate apply`: migrate and import into the new cluster's etcd, write the
//! file-system parts per node, then print the restart step. `rollback` undoes an apply from
//! its run record; `export` writes a cluster's configuration in the bundle layout.

use super::args::{
    export_error, insert_cluster_cnf, load_mapping, read_text, ColorChoice, ContextArgs, EtcdArgs,
};
use super::common::{open_tree, print};
use super::plan::{layout_text, plan_error, secrets_policy};
use crate::apply::{self, ApplyError, RunOptions, RunRecord};
use crate::bundle::Bundle;
use crate::emit::{self, OutFile};
use crate::error::{CliError, ErrorKind};
use crate::etcd::RealEtcd;
use crate::plan::{make_plan_with, Plan, Target};
use crate::planfile::{sha256_hex, PlanFile};
use crate::planview::{render_text, DiffMode, ViewOptions};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
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
    /// Where to save the run record (previous values, for rollback).
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
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    #[command(flatten)]
    pub contexts: ContextArgs,
    /// Show secret values in diffs and reports (they are redacted to fingerprints otherwise).
    #[arg(long)]
    pub show_secrets: bool,
    /// Test seam: stop after N transactions, as if interrupted.
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_batches: Option<usize>,
}

/// Asks on the terminal, or refuses without one.
fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
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

/// A run-record name no other apply uses: UTC time to the nanosecond and the process id.
fn default_record() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    PathBuf::from(format!(
        "dh-migrate-run-{}.{:09}-{}.json",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    ))
}

fn apply_error(e: ApplyError) -> CliError {
    let kind = match &e {
        ApplyError::Etcd(_) => ErrorKind::Internal,
        ApplyError::Record { .. } => ErrorKind::Io,
        ApplyError::BadRecord(_) => ErrorKind::Usage,
        ApplyError::RolledBack { .. } | ApplyError::RollbackConflict(_) => ErrorKind::Conflict,
        ApplyError::Partial { .. } => ErrorKind::Internal,
        ApplyError::Stopped { .. } => ErrorKind::Interrupted,
    };
    match e {
        ApplyError::Etcd(inner) => inner.into(),
        other => CliError::new(kind, other.to_string()),
    }
}

/// The file-system parts per new node, with an ownership list.
fn files_out(
    plan: &Plan,
    bundle: &Bundle,
    layout: &crate::layout::Layout,
) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut owners = String::from("# node\tpath\tmode\tuid\tgid\towner\n");
    for (node, paths) in &plan.files_for_node {
        for p in paths {
            let Some(f) = plan.migration.files.get(p) else {
                continue;
            };
            if layout.is_item(p) {
                continue;
            }
            // files/<abs> or nodes/<old>/files/<abs> -> <node>/<abs>
            let abs = p
                .strip_prefix("files/")
                .or_else(|| p.split_once("/files/").map(|(_, rest)| rest))
                .unwrap_or(p);
            let b = bundle.get(p);
            owners.push_str(&format!(
                "{node}\t/{abs}\t{:04o}\t{}\t{}\t{}\n",
                f.mode & 0o7777,
                b.and_then(|b| b.uid).map_or("-".into(), |u| u.to_string()),
                b.and_then(|b| b.gid).map_or("-".into(), |g| g.to_string()),
                b.and_then(|b| b.uname.clone())
                    .unwrap_or_else(|| "-".into()),
            ));
            // In the file's own encoding. Encoding back cannot fail here: a rewrite only
            // writes ASCII host names, which every encoding read as text can encode.
            let bytes = f
                .after_bytes()
                .unwrap_or_else(|_| f.after.as_bytes().to_vec());
            out.push((format!("{node}/{abs}"), bytes, f.mode));
        }
    }
    out.push(("OWNERS.tsv".into(), owners.into_bytes(), 0o644));
    out
}

pub fn run(args: ApplyArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let saved = match &args.plan {
        Some(p) => Some(
            PlanFile::parse(&read_text(p, ErrorKind::Usage)?)
                .map_err(|e| CliError::new(ErrorKind::Usage, format!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let from_plan = |given: &Option<PathBuf>, recorded: fn(&PlanFile) -> &str, what: &str| {
        given
            .clone()
            .or_else(|| saved.as_ref().map(|s| PathBuf::from(recorded(s))))
            .ok_or_else(|| {
                CliError::new(
                    ErrorKind::Usage,
                    format!("apply needs the {what} (or --plan PLAN.json)"),
                )
            })
    };
    let bundle_path = from_plan(&args.bundle, |s| &s.bundle, "BUNDLE argument")?;
    let mapping_path = from_plan(&args.mapping, |s| &s.mapping, "--mapping file")?;
    let mapping = load_mapping(&mapping_path)?;
    let mapping_text = read_text(&mapping_path, ErrorKind::Mapping)?;
    let contexts = args.contexts.load()?;
    let layout = args.etcd.layout()?;
    let (bundle, tree) = open_tree(&bundle_path)?;
    if let Some(d) = &args.files_out {
        emit::check_destination(d).map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
    }
    let settings = args.etcd.settings(env)?;
    let mut store = RealEtcd::connect(&settings)?;
    let exported = crate::export::read(&mut store, &layout).map_err(export_error)?;
    let (mut ttree, state) = exported.to_tree().map_err(export_error)?;
    if let Some(cnf) = &args.cluster_cnf {
        insert_cluster_cnf(&mut ttree, cnf)?;
    }
    let target = Target {
        tree: ttree,
        label: format!("etcd {}", settings.endpoints.join(",")),
        etcd: Some(state),
    };
    if let (Some(p), Some(saved)) = (&args.plan, &saved) {
        saved
            .check(
                &crate::plan::bundle_hash(&bundle),
                &sha256_hex(mapping_text.as_bytes()),
                &sha256_hex(layout_text(&args.etcd)?.as_bytes()),
                target.etcd.as_ref(),
            )
            .map_err(|e| {
                CliError::new(
                    ErrorKind::Conflict,
                    format!(
                        "saved plan {} is stale: {e}; nothing was written",
                        p.display()
                    ),
                )
                .hint("make a new plan")
            })?;
    }
    let plan = make_plan_with(
        &bundle,
        &tree,
        &target,
        &mapping,
        &contexts,
        &layout,
        args.files_node.as_deref(),
        secrets_policy(args.show_secrets),
    )
    .map_err(plan_error)?;
    let changes = apply::changes(&plan.migration, &layout, &exported);
    let view = ViewOptions {
        diff: args.diff,
        color: args.color.for_stdout(),
        bundle: bundle_path.display().to_string(),
        target: target.label.clone(),
        mapping: mapping_path.display().to_string(),
        restart: false,
        secrets: secrets_policy(args.show_secrets),
    };
    print(&render_text(&plan, &view))?;
    let out_files = args
        .files_out
        .as_ref()
        .map(|_| files_out(&plan, &bundle, &layout));
    if changes.is_empty() && out_files.is_none() {
        print("\nRestart step: nothing was written, no restart needed.\n")?;
        eprintln!("nothing to do: etcd already holds the migrated configuration (revision {} unchanged); nothing was written", exported.header_revision);
        super::plan::release_at_exit((plan, tree, bundle, target, exported));
        return Ok(ExitCode::SUCCESS);
    }
    let limits = crate::etcd::KvStore::limits(&store);
    let per_txn = args
        .max_txn_ops
        .map_or(limits.max_ops, |n| n.clamp(1, limits.max_ops));
    let txns = changes.len().div_ceil(per_txn.max(1));
    if args.dry_run {
        eprintln!(
            "dry run: would write {} key(s) to etcd (about {txns} transaction(s)){}; nothing was written",
            changes.len(),
            args.files_out.as_ref().map_or(String::new(), |d| format!(" and the file-system parts to {}", d.display()))
        );
        super::plan::release_at_exit((plan, tree, bundle, target, exported, changes));
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        &format!(
            "Write {} key(s) to etcd at {}?",
            changes.len(),
            settings.endpoints.join(",")
        ),
        args.yes,
    )?;
    let record = args.run_record.clone().unwrap_or_else(default_record);
    let bar = (std::io::stderr().is_terminal() && !changes.is_empty())
        .then(|| indicatif::ProgressBar::new(txns as u64));
    let mut progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let applied = apply::apply(
        &mut store,
        &layout,
        &changes,
        RunOptions {
            endpoints: &settings.endpoints,
            record: &record,
            stop_after: args.stop_after_batches,
            max_ops: args.max_txn_ops,
            progress: &mut progress,
        },
    )
    .map_err(apply_error)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(lower) = applied.lowered {
        eprintln!(
            "note: etcd refused transactions of the default size (its --max-txn-ops or --max-request-bytes is lower than etcd's default); nothing of a refused transaction is written, so they were sent again smaller: at most {} operation(s) and about {} bytes each",
            lower.max_ops, lower.max_request_bytes
        );
    }
    if applied.keys > 0 {
        eprintln!(
            "applied: {} key(s) in {} transaction(s), etcd revision {}; run record (for `dh-migrate rollback`): {}",
            applied.keys,
            applied.batches,
            applied.revision,
            record.display()
        );
    } else {
        eprintln!("etcd already holds the migrated configuration: nothing written to etcd");
    }
    if let (Some(dir), Some(files)) = (&args.files_out, out_files) {
        let refs: Vec<OutFile<'_>> = files
            .iter()
            .map(|(p, c, m)| OutFile {
                path: p,
                content: c,
                mode: *m,
            })
            .collect();
        let n = emit::write_tree(dir, &refs)
            .map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
        eprintln!(
            "wrote {} file-system part(s) for the nodes to {} (see OWNERS.tsv)",
            n - 1,
            dir.display()
        );
    }
    print(&format!("\n{}", crate::restart::render_text(&plan.restart)))?;
    super::plan::release_at_exit((plan, tree, bundle, target, exported, changes));
    Ok(ExitCode::SUCCESS)
}

/// Undo an apply from its run record.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The run record an apply saved.
    pub record: PathBuf,
    /// etcd connection (default: the endpoints in the record).
    #[command(flatten)]
    pub etcd: EtcdArgs,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_name = "N")]
    pub max_txn_ops: Option<usize>,
}

pub fn rollback(args: RollbackArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let record =
        RunRecord::parse(&read_text(&args.record, ErrorKind::Usage)?).map_err(apply_error)?;
    let mut etcd = args.etcd.clone();
    if !etcd.given(env) {
        etcd.endpoints = record.endpoints.clone();
    }
    let mut store = etcd.connect(env)?;
    let check =
        apply::rollback(&mut store, &record, true, args.max_txn_ops).map_err(apply_error)?;
    eprintln!(
        "rollback: {} key(s) to restore, {} already as before",
        check.restored, check.already
    );
    if check.restored == 0 {
        eprintln!("nothing to do; nothing was written");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        eprintln!("dry run: nothing was written");
        return Ok(ExitCode::SUCCESS);
    }
    confirm(&format!("Restore {} key(s)?", check.restored), args.yes)?;
    let done =
        apply::rollback(&mut store, &record, false, args.max_txn_ops).map_err(apply_error)?;
    eprintln!(
        "restored {} key(s) in {} transaction(s)",
        done.restored, done.batches
    );
    Ok(ExitCode::SUCCESS)
}

/// Write a cluster's configuration (the layout's etcd items) in the bundle layout.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Destination folder (new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long)]
    pub dry_run: bool,
}

pub fn export(args: ExportArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let layout = args.etcd.layout()?;
    emit::check_destination(&args.out).map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
    let mut store = args.etcd.connect(env)?;
    let exported = crate::export::read(&mut store, &layout).map_err(export_error)?;
    let files: Vec<OutFile<'_>> = exported
        .items
        .iter()
        .map(|(p, (v, _))| OutFile {
            path: p,
            content: v,
            mode: 0o644,
        })
        .collect();
    let listing: String = exported
        .items
        .iter()
        .map(|(p, (_, rev))| format!("{p}\t{rev}\n"))
        .collect();
    print(&listing)?;
    if !exported.unknown.is_empty() {
        eprintln!(
            "{} key(s) under {} are not layout items and were not exported (runtime or other keys)",
            exported.unknown.len(),
            layout.prefix
        );
    }
    if args.dry_run {
        eprintln!(
            "dry run: would write {} item(s) to {}; nothing was written",
            exported.items.len(),
            args.out.display()
        );
    } else {
        emit::write_bundle_tree(&args.out, &files)
            .map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
        eprintln!(
            "exported {} item(s) at revision {} to {}",
            exported.items.len(),
            exported.header_revision,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
