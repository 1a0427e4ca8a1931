//! `report`: the diff-only comparison of the (migrated) bundle with the target, with every
//! rewritten reference, the node files and where they go, the restart step and a title
//! block naming exactly what was compared. Never writes anything.

use super::{FileRole, Inputs, OpsError};
use crate::compare::{compare, Comparison, Inputs as CompareInputs};
use crate::mapping::Mapping;
use crate::migrate::{migrate, Migration};
use crate::plan::{make_plan_with, PlanError};
use crate::report::{
    build, utc_iso8601, Inputs as ReportInputs, NodeFile, ReportDoc, TargetInfo, TitleBlock,
};
use crate::secrets::SecretPolicy;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The report document, and what it was built from (kept for the caller to release).
#[derive(Debug)]
pub struct Reported {
    pub doc: ReportDoc,
    pub comparison: Comparison,
    pub migration: Migration,
}

impl Reported {
    /// No differences.
    pub fn clean(&self) -> bool {
        self.doc.summary.clean
    }
}

/// How to report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub secrets: SecretPolicy,
    /// The generation time for the title block, in seconds since the epoch (the caller
    /// reads the clock, or `SOURCE_DATE_EPOCH` for a reproducible document).
    pub generated_at: i64,
    /// The old node the bundle's shared `files/` come from (default: the only infra node).
    pub files_node: Option<String>,
}

/// With a mapping, the report is the plan's comparison, with its node files and restart
/// step; without one the bundle is compared as backed up (no restart step).
pub fn report(inputs: &Inputs, opts: &ReportOptions) -> Result<Reported, OpsError> {
    let (migration, comparison, restart, files_for_node, not_created) = match &inputs.mapping {
        Some(m) => {
            let plan = make_plan_with(
                &inputs.bundle,
                &inputs.tree,
                &inputs.target,
                &m.mapping,
                &inputs.contexts,
                &inputs.layout,
                opts.files_node.as_deref(),
                opts.secrets,
            )?;
            (
                plan.migration,
                plan.comparison,
                Some(plan.restart),
                plan.files_for_node,
                plan.not_created,
            )
        }
        None => {
            let none = Mapping {
                file: "(none)".into(),
                ..Mapping::default()
            };
            let mut migration =
                migrate(&inputs.tree, &none, &inputs.contexts).map_err(PlanError::Broke)?;
            // Compared as apply would write it: merged onto the new cluster's copies.
            migration
                .merge_onto(&inputs.target.tree, &none.merge)
                .map_err(PlanError::Merge)?;
            let in_scope = |p: &str| inputs.target.in_scope(p, &inputs.layout);
            let comparison = compare(&CompareInputs {
                migrated: &migration.files,
                bundle: &inputs.tree,
                target: &inputs.target.tree,
                in_scope: &in_scope,
                secrets: opts.secrets,
            });
            // What apply would not write, as a plan lists it (`apply::not_created` passes
            // over everything else).
            let not_created = crate::apply::not_created(
                &inputs.layout,
                migration.files.keys().map(String::as_str),
                |p| inputs.target.tree.files.contains_key(p),
            );
            (migration, comparison, None, BTreeMap::new(), not_created)
        }
    };
    let node_files = node_files(inputs, &migration, &files_for_node);
    // What apply does not write, with why and the vendor's command.
    let not_written: BTreeMap<String, String> = not_created
        .into_iter()
        .map(|s| {
            let how = format!("{}; import it with: {}", s.why, s.command);
            (s.path, how)
        })
        .collect();
    let mapping_label = inputs
        .mapping
        .as_ref()
        .map(|m| m.path.display().to_string());
    let doc = build(&ReportInputs {
        title: title_block(inputs, opts.generated_at)?,
        bundle: &inputs.bundle_label(),
        target: &inputs.target.label,
        mapping: mapping_label.as_deref(),
        comparison: &comparison,
        migration: &migration,
        node_files: &node_files,
        restart: restart.as_deref(),
        secrets: opts.secrets,
        not_written: &not_written,
    });
    Ok(Reported {
        doc,
        comparison,
        migration,
    })
}

/// Every migrated file that is not an etcd item, with the new node it is copied to. A
/// `config/` file no layout item holds is none (apply does not write it: see
/// `apply::not_created`).
fn node_files(
    inputs: &Inputs,
    migration: &Migration,
    files_for_node: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, NodeFile> {
    let node_of: HashMap<&str, &str> = files_for_node
        .iter()
        .filter(|(n, _)| n.as_str() != "unassigned")
        .flat_map(|(n, fs)| fs.iter().map(move |f| (f.as_str(), n.as_str())))
        .collect();
    migration
        .files
        .values()
        .filter(|f| !inputs.layout.is_item(&f.path) && !f.path.starts_with("config/"))
        .map(|f| {
            let node = node_of.get(f.path.as_str()).map(|n| n.to_string());
            // The mode it is written with: key files are 0600 whatever the bundle says.
            let mode = crate::emit::file_mode(&f.path, f.mode);
            (f.path.clone(), NodeFile { node, mode })
        })
        .collect()
}

/// The title block: time, tool version, hashes of the bundle (the archive file as
/// `sha256sum` prints it, or a directory's content hash) and of the mapping, and the
/// target's absolute path or endpoints and etcd revision.
fn title_block(inputs: &Inputs, generated_at: i64) -> Result<TitleBlock, OpsError> {
    let (bundle_sha256, of) = if inputs.bundle_path.is_file() {
        (file_sha256(&inputs.bundle_path)?, "archive")
    } else {
        (crate::plan::bundle_hash(&inputs.bundle), "contents")
    };
    let target = match &inputs.target.etcd {
        Some(state) => TargetInfo::Etcd {
            endpoints: inputs.target.endpoints.clone(),
            revision: state.header_revision,
        },
        None => TargetInfo::Directory {
            path: std::fs::canonicalize(&inputs.target.label)
                .map_or_else(|_| inputs.target.label.clone(), |p| p.display().to_string()),
        },
    };
    Ok(TitleBlock {
        generated_at: utc_iso8601(generated_at),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        bundle_sha256,
        bundle_sha256_of: of.to_string(),
        mapping_sha256: inputs
            .mapping
            .as_ref()
            .map(|m| hex::encode(Sha256::digest(m.text.as_bytes()))),
        target,
    })
}

/// SHA-256 of a file, streamed (an archive may be large).
fn file_sha256(path: &Path) -> Result<String, OpsError> {
    let read_err = |source| OpsError::Read {
        path: path.to_path_buf(),
        role: FileRole::Option,
        source,
    };
    let mut f = std::fs::File::open(path).map_err(read_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
