//! `dh-migrate plan`: migrate a bundle for a target and show every change; optionally
//! write the migrated tree (`--emit`) and a saved plan (`--out`). Writes nothing unless
//! the plan is complete.

use super::args::{load_mapping, ColorChoice, ContextArgs, TargetArgs};
use super::common::{open_tree, print, to_json};
use crate::emit::{self, OutFile};
use crate::error::{CliError, ErrorKind};
use crate::plan::{make_plan_with, Plan, PlanError};
use crate::planfile::{sha256_hex, PlanFile, PlanItem, SCHEMA};
use crate::planview::{render_text, DiffMode, ViewOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Rewrite the bundle's configuration for the new cluster and show the changes against it.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Mapping file (old host -> new host).
    #[arg(long, value_name = "FILE")]
    pub mapping: PathBuf,
    /// Write the migrated tree (bundle layout, migrated parts only) to this new folder.
    #[arg(long, value_name = "DIR")]
    pub emit: Option<PathBuf>,
    /// Write a saved plan (JSON) for `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Which diffs to show.
    #[arg(long, value_enum, default_value = "both")]
    pub diff: DiffMode,
    /// Colour: auto, always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// The old node that the bundle's `files/` came from (default: the only infra node).
    #[arg(long, value_name = "OLD-HOST")]
    pub files_node: Option<String>,
    #[command(flatten)]
    pub contexts: ContextArgs,
    /// Show secret values in diffs and reports (they are redacted to fingerprints otherwise).
    #[arg(long)]
    pub show_secrets: bool,
}

/// `--show-secrets` as a policy.
pub fn secrets_policy(show: bool) -> crate::secrets::SecretPolicy {
    if show {
        crate::secrets::SecretPolicy::Show
    } else {
        crate::secrets::SecretPolicy::Redact
    }
}

/// Turns an incomplete plan into the Coverage error, listing every problem.
pub fn plan_error(e: PlanError) -> CliError {
    match e {
        PlanError::Incomplete(lines) => {
            let mut msg = format!(
                "the plan is incomplete, nothing was written: {} problem(s)",
                lines.len()
            );
            for l in &lines {
                msg.push_str("\n  ");
                msg.push_str(&crate::text::escape_for_terminal(l));
            }
            CliError::new(ErrorKind::Coverage, msg)
                .hint("map each reference's host in the mapping file, or list it under keep: if it must stay")
        }
        PlanError::Broke(b) => CliError::new(ErrorKind::Internal, b.to_string()),
    }
}

/// The saved-plan record for `plan`.
pub fn plan_record(
    plan: &Plan,
    bundle: &Path,
    mapping: &Path,
    mapping_text: &str,
    layout_text: &str,
    layout: &crate::layout::Layout,
    target: &crate::plan::Target,
) -> PlanFile {
    // A set rather than a search of the comparison per file (quadratic on a large tree).
    let writes: std::collections::HashSet<&str> = plan
        .comparison
        .files
        .iter()
        .filter(|c| c.counts())
        .map(|c| c.path.as_str())
        .collect();
    let items = plan
        .migration
        .files
        .values()
        .map(|f| PlanItem {
            path: f.path.clone(),
            key: layout.key_for(&f.path).map(|(k, _)| k),
            before_sha256: sha256_hex(f.before.as_bytes()),
            after_sha256: sha256_hex(f.after.as_bytes()),
            writes: writes.contains(f.path.as_str()),
        })
        .collect();
    PlanFile {
        schema: SCHEMA.into(),
        bundle: bundle.display().to_string(),
        bundle_sha256: plan.bundle_hash.clone(),
        mapping: mapping.display().to_string(),
        mapping_sha256: sha256_hex(mapping_text.as_bytes()),
        layout_sha256: sha256_hex(layout_text.as_bytes()),
        target: target.label.clone(),
        target_sha256: plan.target_hash.clone(),
        etcd: target.etcd.clone(),
        items,
    }
}

/// The layout's text as used (for the plan's hash): the file given, or the shipped one.
pub fn layout_text(args: &super::args::EtcdArgs) -> Result<String, CliError> {
    match &args.layout {
        Some(p) => super::args::read_text(p, ErrorKind::Usage),
        None => Ok(crate::layout::DEFAULT_LAYOUT.to_string()),
    }
}

pub fn run(args: PlanArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let mapping = load_mapping(&args.mapping)?;
    let mapping_text = super::args::read_text(&args.mapping, ErrorKind::Mapping)?;
    let contexts = args.contexts.load()?;
    let layout = args.target.etcd.layout()?;
    let (bundle, tree) = open_tree(&args.bundle)?;
    let target = args.target.load(env)?;
    if let Some(dir) = &args.emit {
        // Refuse early, before any work is shown, when the destination is taken.
        emit::check_destination(dir).map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
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
    let view = ViewOptions {
        diff: args.diff,
        color: args.color.for_stdout(),
        bundle: args.bundle.display().to_string(),
        target: target.label.clone(),
        mapping: args.mapping.display().to_string(),
        restart: true,
        secrets: secrets_policy(args.show_secrets),
    };
    print(&render_text(&plan, &view))?;
    if let Some(dir) = &args.emit {
        // Each file in its own encoding (text decoded from ISO-8859-1, UTF-16, ...).
        let encoded: Vec<(&crate::migrate::MigratedFile, Vec<u8>)> = plan
            .migration
            .files
            .values()
            .map(|f| Ok((f, f.after_bytes()?)))
            .collect::<Result<_, crate::migrate::EncodeBack>>()
            .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
        let files: Vec<OutFile<'_>> = encoded
            .iter()
            .map(|(f, bytes)| OutFile {
                path: &f.path,
                content: bytes,
                mode: f.mode,
            })
            .collect();
        if args.dry_run {
            eprintln!(
                "dry run: would write {} file(s) to {}; nothing was written",
                files.len() + 1,
                dir.display()
            );
        } else {
            let n = emit::write_bundle_tree(dir, &files)
                .map_err(|e| CliError::new(ErrorKind::Io, e.to_string()))?;
            eprintln!("wrote the migrated tree to {} ({n} files)", dir.display());
        }
    }
    if let Some(out) = &args.out {
        let record = plan_record(
            &plan,
            &args.bundle,
            &args.mapping,
            &mapping_text,
            &layout_text(&args.target.etcd)?,
            &layout,
            &target,
        );
        let json = to_json(&record)?;
        if args.dry_run {
            eprintln!(
                "dry run: would write the saved plan to {}; nothing was written",
                out.display()
            );
        } else {
            write_atomic(out, json.as_bytes())?;
            eprintln!("wrote the saved plan to {}", out.display());
        }
    }
    release_at_exit((plan, tree, bundle, target));
    Ok(ExitCode::SUCCESS)
}

/// Leaves `data` to the operating system instead of freeing it, for a command's large
/// data (the bundle, its parsed trees, the plan) just before the process exits: on a
/// large cluster, freeing them allocation by allocation took 0.13-0.2 s and gives
/// nothing back.
pub fn release_at_exit<T>(data: T) {
    std::mem::forget(data);
}

/// Writes one file all at once (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let err = |e: std::io::Error| {
        CliError::new(ErrorKind::Io, format!("writing {}: {e}", path.display()))
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
