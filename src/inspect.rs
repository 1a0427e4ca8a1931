//! `inspect`: what a bundle holds and every old-node reference in it. Reads and verifies
//! the bundle (checksums, safe entries, every configuration file parses), learns the old
//! nodes and finds their references. Writes nothing.

use crate::bundle::{Bundle, BundleError, BundleKind, ManifestStatus};
use crate::contexts::{glob_match, RoleContexts};
use crate::scan::binary::{scan_bytes, BinaryHit};
use crate::scan::inventory::{IdKind, Inventory, OldNode};
use crate::scan::refs::{self, Reference};
use crate::tree::{binary_allowed, classify, ConfigTree, Format, TreeError};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One part of the bundle layout and what the bundle has of it.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub name: &'static str,
    /// Path prefix in the bundle layout.
    pub path: &'static str,
    pub files: usize,
    pub bytes: u64,
}

/// Parts in contract order: (name, path prefix, is a directory).
const PARTS: &[(&str, &str)] = &[
    ("etcd snapshot", "etcd/"),
    ("property files", "config/props/"),
    ("routing file", "config/routing/routing.yaml"),
    ("DIS configs", "config/routing/dis/"),
    ("schemas", "config/schemas/"),
    ("persistent queries", "config/pq/"),
    ("ACLs", "config/acls/"),
    ("node files (shared)", "files/"),
    ("node files (per node)", "nodes/"),
    ("workspace data", "workspace/"),
    ("MySQL ACL dump", "mysql/"),
    ("installer cluster.cnf", "cluster/"),
];

#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub mode: String,
    /// props, yaml, xml, cnf, text, binary; absent for parts that are not parsed.
    pub format: Option<String>,
    pub migrated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeEntry {
    #[serde(flatten)]
    pub node: OldNode,
    pub references: Vec<Reference>,
}

/// Everything `inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub schema: &'static str,
    pub bundle: String,
    pub kind: String,
    pub prefix: Option<String>,
    /// `verified` (with the count), or `absent`.
    pub manifest: String,
    pub manifest_files: usize,
    pub parts: Vec<Part>,
    pub files: Vec<FileEntry>,
    pub nodes: Vec<NodeEntry>,
    /// Names that index the nodes: FQDNs, short names and IPs.
    pub names: Vec<(String, IdKind)>,
    /// Old-node names inside files that are not text (scanned as bytes: ASCII, UTF-16).
    pub binary_references: Vec<BinaryHit>,
    /// Files that could not be read as text: binary files (scanned as bytes), and files
    /// too large to hold in memory (not scanned).
    pub not_text: Vec<NotText>,
    /// What the bundle's etcd snapshot would bring back (names only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_etcd: Option<crate::snapshot_db::OldIdentity>,
    /// Items of the bundle's etcd snapshot that differ from its `config/` files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A file `inspect` could not read as text, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotText {
    pub path: String,
    /// `binary` (scanned as bytes) or `too-large` (not scanned).
    pub why: &'static str,
}

/// What `inspect` says of each parsed file: its format's name and whether it is migrated.
type FileFacts = BTreeMap<String, (&'static str, bool)>;

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Props => "props",
        Format::Yaml => "yaml",
        Format::Xml => "xml",
        Format::Cnf => "cnf",
        Format::Text => "text",
    }
}

/// Builds the report from an opened bundle and its parsed tree (the wizard has both).
pub fn inspect(bundle: &Bundle, tree: &ConfigTree, contexts: &RoleContexts) -> InspectReport {
    let inv = Inventory::build(tree, &[]);
    let refs = refs::scan(tree, &inv, contexts);
    let mut facts: FileFacts = tree
        .files
        .values()
        .map(|f| (f.path.clone(), (format_name(f.format), f.migrated())))
        .collect();
    facts.extend(tree.binary.iter().map(|b| (b.clone(), ("binary", false))));
    let hits = tree
        .binary_bytes
        .iter()
        .flat_map(|(p, b)| scan_bytes(p, b, &inv))
        .collect();
    let not_text = not_text(bundle, &facts);
    assemble(bundle, inv, refs, &facts, hits, not_text)
}

/// Every file of a scanned part that was not read as text.
fn not_text(bundle: &Bundle, facts: &FileFacts) -> Vec<NotText> {
    bundle
        .files()
        .filter(|f| classify(&f.path).is_some())
        .filter_map(|f| match facts.get(&f.path) {
            Some(("binary", _)) => Some(NotText {
                path: f.path.clone(),
                why: "binary",
            }),
            None if f.content.is_none() => Some(NotText {
                path: f.path.clone(),
                why: "too-large",
            }),
            _ => None,
        })
        .collect()
}

/// True for the files the inventory learns old node names from.
fn names_nodes(path: &str, format: Format) -> bool {
    matches!(format, Format::Cnf | Format::Props)
        || (format == Format::Yaml && path.starts_with("config/routing/"))
        || path.starts_with("nodes/")
        || glob_match("**/etcd/client/*/endpoints", path)
}

/// Builds the report one file at a time: the files that name old nodes are parsed first
/// (for the inventory), then every file is parsed, scanned and dropped, so memory holds
/// the bundle's text and the references, not every parsed model at once.
pub fn inspect_streaming(
    bundle: &Bundle,
    contexts: &RoleContexts,
) -> Result<InspectReport, TreeError> {
    // Reads a file as text (decoding another declared encoding); per-node files may be
    // binary (keystores, jars): None, and their bytes are scanned instead.
    let text_of = |path: &str| -> Result<Option<Cow<'_, str>>, TreeError> {
        match bundle.text(path) {
            Ok(t) => Ok(Some(Cow::Borrowed(t))),
            Err(BundleError::NotLoaded { .. })
                if path.starts_with("workspace/") || path.starts_with("mysql/") =>
            {
                Ok(None)
            }
            Err(e @ BundleError::NotUtf8 { .. }) => {
                let bytes = bundle
                    .get(path)
                    .and_then(|f| f.content.as_deref())
                    .unwrap_or_default();
                match crate::encoding::decode(path, bytes) {
                    Ok(Some(d)) => Ok(Some(Cow::Owned(d.text))),
                    Ok(None) if binary_allowed(path) => Ok(None),
                    Ok(None) => Err(e.into()),
                    Err(de) => Err(TreeError::Parse {
                        file: path.to_string(),
                        pos: crate::text::Position { line: 1, col: 1 },
                        message: format!("cannot be read as text: {de}"),
                    }),
                }
            }
            Err(e) => Err(e.into()),
        }
    };
    let mut sources = ConfigTree::default();
    for f in bundle.files() {
        if let Some((format, _)) = classify(&f.path) {
            if names_nodes(&f.path, format) {
                if let Some(text) = text_of(&f.path)? {
                    sources.insert(&f.path, text.to_string(), f.mode)?;
                }
            }
        }
    }
    let inv = Inventory::build(&sources, &[]);
    let mut refs = Vec::new();
    let mut hits = Vec::new();
    let mut facts = FileFacts::new();
    for f in bundle.files() {
        if classify(&f.path).is_none() {
            continue;
        }
        let mut one = ConfigTree::default();
        let file = match sources.get(&f.path) {
            Some(file) => file,
            None => match text_of(&f.path)? {
                Some(text) => {
                    one.insert(&f.path, text.to_string(), f.mode)?;
                    match one.get(&f.path) {
                        Some(file) => file,
                        None => continue,
                    }
                }
                None => {
                    if let Some(bytes) = f.content.as_deref() {
                        facts.insert(f.path.clone(), ("binary", false));
                        hits.extend(scan_bytes(&f.path, bytes, &inv));
                    }
                    continue;
                }
            },
        };
        facts.insert(f.path.clone(), (format_name(file.format), file.migrated()));
        refs::scan_file(file, &inv, contexts, &mut refs);
    }
    let not_text = not_text(bundle, &facts);
    Ok(assemble(bundle, inv, refs, &facts, hits, not_text))
}

fn assemble(
    bundle: &Bundle,
    inv: Inventory,
    all_refs: Vec<Reference>,
    facts: &FileFacts,
    binary_references: Vec<BinaryHit>,
    not_text: Vec<NotText>,
) -> InspectReport {
    let mut by_node: BTreeMap<usize, Vec<Reference>> = BTreeMap::new();
    for r in all_refs {
        for &n in &r.nodes {
            by_node.entry(n).or_default().push(r.clone());
        }
    }
    let nodes = inv
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeEntry {
            node: n.clone(),
            references: by_node.remove(&i).unwrap_or_default(),
        })
        .collect();
    let parts = PARTS
        .iter()
        .map(|(name, path)| {
            let (files, bytes) = bundle
                .files()
                .filter(|f| f.path.starts_with(path))
                .fold((0, 0), |(n, b), f| (n + 1, b + f.size));
            Part {
                name,
                path,
                files,
                bytes,
            }
        })
        .collect();
    let files = bundle
        .files()
        .map(|f| {
            let fact = facts.get(&f.path);
            FileEntry {
                path: f.path.clone(),
                bytes: f.size,
                sha256: hex::encode(f.sha256),
                mode: format!("{:04o}", f.mode & 0o7777),
                format: fact.map(|(name, _)| name.to_string()),
                migrated: fact.is_some_and(|(_, m)| *m),
            }
        })
        .collect();
    let (manifest, manifest_files) = match &bundle.manifest {
        ManifestStatus::Verified { files } => ("verified".to_string(), *files),
        ManifestStatus::Absent => ("absent".to_string(), 0),
    };
    let kind = match bundle.kind {
        BundleKind::Directory => "directory",
        BundleKind::Tar => "tar",
        BundleKind::TarGz => "tar.gz",
        BundleKind::TarZst => "tar.zst",
    };
    InspectReport {
        schema: "dh-migrate/inspect/v1",
        bundle: bundle.source.display().to_string(),
        kind: kind.to_string(),
        prefix: bundle.prefix.clone(),
        manifest,
        manifest_files,
        parts,
        files,
        nodes,
        names: inv
            .names()
            .into_iter()
            .map(|(n, k)| (n.to_string(), k))
            .collect(),
        binary_references,
        not_text,
        old_etcd: bundle.snapshot_identity.clone(),
        warnings: Vec::new(),
    }
}

/// `  [role dis]` when the reference's place decides a role.
fn role_note(r: &Reference) -> String {
    let roles: Vec<&str> = r.roles.iter().flatten().map(|r| r.as_str()).collect();
    if roles.is_empty() {
        String::new()
    } else {
        format!("  [role {}]", roles.join("|"))
    }
}

/// Human-readable report.
pub fn render_text(r: &InspectReport) -> String {
    use crate::text::escape_for_terminal as esc;
    use std::fmt::Write;
    crate::text::render(|o| {
        writeln!(o, "Bundle   {} ({})", esc(&r.bundle), r.kind)?;
        if let Some(p) = &r.prefix {
            writeln!(o, "Folder   {}/", esc(p))?;
        }
        match r.manifest.as_str() {
            "verified" => {
                writeln!(
                    o,
                    "Manifest verified: {} files, every SHA-256 matches",
                    r.manifest_files
                )?;
            }
            _ => {
                writeln!(
                    o,
                    "Manifest absent: files were read but not verified against checksums"
                )?;
            }
        }
        writeln!(o, "\nParts")?;
        for p in &r.parts {
            if p.files > 0 {
                writeln!(
                    o,
                    "  {:<24} {:>6} file(s) {:>12} bytes  {}",
                    p.name, p.files, p.bytes, p.path
                )?;
            } else {
                writeln!(o, "  {:<24}      - (absent)", p.name)?;
            }
        }
        writeln!(o, "\nOld nodes ({})", r.nodes.len())?;
        for n in &r.nodes {
            let roles: Vec<&str> = n.node.roles.iter().map(|r| r.as_str()).collect();
            writeln!(
                o,
                "\n  {}  {}{}  {} reference(s)",
                esc(n.node.name()),
                if n.node.ips.is_empty() {
                    String::new()
                } else {
                    format!("[{}] ", n.node.ips.join(", "))
                },
                if roles.is_empty() {
                    "roles: unknown".to_string()
                } else {
                    format!("roles: {}", roles.join(", "))
                },
                n.references.len()
            )?;
            for e in n.node.evidence.iter().take(3) {
                writeln!(
                    o,
                    "    known from {}:{} ({})",
                    esc(&e.file),
                    e.line,
                    esc(&e.what)
                )?;
            }
            if n.node.evidence.len() > 3 {
                writeln!(
                    o,
                    "    known from {} more place(s)",
                    n.node.evidence.len() - 3
                )?;
            }
            for rf in &n.references {
                writeln!(
                    o,
                    "    {}:{}  {}  {}{}",
                    esc(&rf.file),
                    rf.pos,
                    esc(&rf.text),
                    esc(&rf.context.to_string()),
                    if rf.migrated {
                        role_note(rf)
                    } else {
                        "  [installer-owned, not migrated]".to_string()
                    }
                )?;
            }
        }
        if !r.binary_references.is_empty() {
            writeln!(
                o,
                "\nOld-node names inside binary files ({}): a plan fails on each unless keep: or carry-binary: allows it",
                r.binary_references.len()
            )?;
            for h in &r.binary_references {
                writeln!(
                    o,
                    "  {}: byte {}  {}  ({})",
                    esc(&h.file),
                    h.offset,
                    esc(&h.text),
                    h.encoding
                )?;
            }
        }
        if !r.not_text.is_empty() {
            writeln!(o, "\nFiles not read as text ({})", r.not_text.len())?;
            for n in &r.not_text {
                let why = match n.why {
                    "binary" => "binary: scanned as bytes for old-node names",
                    _ => "too large to hold in memory: not scanned",
                };
                writeln!(o, "  {}  ({why})", esc(&n.path))?;
            }
        }
        if let Some(old) = &r.old_etcd {
            writeln!(
                o,
                "\nOld etcd identity (etcd/snapshot.db: a restore of it brings this back)"
            )?;
            o.push_str(&crate::snapshot::render_identity(old, "  "));
        }
        if !r.warnings.is_empty() {
            writeln!(o, "\nWarnings ({})", r.warnings.len())?;
            for w in &r.warnings {
                writeln!(o, "  {}", esc(w))?;
            }
        }
        Ok(())
    })
}
