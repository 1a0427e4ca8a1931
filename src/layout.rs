//! The etcd layout: which bundle item lives at which etcd key. Read from a layout file
//! (`templates/etcd-layout.yaml` by default, `--layout FILE` otherwise); no key is written
//! in the code. Patterns use `{name}` placeholders that match one path segment.

use crate::formats::yaml::{self, Node};
use crate::text::{LineIndex, Position};

/// The default layout, shipped in `templates/`.
pub const DEFAULT_LAYOUT: &str = include_str!("../templates/etcd-layout.yaml");

/// One item kind: a bundle path pattern and its key pattern (relative to the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutItem {
    pub kind: String,
    pub bundle: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: String,
    pub items: Vec<LayoutItem>,
    /// Each item's bundle and key patterns, split once (every file's path is matched).
    patterns: Vec<(Vec<Piece>, Vec<Piece>)>,
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
        Layout::parse("templates/etcd-layout.yaml", DEFAULT_LAYOUT)
            .unwrap_or_else(|e| panic!("shipped etcd layout is invalid: {e}"))
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
        for (k, v) in entries {
            let (key, at) = scalar(k).ok_or_else(|| err(0, "expected a plain key".into()))?;
            match key.as_str() {
                "version" => match scalar(v) {
                    Some((ver, _)) if ver == "1" => {}
                    _ => return Err(err(at, "expected `version: 1`".into())),
                },
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
                                "expected each item to be a map with kind, bundle, key".into(),
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
                        let (key, kat) = get("key")?;
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
                        items.push(LayoutItem { kind, bundle, key });
                        patterns.push((bp, kp));
                    }
                }
                other => {
                    return Err(err(
                        at,
                        format!("unknown key `{other}` (expected version, prefix, items)"),
                    ))
                }
            }
        }
        let prefix = prefix.ok_or_else(|| err(0, "missing `prefix`".into()))?;
        Ok(Layout {
            prefix,
            items,
            patterns,
        })
    }

    /// A copy with another prefix (`--etcd-prefix`).
    pub fn with_prefix(mut self, prefix: &str) -> Layout {
        self.prefix = prefix.to_string();
        self
    }

    /// The etcd key of a bundle path, or None when the path is not an etcd item.
    pub fn key_for(&self, bundle_path: &str) -> Option<(String, &LayoutItem)> {
        self.translate(bundle_path, |(bundle, key)| (bundle, key))
            .map(|(k, item)| (format!("{}{k}", self.prefix), item))
    }

    /// The bundle path of an etcd key, or None when the key is not a layout item.
    pub fn path_for(&self, key: &str) -> Option<(String, &LayoutItem)> {
        let rel = key.strip_prefix(&self.prefix)?;
        self.translate(rel, |(bundle, key)| (key, bundle))
    }

    /// Matches `text` against each item's `from` pattern in turn and fills its `to`
    /// pattern with the bindings of the first that matches.
    fn translate<'a>(
        &'a self,
        text: &str,
        direction: impl Fn(&'a (Vec<Piece>, Vec<Piece>)) -> (&'a Vec<Piece>, &'a Vec<Piece>),
    ) -> Option<(String, &'a LayoutItem)> {
        let mut bound = Vec::new();
        self.items
            .iter()
            .zip(&self.patterns)
            .find_map(|(item, patterns)| {
                let (from, to) = direction(patterns);
                bound.clear();
                match_pieces(from, text, &mut bound)
                    .then(|| fill(to, &bound))
                    .flatten()
                    .map(|filled| (filled, item))
            })
    }

    /// True when `bundle_path` is an etcd item of this layout.
    pub fn is_item(&self, bundle_path: &str) -> bool {
        self.key_for(bundle_path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_maps_both_ways() {
        let l = Layout::builtin();
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
