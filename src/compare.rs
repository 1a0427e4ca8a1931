//! Comparing a (migrated) bundle with the new cluster's configuration: per file, and per
//! item inside property and YAML files, each difference classified as explained by the
//! mapping, a site customization carried over, present only in the new cluster, or
//! installer-owned. Values pass through `secrets` before they are kept here.

use crate::formats::props::PropsFile;
use crate::formats::yaml::{Node, YamlDoc};
use crate::migrate::MigratedFile;
use crate::secrets::{
    has_inline_secret, is_secret_file, is_secret_name, is_secret_path_text, shown_key, SecretPolicy,
};
use crate::text::LineIndex;
use crate::tree::{map_each_in_parallel, parse_file, ConfigFile, ConfigTree, Format, Parsed};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The bundle differs from the target only by old -> new hosts the mapping rewrites.
    ExplainedByMapping,
    /// A value or file of the old site that the new cluster lacks or has otherwise:
    /// applying the migration carries it over.
    SiteCustomization,
    /// Present only in the new cluster: a new default. Applying keeps it (the migrated
    /// file is merged onto the new cluster's copy); a whole file only in the target is
    /// left alone.
    NewDefault,
    /// Present only in the new cluster and removed by applying, because the mapping
    /// file's `merge:` section drops it by name. Nothing else is ever removed.
    RemovedByApply,
    /// Installer- or vendor-owned: never migrated, listed for information.
    InstallerOwned,
}

impl Class {
    pub fn title(self) -> &'static str {
        match self {
            Class::ExplainedByMapping => "explained by the mapping",
            Class::SiteCustomization => "site customization carried over",
            Class::NewDefault => "only in the new cluster (kept)",
            Class::RemovedByApply => "removed by apply (dropped by the mapping's merge: section)",
            Class::InstallerOwned => "installer-owned (ignored)",
        }
    }
}

/// The state of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    Same,
    /// Differs: applying changes the target's copy.
    Changed,
    /// Only in the bundle: applying adds it.
    OnlyInBundle,
    /// Only in the target: applying leaves it.
    OnlyInTarget,
    /// Installer-owned: never migrated.
    InstallerOwned,
}

/// One classified difference. Values are redacted.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub class: Class,
    /// The property key (with its scope), YAML path, or None for the whole file.
    pub item: Option<String>,
    /// The value in the bundle as backed up.
    pub bundle: Option<String>,
    /// The value after migration (what apply writes).
    pub migrated: Option<String>,
    pub target: Option<String>,
    /// Line in the bundle file (1-based), when known.
    pub line: Option<usize>,
    /// Line in the target file, when known.
    pub target_line: Option<usize>,
    /// True when the values are secret (shown as fingerprints).
    pub secret: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileComparison {
    pub path: String,
    pub status: FileStatus,
    pub differences: Vec<Difference>,
    /// What a diff of this file is made from (not serialized: the JSON carries items).
    #[serde(skip)]
    diff: Option<DiffSource>,
}

/// The two sides of a changed file, as they are. Redacting means parsing and copying both
/// texts, and most runs show no diff at all (`--diff none`, apply's summary, every file
/// of an apply into an empty etcd): `FileComparison::diff_texts` redacts on demand.
#[derive(Debug, Clone)]
struct DiffSource {
    format: Format,
    target: String,
    migrated: String,
    secrets: SecretPolicy,
}

impl FileComparison {
    /// True when applying would change the target's copy of this file.
    pub fn counts(&self) -> bool {
        matches!(self.status, FileStatus::Changed | FileStatus::OnlyInBundle)
    }

    /// The target's text and the migrated text of a file on both sides, for a diff,
    /// redacted as the comparison's secret policy says. None for a file on one side only
    /// or an installer-owned one.
    pub fn diff_texts(&self) -> Option<(String, String)> {
        let d = self.diff.as_ref()?;
        let side = |text: &str| match d.secrets {
            SecretPolicy::Show => text.to_string(),
            SecretPolicy::Redact => {
                let parsed = parse_file(&self.path, text, d.format).ok();
                d.secrets.text(&self.path, text, parsed.as_ref())
            }
        };
        Some((side(&d.target), side(&d.migrated)))
    }
}

/// All files compared.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub files: Vec<FileComparison>,
}

impl Comparison {
    /// True when applying the migration would change nothing in the target.
    pub fn is_clean(&self) -> bool {
        !self.files.iter().any(FileComparison::counts)
    }

    pub fn count(&self, class: Class) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.differences)
            .filter(|d| d.class == class)
            .count()
    }
}

/// What to compare: the bundle's migrated files (before/after), the installer-owned files
/// of the bundle, and the target's tree. `scope` limits which paths take part (a target
/// read from etcd holds only etcd items).
pub struct Inputs<'a> {
    pub migrated: &'a BTreeMap<String, MigratedFile>,
    pub bundle: &'a ConfigTree,
    pub target: &'a ConfigTree,
    pub in_scope: &'a (dyn Fn(&str) -> bool + Sync),
    pub secrets: SecretPolicy,
}

/// Compares, file by file, in path order (the files on a few threads).
pub fn compare(inp: &Inputs<'_>) -> Comparison {
    let mut paths: Vec<&String> = inp.migrated.keys().chain(inp.target.files.keys()).collect();
    paths.extend(
        inp.bundle
            .files
            .values()
            .filter(|f| !f.migrated())
            .map(|f| &f.path),
    );
    paths.sort();
    paths.dedup();
    paths.retain(|p| (inp.in_scope)(p));
    let files = map_each_in_parallel(&paths, |path| compare_path(inp, path));
    Comparison {
        files: files.into_iter().flatten().collect(),
    }
}

/// One path's comparison; None when there is nothing to list.
fn compare_path(inp: &Inputs<'_>, path: &String) -> Option<FileComparison> {
    let owned = crate::tree::is_installer_owned(path);
    if owned {
        // Installer-owned: listed when the two differ, never counted.
        let b = inp.bundle.get(path);
        let t = inp.target.get(path);
        return (t.map(|t| &t.text) != b.map(|b| &b.text)).then(|| FileComparison {
            path: path.clone(),
            status: FileStatus::InstallerOwned,
            differences: vec![Difference {
                class: Class::InstallerOwned,
                item: None,
                bundle: None,
                migrated: None,
                target: None,
                line: None,
                target_line: None,
                secret: false,
            }],
            diff: None,
        });
    }
    let m = inp.migrated.get(path);
    let t = inp.target.get(path);
    let fc = match (m, t) {
        (Some(m), Some(t)) => compare_file(m, inp.bundle.get(path), t, inp.secrets),
        (Some(_), None) => FileComparison {
            path: path.clone(),
            status: FileStatus::OnlyInBundle,
            differences: vec![whole(Class::SiteCustomization, is_secret_file(path))],
            diff: None,
        },
        (None, Some(_)) => FileComparison {
            path: path.clone(),
            status: FileStatus::OnlyInTarget,
            differences: vec![whole(Class::NewDefault, is_secret_file(path))],
            diff: None,
        },
        (None, None) => return None,
    };
    (fc.status != FileStatus::Same).then_some(fc)
}

fn whole(class: Class, secret: bool) -> Difference {
    Difference {
        class,
        item: None,
        bundle: None,
        migrated: None,
        target: None,
        line: None,
        target_line: None,
        secret,
    }
}

/// One comparable item of a file: its name, value and line.
struct Item {
    value: String,
    line: usize,
    secret: bool,
}

/// Items of a parsed file: property declarations by scope and key (last one wins), YAML
/// leaves by path. None for formats compared as whole text.
fn items(text: &str, parsed: &Parsed) -> Option<BTreeMap<String, Item>> {
    let lines = LineIndex::new(text);
    match parsed {
        Parsed::Props(p) => Some(props_items(p, text, &lines)),
        Parsed::Yaml(y) => Some(yaml_items(y, text, &lines)),
        _ => None,
    }
}

fn props_items(p: &PropsFile, text: &str, lines: &LineIndex) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    for d in p.declarations() {
        let scopes: Vec<String> = d
            .scope
            .map(|s| p.scope_chain(s))
            .unwrap_or_default()
            .iter()
            .map(|&s| p.scopes()[s].header_span.slice(text).to_string())
            .collect();
        let key = shown_key(&d.key);
        let name = if scopes.is_empty() {
            key.into_owned()
        } else {
            format!("{} {key}", scopes.join(" "))
        };
        let secret = is_secret_name(&d.key) || has_inline_secret(&d.value);
        out.insert(
            name,
            Item {
                value: d.value.clone(),
                line: lines.position(text, d.key_span.start).line,
                secret,
            },
        );
    }
    out
}

/// YAML leaves by resolved path: aliases and `<<` merges stand for what they provide, so
/// a value the bundle gives through an anchor is the bundle's. A file whose aliases
/// resolve to too much is compared by its own paths only.
fn yaml_items(y: &YamlDoc, text: &str, lines: &LineIndex) -> BTreeMap<String, Item> {
    // One document (every routing file seen): resolved paths. Several documents, or
    // aliases that resolve to too much: each document's own paths, literally.
    if y.roots().len() <= 1 {
        if let Ok(leaves) = crate::merge::yaml::leaves(y, text) {
            return leaves
                .into_iter()
                .map(|(path, (value, at))| {
                    let secret = is_secret_path_text(&path) || has_inline_secret(&value);
                    let line = lines.position(text, at).line;
                    (
                        path,
                        Item {
                            value,
                            line,
                            secret,
                        },
                    )
                })
                .collect();
        }
    }
    let mut out = BTreeMap::new();
    fn walk(
        y: &YamlDoc,
        n: &Node,
        path: String,
        text: &str,
        lines: &LineIndex,
        out: &mut BTreeMap<String, Item>,
    ) {
        match n {
            Node::Map { entries, .. } => {
                for (k, v) in entries {
                    let key = match k {
                        Node::Scalar(i) => y.scalars()[*i].value.clone(),
                        _ => "?".into(),
                    };
                    let p = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(y, v, p, text, lines, out);
                }
            }
            Node::Seq { items, .. } => {
                for (i, v) in items.iter().enumerate() {
                    walk(y, v, format!("{path}[{i}]"), text, lines, out);
                }
            }
            Node::Scalar(i) => {
                let s = &y.scalars()[*i];
                let secret = is_secret_path_text(&path) || has_inline_secret(&s.value);
                out.insert(
                    path,
                    Item {
                        value: s.value.clone(),
                        line: lines.position(text, s.span.start).line,
                        secret,
                    },
                );
            }
            Node::Alias(i) => {
                let a = &y.aliases()[*i];
                out.insert(
                    path,
                    Item {
                        value: format!("*{}", a.name),
                        line: lines.position(text, a.span.start).line,
                        secret: false,
                    },
                );
            }
        }
    }
    // Each document of a stream has its own root; paths in the second and later ones
    // are prefixed so that they never collide with the first's.
    for (i, root) in y.roots().iter().enumerate() {
        let prefix = if i == 0 {
            String::new()
        } else {
            format!("(document {})", i + 1)
        };
        walk(y, root, prefix, text, lines, &mut out);
    }
    out
}

/// Compares a migrated file with the target's copy. `bundle` is the bundle tree's copy of
/// the file: its model stands for the text before migration (and after, when the mapping
/// left the file alone) instead of parsing it again.
fn compare_file(
    m: &MigratedFile,
    bundle: Option<&ConfigFile>,
    target: &ConfigFile,
    secrets: SecretPolicy,
) -> FileComparison {
    let path = &m.path;
    let target_text: &str = &target.text;
    // What apply writes: the migrated text merged onto the target's copy.
    let written = m.written();
    let status = if written == target_text {
        FileStatus::Same
    } else {
        FileStatus::Changed
    };
    let mut fc = FileComparison {
        path: path.clone(),
        status,
        differences: Vec::new(),
        diff: (status == FileStatus::Changed).then(|| DiffSource {
            format: m.format,
            target: target_text.to_string(),
            migrated: written.to_string(),
            secrets,
        }),
    };
    // Only property and YAML files are compared item by item; the others need no model.
    if !matches!(m.format, Format::Props | Format::Yaml) {
        return whole_text(fc, m, target_text);
    }
    let reparsed_before;
    let before_parsed = match bundle.filter(|b| b.text == m.before) {
        Some(b) => &b.parsed,
        None => match parse_file(path, &m.before, m.format) {
            Ok(p) => {
                reparsed_before = p;
                &reparsed_before
            }
            Err(_) => return whole_text(fc, m, target_text),
        },
    };
    let reparsed_after;
    let after_parsed = if m.result.is_none() && m.after_parsed.is_some() {
        m.after_parsed.as_ref().unwrap_or(before_parsed)
    } else if written == &*m.before {
        before_parsed
    } else {
        match parse_file(path, written, m.format) {
            Ok(p) => {
                reparsed_after = p;
                &reparsed_after
            }
            Err(_) => return whole_text(fc, m, target_text),
        }
    };
    let whole_secret = is_secret_file(path);
    let structured = items(&m.before, before_parsed)
        .zip(items(written, after_parsed))
        .zip(items(target_text, &target.parsed));
    let Some(((before, after), target)) = structured else {
        return whole_text(fc, m, target_text);
    };
    let mut names: Vec<&String> = after.keys().chain(target.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (b, a, t) = (before.get(name), after.get(name), target.get(name));
        let secret = a.or(t).is_some_and(|i| i.secret);
        let class = match (a, t) {
            (Some(a), Some(t)) if a.value == t.value => match b {
                // Kept from the new cluster by the merge: listed, changed by nothing.
                None => Class::NewDefault,
                Some(b) if b.value != t.value && m.after != m.before => Class::ExplainedByMapping,
                // The new cluster's value won (`new-wins:`), or nothing differs.
                Some(b) if b.value != t.value => Class::NewDefault,
                Some(_) => continue,
            },
            (Some(_), _) => Class::SiteCustomization,
            (None, Some(_)) => Class::RemovedByApply,
            (None, None) => continue,
        };
        fc.differences.push(Difference {
            class,
            item: Some(name.clone()),
            bundle: b.map(|i| secrets.value(&i.value, secret)),
            migrated: a.map(|i| secrets.value(&i.value, secret)),
            target: t.map(|i| secrets.value(&i.value, secret)),
            line: a.map(|i| i.line),
            target_line: t.map(|i| i.line),
            secret,
        });
    }
    if fc.status == FileStatus::Changed
        && fc
            .differences
            .iter()
            .all(|d| matches!(d.class, Class::ExplainedByMapping | Class::NewDefault))
    {
        // Same items, different layout or comments: still a change to the target's copy.
        fc.differences
            .push(whole(Class::SiteCustomization, whole_secret));
    }
    fc
}

/// `fc` with the whole-text difference of a file compared as text.
fn whole_text(mut fc: FileComparison, m: &MigratedFile, target_text: &str) -> FileComparison {
    let whole_secret = is_secret_file(&m.path);
    if m.written() != target_text {
        fc.differences
            .push(whole(Class::SiteCustomization, whole_secret));
    } else if &*m.before != target_text {
        fc.differences
            .push(whole(Class::ExplainedByMapping, whole_secret));
    }
    fc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated(path: &str, before: &str, after: &str) -> MigratedFile {
        MigratedFile {
            path: path.into(),
            format: Format::Props,
            before: before.into(),
            after: after.into(),
            after_parsed: None,
            mode: 0o644,
            node: None,
            result: None,
            encoding: None,
        }
    }

    fn run(secrets: SecretPolicy) -> Comparison {
        let changed = "config/props/a.prop";
        let added = "config/props/b.prop";
        let mut bundle = ConfigTree::default();
        bundle
            .insert(changed, "h=old.host\nsmtp.password=hunter2\n".into(), 0o644)
            .unwrap();
        bundle.insert(added, "x=1\n".into(), 0o644).unwrap();
        let mut target = ConfigTree::default();
        target
            .insert(changed, "h=other\nsmtp.password=s3cret\n".into(), 0o644)
            .unwrap();
        let files = BTreeMap::from([
            (
                changed.to_string(),
                migrated(
                    changed,
                    "h=old.host\nsmtp.password=hunter2\n",
                    "h=new.host\nsmtp.password=hunter2\n",
                ),
            ),
            (added.to_string(), migrated(added, "x=1\n", "x=1\n")),
        ]);
        compare(&Inputs {
            migrated: &files,
            bundle: &bundle,
            target: &target,
            in_scope: &|_| true,
            secrets,
        })
    }

    #[test]
    fn diff_texts_are_redacted_on_demand_and_only_for_files_on_both_sides() {
        let cmp = run(SecretPolicy::Redact);
        assert_eq!(cmp.files.len(), 2);
        let (changed, added) = (&cmp.files[0], &cmp.files[1]);
        assert_eq!(changed.status, FileStatus::Changed);
        assert_eq!(added.status, FileStatus::OnlyInBundle);
        assert!(added.diff_texts().is_none());
        let (t, m) = changed.diff_texts().unwrap();
        assert_eq!(
            t,
            format!(
                "h=other\nsmtp.password={}\n",
                crate::secrets::fingerprint("s3cret")
            )
        );
        assert_eq!(
            m,
            format!(
                "h=new.host\nsmtp.password={}\n",
                crate::secrets::fingerprint("hunter2")
            )
        );
        // The item differences are redacted as before.
        let pw = changed
            .differences
            .iter()
            .find(|d| d.item.as_deref() == Some("smtp.password"))
            .unwrap();
        assert_eq!(pw.class, Class::SiteCustomization);
        assert_eq!(
            pw.target.as_deref(),
            Some(crate::secrets::fingerprint("s3cret").as_str())
        );
        let (t, m) = run(SecretPolicy::Show).files[0].diff_texts().unwrap();
        assert_eq!(t, "h=other\nsmtp.password=s3cret\n");
        assert_eq!(m, "h=new.host\nsmtp.password=hunter2\n");
    }

    /// A one-file migration of `path` (the mapping rewrote nothing) merged onto the
    /// target's copy as apply would write it, compared.
    fn compare_merged(
        path: &str,
        bundle_text: &str,
        target_text: &str,
        mapping: &str,
    ) -> Comparison {
        let mut bundle = ConfigTree::default();
        bundle.insert(path, bundle_text.into(), 0o644).unwrap();
        let mut target = ConfigTree::default();
        target.insert(path, target_text.into(), 0o644).unwrap();
        let mapping = crate::mapping::Mapping::parse("m.yaml", mapping).unwrap();
        let mut m = migrated(path, bundle_text, bundle_text);
        m.format = bundle.get(path).unwrap().format;
        let mut migration = crate::migrate::Migration {
            inventory: Default::default(),
            refs: Vec::new(),
            resolution: Default::default(),
            binary_hits: Vec::new(),
            binary_all: Vec::new(),
            files: BTreeMap::from([(path.to_string(), m)]),
        };
        migration.merge_onto(&target, &mapping.merge).unwrap();
        compare(&Inputs {
            migrated: &migration.files,
            bundle: &bundle,
            target: &target,
            in_scope: &|_| true,
            secrets: SecretPolicy::Show,
        })
    }

    fn class_of<'a>(c: &'a Comparison, item: &str) -> Option<&'a Difference> {
        c.files[0]
            .differences
            .iter()
            .find(|d| d.item.as_deref() == Some(item))
    }

    #[test]
    fn a_value_the_bundle_provides_through_a_yaml_merge_is_not_only_in_the_new_cluster() {
        let bundle = "anchors:\n  - &D\n    tailerPort: 22021\ndataImportServers:\n  db_dis:\n    <<: *D\n    host: a\n";
        let target = "dataImportServers:\n  db_dis:\n    host: b\n    tailerPort: 22021\n";
        let c = compare_merged(
            "config/routing/routing.yaml",
            bundle,
            target,
            "version: 1\n",
        );
        assert!(
            class_of(&c, "dataImportServers.db_dis.tailerPort").is_none(),
            "{c:?}"
        );
        let host = class_of(&c, "dataImportServers.db_dis.host").unwrap();
        assert_eq!(host.class, Class::SiteCustomization);
        assert_eq!(
            (host.target.as_deref(), host.migrated.as_deref()),
            (Some("b"), Some("a"))
        );
    }

    #[test]
    fn new_only_settings_are_kept_and_only_explicit_drops_are_removed_by_apply() {
        let bundle = "a=1\n";
        let target = "a=2\nRemoteQueryDispatcher.useEnvoy=true\nlog.json.enabled=false\n";
        let mapping = "version: 1\nmerge:\n  config/props/iris-environment.prop:\n    drop: [log.json.enabled]\n";
        let c = compare_merged(
            "config/props/iris-environment.prop",
            bundle,
            target,
            mapping,
        );
        let kept = class_of(&c, "RemoteQueryDispatcher.useEnvoy").unwrap();
        assert_eq!(kept.class, Class::NewDefault);
        assert_eq!(kept.migrated.as_deref(), Some("true"), "apply writes it");
        let dropped = class_of(&c, "log.json.enabled").unwrap();
        assert_eq!(dropped.class, Class::RemovedByApply);
        assert_eq!(
            (dropped.target.as_deref(), dropped.migrated.as_deref()),
            (Some("false"), None)
        );
        // Before and after for the key apply changes.
        let a = class_of(&c, "a").unwrap();
        assert_eq!(
            (a.class, a.target.as_deref(), a.migrated.as_deref()),
            (Class::SiteCustomization, Some("2"), Some("1"))
        );
        assert_eq!(c.count(Class::RemovedByApply), 1);
        // Without the drop, nothing is removed.
        let c = compare_merged(
            "config/props/iris-environment.prop",
            bundle,
            target,
            "version: 1\n",
        );
        assert_eq!(c.count(Class::RemovedByApply), 0);
    }
}
