//! The use cases, one function each: [`inspect`], [`suggest`], [`plan`], [`report`],
//! [`apply`] (prepare, then execute), [`rollback`], [`export`], [`backup`] and
//! [`restore`] (prepare, then execute). Every command and the
//! wizard call these and only render what they return; nothing here sees clap, reads the
//! environment, prompts or prints.
//!
//! Most use cases work on one [`Inputs`] value: the bundle and its parsed tree, the target
//! (the new cluster), the mapping, the role contexts and the etcd layout, loaded once by
//! [`Inputs::load`] from a [`Sources`] (paths and connection settings resolved by the
//! command line). Loading reads a live etcd on its own thread while the bundle is read and
//! parsed, so neither waits for the other.

pub mod apply;
pub mod backup;
pub mod export;
pub mod inspect;
pub mod plan;
pub mod report;
pub mod restore;
pub mod rollback;
pub mod snapshot_source;
pub mod suggest;

pub use apply::{execute as apply_execute, prepare as apply_prepare, ApplyOptions, Prepared};
pub use backup::backup;
pub use export::export;
pub use inspect::inspect;
pub use plan::{plan, PlanOptions, Planned};
pub use report::{report, ReportOptions, Reported};
pub use rollback::{rollback, RollbackOptions};
pub use suggest::{suggest, Suggested};

use crate::apply::ApplyError;
use crate::bundle::{Bundle, BundleError, Progress};
use crate::contexts::{ContextsError, RoleContexts};
use crate::etcd::{EtcdError, EtcdSettings, RealEtcd};
use crate::layout::{Layout, LayoutError, DEFAULT_LAYOUT};
use crate::mapping::{Mapping, MappingError};
use crate::plan::PlanError;
use crate::planfile::Stale;
use crate::target::{Store, Target, TargetError};
use crate::tree::{ConfigTree, TreeError};
use std::path::{Path, PathBuf};

/// Where the new cluster's configuration comes from.
pub enum TargetSource {
    /// A directory export in the bundle layout.
    Dir(PathBuf),
    /// A live etcd, connected with these settings.
    Etcd(EtcdSettings),
    /// An already open store (in-process callers and tests: `MemStore`), with the
    /// endpoints to name it by.
    Store {
        store: Store,
        endpoints: Vec<String>,
    },
    /// An etcd snapshot file of the new cluster (`--target FILE.db`), read offline.
    Snapshot(PathBuf),
}

/// What to load: every path named on the command line, resolved.
pub struct Sources {
    pub bundle: PathBuf,
    /// None: the use case needs no target (inspect).
    pub target: Option<TargetSource>,
    /// The new cluster's installer `cluster.cnf`, for a target without one.
    pub cluster_cnf: Option<PathBuf>,
    pub mapping: Option<PathBuf>,
    /// Role-contexts table (None: the shipped one).
    pub contexts: Option<PathBuf>,
    /// etcd layout file (None: the shipped one) and a replacement key prefix.
    pub layout: Option<PathBuf>,
    pub etcd_prefix: Option<String>,
    /// `--allow-unknown-hosts`: mapping values that are not nodes of the new cluster
    /// warn instead of failing.
    pub allow_unknown_hosts: bool,
    /// A bundle with both `config/` files and an etcd snapshot: the files win (default:
    /// the snapshot's copy of every item it holds).
    pub prefer_files: bool,
}

/// A mapping file as read.
#[derive(Debug)]
pub struct MappingFile {
    pub mapping: Mapping,
    pub path: PathBuf,
    /// The file's text (its hash binds a saved plan).
    pub text: String,
}

/// Everything a use case works on.
pub struct Inputs {
    pub bundle: Bundle,
    pub tree: ConfigTree,
    pub bundle_path: PathBuf,
    pub target: Target,
    pub mapping: Option<MappingFile>,
    pub contexts: RoleContexts,
    pub layout: Layout,
    /// The layout's text as used (its hash binds a saved plan).
    pub layout_text: String,
    /// Items of the bundle's etcd snapshot that differ from its `config/` files.
    pub bundle_warnings: Vec<String>,
}

/// Which file a read failed on, as the exit code needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// A file named by an option (layout, role contexts, saved plan, run record).
    Option,
    Mapping,
    /// Part of the target (`--cluster-cnf`).
    Target,
}

/// Everything a use case can fail with. The command line turns each into a message, an
/// exit code and a hint in one place (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        role: FileRole,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Contexts(#[from] ContextsError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle's etcd snapshot does not check out (the bundle is invalid).
    #[error("bundle snapshot {0}")]
    Snapshot(#[from] crate::snapshot_db::SnapshotError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    #[error("saved plan {} is stale: {source}; nothing was written", path.display())]
    Stale {
        path: PathBuf,
        #[source]
        source: Stale,
    },
    #[error("{}: {source}", path.display())]
    BadPlanFile {
        path: PathBuf,
        #[source]
        source: Stale,
    },
    /// A use case that needs something the inputs lack (a mapping, a live target).
    #[error("{0}")]
    Missing(&'static str),
    #[error("{0}")]
    Usage(String),
    /// An archive bundle's etcd snapshot could not be copied out to be read.
    #[error("bundle {}: cannot read etcd/snapshot.db: {detail}", bundle.display())]
    SnapshotCopy { bundle: PathBuf, detail: String },
}

/// Reads a small text file named on the command line.
pub fn read_text(path: &Path, role: FileRole) -> Result<String, OpsError> {
    std::fs::read_to_string(path).map_err(|source| OpsError::Read {
        path: path.to_path_buf(),
        role,
        source,
    })
}

/// Loads and validates a mapping file.
pub fn load_mapping(path: &Path) -> Result<MappingFile, OpsError> {
    let text = read_text(path, FileRole::Mapping)?;
    let mapping = Mapping::parse(&path.display().to_string(), &text)?;
    Ok(MappingFile {
        mapping,
        path: path.to_path_buf(),
        text,
    })
}

/// The role-contexts table: a file, or the shipped one.
pub fn load_contexts(path: Option<&Path>) -> Result<RoleContexts, OpsError> {
    match path {
        Some(p) => Ok(RoleContexts::parse(
            &p.display().to_string(),
            &read_text(p, FileRole::Option)?,
        )?),
        None => Ok(RoleContexts::builtin()),
    }
}

/// The etcd layout (a file, or the shipped one) with an optional new prefix, and the text
/// it was read from.
pub fn load_layout(
    path: Option<&Path>,
    prefix: Option<&str>,
) -> Result<(Layout, String), OpsError> {
    let (layout, text) = match path {
        Some(p) => {
            let text = read_text(p, FileRole::Option)?;
            (Layout::parse(&p.display().to_string(), &text)?, text)
        }
        None => (Layout::builtin(), DEFAULT_LAYOUT.to_string()),
    };
    Ok(match prefix {
        Some(p) => (layout.with_prefix(p), text),
        None => (layout, text),
    })
}

/// Opens and verifies a bundle, reads its etcd snapshot's items through `layout`
/// ([`snapshot_source::fold_snapshot`]), then parses its configuration files. Returns the
/// warnings of items that differ between the snapshot and the files.
pub fn open_tree(
    path: &Path,
    layout: &Layout,
    prefer_files: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Bundle, ConfigTree, Vec<String>), OpsError> {
    let mut bundle = Bundle::open_with_progress(path, progress)?;
    crate::timing::mark("bundle read and verified");
    let warnings = snapshot_source::fold_snapshot(&mut bundle, layout, prefer_files)?;
    let tree = ConfigTree::from_bundle(&bundle)?;
    crate::timing::mark("bundle parsed");
    Ok((bundle, tree, warnings))
}

/// Loads a target (without `--cluster-cnf`).
pub fn load_target(
    source: TargetSource,
    layout: &Layout,
    progress: &mut dyn FnMut(Progress),
) -> Result<Target, OpsError> {
    Ok(match source {
        TargetSource::Dir(dir) => Target::from_dir(&dir, progress)?,
        TargetSource::Etcd(settings) => {
            let store = RealEtcd::connect(&settings)?;
            Target::from_store(Box::new(store), layout, &settings.endpoints)?
        }
        TargetSource::Store { store, endpoints } => Target::from_store(store, layout, &endpoints)?,
        TargetSource::Snapshot(path) => Target::from_snapshot(&path, layout)?,
    })
}

impl Inputs {
    /// Reads everything a use case needs. The small files named by options are read
    /// first (their mistakes are reported before any long work); a live etcd is read on
    /// its own thread while the bundle is read and parsed.
    pub fn load(sources: Sources, progress: &mut dyn FnMut(Progress)) -> Result<Inputs, OpsError> {
        let mut mapping = sources.mapping.as_deref().map(load_mapping).transpose()?;
        if let Some(m) = &mut mapping {
            m.mapping.allow_unknown_hosts = sources.allow_unknown_hosts;
        }
        let contexts = load_contexts(sources.contexts.as_deref())?;
        let (layout, layout_text) =
            load_layout(sources.layout.as_deref(), sources.etcd_prefix.as_deref())?;
        let cnf = match &sources.cluster_cnf {
            Some(p) => Some((p.clone(), read_text(p, FileRole::Target)?)),
            None => None,
        };
        let Some(target_source) = sources.target else {
            return Err(OpsError::Usage(
                "no target: give --target DIR or --endpoints URL (or ETCDCTL_ENDPOINTS)".into(),
            ));
        };
        let (opened, target) = match target_source {
            // A directory is read after the bundle, with its own progress.
            TargetSource::Dir(dir) => {
                let opened = open_tree(&sources.bundle, &layout, sources.prefer_files, progress)?;
                (
                    Ok(opened),
                    load_target(TargetSource::Dir(dir), &layout, progress),
                )
            }
            live => std::thread::scope(|s| {
                let layout = &layout;
                let reading = s.spawn(move || load_target(live, layout, &mut |_| {}));
                let opened = open_tree(&sources.bundle, layout, sources.prefer_files, progress);
                let target = reading
                    .join()
                    .inspect(|_| crate::timing::mark("target read"))
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (opened, target)
            }),
        };
        // The bundle's problems first, as when the two were read one after the other.
        let (bundle, tree, bundle_warnings) = opened?;
        let mut target = target?;
        if let Some((path, text)) = cnf {
            target = target.with_cluster_cnf(&path, text)?;
        }
        Ok(Inputs {
            bundle,
            tree,
            bundle_path: sources.bundle,
            target,
            mapping,
            contexts,
            layout,
            layout_text,
            bundle_warnings,
        })
    }

    /// The mapping, for the use cases that need one.
    pub fn mapping(&self) -> Result<&MappingFile, OpsError> {
        self.mapping
            .as_ref()
            .ok_or(OpsError::Missing("this needs a mapping file (--mapping)"))
    }

    /// How the bundle is named in views.
    pub fn bundle_label(&self) -> String {
        self.bundle_path.display().to_string()
    }
}

/// `--show-secrets` as a policy.
pub fn secrets_policy(show: bool) -> crate::secrets::SecretPolicy {
    if show {
        crate::secrets::SecretPolicy::Show
    } else {
        crate::secrets::SecretPolicy::Redact
    }
}

/// Leaves `data` to the operating system instead of freeing it, for a command's large
/// data (the bundle, its parsed trees, the plan) just before the process exits: on a
/// large cluster, freeing them allocation by allocation took 0.13-0.2 s and gives
/// nothing back.
pub fn release_at_exit<T>(data: T) {
    std::mem::forget(data);
}
