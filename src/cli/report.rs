//! `dh-migrate report`: the diff-only report. Never writes to a cluster or a bundle.
//! Exit 0: no differences; 1: differences; 2 or more: error.

use super::args::{load_mapping, ContextArgs, TargetArgs};
use super::common::{open_tree, print, to_json};
use crate::compare::{compare, Inputs};
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::mapping::Mapping;
use crate::migrate::migrate;
use crate::plan::make_plan_with;
use crate::report::{
    self, build, html, markdown, text, utc_iso8601, NodeFile, TargetInfo, TitleBlock,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
    Html,
}

/// Show what differs between the (migrated) bundle and the new cluster (diff only).
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Bundle directory or archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Mapping file; without it the bundle is compared as backed up.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub contexts: ContextArgs,
    /// Show secret values in diffs and reports (they are redacted to fingerprints otherwise).
    #[arg(long)]
    pub show_secrets: bool,
    /// The old node that the bundle's shared `files/` come from (default: the old
    /// cluster's only infra node), for the node files' destinations.
    #[arg(long, value_name = "OLD-HOST")]
    pub files_node: Option<String>,
}

pub fn run(args: ReportArgs, env: &HashMap<String, String>) -> Result<ExitCode, CliError> {
    let mapping = match &args.mapping {
        Some(p) => load_mapping(p)?,
        None => Mapping {
            file: "(none)".into(),
            ..Mapping::default()
        },
    };
    let contexts = args.contexts.load()?;
    let layout = args.target.etcd.layout()?;
    let (bundle, tree) = open_tree(&args.bundle)?;
    let target = args.target.load(env)?;
    let secrets = super::plan::secrets_policy(args.show_secrets);
    // With a mapping, the report is the plan's comparison, with its node files and restart
    // step; without one, the bundle is compared as backed up.
    let (migration, cmp, restart, files_for_node) = if args.mapping.is_some() {
        let plan = make_plan_with(
            &bundle,
            &tree,
            &target,
            &mapping,
            &contexts,
            &layout,
            args.files_node.as_deref(),
            secrets,
        )
        .map_err(super::plan::plan_error)?;
        (
            plan.migration,
            plan.comparison,
            Some(plan.restart),
            plan.files_for_node,
        )
    } else {
        let migration = migrate(&tree, &mapping, &contexts)
            .map_err(|e| CliError::new(crate::error::ErrorKind::Internal, e.to_string()))?;
        let in_scope = |p: &str| target.in_scope(p, &layout);
        let cmp = compare(&Inputs {
            migrated: &migration.files,
            bundle: &tree,
            target: &target.tree,
            in_scope: &in_scope,
            secrets,
        });
        (migration, cmp, None, BTreeMap::new())
    };
    let node_files = node_files(&migration, &files_for_node, &layout);
    let title = title_block(&args, &bundle, &target, env)?;
    let mapping_label = args.mapping.as_ref().map(|p| p.display().to_string());
    let doc = build(&report::Inputs {
        title,
        bundle: &args.bundle.display().to_string(),
        target: &target.label,
        mapping: mapping_label.as_deref(),
        comparison: &cmp,
        migration: &migration,
        node_files: &node_files,
        restart: restart.as_deref(),
        secrets,
    });
    let out = match args.format {
        ReportFormat::Text => text::render(&doc),
        ReportFormat::Markdown => markdown::render(&doc),
        ReportFormat::Json => to_json(&doc)?,
        ReportFormat::Html => html::render(&doc),
    };
    print(&out)?;
    let clean = doc.summary.clean;
    super::plan::release_at_exit((doc, cmp, migration, tree, target, bundle));
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every migrated file that is not an etcd item, with the new node it is copied to.
fn node_files(
    migration: &crate::migrate::Migration,
    files_for_node: &BTreeMap<String, Vec<String>>,
    layout: &crate::layout::Layout,
) -> BTreeMap<String, NodeFile> {
    let node_of: HashMap<&str, &str> = files_for_node
        .iter()
        .filter(|(n, _)| n.as_str() != "unassigned")
        .flat_map(|(n, fs)| fs.iter().map(move |f| (f.as_str(), n.as_str())))
        .collect();
    migration
        .files
        .values()
        .filter(|f| !layout.is_item(&f.path))
        .map(|f| {
            (
                f.path.clone(),
                NodeFile {
                    node: node_of.get(f.path.as_str()).map(|n| n.to_string()),
                    mode: f.mode,
                },
            )
        })
        .collect()
}

/// The title block: generation time (`SOURCE_DATE_EPOCH` when set, for reproducible
/// documents), tool version, hashes of the bundle and the mapping, the target's absolute
/// path or endpoints and etcd revision.
fn title_block(
    args: &ReportArgs,
    bundle: &crate::bundle::Bundle,
    target: &crate::plan::Target,
    env: &HashMap<String, String>,
) -> Result<TitleBlock, CliError> {
    let now = match env.get("SOURCE_DATE_EPOCH") {
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            CliError::new(
                ErrorKind::Usage,
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970"),
            )
        })?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    };
    let (bundle_sha256, of) = if args.bundle.is_file() {
        (file_sha256(&args.bundle, ErrorKind::Bundle)?, "archive")
    } else {
        (crate::plan::bundle_hash(bundle), "contents")
    };
    let mapping_sha256 = match &args.mapping {
        Some(p) => Some(file_sha256(p, ErrorKind::Mapping)?),
        None => None,
    };
    let target_info = match (&target.etcd, &args.target.target) {
        (Some(state), _) => TargetInfo::Etcd {
            endpoints: target
                .label
                .strip_prefix("etcd ")
                .unwrap_or(&target.label)
                .split(',')
                .map(str::to_string)
                .collect(),
            revision: state.header_revision,
        },
        (None, Some(dir)) => TargetInfo::Directory {
            path: std::fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
                .to_string(),
        },
        (None, None) => TargetInfo::Directory {
            path: target.label.clone(),
        },
    };
    Ok(TitleBlock {
        generated_at: utc_iso8601(now),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        bundle_sha256,
        bundle_sha256_of: of.to_string(),
        mapping_sha256,
        target: target_info,
    })
}

/// SHA-256 of a file, streamed (an archive may be large).
fn file_sha256(path: &Path, kind: ErrorKind) -> Result<String, CliError> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)
        .map_err(|e| CliError::new(kind, format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)
            .map_err(|e| CliError::new(kind, format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
