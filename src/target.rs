//! The new cluster ("target") as every command sees it, whatever it was read from: a
//! directory export in the bundle layout, a live etcd, or an etcd snapshot file of it
//! (read offline by `crate::snapshot_db`, then joined as [`Target::from_exported`]).
//! A target owns its parsed configuration items, its nodes (name, IP, roles, from its
//! installer `cluster.cnf`), its admin user, and, when live, the connection apply writes
//! through. Nothing here reads the environment or prints.

use crate::bundle::{Bundle, BundleError, Progress};
use crate::etcd::KvStore;
use crate::export::{ExportError, Exported};
use crate::layout::Layout;
use crate::mapping::suggest::{new_nodes, NewNode};
use crate::tree::{ConfigTree, Parsed, TreeError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What was read from etcd: every layout key's mod revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EtcdState {
    pub revisions: BTreeMap<String, i64>,
    pub header_revision: i64,
}

/// A store apply can write through, movable to the thread that reads it while the bundle
/// is parsed.
pub type Store = Box<dyn KvStore + Send + Sync>;

/// The new cluster's configuration.
pub struct Target {
    pub tree: ConfigTree,
    /// How to name it in messages: the directory, or the endpoints.
    pub label: String,
    /// Read from etcd: only etcd items take part, with their revisions (0: absent).
    pub etcd: Option<EtcdState>,
    /// Read from etcd: the values and revisions as read (apply's "before").
    pub exported: Option<Exported>,
    /// The etcd endpoints (for run records); empty for a directory.
    pub endpoints: Vec<String>,
    /// The live connection, for a target read from etcd that apply may write to.
    pub store: Option<Store>,
    /// The nodes its `cluster.cnf` lists (empty without one: the plan then derives them
    /// from the mapping).
    pub nodes: Vec<NewNode>,
    /// The user that runs `dh_monit` on the new cluster.
    pub admin_user: String,
    /// A live etcd's members (empty otherwise): their URLs' hosts are nodes of the new
    /// cluster too, for checking that a mapping names it.
    pub etcd_members: Vec<crate::etcd::Member>,
}

/// Why a target cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target {} is not a directory (a new-cluster export in the bundle layout)", .0.display())]
    NotADirectory(PathBuf),
    #[error("target {}: {source}", path.display())]
    Bundle {
        path: PathBuf,
        #[source]
        source: BundleError,
    },
    #[error("target {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: TreeError,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("target {0}")]
    Snapshot(#[from] crate::snapshot_db::SnapshotError),
    #[error("{}: {source}", path.display())]
    ClusterCnf {
        path: PathBuf,
        #[source]
        source: TreeError,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("files", &self.tree.files.len())
            .field("live", &self.store.is_some())
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl Target {
    /// A target from a parsed tree (nodes and admin user read from its `cluster.cnf`).
    pub fn from_tree(tree: ConfigTree, label: impl Into<String>) -> Target {
        let mut t = Target {
            tree,
            label: label.into(),
            etcd: None,
            exported: None,
            endpoints: Vec::new(),
            store: None,
            nodes: Vec::new(),
            admin_user: String::new(),
            etcd_members: Vec::new(),
        };
        t.refresh_nodes();
        t
    }

    /// A directory export of the new cluster, verified and parsed like a bundle.
    pub fn from_dir(dir: &Path, progress: &mut dyn FnMut(Progress)) -> Result<Target, TargetError> {
        if !dir.is_dir() {
            return Err(TargetError::NotADirectory(dir.to_path_buf()));
        }
        let bundle =
            Bundle::open_with_progress(dir, progress).map_err(|source| TargetError::Bundle {
                path: dir.to_path_buf(),
                source,
            })?;
        let tree = ConfigTree::from_bundle(&bundle).map_err(|source| TargetError::Parse {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Target::from_tree(tree, dir.display().to_string()))
    }

    /// The layout's items as read from an etcd (live, or a snapshot file of one).
    pub fn from_exported(
        exported: Exported,
        label: impl Into<String>,
    ) -> Result<Target, TargetError> {
        let (tree, state) = exported.to_tree()?;
        let mut t = Target::from_tree(tree, label);
        t.etcd = Some(state);
        t.exported = Some(exported);
        Ok(t)
    }

    /// An etcd snapshot file of the new cluster (`--target FILE.db`): the layout's items
    /// read offline with their revisions, as from a live etcd, with nothing to write to.
    pub fn from_snapshot(path: &Path, layout: &Layout) -> Result<Target, TargetError> {
        use crate::snapshot_db::{Options, Snapshot};
        let snap = Snapshot::open(path, Options::default())?;
        let exported = crate::export::from_snapshot(&snap, layout)?;
        Target::from_exported(exported, format!("snapshot {}", path.display()))
    }

    /// A live etcd: every layout item read (one consistent paged read), the store kept
    /// for apply.
    pub fn from_store(
        mut store: Store,
        layout: &Layout,
        endpoints: &[String],
    ) -> Result<Target, TargetError> {
        let exported = crate::export::read(store.as_mut(), layout)?;
        let members = store.members().map_err(crate::export::ExportError::from)?;
        let mut t = Target::from_exported(exported, format!("etcd {}", endpoints.join(",")))?;
        t.endpoints = endpoints.to_vec();
        t.etcd_members = members;
        t.store = Some(store);
        Ok(t)
    }

    /// Adds the new cluster's installer `cluster.cnf` (`--cluster-cnf`), read from `path`.
    pub fn with_cluster_cnf(mut self, path: &Path, text: String) -> Result<Target, TargetError> {
        self.tree
            .insert("cluster/cluster.cnf", text, 0o644)
            .map_err(|source| TargetError::ClusterCnf {
                path: path.to_path_buf(),
                source,
            })?;
        self.refresh_nodes();
        Ok(self)
    }

    /// True when `path` takes part in comparisons with this target.
    pub fn in_scope(&self, path: &str, layout: &Layout) -> bool {
        match &self.etcd {
            Some(_) => layout.is_item(path),
            None => true,
        }
    }

    /// Names the target gives for its nodes beyond its configuration files (the etcd
    /// members' hosts), as extra sightings for [`crate::scan::inventory::Inventory::build`].
    pub fn extra_node_names(&self) -> Vec<(String, String, usize)> {
        self.etcd_members
            .iter()
            .flat_map(|m| m.hosts())
            .map(|h| (h, "etcd member list".to_string(), 0))
            .collect()
    }

    fn refresh_nodes(&mut self) {
        self.nodes = new_nodes(&self.tree);
        self.admin_user = admin_user(&self.tree);
    }
}

/// The user that runs `dh_monit` on the new cluster: `DH_MONIT_USER`, else
/// `DH_ADMIN_USER`, from the target's `cluster.cnf`; `irisadmin` otherwise.
pub fn admin_user(target: &ConfigTree) -> String {
    if let Some(Parsed::Cnf(c)) = target.get("cluster/cluster.cnf").map(|f| &f.parsed) {
        for var in ["DH_MONIT_USER", "DH_ADMIN_USER"] {
            if let Some(a) = c.get(var).filter(|a| !a.value.is_empty()) {
                return a.value.clone();
            }
        }
    }
    "irisadmin".into()
}
