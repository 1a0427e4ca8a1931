//! `plan`: migrate the bundle for the target and compare; optionally write the migrated
//! tree (`--emit`) and a saved plan (`--out`). Nothing is written unless the plan is
//! complete.

use super::{Inputs, OpsError};
use crate::atomic::{write_atomic, Mode};
use crate::emit::{self, OutFile};
use crate::plan::{make_plan_with, Plan};
use crate::planfile::{sha256_hex, PlanFile, PlanItem, SCHEMA};
use crate::secrets::SecretPolicy;
use std::path::{Path, PathBuf};

/// How to plan, and what to write.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The old node the bundle's `files/` came from (default: the only infra node).
    pub files_node: Option<String>,
    pub secrets: SecretPolicy,
    /// Write the migrated tree here.
    pub emit: Option<PathBuf>,
    /// Write every configuration item as apply would write it (merged) here.
    pub emit_result: Option<PathBuf>,
    /// Write a saved plan here.
    pub out: Option<PathBuf>,
    /// Say what would be written, write nothing.
    pub dry_run: bool,
}

/// Something `plan` wrote (or, in a dry run, would write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub files: usize,
    pub dry_run: bool,
}

/// A complete plan, and what was written for it.
#[derive(Debug)]
pub struct Planned {
    pub plan: Plan,
    pub emitted: Option<Written>,
    /// What `--emit-result` wrote.
    pub emitted_result: Option<Written>,
    pub saved: Option<Written>,
}

/// The plan alone: nothing written.
pub fn make(
    inputs: &Inputs,
    files_node: Option<&str>,
    secrets: SecretPolicy,
) -> Result<Plan, OpsError> {
    let mapping = inputs.mapping()?;
    Ok(make_plan_with(
        &inputs.bundle,
        &inputs.tree,
        &inputs.target,
        &mapping.mapping,
        &inputs.contexts,
        &inputs.layout,
        files_node,
        secrets,
    )?)
}

pub fn plan(inputs: &Inputs, opts: &PlanOptions) -> Result<Planned, OpsError> {
    if let Some(dir) = &opts.emit {
        // Refused before any work when the destination is taken.
        emit::check_destination(dir)?;
    }
    if let Some(dir) = &opts.emit_result {
        emit::check_destination(dir)?;
    }
    let plan = make(inputs, opts.files_node.as_deref(), opts.secrets)?;
    let emitted_result = match &opts.emit_result {
        Some(dir) => Some(write_tree(
            dir,
            &result_items(&plan, inputs)?,
            opts.dry_run,
        )?),
        None => None,
    };
    let emitted = match &opts.emit {
        Some(dir) => {
            // Each file in its own encoding (text decoded from ISO-8859-1, UTF-16, ...).
            let files = plan
                .migration
                .files
                .values()
                .map(|f| Ok((f.path.clone(), f.after_bytes()?, f.mode)))
                .collect::<Result<Vec<_>, crate::migrate::EncodeBack>>()
                .map_err(crate::plan::PlanError::from)?;
            Some(write_tree(dir, &files, opts.dry_run)?)
        }
        None => None,
    };
    let saved = match &opts.out {
        Some(out) => {
            let record = plan_record(&plan, inputs);
            let mut json = serde_json::to_string_pretty(&record)
                .map_err(|e| OpsError::Usage(format!("encoding the saved plan: {e}")))?;
            json.push('\n');
            if !opts.dry_run {
                // A plan holds hashes and revisions, no values; it stays private to its
                // owner all the same, as it always was.
                write_atomic(out, json.as_bytes(), Mode::Exact(0o600), false)?;
            }
            Some(Written {
                path: out.clone(),
                files: 1,
                dry_run: opts.dry_run,
            })
        }
        None => None,
    };
    Ok(Planned {
        plan,
        emitted,
        emitted_result,
        saved,
    })
}

/// Writes `files` (path, bytes, mode) as a bundle tree with its manifest into `dir`, or,
/// in a dry run, only counts them.
fn write_tree(
    dir: &Path,
    files: &[(String, Vec<u8>, u32)],
    dry_run: bool,
) -> Result<Written, OpsError> {
    let out: Vec<OutFile<'_>> = files
        .iter()
        .map(|(path, bytes, mode)| OutFile {
            path,
            content: bytes,
            mode: *mode,
        })
        .collect();
    let files = if dry_run {
        out.len() + 1
    } else {
        emit::write_bundle_tree(dir, &out)?
    };
    Ok(Written {
        path: dir.to_path_buf(),
        files,
        dry_run,
    })
}

/// Every configuration item as apply would leave it (`--emit-result`): the bundle's items
/// merged onto the new cluster's copies, and the new cluster's own items (its
/// installer-owned ones included) as they are. Configuration items are the etcd layout's
/// items; against a directory target without a layout match, every `config/` file.
fn result_items(plan: &Plan, inputs: &Inputs) -> Result<Vec<(String, Vec<u8>, u32)>, OpsError> {
    let is_item = |p: &str| inputs.layout.is_item(p) || p.starts_with("config/");
    let mut out = Vec::new();
    for f in plan.migration.files.values().filter(|f| is_item(&f.path)) {
        let bytes = f.written_bytes().map_err(crate::plan::PlanError::from)?;
        out.push((f.path.clone(), bytes, f.mode));
    }
    for t in inputs.target.tree.files.values() {
        if is_item(&t.path) && !plan.migration.files.contains_key(&t.path) {
            out.push((t.path.clone(), t.text.as_bytes().to_vec(), t.mode));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A path as recorded in a saved plan: absolute, so `apply --plan` works from any
/// directory.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The saved-plan record of `plan`.
pub fn plan_record(plan: &Plan, inputs: &Inputs) -> PlanFile {
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
            key: inputs.layout.key_for(&f.path).map(|(k, _)| k),
            before_sha256: sha256_hex(f.before.as_bytes()),
            // What apply writes (merged onto the new cluster's copy).
            after_sha256: sha256_hex(f.written().as_bytes()),
            writes: writes.contains(f.path.as_str()),
        })
        .collect();
    let (mapping, mapping_text) = match &inputs.mapping {
        Some(m) => (absolute(&m.path).display().to_string(), m.text.as_str()),
        None => (String::new(), ""),
    };
    PlanFile {
        schema: SCHEMA.into(),
        bundle: absolute(&inputs.bundle_path).display().to_string(),
        bundle_sha256: plan.bundle_hash.clone(),
        mapping,
        mapping_sha256: sha256_hex(mapping_text.as_bytes()),
        layout_sha256: sha256_hex(inputs.layout_text.as_bytes()),
        target: inputs.target.label.clone(),
        target_sha256: plan.target_hash.clone(),
        etcd: inputs.target.etcd.clone(),
        items,
    }
}
