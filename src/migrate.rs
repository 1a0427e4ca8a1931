//! The migration itself: every reference of the bundle's migrated files decided by the
//! mapping, and each file rewritten by changing exactly the bytes of its rewritten
//! references. A migration with problems (unresolved, ambiguous, unknown mapping keys)
//! carries them; callers refuse to write anything from it.

use crate::contexts::RoleContexts;
use crate::encoding::TextEncoding;
use crate::mapping::merge_rules::MergeRules;
use crate::mapping::resolve::{resolve, Outcome, Resolution};
use crate::mapping::Mapping;
use crate::merge::{MergeError, MergeReport, Merged};
use crate::rewrite::{apply, edits_by_file};
use crate::roles::Role;
use crate::scan::binary::BinaryHit;
use crate::scan::inventory::Inventory;
use crate::scan::refs::{scan, Reference};
use crate::tree::{
    map_each_in_parallel, map_in_parallel, map_in_parallel_by_size, parse_file, ConfigFile,
    ConfigTree, Format, Parsed,
};
use std::collections::BTreeMap;

/// One migrated file, before and after.
#[derive(Debug, Clone)]
pub struct MigratedFile {
    pub path: String,
    pub format: Format,
    /// The bundle's text (shared with the tree's file).
    pub before: std::sync::Arc<str>,
    /// The migrated text; `before` itself (shared) when nothing changed.
    pub after: std::sync::Arc<str>,
    /// The model of a rewritten property or YAML file's `after` (parsed for the safety
    /// check, kept for the item-by-item comparison). None for other formats and when
    /// `after` is `before`, whose model the bundle's tree holds.
    pub after_parsed: Option<Parsed>,
    pub mode: u32,
    /// The old node a per-node file came from.
    pub node: Option<String>,
    /// For an item the new cluster already has: `after` merged with the new cluster's
    /// copy ([`Migration::merge_onto`]). What apply writes is this when present.
    pub result: Option<Merged>,
    /// The file's own encoding when it is not UTF-8: what is written is encoded back.
    pub encoding: Option<TextEncoding>,
}

impl MigratedFile {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }

    /// What `apply` writes for this file: the merged text when the new cluster has the
    /// item, else the migrated text.
    pub fn written(&self) -> &str {
        self.result.as_ref().map_or(&self.after, |m| &m.text)
    }

    /// The bytes of `after` (the migrated file, for `--emit`) in the file's own encoding.
    pub fn after_bytes(&self) -> Result<Vec<u8>, EncodeBack> {
        self.encoded(&self.after)
    }

    /// The bytes of [`MigratedFile::written`] in the file's own encoding.
    pub fn written_bytes(&self) -> Result<Vec<u8>, EncodeBack> {
        self.encoded(self.written())
    }

    fn encoded(&self, text: &str) -> Result<Vec<u8>, EncodeBack> {
        match &self.encoding {
            None => Ok(text.as_bytes().to_vec()),
            Some(e) => e.encode(text).map_err(|detail| EncodeBack {
                file: self.path.clone(),
                detail,
            }),
        }
    }
}

/// A rewritten file that cannot be encoded back in its own encoding (a new host name with
/// characters the encoding lacks): reported, never written.
#[derive(Debug, thiserror::Error)]
#[error("{file}: cannot be written back in its own encoding: {detail}; nothing was written")]
pub struct EncodeBack {
    pub file: String,
    pub detail: String,
}

impl MigratedFile {}

/// True for the files merged with the new cluster's copy: property and YAML
/// configuration items (etcd items live under `config/`).
pub fn merges(path: &str, format: Format) -> bool {
    path.starts_with("config/") && matches!(format, Format::Props | Format::Yaml)
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub files: usize,
    pub files_changed: usize,
    pub rewritten: usize,
    /// Rewrites per deciding role ("host" when decided by host alone).
    pub rewritten_by_role: BTreeMap<String, usize>,
    pub kept: usize,
    pub unchanged: usize,
    pub problems: usize,
}

#[derive(Debug, Clone)]
pub struct Migration {
    pub inventory: Inventory,
    pub refs: Vec<Reference>,
    pub resolution: Resolution,
    /// Old-node names inside binary files that neither `keep:` nor `carry-binary:` allow:
    /// each fails the plan (a binary file cannot be rewritten in place).
    pub binary_hits: Vec<BinaryHit>,
    /// Every old-node name inside a binary file, allowed or not (for `inspect`/reports).
    pub binary_all: Vec<BinaryHit>,
    /// Every migrated file, by path.
    pub files: BTreeMap<String, MigratedFile>,
}

/// A rewritten file that no longer parses: a bug, reported rather than written.
#[derive(Debug, thiserror::Error)]
#[error("internal error: {file} no longer parses after rewriting ({detail}); nothing was written")]
pub struct RewriteBroke {
    pub file: String,
    pub detail: String,
}

/// Migrates `tree` with `mapping`.
pub fn migrate(
    tree: &ConfigTree,
    mapping: &Mapping,
    contexts: &RoleContexts,
) -> Result<Migration, RewriteBroke> {
    let extra: Vec<(String, String, usize)> = mapping
        .hosts
        .iter()
        .map(|h| (h.old.clone(), mapping.file.clone(), h.line))
        .collect();
    let (bundle_names, inventory) = Inventory::build_both(tree, &extra);
    crate::timing::mark("inventory");
    let refs = scan(tree, &inventory, contexts);
    crate::timing::mark("scanned");
    let resolution = resolve(&refs, mapping, &inventory, &bundle_names);
    let edits = edits_by_file(&refs, &resolution);
    crate::timing::mark("resolved");
    let migrated: Vec<&ConfigFile> = tree.migrated().collect();
    // Rewriting and re-parsing is per file: done on a few threads, in path order.
    let rewritten = map_in_parallel_by_size(
        &migrated,
        |f| f.text.len(),
        |f| {
            let (after, after_parsed) = match edits.get(&f.path) {
                Some(e) => {
                    let after = apply(&f.text, e);
                    // The rewrite only swaps host tokens for host tokens; a file that stops
                    // parsing means a bug here, and must never reach a cluster.
                    let parsed =
                        parse_file(&f.path, &after, f.format).map_err(|e| RewriteBroke {
                            file: f.path.clone(),
                            detail: e.to_string(),
                        })?;
                    let kept = matches!(f.format, Format::Props | Format::Yaml)
                        .then(|| crate::tree::compact(parsed));
                    (std::sync::Arc::from(after), kept)
                }
                None => (f.text.clone(), None),
            };
            Ok(MigratedFile {
                path: f.path.clone(),
                format: f.format,
                before: f.text.clone(),
                after,
                after_parsed,
                mode: f.mode,
                node: f.node.clone(),
                result: None,
                encoding: f.encoding,
            })
        },
    )?;
    crate::timing::mark("rewritten");
    let files = rewritten.into_iter().map(|m| (m.path.clone(), m)).collect();
    let bins: Vec<(&String, &Vec<u8>)> = tree.binary_bytes.iter().collect();
    let binary_all: Vec<BinaryHit> = map_each_in_parallel(&bins, |&(p, b)| {
        crate::scan::binary::scan_bytes(p, b, &inventory)
    })
    .into_iter()
    .flatten()
    .collect();
    let binary_hits = binary_all
        .iter()
        .filter(|h| !mapping.carries_binary(&h.file) && !binary_kept(h, mapping, &inventory))
        .cloned()
        .collect();
    Ok(Migration {
        inventory,
        refs,
        resolution,
        binary_hits,
        binary_all,
        files,
    })
}

/// True when `keep:` lists the name found in a binary file (or, for a short name, the
/// FQDN of the one node it names).
fn binary_kept(h: &BinaryHit, mapping: &Mapping, inv: &Inventory) -> bool {
    mapping.is_kept(&h.text)
        || inv.lookup(&h.text).is_some_and(|(_, nodes)| {
            !nodes.is_empty()
                && nodes.iter().all(|&n| {
                    let node = &inv.nodes[n];
                    node.fqdn
                        .iter()
                        .chain(node.short.iter())
                        .chain(node.ips.iter())
                        .any(|name| mapping.is_kept(name))
                })
        })
}

impl Migration {
    /// Merges every migrated property and YAML item that `target` also has with the
    /// target's copy (contract: "Merge, never overwrite"), as the mapping's `merge:`
    /// section decides. The first item that cannot be merged without losing something
    /// is an error naming it and the setting.
    pub fn merge_onto(
        &mut self,
        target: &ConfigTree,
        rules: &MergeRules,
    ) -> Result<(), MergeError> {
        let files: Vec<&MigratedFile> = self
            .files
            .values()
            .filter(|f| merges(&f.path, f.format))
            .collect();
        let merged = map_in_parallel(&files, |f| {
            let Some(t) = target.get(&f.path) else {
                return Ok(None);
            };
            let item_rules = rules.for_item(&f.path);
            let m = match f.format {
                Format::Props => {
                    crate::merge::props::merge(&f.path, &f.after, &t.text, item_rules)?
                }
                _ => crate::merge::yaml::merge(&f.path, &f.after, &t.text, item_rules)?,
            };
            Ok(Some((f.path.clone(), m)))
        })?;
        for (path, m) in merged.into_iter().flatten() {
            if let Some(f) = self.files.get_mut(&path) {
                f.result = Some(m);
            }
        }
        Ok(())
    }

    /// Every setting kept from, dropped from, or decided for the new cluster, per item.
    pub fn merge_reports(&self) -> impl Iterator<Item = (&str, &MergeReport)> {
        self.files
            .values()
            .filter_map(|f| f.result.as_ref().map(|m| (f.path.as_str(), &m.report)))
    }

    pub fn is_complete(&self) -> bool {
        self.resolution.is_complete() && self.binary_hits.is_empty()
    }

    /// One line per problem, cause first: mapping keys that name no host of the bundle
    /// (with "did you mean"), then unresolved references grouped per old node, then the
    /// rest in file order.
    pub fn problem_lines(&self, mapping_file: &str) -> Vec<String> {
        let mut lines = crate::mapping::explain::problem_lines(
            &self.resolution.problems,
            &self.refs,
            &self.inventory,
            mapping_file,
        );
        lines.extend(self.binary_hits.iter().map(|h| {
            format!(
                "{}: byte {}: `{}` ({}) names an old node inside a binary file, which cannot be rewritten: replace the file on the new cluster, list the host under keep:, or the file under carry-binary:",
                h.file, h.offset, h.text, h.encoding
            )
        }));
        lines
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            files: self.files.len(),
            files_changed: self.files.values().filter(|f| f.changed()).count(),
            problems: self.resolution.problems.len(),
            ..Counts::default()
        };
        for o in self.resolution.outcomes.iter().flatten() {
            match o {
                Outcome::Rewrite { role, .. } => {
                    c.rewritten += 1;
                    let key = role.map_or("host".to_string(), |r: Role| r.to_string());
                    *c.rewritten_by_role.entry(key).or_default() += 1;
                }
                Outcome::Kept { .. } => c.kept += 1,
                Outcome::Same { .. } => c.unchanged += 1,
            }
        }
        c
    }

    /// Each rewrite with its reference, in file order.
    pub fn rewrites(&self) -> impl Iterator<Item = (&Reference, &Outcome)> {
        self.refs
            .iter()
            .zip(&self.resolution.outcomes)
            .filter_map(|(r, o)| o.as_ref().map(|o| (r, o)))
            .filter(|(_, o)| matches!(o, Outcome::Rewrite { .. }))
    }
}
