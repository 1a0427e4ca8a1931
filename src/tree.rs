//! A configuration tree: the parsed configuration files of a bundle or of a target, each
//! with its format, whether dh-migrate migrates it, and (for per-node files) the old node
//! it came from. Everything after reading the bundle works on this.

use crate::bundle::{Bundle, BundleError, BundleFile};
use crate::formats::{cnf, props, xml, yaml};
use crate::text::{LineIndex, Position};
use std::collections::BTreeMap;

/// Property files the installer or the vendor owns: never migrated (the target's copies
/// stand); the old ones only tell dh-migrate the old node names.
pub const INSTALLER_OWNED: &[&str] = &[
    "config/props/iris-endpoints.prop",
    "config/props/iris-defaults.prop",
];

/// File-system parts the new cluster's installer owns: the etcd client configuration
/// (endpoints, user, password, TLS files) belongs to the new etcd, and copying the old
/// one over it would cut the new nodes off their own etcd.
pub const INSTALLER_OWNED_GLOBS: &[&str] = &[
    "files/etc/sysconfig/deephaven/etcd/**",
    "nodes/*/files/etc/sysconfig/deephaven/etcd/**",
];

/// True when dh-migrate never migrates `path` (installer- or vendor-owned).
pub fn is_installer_owned(path: &str) -> bool {
    INSTALLER_OWNED.contains(&path)
        || path.starts_with("cluster/")
        || INSTALLER_OWNED_GLOBS
            .iter()
            .any(|g| crate::contexts::glob_match(g, path))
}

/// The format a file is parsed as, decided by its place and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Props,
    Yaml,
    Xml,
    Cnf,
    Text,
}

/// A parsed file.
#[derive(Debug, Clone)]
pub enum Parsed {
    Props(props::PropsFile),
    Yaml(yaml::YamlDoc),
    Xml(xml::XmlDoc),
    Cnf(cnf::CnfFile),
    Text,
}

/// What a file is for in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ownership {
    /// Migrated: references are rewritten.
    Migrated,
    /// Installer- or vendor-owned: read for node names, never migrated.
    InstallerOwned,
}

#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Path in the bundle layout, e.g. `config/props/iris-environment.prop`.
    pub path: String,
    pub text: String,
    pub format: Format,
    pub parsed: Parsed,
    pub ownership: Ownership,
    /// Permission bits as recorded in the bundle.
    pub mode: u32,
    /// For `nodes/<node>/files/...`: the old node the file belongs to.
    pub node: Option<String>,
}

impl ConfigFile {
    pub fn migrated(&self) -> bool {
        self.ownership == Ownership::Migrated
    }
}

/// A tree of parsed configuration files, keyed and sorted by path.
#[derive(Debug, Clone, Default)]
pub struct ConfigTree {
    pub files: BTreeMap<String, ConfigFile>,
    /// Files under `files/` or `nodes/` that are not UTF-8 text (keystores, binaries):
    /// carried as they are, never scanned.
    pub binary: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{file}:{pos}: {message}")]
    Parse {
        file: String,
        pos: Position,
        message: String,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Where a bundle path sits: its format and the node it belongs to, or None when the
/// path is not a configuration file (snapshot, workspace, manifest, MySQL dump).
pub fn classify(path: &str) -> Option<(Format, Option<String>)> {
    let ext_format = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or(p);
        if name.ends_with(".prop") {
            Format::Props
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".xml") || name.ends_with(".schema") {
            Format::Xml
        } else {
            Format::Text
        }
    };
    if path == "cluster/cluster.cnf" {
        return Some((Format::Cnf, None));
    }
    if let Some(rest) = path.strip_prefix("config/") {
        let f = ext_format(rest);
        return Some((f, None));
    }
    if path.starts_with("files/") {
        return Some((ext_format(path), None));
    }
    if let Some(rest) = path.strip_prefix("nodes/") {
        let (node, inner) = rest.split_once('/')?;
        if inner.starts_with("files/") {
            return Some((ext_format(inner), Some(node.to_string())));
        }
    }
    None
}

/// Parses `text` as `format`, with errors naming `path`, line and column.
pub fn parse_file(path: &str, text: &str, format: Format) -> Result<Parsed, TreeError> {
    let err = |offset: usize, message: String| TreeError::Parse {
        file: path.to_string(),
        pos: LineIndex::new(text).position(text, offset),
        message,
    };
    Ok(match format {
        Format::Props => {
            Parsed::Props(props::parse(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Yaml => {
            Parsed::Yaml(yaml::parse(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Xml => {
            Parsed::Xml(xml::parse(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Cnf => {
            Parsed::Cnf(cnf::parse(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Text => Parsed::Text,
    })
}

/// `parsed` in as little memory as it needs. A tree keeps the model of every file for the
/// whole run, and the parsers grow their vectors and strings by doubling: for 5,000
/// schemas that slack was 56 MB of a 186 MB peak. A clone allocates exactly what is used.
fn compact(parsed: Parsed) -> Parsed {
    match parsed {
        Parsed::Props(p) => Parsed::Props(p.clone()),
        Parsed::Yaml(y) => Parsed::Yaml(y.clone()),
        Parsed::Xml(x) => Parsed::Xml(x.clone()),
        Parsed::Cnf(c) => Parsed::Cnf(c.clone()),
        Parsed::Text => Parsed::Text,
    }
}

impl ConfigTree {
    /// Parses every configuration file of `bundle`. Stops at the first file that does not
    /// parse (its error names file, line and column).
    pub fn from_bundle(bundle: &Bundle) -> Result<ConfigTree, TreeError> {
        let mut tree = ConfigTree::default();
        for file in bundle.files() {
            tree.add(bundle, file)?;
        }
        Ok(tree)
    }

    fn add(&mut self, bundle: &Bundle, file: &BundleFile) -> Result<(), TreeError> {
        if classify(&file.path).is_none() {
            return Ok(());
        }
        let text = match bundle.text(&file.path) {
            Ok(t) => t,
            // Per-node files may be binary (keystores): carried, not scanned. Under
            // config/ and cluster/ every file must be text.
            Err(BundleError::NotUtf8 { .. })
                if file.path.starts_with("files/") || file.path.starts_with("nodes/") =>
            {
                self.binary.push(file.path.clone());
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let text = text.to_string();
        self.insert(&file.path, text, file.mode)
    }

    /// Parses and adds one file given by path and text (a target read from etcd, a test).
    /// Paths that are not configuration files are ignored.
    pub fn insert(&mut self, path: &str, text: String, mode: u32) -> Result<(), TreeError> {
        let Some((format, node)) = classify(path) else {
            return Ok(());
        };
        let parsed = compact(parse_file(path, &text, format)?);
        let ownership = if is_installer_owned(path) {
            Ownership::InstallerOwned
        } else {
            Ownership::Migrated
        };
        self.files.insert(
            path.to_string(),
            ConfigFile {
                path: path.to_string(),
                text,
                format,
                parsed,
                ownership,
                mode,
                node,
            },
        );
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&ConfigFile> {
        self.files.get(path)
    }

    /// The migrated files, in path order.
    pub fn migrated(&self) -> impl Iterator<Item = &ConfigFile> {
        self.files.values().filter(|f| f.migrated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bundle_paths() {
        assert_eq!(
            classify("config/props/iris-environment.prop"),
            Some((Format::Props, None))
        );
        assert_eq!(
            classify("config/routing/dis/a.yaml"),
            Some((Format::Yaml, None))
        );
        assert_eq!(
            classify("config/schemas/M/M.T.schema"),
            Some((Format::Xml, None))
        );
        assert_eq!(classify("cluster/cluster.cnf"), Some((Format::Cnf, None)));
        assert_eq!(
            classify("files/etc/x/tailerConfig.xml"),
            Some((Format::Xml, None))
        );
        assert_eq!(
            classify("files/etc/x/endpoints"),
            Some((Format::Text, None))
        );
        assert_eq!(
            classify("nodes/dh-query-1.old.example.com/files/etc/t.xml"),
            Some((Format::Xml, Some("dh-query-1.old.example.com".into())))
        );
        assert_eq!(classify("etcd/snapshot.db"), None);
        assert_eq!(classify("workspace/a.bin"), None);
        assert_eq!(classify("MANIFEST.sha256"), None);
        assert_eq!(classify("nodes/x/other/y"), None);
    }
}
