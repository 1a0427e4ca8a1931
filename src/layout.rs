//! The etcd layout: which bundle item lives at which etcd key. Read from a layout file
//! (`templates/etcd-layout-v2.yaml` by default, `--layout FILE` otherwise); no key is
//! written in the code. Patterns use `{name}` placeholders that match one path segment.
//!
//! Two versions. Version 1: one key per item (`key:` pattern). Version 2 models
//! Deephaven's atomic directories (`templates/etcd-layout-v2.yaml`): an item is a directory
//! (`dir:` pattern, or `scan:` for directories keyed by serial number whose bundle name
//! comes from their `name` part) holding a `file` part (the bytes), a `name` part (the
//! file name, needed when the item is created) and a meta subtree Deephaven keeps, whose
//! `guard` key its own compare-and-swap watches. The spellings of parts are data
//! (`parts:`). For a version 2 item, [`Layout::key_for`]/[`Layout::path_for`] speak of the
//! `file` part's key, so everything that reads or writes one key per item keeps working;
//! [`Layout::item_keys`] names the other keys a write must touch.

use crate::formats::yaml::{self, Node};
use crate::text::{LineIndex, Position};

/// The default layout: Deephaven's published model as a version 2 layout (its unpublished
/// spellings, the root prefix among them, marked `[?]` in the file), shipped in `templates/`.
pub const DEFAULT_LAYOUT: &str = include_str!("../templates/etcd-layout-v2.yaml");

/// The version 1 layout (one key per item under `/deephaven/config/`), dh-migrate's default
/// before layout version 2; shipped in `templates/` for `--layout`.
pub const LAYOUT_V1: &str = include_str!("../templates/etcd-layout-v1.yaml");

/// One item kind: a bundle path pattern and its key pattern (relative to the prefix; for
/// a version 2 item, the pattern of its `file` part's key). A `scan` item has no key
/// pattern: its directories are found under `scan` and named by their `name` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutItem {
    pub kind: String,
    pub bundle: String,
    pub key: String,
    pub scan: Option<String>,
}

/// The spellings of an atomic directory's parts (layout version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub file: String,
    pub name: String,
    pub meta: String,
    pub guard: String,
}

impl Default for Parts {
    /// The published part names (Deephaven's `FileContext`, `MetaInfoContext`); the meta
    /// subtree's own name is not published and is only this default.
    fn default() -> Parts {
        Parts {
            file: "file".into(),
            name: "name".into(),
            meta: "meta".into(),
            guard: "guard".into(),
        }
    }
}

/// The keys one item's write touches (version 2; a version 1 item has only `file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKeys {
    /// The bytes, written guarded by this key's revision (or its absence).
    pub file: String,
    /// The file name part and the value it gets when the item is created.
    pub name: Option<(String, String)>,
    /// Deephaven's guard key: re-put in the same transaction as `file` when present.
    pub guard: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: String,
    pub items: Vec<LayoutItem>,
    /// 1 or 2.
    pub version: u8,
    /// Version 2 only: the part spellings.
    pub parts: Option<Parts>,
    /// Each item's bundle and key patterns, split once (every file's path is matched);
    /// `scan` items have no key pattern.
    patterns: Vec<(Vec<Piece>, Option<Vec<Piece>>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{pos}: {what}")]
pub struct LayoutError {
    pub file: String,
    pub pos: Position,
    pub what: String,
}

/// A pattern split into literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(String),
}

fn pieces(pattern: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Lit(rest[..open].to_string()));
        }
        let close = rest[open..].find('}')? + open;
        let name = &rest[open + 1..close];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        out.push(Piece::Var(name.to_string()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest.to_string()));
    }
    Some(out)
}

/// Matches `text` against pattern pieces; placeholders take one or more characters
/// without `/`. Returns the bindings.
fn match_pieces<'p, 't>(
    ps: &'p [Piece],
    text: &'t str,
    bound: &mut Vec<(&'p str, &'t str)>,
) -> bool {
    match ps.split_first() {
        None => text.is_empty(),
        Some((Piece::Lit(l), rest)) => text
            .strip_prefix(l.as_str())
            .is_some_and(|t| match_pieces(rest, t, bound)),
        Some((Piece::Var(v), rest)) => {
            let limit = text.find('/').unwrap_or(text.len());
            // Shortest first would mis-split `{namespace}.{table}`; any split that lets the
            // rest match is accepted, and a repeated name must bind the same text.
            for end in (1..=limit).rev() {
                if !text.is_char_boundary(end) {
                    continue;
                }
                let value = &text[..end];
                if let Some(&(_, prev)) = bound.iter().find(|(n, _)| *n == v.as_str()) {
                    if prev != value {
                        continue;
                    }
                    let before = bound.len();
                    if match_pieces(rest, &text[end..], bound) {
                        return true;
                    }
                    bound.truncate(before);
                    continue;
                }
                bound.push((v.as_str(), value));
                if match_pieces(rest, &text[end..], bound) {
                    return true;
                }
                bound.pop();
            }
            false
        }
    }
}

fn fill(ps: &[Piece], bound: &[(&str, &str)]) -> Option<String> {
    let mut out = String::new();
    for p in ps {
        match p {
            Piece::Lit(l) => out.push_str(l),
            Piece::Var(v) => out.push_str(bound.iter().find(|(n, _)| *n == v.as_str())?.1),
        }
    }
    Some(out)
}

impl Layout {
    /// The shipped default.
    pub fn builtin() -> Layout {
        Layout::parse("templates/etcd-layout-v2.yaml", DEFAULT_LAYOUT)
            .unwrap_or_else(|e| panic!("shipped etcd layout is invalid: {e}"))
    }

    /// The shipped version 1 layout (`templates/etcd-layout-v1.yaml`).
    pub fn v1() -> Layout {
        Layout::parse("templates/etcd-layout-v1.yaml", LAYOUT_V1)
            .unwrap_or_else(|e| panic!("shipped etcd layout v1 is invalid: {e}"))
    }

    /// Reads a layout file.
    pub fn parse(file: &str, src: &str) -> Result<Layout, LayoutError> {
        let lines = LineIndex::new(src);
        let err = |offset: usize, what: String| LayoutError {
            file: file.to_string(),
            pos: lines.position(src, offset),
            what,
        };
        let doc = yaml::parse(src).map_err(|e| err(e.offset, e.kind.to_string()))?;
        let scalar = |n: &Node| match n {
            Node::Scalar(i) => Some((
                doc.scalars()[*i].value.clone(),
                doc.scalars()[*i].span.start,
            )),
            _ => None,
        };
        let Some(Node::Map { entries, .. }) = doc.root() else {
            return Err(err(
                0,
                "expected a map with version, prefix and items".into(),
            ));
        };
        let mut prefix = None;
        let mut items = Vec::new();
        let mut patterns = Vec::new();
        let mut version = 1u8;
        let mut parts = None;
        // `version` decides how items read: look for it first.
        for (k, v) in entries {
            if scalar(k).is_some_and(|(s, _)| s == "version") {
                let at = scalar(k).map_or(0, |(_, at)| at);
                version = match scalar(v) {
                    Some((ver, _)) if ver == "1" => 1,
                    Some((ver, _)) if ver == "2" => 2,
                    _ => return Err(err(at, "expected `version: 1` or `version: 2`".into())),
                };
            }
        }
        for (k, v) in entries {
            let (key, at) = scalar(k).ok_or_else(|| err(0, "expected a plain key".into()))?;
            match key.as_str() {
                "version" => {}
                "parts" if version == 2 => {
                    let Node::Map {
                        entries: fields, ..
                    } = v
                    else {
                        return Err(err(at, "expected a map of part names".into()));
                    };
                    let mut p = Parts::default();
                    for (pk, pv) in fields {
                        let (name, pat) =
                            scalar(pk).ok_or_else(|| err(at, "expected a part name".into()))?;
                        let (value, vat) = scalar(pv)
                            .filter(|(v, _)| !v.is_empty() && !v.contains('/'))
                            .ok_or_else(|| {
                                err(pat, "expected a part spelling without `/`".into())
                            })?;
                        match name.as_str() {
                            "file" => p.file = value,
                            "name" => p.name = value,
                            "meta" => p.meta = value,
                            "guard" => p.guard = value,
                            other => {
                                return Err(err(
                                    vat,
                                    format!(
                                        "unknown part `{other}` (expected file, name, meta, guard)"
                                    ),
                                ))
                            }
                        }
                    }
                    parts = Some(p);
                }
                "prefix" => {
                    prefix = Some(
                        scalar(v)
                            .ok_or_else(|| err(at, "expected a prefix string".into()))?
                            .0,
                    )
                }
                "items" => {
                    let Node::Seq { items: list, .. } = v else {
                        return Err(err(at, "expected a list of items".into()));
                    };
                    for item in list {
                        let Node::Map {
                            entries: fields,
                            span,
                        } = item
                        else {
                            return Err(err(
                                at,
                                "expected each item to be a map with kind, bundle, key (or dir, scan)".into(),
                            ));
                        };
                        let get = |name: &str| {
                            fields
                                .iter()
                                .find(|(k, _)| scalar(k).is_some_and(|(s, _)| s == name))
                                .and_then(|(_, v)| scalar(v))
                                .ok_or_else(|| err(span.start, format!("item needs `{name}`")))
                        };
                        let (kind, _) = get("kind")?;
                        let (bundle, bat) = get("bundle")?;
                        if version == 2 {
                            if let Ok((scan, sat)) = get("scan") {
                                let bp = pieces(&bundle)
                                    .filter(|bp| {
                                        bp.iter()
                                            .filter(|p| matches!(p, Piece::Var(_)))
                                            .eq([&Piece::Var("name".into())])
                                    })
                                    .ok_or_else(|| {
                                        err(bat, "a `scan` item's bundle pattern needs exactly one `{name}`".into())
                                    })?;
                                if scan.contains('{') {
                                    return Err(err(sat, "`scan` is a plain key path".into()));
                                }
                                let scan = scan.trim_end_matches('/').to_string();
                                items.push(LayoutItem {
                                    kind,
                                    bundle,
                                    key: String::new(),
                                    scan: Some(scan),
                                });
                                patterns.push((bp, None));
                                continue;
                            }
                        }
                        let (key, kat) = if version == 2 {
                            let (dir, dat) = get("dir").map_err(|_| {
                                err(span.start, "a version 2 item needs `dir` or `scan`".into())
                            })?;
                            let file = parts.get_or_insert_with(Parts::default).file.clone();
                            (format!("{}/{file}", dir.trim_end_matches('/')), dat)
                        } else {
                            get("key")?
                        };
                        let (bp, kp) = (pieces(&bundle), pieces(&key));
                        let (Some(bp), Some(kp)) = (bp, kp) else {
                            return Err(err(bat, "malformed `{placeholder}` in pattern".into()));
                        };
                        let vars = |ps: &[Piece]| {
                            let mut v: Vec<String> = ps
                                .iter()
                                .filter_map(|p| {
                                    if let Piece::Var(v) = p {
                                        Some(v.clone())
                                    } else {
                                        None
                                    }
                                })
                                .collect();
                            v.sort();
                            v.dedup();
                            v
                        };
                        if vars(&bp) != vars(&kp) {
                            return Err(err(
                                kat,
                                "bundle and key patterns must use the same placeholders".into(),
                            ));
                        }
                        items.push(LayoutItem {
                            kind,
                            bundle,
                            key,
                            scan: None,
                        });
                        patterns.push((bp, Some(kp)));
                    }
                }
                other => {
                    return Err(err(
                        at,
                        format!(
                            "unknown key `{other}` (expected version, prefix, {}items)",
                            if version == 2 { "parts, " } else { "" }
                        ),
                    ))
                }
            }
        }
        let prefix = prefix.ok_or_else(|| err(0, "missing `prefix`".into()))?;
        Ok(Layout {
            prefix,
            items,
            version,
            parts: (version == 2).then(|| parts.unwrap_or_default()),
            patterns,
        })
    }

    /// A copy with another prefix (`--etcd-prefix`).
    pub fn with_prefix(mut self, prefix: &str) -> Layout {
        self.prefix = prefix.to_string();
        self
    }

    /// The etcd key of a bundle path (a version 2 item: its `file` part), or None when the
    /// path is not an etcd item or is a `scan` item (whose key depends on the cluster:
    /// see [`Layout::scanned`]).
    pub fn key_for(&self, bundle_path: &str) -> Option<(String, &LayoutItem)> {
        self.translate(bundle_path, |(bundle, key)| Some((bundle, key.as_ref()?)))
            .map(|(k, item)| (format!("{}{k}", self.prefix), item))
    }

    /// The bundle path of an etcd key, or None when the key is not a layout item.
    pub fn path_for(&self, key: &str) -> Option<(String, &LayoutItem)> {
        let rel = key.strip_prefix(&self.prefix)?;
        self.translate(rel, |(bundle, key)| Some((key.as_ref()?, bundle)))
    }

    /// The `scan` items found among `keys` (a whole keyspace under the prefix, with
    /// values): each directory under a `scan` root with a `name` part becomes the bundle
    /// path its name gives (the bundle pattern's suffix, such as `.xml`, added when the
    /// name lacks it). Returns (file part key, bundle path), in key order.
    pub fn scanned<'k>(
        &self,
        keys: impl IntoIterator<Item = (&'k str, &'k [u8])>,
    ) -> Vec<(String, String)> {
        let Some(parts) = &self.parts else {
            return Vec::new();
        };
        let scans: Vec<(String, &Vec<Piece>)> = self
            .items
            .iter()
            .zip(&self.patterns)
            .filter_map(|(item, (bp, _))| {
                Some((format!("{}{}/", self.prefix, item.scan.as_ref()?), bp))
            })
            .collect();
        let mut out = Vec::new();
        for (key, value) in keys {
            for (root, bundle) in &scans {
                let Some(rest) = key.strip_prefix(root.as_str()) else {
                    continue;
                };
                let Some((serial, part)) = rest.split_once('/') else {
                    continue;
                };
                let Ok(name) = std::str::from_utf8(value) else {
                    continue;
                };
                if part != parts.name || serial.is_empty() || name.is_empty() || name.contains('/')
                {
                    continue;
                }
                let suffix = match bundle.last() {
                    Some(Piece::Lit(l)) => l.as_str(),
                    _ => "",
                };
                let name = name.strip_suffix(suffix).unwrap_or(name);
                if let Some(path) = fill(bundle, &[("name", name)]) {
                    out.push((format!("{root}{serial}/{}", parts.file), path));
                }
            }
        }
        out.sort();
        out
    }

    /// The keys a write of the item whose `file` part is `file_key` touches, and the name
    /// its `name` part gets from `bundle_path` when the item is created. A version 1 layout
    /// has the one key.
    pub fn item_keys(&self, file_key: &str, bundle_path: &str) -> ItemKeys {
        let Some(parts) = &self.parts else {
            return ItemKeys {
                file: file_key.to_string(),
                name: None,
                guard: None,
            };
        };
        let dir = file_key
            .strip_suffix(&parts.file)
            .and_then(|d| d.strip_suffix('/'))
            .unwrap_or(file_key);
        let file_name = bundle_path.rsplit('/').next().unwrap_or(bundle_path);
        ItemKeys {
            file: file_key.to_string(),
            name: Some((format!("{dir}/{}", parts.name), file_name.to_string())),
            guard: Some(format!("{dir}/{}/{}", parts.meta, parts.guard)),
        }
    }

    /// For a version 2 layout: the `file` part key of the item directory holding `key`
    /// (its `name` part or a key of its meta subtree), when `key` is such a part.
    pub fn part_of(&self, key: &str) -> Option<String> {
        let parts = self.parts.as_ref()?;
        let rel = key.strip_prefix(&self.prefix)?;
        let (dir, part) = rel.rsplit_once('/')?;
        let dir = if part == parts.name {
            dir
        } else {
            // A key of the meta subtree: `<dir>/<meta>/...`.
            let at = rel.rfind(&format!("/{}/", parts.meta))?;
            &rel[..at]
        };
        Some(format!("{}{dir}/{}", self.prefix, parts.file))
    }

    /// Matches `text` against each item's `from` pattern in turn and fills its `to`
    /// pattern with the bindings of the first that matches.
    fn translate<'a>(
        &'a self,
        text: &str,
        direction: impl Fn(
            &'a (Vec<Piece>, Option<Vec<Piece>>),
        ) -> Option<(&'a Vec<Piece>, &'a Vec<Piece>)>,
    ) -> Option<(String, &'a LayoutItem)> {
        let mut bound = Vec::new();
        self.items
            .iter()
            .zip(&self.patterns)
            .find_map(|(item, patterns)| {
                let (from, to) = direction(patterns)?;
                bound.clear();
                match_pieces(from, text, &mut bound)
                    .then(|| fill(to, &bound))
                    .flatten()
                    .map(|filled| (filled, item))
            })
    }

    /// True when `bundle_path` is an etcd item of this layout (`scan` items included).
    pub fn is_item(&self, bundle_path: &str) -> bool {
        let mut bound = Vec::new();
        self.patterns.iter().any(|(bundle, _)| {
            bound.clear();
            match_pieces(bundle, bundle_path, &mut bound)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_layout_maps_both_ways() {
        let l = Layout::v1();
        assert_eq!(l.version, 1);
        assert_eq!(l.prefix, "/deephaven/config/");
        let (k, item) = l.key_for("config/props/iris-environment.prop").unwrap();
        assert_eq!(k, "/deephaven/config/props/iris-environment.prop");
        assert_eq!(item.kind, "props");
        assert_eq!(
            l.key_for("config/schemas/Market/Market.Trades.schema")
                .unwrap()
                .0,
            "/deephaven/config/schemas/Market/Trades.schema"
        );
        assert_eq!(
            l.path_for("/deephaven/config/schemas/Market/Trades.schema")
                .unwrap()
                .0,
            "config/schemas/Market/Market.Trades.schema"
        );
        assert_eq!(
            l.key_for("config/routing/routing.yaml").unwrap().0,
            "/deephaven/config/routing/routing.yaml"
        );
        assert_eq!(
            l.key_for("config/routing/dis/Ingester1.yaml").unwrap().0,
            "/deephaven/config/routing/dis/Ingester1.yaml"
        );
        assert_eq!(
            l.path_for("/deephaven/config/routing/dis/Ingester1.yaml")
                .unwrap()
                .0,
            "config/routing/dis/Ingester1.yaml"
        );
        // A schema whose file name does not repeat its namespace is not an item.
        assert!(l
            .key_for("config/schemas/Market/Other.Trades.schema")
            .is_none());
        assert!(l.key_for("files/etc/x.xml").is_none());
        assert!(l.path_for("/deephaven/runtime/x").is_none());
        assert!(l.path_for("/other/config/props/x.prop").is_none());
    }

    fn v2() -> Layout {
        Layout::builtin()
    }

    #[test]
    fn v2_items_are_directories_with_file_name_and_guard() {
        let l = v2();
        assert_eq!((l.version, l.prefix.as_str()), (2, "/main/"));
        let (k, item) = l.key_for("config/props/iris-environment.prop").unwrap();
        assert_eq!(k, "/main/config/props/iris-environment.prop/file");
        assert_eq!(item.kind, "props");
        assert_eq!(
            l.path_for("/main/config/schema/Market/tables/Trades/file")
                .unwrap()
                .0,
            "config/schemas/Market/Market.Trades.schema"
        );
        assert_eq!(
            l.key_for("config/routing/dis/Ingester1.yaml").unwrap().0,
            "/main/config/routing/disconfigs/Ingester1/file"
        );
        // The name part and the meta subtree are not items themselves.
        assert!(l
            .path_for("/main/config/props/iris-environment.prop/name")
            .is_none());
        let keys = l.item_keys(&k, "config/props/iris-environment.prop");
        assert_eq!(
            keys.name,
            Some((
                "/main/config/props/iris-environment.prop/name".into(),
                "iris-environment.prop".into()
            ))
        );
        assert_eq!(
            keys.guard.as_deref(),
            Some("/main/config/props/iris-environment.prop/meta/guard")
        );
        for part in ["name", "meta/guard", "meta/updated"] {
            assert_eq!(
                l.part_of(&format!("/main/config/props/iris-environment.prop/{part}")),
                Some(k.clone())
            );
        }
        assert_eq!(l.part_of("/main/config/props/x.prop/other"), None);
        // ACLs are rows in Deephaven's model, not an item here.
        assert!(!l.is_item("config/acls/acls.xml"));
        // A v1 layout keeps one key per item.
        let v1 = Layout::v1();
        assert_eq!(v1.item_keys("/k", "config/props/a.prop").name, None);
        assert_eq!(v1.part_of("/deephaven/config/props/a.prop"), None);
    }

    #[test]
    fn v2_scan_items_take_their_name_from_the_name_part() {
        let l = v2();
        assert!(l.is_item("config/pq/MarketDashboard.xml"));
        // A PQ's key depends on its serial: not computable from the bundle path.
        assert!(l.key_for("config/pq/MarketDashboard.xml").is_none());
        let kvs: Vec<(&str, &[u8])> = vec![
            ("/main/data/pq/17/file", b"<xml/>"),
            ("/main/data/pq/17/name", b"MarketDashboard.xml"),
            ("/main/data/pq/4/name", b"NightlyMerge"),
            ("/main/data/pq/4/file", b"<xml/>"),
            ("/main/data/pq/9/meta/guard", b"12"),
            ("/main/data/pq/bad/name", b"a/b"),
        ];
        assert_eq!(
            l.scanned(kvs),
            vec![
                (
                    "/main/data/pq/17/file".into(),
                    "config/pq/MarketDashboard.xml".into()
                ),
                (
                    "/main/data/pq/4/file".into(),
                    "config/pq/NightlyMerge.xml".into()
                ),
            ]
        );
    }

    #[test]
    fn bad_v2_layouts_are_named() {
        let e = Layout::parse("l.yaml", "version: 2\nprefix: /p/\nitems:\n  - kind: a\n    bundle: x/{name}\n    key: y/{name}\n").unwrap_err();
        assert!(e.what.contains("`dir` or `scan`"), "{e}");
        let e = Layout::parse(
            "l.yaml",
            "version: 2\nprefix: /p/\nitems:\n  - kind: a\n    bundle: x/{a}/{name}\n    scan: d\n",
        )
        .unwrap_err();
        assert!(e.what.contains("exactly one `{name}`"), "{e}");
        let e = Layout::parse(
            "l.yaml",
            "version: 2\nprefix: /p/\nparts:\n  colour: x\nitems: []\n",
        )
        .unwrap_err();
        assert!(e.what.contains("unknown part"), "{e}");
        let e = Layout::parse("l.yaml", "version: 3\nprefix: /p/\n").unwrap_err();
        assert_eq!(e.pos.to_string(), "1:1");
    }

    #[test]
    fn bad_layouts_are_named() {
        let e = Layout::parse("l.yaml", "version: 1\nprefix: /p/\nitems:\n  - kind: a\n    bundle: x/{name}.prop\n    key: y/{other}\n").unwrap_err();
        assert_eq!(e.pos.to_string(), "6:10");
        let e = Layout::parse("l.yaml", "version: 1\nitems: []\n").unwrap_err();
        assert!(e.what.contains("prefix"));
        let e = Layout::parse("l.yaml", "version: 1\nprefix: /p/\nextra: 1\n").unwrap_err();
        assert_eq!(e.pos.to_string(), "3:1");
    }
}
