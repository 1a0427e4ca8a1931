//! Comparing a (migrated) bundle with the new cluster's configuration: per file, and per
//! item inside property and YAML files, each difference classified as explained by the
//! mapping, a site customization carried over, present only in the new cluster, or
//! installer-owned. Values pass through `secrets` before they are kept here.

use crate::formats::props::PropsFile;
use crate::formats::yaml::{Node, YamlDoc};
use crate::migrate::MigratedFile;
use crate::secrets::{is_secret_file, is_secret_name, SecretPolicy};
use crate::text::LineIndex;
use crate::tree::{parse_file, ConfigTree, Format, Parsed};
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
    /// Present only in the new cluster: a new default. In a file the migration replaces,
    /// applying drops it; a whole file only in the target is left alone.
    NewDefault,
    /// Installer- or vendor-owned: never migrated, listed for information.
    InstallerOwned,
}

impl Class {
    pub fn title(self) -> &'static str {
        match self {
            Class::ExplainedByMapping => "explained by the mapping",
            Class::SiteCustomization => "site customization carried over",
            Class::NewDefault => "only in the new cluster",
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
    /// Redacted texts for diff rendering (not serialized: the JSON carries items).
    #[serde(skip)]
    pub target_text: Option<String>,
    #[serde(skip)]
    pub migrated_text: Option<String>,
    #[serde(skip)]
    pub bundle_text: Option<String>,
}

impl FileComparison {
    /// True when applying would change the target's copy of this file.
    pub fn counts(&self) -> bool {
        matches!(self.status, FileStatus::Changed | FileStatus::OnlyInBundle)
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
    pub in_scope: &'a dyn Fn(&str) -> bool,
    pub secrets: SecretPolicy,
}

/// Compares, file by file, in path order.
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
    let mut files = Vec::new();
    for path in paths {
        if !(inp.in_scope)(path) {
            continue;
        }
        let owned = crate::tree::is_installer_owned(path);
        if owned {
            // Installer-owned: listed when the two differ, never counted.
            let b = inp.bundle.get(path);
            let t = inp.target.get(path);
            if t.map(|t| &t.text) != b.map(|b| &b.text) {
                files.push(FileComparison {
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
                    target_text: t.map(|t| inp.secrets.text(path, &t.text, Some(&t.parsed))),
                    migrated_text: None,
                    bundle_text: b.map(|b| inp.secrets.text(path, &b.text, Some(&b.parsed))),
                });
            }
            continue;
        }
        let m = inp.migrated.get(path);
        let t = inp.target.get(path);
        let fc = match (m, t) {
            (Some(m), Some(t)) => compare_file(m, &t.text, &t.parsed, inp.secrets),
            (Some(m), None) => {
                // An unchanged file's model is the bundle tree's: parsing it again here
                // cost as much as reading the whole bundle.
                let reparsed;
                let parsed = match inp.bundle.get(path).filter(|b| b.text == m.after) {
                    Some(b) => Some(&b.parsed),
                    None => {
                        reparsed = parse_file(path, &m.after, m.format).ok();
                        reparsed.as_ref()
                    }
                };
                FileComparison {
                    path: path.clone(),
                    status: FileStatus::OnlyInBundle,
                    differences: vec![whole(Class::SiteCustomization, is_secret_file(path))],
                    target_text: None,
                    migrated_text: Some(inp.secrets.text(path, &m.after, parsed)),
                    bundle_text: None,
                }
            }
            (None, Some(t)) => FileComparison {
                path: path.clone(),
                status: FileStatus::OnlyInTarget,
                differences: vec![whole(Class::NewDefault, is_secret_file(path))],
                target_text: Some(inp.secrets.text(path, &t.text, Some(&t.parsed))),
                migrated_text: None,
                bundle_text: None,
            },
            (None, None) => continue,
        };
        if fc.status != FileStatus::Same {
            files.push(fc);
        }
    }
    Comparison { files }
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
        let name = if scopes.is_empty() {
            d.key.clone()
        } else {
            format!("{} {}", scopes.join(" "), d.key)
        };
        let secret = is_secret_name(&d.key);
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

fn yaml_items(y: &YamlDoc, text: &str, lines: &LineIndex) -> BTreeMap<String, Item> {
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
                let secret = path.rsplit('.').next().is_some_and(is_secret_name);
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
    if let Some(root) = y.root() {
        walk(y, root, String::new(), text, lines, &mut out);
    }
    out
}

fn compare_file(
    m: &MigratedFile,
    target_text: &str,
    target_parsed: &Parsed,
    secrets: SecretPolicy,
) -> FileComparison {
    let path = &m.path;
    let before_parsed = parse_file(path, &m.before, m.format).ok();
    let after_parsed = parse_file(path, &m.after, m.format).ok();
    let mut fc = FileComparison {
        path: path.clone(),
        status: if m.after == target_text {
            FileStatus::Same
        } else {
            FileStatus::Changed
        },
        differences: Vec::new(),
        target_text: Some(secrets.text(path, target_text, Some(target_parsed))),
        migrated_text: Some(secrets.text(path, &m.after, after_parsed.as_ref())),
        bundle_text: Some(secrets.text(path, &m.before, before_parsed.as_ref())),
    };
    let whole_secret = is_secret_file(path);
    let structured = match (&before_parsed, &after_parsed) {
        (Some(b), Some(a)) if matches!(m.format, Format::Props | Format::Yaml) => {
            items(&m.before, b)
                .zip(items(&m.after, a))
                .zip(items(target_text, target_parsed))
        }
        _ => None,
    };
    let Some(((before, after), target)) = structured else {
        // Whole-text comparison.
        if m.after != target_text {
            fc.differences
                .push(whole(Class::SiteCustomization, whole_secret));
        } else if m.before != target_text {
            fc.differences
                .push(whole(Class::ExplainedByMapping, whole_secret));
        }
        return fc;
    };
    let mut names: Vec<&String> = after.keys().chain(target.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (b, a, t) = (before.get(name), after.get(name), target.get(name));
        let secret = a.or(t).is_some_and(|i| i.secret);
        let class = match (a, t) {
            (Some(a), Some(t)) if a.value == t.value => {
                if b.is_some_and(|b| b.value != t.value) {
                    Class::ExplainedByMapping
                } else {
                    continue;
                }
            }
            (Some(_), _) => Class::SiteCustomization,
            (None, Some(_)) => Class::NewDefault,
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
            .all(|d| d.class == Class::ExplainedByMapping)
    {
        // Same items, different layout or comments: still a change to the target's copy.
        fc.differences
            .push(whole(Class::SiteCustomization, whole_secret));
    }
    fc
}
