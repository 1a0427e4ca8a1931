//! Argument groups several subcommands share, and their resolution into core inputs:
//! the target (directory or etcd), etcd connection flags, the mapping, the role-contexts
//! table, the etcd layout, and colour.

use super::common::open_tree;
use crate::contexts::RoleContexts;
use crate::error::{CliError, ErrorKind};
use crate::etcd::{self, EtcdFlags, EtcdSettings, RealEtcd};
use crate::layout::Layout;
use crate::mapping::Mapping;
use crate::plan::Target;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// etcd connection flags (etcdctl's names; the ETCDCTL_* variables work too).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EtcdArgs {
    /// etcd endpoints, comma separated (env: ETCDCTL_ENDPOINTS).
    #[arg(long, value_delimiter = ',', value_name = "URL[,URL...]")]
    pub endpoints: Vec<String>,
    /// CA certificate to verify etcd's server certificate (env: ETCDCTL_CACERT).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate (env: ETCDCTL_CERT).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Client key (env: ETCDCTL_KEY).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// etcd user, `user` or `user:password` (env: ETCDCTL_USER).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// File holding the etcd password (never give passwords on the command line).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// A Deephaven etcd client directory (endpoints, user, password, TLS files), e.g.
    /// /etc/sysconfig/deephaven/etcd/client/root.
    #[arg(long, value_name = "DIR")]
    pub etcd_client_dir: Option<PathBuf>,
    /// Seconds to wait for etcd to answer a connection [default: ETCDCTL_DIAL_TIMEOUT, else 5].
    #[arg(long, value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,
    /// etcd layout file (default: the shipped templates/etcd-layout.yaml).
    #[arg(long, value_name = "FILE")]
    pub layout: Option<PathBuf>,
    /// Replace the layout's key prefix.
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
}

impl EtcdArgs {
    /// True when any source of endpoints is present.
    pub fn given(&self, env: &HashMap<String, String>) -> bool {
        !self.endpoints.is_empty()
            || self.etcd_client_dir.is_some()
            || env
                .get("ETCDCTL_ENDPOINTS")
                .is_some_and(|v| !v.trim().is_empty())
    }

    pub fn settings(&self, env: &HashMap<String, String>) -> Result<EtcdSettings, CliError> {
        let flags = EtcdFlags {
            endpoints: self.endpoints.clone(),
            cacert: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            user: self.user.clone(),
            password_file: self.password_file.clone(),
            connect_timeout: self.connect_timeout.map(|s| Duration::from_secs(s.max(1))),
            request_timeout: None,
        };
        etcd::resolve(&flags, env, self.etcd_client_dir.as_deref())
            .map_err(|e| CliError::new(ErrorKind::Usage, e.to_string()))
    }

    pub fn connect(&self, env: &HashMap<String, String>) -> Result<RealEtcd, CliError> {
        Ok(RealEtcd::connect(&self.settings(env)?)?)
    }

    pub fn layout(&self) -> Result<Layout, CliError> {
        let layout = match &self.layout {
            Some(p) => {
                let text = read_text(p, ErrorKind::Usage)?;
                Layout::parse(&p.display().to_string(), &text)
                    .map_err(|e| CliError::new(ErrorKind::Usage, e.to_string()))?
            }
            None => Layout::builtin(),
        };
        Ok(match &self.etcd_prefix {
            Some(p) => layout.with_prefix(p),
            None => layout,
        })
    }
}

/// The target: a directory export of the new cluster, or its etcd.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The new cluster's configuration export (directory in the bundle layout).
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// The new cluster's installer cluster.cnf (nodes and roles), for an etcd target or a
    /// target directory without one. Without it, the nodes come from the mapping.
    #[arg(long, value_name = "FILE")]
    pub cluster_cnf: Option<PathBuf>,
}

impl TargetArgs {
    pub fn load(&self, env: &HashMap<String, String>) -> Result<Target, CliError> {
        let mut target = self.load_config(env)?;
        if let Some(cnf) = &self.cluster_cnf {
            insert_cluster_cnf(&mut target.tree, cnf)?;
        }
        Ok(target)
    }

    fn load_config(&self, env: &HashMap<String, String>) -> Result<Target, CliError> {
        if let Some(dir) = &self.target {
            if !dir.is_dir() {
                return Err(CliError::new(
                    ErrorKind::Target,
                    format!(
                        "target {} is not a directory (a new-cluster export in the bundle layout)",
                        dir.display()
                    ),
                ));
            }
            let (_, tree) = open_tree(dir).map_err(|e| {
                let kind = if e.kind == ErrorKind::Parse {
                    ErrorKind::Parse
                } else {
                    ErrorKind::Target
                };
                CliError {
                    kind,
                    message: format!("target {}: {}", dir.display(), e.message),
                    hints: e.hints,
                }
            })?;
            return Ok(Target {
                tree,
                label: dir.display().to_string(),
                etcd: None,
            });
        }
        if self.etcd.given(env) {
            let settings = self.etcd.settings(env)?;
            let mut store = RealEtcd::connect(&settings)?;
            let layout = self.etcd.layout()?;
            let exported = crate::export::read(&mut store, &layout).map_err(export_error)?;
            let (tree, state) = exported.to_tree().map_err(export_error)?;
            return Ok(Target {
                tree,
                label: format!("etcd {}", settings.endpoints.join(",")),
                etcd: Some(state),
            });
        }
        Err(CliError::new(
            ErrorKind::Usage,
            "no target: give --target DIR or --endpoints URL (or ETCDCTL_ENDPOINTS)",
        ))
    }
}

pub fn export_error(e: crate::export::ExportError) -> CliError {
    match e {
        crate::export::ExportError::Etcd(e) => e.into(),
        e => CliError::new(ErrorKind::Target, e.to_string()),
    }
}

/// Adds the new cluster's installer `cluster.cnf` (given with `--cluster-cnf`) to a target.
pub fn insert_cluster_cnf(tree: &mut crate::tree::ConfigTree, cnf: &Path) -> Result<(), CliError> {
    tree.insert(
        "cluster/cluster.cnf",
        read_text(cnf, ErrorKind::Target)?,
        0o644,
    )
    .map_err(|e| CliError::new(ErrorKind::Parse, format!("{}: {e}", cnf.display())))
}

/// Reads a small text file named on the command line.
pub fn read_text(path: &Path, kind: ErrorKind) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::new(kind, format!("cannot read {}: {e}", path.display())))
}

/// Loads and validates the mapping file.
pub fn load_mapping(path: &Path) -> Result<Mapping, CliError> {
    let text = read_text(path, ErrorKind::Mapping)?;
    Mapping::parse(&path.display().to_string(), &text)
        .map_err(|e| CliError::new(ErrorKind::Mapping, e.to_string()))
}

/// The role-contexts table: a file, or the shipped one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContextArgs {
    /// Role-contexts table (default: the shipped templates/role-contexts.yaml).
    #[arg(long, value_name = "FILE")]
    pub role_contexts: Option<PathBuf>,
}

impl ContextArgs {
    pub fn load(&self) -> Result<RoleContexts, CliError> {
        match &self.role_contexts {
            Some(p) => {
                RoleContexts::parse(&p.display().to_string(), &read_text(p, ErrorKind::Usage)?)
                    .map_err(|e| CliError::new(ErrorKind::Usage, e.to_string()))
            }
            None => Ok(RoleContexts::builtin()),
        }
    }
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether stdout output gets colour. `Auto` defers to console, which honours
    /// NO_COLOR, CLICOLOR, CLICOLOR_FORCE and TERM=dumb.
    pub fn for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => console::colors_enabled(),
        }
    }
}
