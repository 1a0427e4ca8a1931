//! Argument groups several subcommands share, and their resolution into the core's
//! [`Sources`]: the target (directory or etcd), etcd connection flags, the role-contexts
//! table, the etcd layout. Resolution happens here, once; the use cases never see clap.

use crate::error::{CliError, ErrorKind};
use crate::etcd::{self, EtcdFlags, EtcdSettings, RealEtcd};
use crate::ops::{Inputs, Sources, TargetSource};
use crate::ui::Ui;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::ui::ColorChoice;

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
    /// etcd layout file (default: the shipped templates/etcd-layout-v2.yaml, Deephaven's
    /// published model; templates/etcd-layout-v1.yaml is the one-key-per-item layout).
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
            .map_err(|e| CliError::from_error(ErrorKind::Usage, e))
    }

    pub fn connect(&self, env: &HashMap<String, String>) -> Result<RealEtcd, CliError> {
        Ok(RealEtcd::connect(&self.settings(env)?)?)
    }

    /// The layout as given (file and prefix), loaded.
    pub fn layout(&self) -> Result<crate::layout::Layout, CliError> {
        Ok(crate::ops::load_layout(self.layout.as_deref(), self.etcd_prefix.as_deref())?.0)
    }
}

/// The target: a directory export of the new cluster, or its etcd.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The new cluster's configuration export (directory in the bundle layout), or an
    /// etcd snapshot file of it (`etcdctl snapshot save`), read offline.
    #[arg(long, value_name = "DIR|FILE.db")]
    pub target: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// The new cluster's installer cluster.cnf (nodes and roles), for an etcd target or a
    /// target directory without one. Without it, the nodes come from the mapping.
    #[arg(long, value_name = "FILE")]
    pub cluster_cnf: Option<PathBuf>,
    /// Accept mapping values that are not nodes of the new cluster (and old nodes whose
    /// name and IP go to different new nodes) with a warning, for targets that do not
    /// list their nodes.
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
}

impl TargetArgs {
    /// Where the target comes from: the directory when given, else etcd when any source
    /// of endpoints is present.
    pub fn source(&self, env: &HashMap<String, String>) -> Result<Option<TargetSource>, CliError> {
        if let Some(path) = &self.target {
            // A regular file can only be an etcd snapshot of the new cluster.
            if path.is_file() {
                return Ok(Some(TargetSource::Snapshot(path.clone())));
            }
            return Ok(Some(TargetSource::Dir(path.clone())));
        }
        if self.etcd.given(env) {
            return Ok(Some(TargetSource::Etcd(self.etcd.settings(env)?)));
        }
        Ok(None)
    }

    /// Everything a use case reads, for `bundle` against this target.
    pub fn sources(
        &self,
        env: &HashMap<String, String>,
        bundle: &std::path::Path,
        mapping: Option<PathBuf>,
        contexts: &ContextArgs,
    ) -> Result<Sources, CliError> {
        Ok(Sources {
            bundle: bundle.to_path_buf(),
            target: self.source(env)?,
            cluster_cnf: self.cluster_cnf.clone(),
            mapping,
            contexts: contexts.role_contexts.clone(),
            layout: self.etcd.layout.clone(),
            etcd_prefix: self.etcd.etcd_prefix.clone(),
            allow_unknown_hosts: self.allow_unknown_hosts,
            prefer_files: self.prefer_files,
        })
    }
}

/// Loads the inputs, showing the bundle's progress on a terminal.
pub fn load(ui: &Ui, sources: Sources) -> Result<Inputs, CliError> {
    let bar = ui.byte_progress("reading bundle");
    let inputs = Inputs::load(sources, &mut |p| bar.update(p));
    bar.finish();
    let inputs = inputs?;
    // Every command that loads inputs says where the bundle's snapshot and files differ.
    for w in &inputs.bundle_warnings {
        ui.status(&format!("warning: {}", crate::text::escape_for_terminal(w)))?;
    }
    Ok(inputs)
}

/// The role-contexts table: a file, or the shipped one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContextArgs {
    /// Role-contexts table (default: the shipped templates/role-contexts.yaml).
    #[arg(long, value_name = "FILE")]
    pub role_contexts: Option<PathBuf>,
}

/// `--show-secrets`, shared by every command that shows configuration values.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct SecretArgs {
    /// Show secret values in diffs and reports (they are redacted to fingerprints otherwise).
    #[arg(long)]
    pub show_secrets: bool,
}

impl SecretArgs {
    pub fn policy(self) -> crate::secrets::SecretPolicy {
        crate::ops::secrets_policy(self.show_secrets)
    }
}

/// Output formats for data printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}
