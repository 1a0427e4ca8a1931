//! Merging a migrated routing file or DIS config with the new cluster's copy, per
//! resolved path.
//!
//! For comparing, both files are resolved: aliases stand for their anchor's node and `<<`
//! merges for the merged maps' entries (the map's own keys win, then the merges in
//! order), so a value the bundle provides through an anchor is the bundle's.
//! Then, walking the new cluster's tree:
//! - a map entry only the new cluster has is inserted into the migrated text, as the last
//!   entry of the same map, with that map's indentation, in block style (scalars keep the
//!   new cluster's tokens; aliases in it are written out, since the migrated file does not
//!   define the new cluster's anchors), under a comment marking it as kept;
//! - where both have a value, the bundle wins, for leaves and for whole lists;
//! - where that cannot be done without changing something else, the merge stops with an
//!   error naming the path: the map that would receive the entry is a flow mapping
//!   (`{...}`), or is only reached through an alias or `<<` merge (adding to the anchor
//!   would change every place that uses it).
//!
//! `drop:` removes a new-only entry from the result; `new-wins:` replaces the bundle's
//! scalar token with the new cluster's one (only for a value written at its own place).

use super::{drops, line_ending, new_wins, splice, MergeError, MergeReport, Merged, KEPT_COMMENT};
use crate::formats::yaml::{self, Node, Path, PathSeg, ScalarStyle, YamlDoc};
use crate::mapping::merge_rules::ItemRules;
use crate::text::Span;
use std::collections::BTreeMap;

/// Resolving aliases can multiply nodes ("billion laughs"): beyond this many resolved
/// nodes a file is refused rather than expanded.
pub const MAX_RESOLVED_NODES: usize = 1_000_000;

/// A scalar as the file writes it.
#[derive(Debug, Clone)]
pub struct RScalar {
    pub value: String,
    /// The token as written (quotes included).
    pub token: String,
    /// Byte offset of the token in its file.
    pub at: usize,
}

/// A node with aliases and merges resolved. Equality ([`same`]) compares values only.
#[derive(Debug, Clone)]
pub enum RValue {
    Map(Vec<(RScalar, RValue)>),
    Seq(Vec<RValue>),
    Scalar(RScalar),
}

impl RValue {
    fn get(&self, key: &str) -> Option<&RValue> {
        match self {
            RValue::Map(e) => e.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at_mut(&mut self, seg: &PathSeg) -> Option<&mut RValue> {
        match (self, seg) {
            (RValue::Map(e), PathSeg::Key(k)) => {
                e.iter_mut().find(|(kk, _)| &kk.value == k).map(|(_, v)| v)
            }
            (RValue::Seq(items), PathSeg::Index(i)) => items.get_mut(*i),
            _ => None,
        }
    }
}

/// Same values: maps compared as key sets (order never matters to a reader of YAML).
pub fn same(a: &RValue, b: &RValue) -> bool {
    match (a, b) {
        (RValue::Scalar(x), RValue::Scalar(y)) => x.value == y.value,
        (RValue::Seq(x), RValue::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (RValue::Map(x), RValue::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| k2.value == k.value)
                        .is_some_and(|(_, v2)| same(v, v2))
                })
        }
        _ => false,
    }
}

struct Resolver<'a> {
    doc: &'a YamlDoc,
    text: &'a str,
    budget: usize,
}

impl Resolver<'_> {
    fn scalar(&self, i: usize) -> RScalar {
        let s = &self.doc.scalars()[i];
        RScalar {
            value: s.value.clone(),
            token: s.span.slice(self.text).to_string(),
            at: s.span.start,
        }
    }

    fn node(&mut self, n: &Node) -> Result<RValue, String> {
        if self.budget == 0 {
            return Err(format!(
                "more than {MAX_RESOLVED_NODES} nodes once aliases are resolved"
            ));
        }
        self.budget -= 1;
        Ok(match n {
            Node::Scalar(i) => RValue::Scalar(self.scalar(*i)),
            Node::Alias(i) => {
                let a = &self.doc.aliases()[*i];
                let anchor = &self.doc.anchors()[a.anchor];
                let root = self.doc.root().ok_or("alias without a document")?;
                let target = own_node(self.doc, root, &anchor.path)
                    .ok_or_else(|| format!("anchor `{}` not found", anchor.name))?;
                self.node(target)?
            }
            Node::Seq { items, .. } => {
                let mut v = Vec::with_capacity(items.len());
                for it in items {
                    v.push(self.node(it)?);
                }
                RValue::Seq(v)
            }
            Node::Map { entries, .. } => {
                let mut own: Vec<(RScalar, RValue)> = Vec::new();
                let mut merged: Vec<(RScalar, RValue)> = Vec::new();
                for (k, v) in entries {
                    let Node::Scalar(ki) = k else {
                        return Err("a key that is not a scalar".into());
                    };
                    let ks = &self.doc.scalars()[*ki];
                    if ks.value == "<<" && ks.style == ScalarStyle::Plain {
                        let sources: Vec<&Node> = match v {
                            Node::Seq { items, .. } => items.iter().collect(),
                            other => vec![other],
                        };
                        for src in sources {
                            if let RValue::Map(es) = self.node(src)? {
                                for (mk, mv) in es {
                                    if !merged.iter().any(|(k2, _)| k2.value == mk.value) {
                                        merged.push((mk, mv));
                                    }
                                }
                            }
                        }
                    } else {
                        let rv = self.node(v)?;
                        own.push((self.scalar(*ki), rv));
                    }
                }
                for (mk, mv) in merged {
                    if !own.iter().any(|(k2, _)| k2.value == mk.value) {
                        own.push((mk, mv));
                    }
                }
                RValue::Map(own)
            }
        })
    }
}

/// The node at `path` following only the entries and items written at their own place
/// (never an alias or a merge).
fn own_node<'n>(doc: &YamlDoc, root: &'n Node, path: &Path) -> Option<&'n Node> {
    let mut cur = root;
    for seg in &path.0 {
        cur = match (cur, seg) {
            (Node::Map { entries, .. }, PathSeg::Key(k)) => entries
                .iter()
                .find(|(kn, _)| matches!(kn, Node::Scalar(i) if &doc.scalars()[*i].value == k))
                .map(|(_, v)| v)?,
            (Node::Seq { items, .. }, PathSeg::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The resolved tree of a parsed file (None for an empty file).
pub fn resolve(doc: &YamlDoc, text: &str) -> Result<Option<RValue>, String> {
    let mut r = Resolver {
        doc,
        text,
        budget: MAX_RESOLVED_NODES,
    };
    doc.root().map(|root| r.node(root)).transpose()
}

/// Every leaf of the resolved tree by path (`a.b[0].c`), with its value and the byte
/// offset of the token that provides it. Empty maps and lists are leaves `{}` and `[]`.
pub fn leaves(doc: &YamlDoc, text: &str) -> Result<BTreeMap<String, (String, usize)>, String> {
    fn walk(v: &RValue, path: Path, at: usize, out: &mut BTreeMap<String, (String, usize)>) {
        match v {
            RValue::Scalar(s) => {
                out.insert(path.to_string(), (s.value.clone(), s.at));
            }
            RValue::Map(e) if e.is_empty() => {
                out.insert(path.to_string(), ("{}".into(), at));
            }
            RValue::Seq(items) if items.is_empty() => {
                out.insert(path.to_string(), ("[]".into(), at));
            }
            RValue::Map(e) => {
                for (k, v) in e {
                    walk(v, path.child(PathSeg::Key(k.value.clone())), k.at, out);
                }
            }
            RValue::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, path.child(PathSeg::Index(i)), at, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(root) = resolve(doc, text)? {
        walk(&root, Path::default(), 0, &mut out);
    }
    Ok(out)
}

/// What the walk over the new cluster's tree found.
#[derive(Default)]
struct Found {
    /// New-only entries to keep: parent path, key, value.
    keep: Vec<(Path, RScalar, RValue)>,
    /// Values both set where the new cluster's wins: path and its value.
    new_wins: Vec<(Path, RValue)>,
    report: MergeReport,
}

fn walk(path: &Path, theirs: &RValue, ours: &RValue, rules: Option<&ItemRules>, found: &mut Found) {
    match (theirs, ours) {
        (RValue::Map(te), RValue::Map(_)) => {
            for (k, tv) in te {
                let child = path.child(PathSeg::Key(k.value.clone()));
                match ours.get(&k.value) {
                    Some(ov) => walk(&child, tv, ov, rules, found),
                    None => {
                        let name = child.to_string();
                        if drops(rules, &name) {
                            found.report.dropped.push(name);
                        } else {
                            found.report.kept.push(name);
                            found.keep.push((path.clone(), k.clone(), tv.clone()));
                        }
                    }
                }
            }
        }
        _ => {
            let name = path.to_string();
            if !same(theirs, ours) && new_wins(rules, &name) {
                found.report.new_won.push(name);
                found.new_wins.push((path.clone(), theirs.clone()));
            }
        }
    }
}

/// Column (in characters) of byte `at` on its line.
fn column(text: &str, at: usize) -> usize {
    let ls = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[ls..at].chars().count()
}

/// The end of the last token of a node written at its own place.
fn node_end(doc: &YamlDoc, n: &Node) -> usize {
    match n {
        Node::Scalar(i) => doc.scalars()[*i].span.end,
        Node::Alias(i) => doc.aliases()[*i].span.end,
        Node::Map { span, entries } => entries
            .last()
            .map_or(span.end, |(k, v)| node_end(doc, v).max(node_end(doc, k))),
        Node::Seq { span, items } => items.last().map_or(span.end, |v| node_end(doc, v)),
    }
}

/// A token safe to write on one line: the token as written, or the value double-quoted.
fn one_line(s: &RScalar) -> String {
    if s.token.contains('\n') || s.token.contains('\r') || s.token.is_empty() {
        if s.value.is_empty() && s.token.is_empty() {
            return String::new();
        }
        serde_json::to_string(&s.value).unwrap_or_else(|_| "\"\"".into())
    } else {
        s.token.clone()
    }
}

/// Block-style lines for `key: value` at column `col`, nested levels `step` further in.
fn render_entry(key: &RScalar, v: &RValue, col: usize, step: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(col);
    let k = one_line(key);
    match v {
        RValue::Scalar(s) => {
            let t = one_line(s);
            if t.is_empty() {
                out.push(format!("{pad}{k}:"));
            } else {
                out.push(format!("{pad}{k}: {t}"));
            }
        }
        RValue::Map(e) if e.is_empty() => out.push(format!("{pad}{k}: {{}}")),
        RValue::Seq(i) if i.is_empty() => out.push(format!("{pad}{k}: []")),
        RValue::Map(e) => {
            out.push(format!("{pad}{k}:"));
            for (ck, cv) in e {
                render_entry(ck, cv, col + step, step, out);
            }
        }
        RValue::Seq(items) => {
            out.push(format!("{pad}{k}:"));
            for it in items {
                render_item(it, col + step, step, out);
            }
        }
    }
}

/// Block-style lines for a sequence item `- value` whose dash is at column `col`.
fn render_item(v: &RValue, col: usize, step: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(col);
    match v {
        RValue::Scalar(s) => out.push(format!("{pad}- {}", one_line(s)).trim_end().to_string()),
        RValue::Map(e) if e.is_empty() => out.push(format!("{pad}- {{}}")),
        RValue::Seq(i) if i.is_empty() => out.push(format!("{pad}- []")),
        RValue::Map(e) => {
            let mut lines = Vec::new();
            for (ck, cv) in e {
                render_entry(ck, cv, col + 2, step, &mut lines);
            }
            // The first entry goes on the dash's line.
            if let Some(first) = lines.first_mut() {
                *first = format!("{pad}- {}", &first[col + 2..]);
            }
            out.extend(lines);
        }
        RValue::Seq(items) => {
            out.push(format!("{pad}-"));
            for it in items {
                render_item(it, col + 2, step, out);
            }
        }
    }
}

/// The indentation step of the file: the first nested block map's offset from its
/// parent key; 2 when the file has none.
fn indent_step(doc: &YamlDoc, text: &str) -> usize {
    fn find(doc: &YamlDoc, text: &str, n: &Node) -> Option<usize> {
        match n {
            Node::Map { entries, .. } => entries.iter().find_map(|(k, v)| {
                let kc = match k {
                    Node::Scalar(i) => column(text, doc.scalars()[*i].span.start),
                    _ => return None,
                };
                if let Node::Map {
                    entries: inner,
                    span,
                } = v
                {
                    let flow = text.as_bytes().get(span.start) == Some(&b'{');
                    if let (false, Some((Node::Scalar(ci), _))) = (flow, inner.first()) {
                        let cc = column(text, doc.scalars()[*ci].span.start);
                        if cc > kc {
                            return Some(cc - kc);
                        }
                    }
                }
                find(doc, text, v)
            }),
            Node::Seq { items, .. } => items.iter().find_map(|i| find(doc, text, i)),
            _ => None,
        }
    }
    doc.root().and_then(|r| find(doc, text, r)).unwrap_or(2)
}

/// Merges `migrated` (the bundle's file after migration) with `target` (the new
/// cluster's copy). `item` names the file in errors.
pub fn merge(
    item: &str,
    migrated: &str,
    target: &str,
    rules: Option<&ItemRules>,
) -> Result<Merged, MergeError> {
    let parse = |side: &'static str, text: &str| -> Result<(YamlDoc, Option<RValue>), MergeError> {
        let err = |detail: String| MergeError::Parse {
            item: item.to_string(),
            side,
            detail,
        };
        let doc = yaml::parse(text).map_err(|e| {
            err(format!(
                "{}: {}",
                crate::text::position_of(text, e.offset),
                e.kind
            ))
        })?;
        let r = resolve(&doc, text).map_err(err)?;
        Ok((doc, r))
    };
    let (bdoc, ours) = parse("migrated", migrated)?;
    let (_, theirs) = parse("new cluster's", target)?;
    let Some(theirs) = theirs else {
        return Ok(Merged {
            text: migrated.to_string(),
            report: MergeReport::default(),
        });
    };
    let ours_or_empty = ours.clone().unwrap_or(RValue::Map(Vec::new()));
    let mut found = Found::default();
    walk(&Path::default(), &theirs, &ours_or_empty, rules, &mut found);

    let nl = line_ending(migrated);
    let step = indent_step(&bdoc, migrated);
    let mut edits: Vec<(Span, String)> = Vec::new();
    let mut intended = ours_or_empty.clone();

    for (path, value) in &found.new_wins {
        let name = path.to_string();
        let cannot = |why: &str| MergeError::CannotNewWin {
            item: item.to_string(),
            name: name.clone(),
            why: why.to_string(),
        };
        let node = bdoc.root().and_then(|r| own_node(&bdoc, r, path));
        let (Some(Node::Scalar(i)), RValue::Scalar(ts)) = (node, value) else {
            return Err(cannot(
                "only a single value written at its own place in the migrated file can take the new cluster's value (not a list, a map, or a value that comes from an alias or `<<` merge)",
            ));
        };
        let s = &bdoc.scalars()[*i];
        if s.anchor.is_some() {
            return Err(cannot(
                "the migrated file's value carries an anchor: changing it would change every alias of it",
            ));
        }
        edits.push((s.span, one_line(ts)));
        set_at(&mut intended, path, value.clone());
    }

    // Insertions grouped by the map that receives them, in the order found.
    let mut groups: Vec<(Path, Vec<(RScalar, RValue)>)> = Vec::new();
    for (parent, k, v) in &found.keep {
        match groups.iter_mut().find(|(p, _)| p == parent) {
            Some((_, g)) => g.push((k.clone(), v.clone())),
            None => groups.push((parent.clone(), vec![(k.clone(), v.clone())])),
        }
        add_at(&mut intended, parent, k.clone(), v.clone());
    }
    // (offset, rank among insertions at that offset, text)
    let mut inserts: Vec<(usize, usize, String)> = Vec::new();
    for (parent, entries) in &groups {
        let first = parent.child(PathSeg::Key(entries[0].0.value.clone()));
        let cannot = |why: String| MergeError::CannotKeep {
            item: item.to_string(),
            name: first.to_string(),
            why,
        };
        let (at, col) = match bdoc.root() {
            None => (migrated.len(), 0),
            Some(root) => {
                let Some(node) = own_node(&bdoc, root, parent) else {
                    return Err(cannot(format!(
                        "`{}` comes from an alias or a `<<` merge in the migrated file, and adding to its anchor would change every place that uses it",
                        display(parent)
                    )));
                };
                if let Node::Alias(_) = node {
                    return Err(cannot(format!(
                        "`{}` comes from an alias in the migrated file, and adding to its anchor would change every place that uses it",
                        display(parent)
                    )));
                }
                let Node::Map { entries: es, span } = node else {
                    return Err(cannot(format!(
                        "`{}` is not a map written at its own place in the migrated file",
                        display(parent)
                    )));
                };
                if migrated.as_bytes().get(span.start) == Some(&b'{') || es.is_empty() {
                    return Err(cannot(format!(
                        "`{}` is a flow mapping (`{{...}}`) in the migrated file, where an entry cannot be inserted without rewriting it; write it as a block mapping, or decide the setting",
                        display(parent)
                    )));
                }
                let Some((Node::Scalar(k0), _)) = es.first() else {
                    return Err(cannot("a key that is not a scalar".into()));
                };
                let col = column(migrated, bdoc.scalars()[*k0].span.start);
                let end = node_end(&bdoc, node);
                let at = migrated[end..]
                    .find('\n')
                    .map_or(migrated.len(), |i| end + i + 1);
                (at, col)
            }
        };
        let mut lines = vec![format!("{}{KEPT_COMMENT}", " ".repeat(col))];
        for (k, v) in entries {
            render_entry(k, v, col, step, &mut lines);
        }
        let lead = if at == migrated.len() && !migrated.is_empty() && !migrated.ends_with('\n') {
            nl
        } else {
            ""
        };
        // At one offset, the entries of a deeper map go first: they end that map, and the
        // shallower map's entries follow it.
        let rank = usize::MAX - 1 - parent.0.len();
        inserts.push((at, rank, format!("{lead}{}{nl}", lines.join(nl))));
    }

    let text = splice(migrated, &edits, &inserts);
    verify(item, &text, &intended)?;
    Ok(Merged {
        text,
        report: found.report,
    })
}

fn display(p: &Path) -> String {
    if p.0.is_empty() {
        "(the top level)".into()
    } else {
        p.to_string()
    }
}

fn set_at(root: &mut RValue, path: &Path, v: RValue) {
    let mut cur = root;
    for seg in &path.0 {
        match cur.at_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
    *cur = v;
}

fn add_at(root: &mut RValue, parent: &Path, k: RScalar, v: RValue) {
    let mut cur = root;
    for seg in &parent.0 {
        match cur.at_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let RValue::Map(e) = cur {
        e.push((k, v));
    }
}

fn verify(item: &str, text: &str, intended: &RValue) -> Result<(), MergeError> {
    let unsound = |detail: String| MergeError::Unsound {
        item: item.to_string(),
        name: "(the file)".into(),
        detail,
    };
    let doc = yaml::parse(text).map_err(|e| unsound(format!("does not parse: {}", e.kind)))?;
    let got = resolve(&doc, text)
        .map_err(unsound)?
        .unwrap_or(RValue::Map(Vec::new()));
    if same(&got, intended) {
        Ok(())
    } else {
        Err(unsound(
            "the resolved values differ from the intended ones".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
