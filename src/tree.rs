//! A configuration tree: the parsed configuration files of a bundle or of a target, each
//! with its format, whether dh-migrate migrates it, and (for per-node files) the old node
//! it came from. Everything after reading the bundle works on this.

use crate::bundle::{Bundle, BundleError, BundleFile};
use crate::encoding::TextEncoding;
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
        // Every path the globs match holds this; most paths do not, and are ruled out
        // without running the globs (which split and allocate).
        || (path.contains("sysconfig/deephaven/etcd")
            && INSTALLER_OWNED_GLOBS
                .iter()
                .any(|g| crate::contexts::glob_match(g, path)))
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
    /// Checked to parse; the model is built when first used.
    Xml(xml::LazyDoc),
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
    /// Shared with the migration's copies of an unchanged file (never copied).
    pub text: std::sync::Arc<str>,
    pub format: Format,
    pub parsed: Parsed,
    pub ownership: Ownership,
    /// Permission bits as recorded in the bundle.
    pub mode: u32,
    /// For `nodes/<node>/files/...`: the old node the file belongs to.
    pub node: Option<String>,
    /// The file's own encoding when it is not UTF-8 (`text` is decoded; writing it back
    /// encodes it again, see `crate::encoding`).
    pub encoding: Option<TextEncoding>,
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
    /// Files under `files/`, `nodes/` or `workspace/` that are not text (keystores, jars,
    /// undeclared encodings): carried as they are, never rewritten.
    pub binary: Vec<String>,
    /// Their bytes, by path, for the scan for old-node names (`scan::binary`).
    pub binary_bytes: BTreeMap<String, Vec<u8>>,
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
    // The MySQL ACL dump names hosts in its rows: migrated as text. The workspace export
    // is scanned like per-node files (text rewritten, binary scanned as bytes).
    if path == "mysql/dbacl_iris.sql" {
        return Some((Format::Text, None));
    }
    if path.starts_with("workspace/") {
        return Some((ext_format(path), None));
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
            Parsed::Yaml(yaml::parse_stream(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Xml => {
            Parsed::Xml(xml::check(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Cnf => {
            Parsed::Cnf(cnf::parse(text).map_err(|e| err(e.offset, e.kind.to_string()))?)
        }
        Format::Text => Parsed::Text,
    })
}

/// `parsed` in as little memory as it needs. A tree keeps the model of every file for the
/// whole run, and the parsers grow their vectors and strings by doubling: for 5,000
/// schemas that slack was 56 MB of a 186 MB peak.
pub fn compact(mut parsed: Parsed) -> Parsed {
    // In place: giving back spare capacity costs a fraction of copying every model.
    match &mut parsed {
        Parsed::Props(p) => p.shrink_to_fit(),
        Parsed::Yaml(y) => y.shrink_to_fit(),
        Parsed::Cnf(_) | Parsed::Xml(_) | Parsed::Text => {}
    }
    parsed
}

/// At most this many threads share per-file work (parsing, scanning, rewriting): it is
/// CPU-bound, and the machines this runs on have few cores.
const MAX_THREADS: usize = 4;

/// Files a thread takes at a time: small enough to balance uneven file sizes, large
/// enough that taking work costs nothing next to doing it.
const CHUNK: usize = 64;

/// `f` applied to every item, on a few threads (available parallelism, at most
/// `MAX_THREADS`), with the results in the items' order: the same as a sequential map,
/// and like one it stops at the first error in item order and returns that error.
pub fn map_in_parallel<I, T, E>(
    items: &[I],
    f: impl Fn(&I) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    I: Sync,
    T: Send,
    E: Send,
{
    map_in_parallel_by_size(items, |_| 0, f)
}

/// Items of at least this size (as `size` measures it, bytes of text) are each a task of
/// their own, taken before the others and largest first.
const HEAVY: usize = 32 * 1024;

/// [`map_in_parallel`] for items of uneven cost: the heavy ones (`size` at least
/// [`HEAVY`]) are taken first, largest first, one at a time, then the rest in chunks in
/// item order. Left in item order, a few large property files in one chunk kept one
/// thread busy long after the other had finished. Results and the error returned are
/// still those of a sequential map.
pub fn map_in_parallel_by_size<I, T, E>(
    items: &[I],
    size: impl Fn(&I) -> usize,
    f: impl Fn(&I) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    I: Sync,
    T: Send,
    E: Send,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(items.len().div_ceil(CHUNK));
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    // The tasks, as lists of item indexes: heavy items alone, largest first, then chunks
    // of the others in item order.
    let sizes: Vec<usize> = items.iter().map(size).collect();
    let mut heavy: Vec<usize> = (0..items.len()).filter(|&i| sizes[i] >= HEAVY).collect();
    heavy.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let light: Vec<usize> = (0..items.len()).filter(|&i| sizes[i] < HEAVY).collect();
    let tasks: Vec<&[usize]> = heavy.chunks(1).chain(light.chunks(CHUNK)).collect();
    let next = AtomicUsize::new(0);
    // The smallest index of an item that failed: items after it need not be done, and
    // every item before it is (none is skipped), so the first error in item order is
    // among the results.
    let first_failed = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut done: Vec<(usize, Result<T, E>)> = Vec::new();
        loop {
            let t = next.fetch_add(1, Ordering::Relaxed);
            let Some(task) = tasks.get(t) else {
                break;
            };
            for &i in *task {
                if i > first_failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = f(&items[i]);
                let failed = r.is_err();
                done.push((i, r));
                if failed {
                    first_failed.fetch_min(i, Ordering::Relaxed);
                    break;
                }
            }
        }
        done
    };
    // The calling thread is one of the workers: what it makes is allocated from its own
    // heap, which lives on (a short-lived thread's heap is left to be reclaimed).
    let mut results: Vec<(usize, Result<T, E>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for w in workers {
            match w.join() {
                Ok(done) => all.extend(done),
                // A panic in `f` is a bug: let it surface as one.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(items.len());
    for (_, r) in results {
        out.push(r?);
    }
    Ok(out)
}

/// [`map_in_parallel`] for a function that cannot fail.
pub fn map_each_in_parallel<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    map_each_in_parallel_by_size(items, |_| 0, f)
}

/// [`map_in_parallel_by_size`] for a function that cannot fail.
pub fn map_each_in_parallel_by_size<I: Sync, T: Send>(
    items: &[I],
    size: impl Fn(&I) -> usize,
    f: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    match map_in_parallel_by_size(items, size, |i| Ok::<T, std::convert::Infallible>(f(i))) {
        Ok(all) => all,
        Err(never) => match never {},
    }
}

/// Reads and parses one bundle file.
fn parse_bundle_file(bundle: &Bundle, file: &BundleFile) -> Result<Parsing, TreeError> {
    if classify(&file.path).is_none() {
        return Ok(Parsing::Skipped);
    }
    let text = match bundle.shared_text(&file.path) {
        Ok(t) => t,
        // Larger than the bundle keeps in memory: listed by `inspect` as not read.
        Err(BundleError::NotLoaded { .. })
            if file.path.starts_with("workspace/") || file.path.starts_with("mysql/") =>
        {
            return Ok(Parsing::Skipped);
        }
        Err(e @ BundleError::NotUtf8 { .. }) => {
            // Text in another encoding (BOM, XML declaration, Java's ISO-8859-1 for
            // property files) is decoded; it is written back in its own encoding.
            let bytes = file.content.as_deref().unwrap_or_default();
            match crate::encoding::decode(&file.path, bytes) {
                Ok(Some(d)) => {
                    return Ok(match config_file(&file.path, d.text, file.mode)? {
                        Some(mut f) => {
                            f.encoding = Some(d.encoding);
                            Parsing::File(f)
                        }
                        None => Parsing::Skipped,
                    });
                }
                Err(de) => {
                    return Err(TreeError::Parse {
                        file: file.path.clone(),
                        pos: Position { line: 1, col: 1 },
                        message: format!("cannot be read as text: {de}; nothing was written"),
                    })
                }
                // Per-node files may be binary (keystores, jars): carried, and scanned
                // as bytes for old-node names. Under config/ and cluster/ every file
                // must be text.
                Ok(None) if binary_allowed(&file.path) => {
                    return Ok(Parsing::Binary(file.path.clone(), bytes.to_vec()));
                }
                Ok(None) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(
        // The bundle's own text, shared: its bytes are not copied.
        match config_file(&file.path, text.clone(), file.mode)? {
            Some(f) => Parsing::File(f),
            None => Parsing::Skipped,
        },
    )
}

/// True for the parts where a file may be binary: per-node file-system files and the
/// workspace export.
pub fn binary_allowed(path: &str) -> bool {
    path.starts_with("files/") || path.starts_with("nodes/") || path.starts_with("workspace/")
}

/// Parses one file given by path and text, as [`ConfigTree::insert`] adds it; None when
/// the path is not a configuration file.
pub fn config_file(
    path: &str,
    text: impl Into<std::sync::Arc<str>>,
    mode: u32,
) -> Result<Option<ConfigFile>, TreeError> {
    let text: std::sync::Arc<str> = text.into();
    let Some((format, node)) = classify(path) else {
        return Ok(None);
    };
    let parsed = compact(parse_file(path, &text, format)?);
    let ownership = if is_installer_owned(path) {
        Ownership::InstallerOwned
    } else {
        Ownership::Migrated
    };
    Ok(Some(ConfigFile {
        path: path.to_string(),
        text,
        format,
        parsed,
        ownership,
        mode,
        node,
        encoding: None,
    }))
}

/// What parsing one bundle file gave: a parsed file, a binary file carried as it is, or
/// nothing (not a configuration file).
// Short-lived, one per file, and nearly always a `File`: boxing it would only add an
// allocation per file.
#[allow(clippy::large_enum_variant)]
enum Parsing {
    File(ConfigFile),
    Binary(String, Vec<u8>),
    Skipped,
}

impl ConfigTree {
    /// Parses every configuration file of `bundle`. Stops at the first file that does not
    /// parse (in path order: its error names file, line and column).
    ///
    /// Files are parsed on a few threads (a large cluster has tens of thousands of files);
    /// the result does not depend on how the work was split.
    pub fn from_bundle(bundle: &Bundle) -> Result<ConfigTree, TreeError> {
        let files: Vec<&BundleFile> = bundle.files().collect();
        let parsed = map_in_parallel_by_size(
            &files,
            |f| usize::try_from(f.size).unwrap_or(usize::MAX),
            |f| parse_bundle_file(bundle, f),
        )?;
        let mut files = Vec::with_capacity(parsed.len());
        let mut binary = Vec::new();
        let mut binary_bytes = BTreeMap::new();
        for p in parsed {
            match p {
                Parsing::File(f) => files.push((f.path.clone(), f)),
                Parsing::Binary(path, bytes) => {
                    binary.push(path.clone());
                    binary_bytes.insert(path, bytes);
                }
                Parsing::Skipped => {}
            }
        }
        Ok(ConfigTree {
            // In path order already: the map is built in one pass.
            files: files.into_iter().collect(),
            binary,
            binary_bytes,
        })
    }

    /// Parses and adds one file given by path and text (a target read from etcd, a test).
    /// Paths that are not configuration files are ignored.
    pub fn insert(&mut self, path: &str, text: String, mode: u32) -> Result<(), TreeError> {
        if let Some(f) = config_file(path, text, mode)? {
            self.files.insert(f.path.clone(), f);
        }
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
    fn parallel_map_keeps_item_order_and_returns_the_first_error_in_that_order() {
        let items: Vec<usize> = (0..1000).collect();
        let doubled = map_in_parallel(&items, |&i| Ok::<_, String>(i * 2)).unwrap();
        assert_eq!(doubled, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        // Two failures in different chunks: the earlier one is reported, whichever
        // thread got there first.
        for _ in 0..20 {
            let r = map_in_parallel(&items, |&i| {
                if i == 901 || i == 130 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            });
            assert_eq!(r, Err("item 130".to_string()));
        }
        let none: Vec<usize> = Vec::new();
        assert_eq!(
            map_in_parallel(&none, |&i| Ok::<_, String>(i)).unwrap(),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn heavy_items_first_still_give_item_order_and_the_first_error_in_it() {
        // Every 97th item is heavy; they are taken first, largest (latest) first.
        let items: Vec<usize> = (0..2000).collect();
        let size = |&i: &usize| if i % 97 == 0 { HEAVY + i } else { 1 };
        let tripled = map_in_parallel_by_size(&items, size, |&i| Ok::<_, String>(i * 3));
        assert_eq!(
            tripled.unwrap(),
            (0..2000).map(|i| i * 3).collect::<Vec<_>>()
        );
        let each = map_each_in_parallel_by_size(&items, size, |&i| i + 1);
        assert_eq!(each, (1..2001).collect::<Vec<_>>());
        for _ in 0..20 {
            // A heavy item late in the order fails (and is done first), and a light
            // one before it fails too: the light one is the first error in item order.
            let r = map_in_parallel_by_size(&items, size, |&i| {
                if i == 1940 || i == 500 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            });
            assert_eq!(r, Err("item 500".to_string()));
            // Only the heavy one fails: it is reported.
            let r = map_in_parallel_by_size(&items, size, |&i| {
                if i == 1940 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            });
            assert_eq!(r, Err("item 1940".to_string()));
        }
    }

    #[test]
    fn a_bundle_is_parsed_in_path_order_and_its_first_bad_file_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..300 {
            let p = root.join(format!("config/schemas/N{i:03}/N{i:03}.T.schema"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("<Table name=\"T{i}\"/>\n")).unwrap();
        }
        std::fs::create_dir_all(root.join("config/props")).unwrap();
        std::fs::write(root.join("config/props/a.prop"), "a=1\n").unwrap();
        let bundle = Bundle::open(root).unwrap();
        let tree = ConfigTree::from_bundle(&bundle).unwrap();
        let paths: Vec<&String> = tree.files.keys().collect();
        assert_eq!(paths.len(), 301);
        assert_eq!(paths[0], "config/props/a.prop");
        assert_eq!(paths[1], "config/schemas/N000/N000.T.schema");
        assert_eq!(paths[300], "config/schemas/N299/N299.T.schema");
        // Two broken files far apart: the one first in path order is the error.
        for bad in ["N250", "N040"] {
            std::fs::write(
                root.join(format!("config/schemas/{bad}/{bad}.T.schema")),
                "<Table>\n  <Column>\n</Table>\n",
            )
            .unwrap();
        }
        let bundle = Bundle::open(root).unwrap();
        let err = ConfigTree::from_bundle(&bundle).unwrap_err().to_string();
        assert!(
            err.starts_with("config/schemas/N040/N040.T.schema:3:"),
            "{err}"
        );
    }

    #[test]
    fn installer_owned_paths() {
        assert!(is_installer_owned("config/props/iris-endpoints.prop"));
        assert!(is_installer_owned("cluster/cluster.cnf"));
        assert!(is_installer_owned("files/etc/sysconfig/deephaven/etcd"));
        assert!(is_installer_owned(
            "files/etc/sysconfig/deephaven/etcd/client/root/endpoints"
        ));
        assert!(is_installer_owned(
            "nodes/n1/files/etc/sysconfig/deephaven/etcd/client/root/password"
        ));
        assert!(!is_installer_owned("config/props/iris-environment.prop"));
        assert!(!is_installer_owned(
            "files/etc/sysconfig/deephaven/illumon.d/resources/x.xml"
        ));
        assert!(!is_installer_owned(
            "nodes/n1/other/etc/sysconfig/deephaven/etcd/client/root/endpoints"
        ));
    }

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
        // Scanned since issue 9: the workspace export like per-node files, the MySQL ACL
        // dump as text.
        assert_eq!(classify("workspace/a.bin"), Some((Format::Text, None)));
        assert_eq!(classify("mysql/dbacl_iris.sql"), Some((Format::Text, None)));
        assert_eq!(classify("mysql/other.sql"), None);
        assert_eq!(classify("MANIFEST.sha256"), None);
        assert_eq!(classify("nodes/x/other/y"), None);
    }
}
