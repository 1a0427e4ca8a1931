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
    let plan = make(inputs, opts.files_node.as_deref(), opts.secrets)?;
    let emitted = match &opts.emit {
        Some(dir) => {
            let files: Vec<OutFile<'_>> = plan
                .migration
                .files
                .values()
                .map(|f| OutFile {
                    path: &f.path,
                    content: f.after.as_bytes(),
                    mode: f.mode,
                })
                .collect();
            let n = if opts.dry_run {
                files.len() + 1
            } else {
                emit::write_bundle_tree(dir, &files)?
            };
            Some(Written {
                path: dir.clone(),
                files: n,
                dry_run: opts.dry_run,
            })
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
        saved,
    })
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
            after_sha256: sha256_hex(f.after.as_bytes()),
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
