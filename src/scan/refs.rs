//! Finding every old-node reference in a configuration tree, with its place (file, line,
//! column, byte span), its context (property key and scope chain, YAML paths, XML element
//! and attribute) and the roles that context decides (`contexts`).

use crate::contexts::RoleContexts;
use crate::formats::props::{PropsContext, PropsFile};
use crate::formats::xml::XmlContext;
use crate::formats::yaml::{PathSeg, ScalarStyle, YamlContext, YamlDoc};
use crate::roles::Role;
use crate::scan::inventory::{IdKind, Inventory};
use crate::scan::tokens::tokens;
use crate::text::{Position, Span};
use crate::tree::{map_each_in_parallel_by_size, ConfigFile, ConfigTree, Parsed};
use std::collections::BTreeSet;
use std::fmt;

/// The place of a reference inside its file's structure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Context {
    Comment {
        scopes: Vec<String>,
    },
    /// A property value (or key), with the enclosing scope headers, outermost first.
    Property {
        key: String,
        scopes: Vec<String>,
    },
    ScopeHeader {
        scopes: Vec<String>,
    },
    /// A YAML scalar: its own path first, then the paths it is reached by through aliases.
    Yaml {
        paths: Vec<String>,
    },
    Xml {
        element: String,
        attr: Option<String>,
    },
    Text,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes = |f: &mut fmt::Formatter<'_>, s: &[String]| {
            if s.is_empty() {
                Ok(())
            } else {
                write!(f, " in {}", s.join(" "))
            }
        };
        match self {
            Context::Comment { scopes: s } => {
                write!(f, "comment")?;
                scopes(f, s)
            }
            Context::Property { key, scopes: s } => {
                write!(f, "property {key}")?;
                scopes(f, s)
            }
            Context::ScopeHeader { scopes: s } => {
                write!(f, "scope header")?;
                scopes(f, s)
            }
            Context::Yaml { paths } => match paths.split_first() {
                Some((own, [])) => write!(f, "{own}"),
                Some((own, via)) => write!(f, "{own} (used at {})", via.join(", ")),
                None => write!(f, "YAML"),
            },
            Context::Xml {
                element,
                attr: Some(a),
            } => write!(f, "<{element} {a}=...>"),
            Context::Xml {
                element,
                attr: None,
            } => write!(f, "<{element}> text"),
            Context::Text => write!(f, "text"),
        }
    }
}

/// One reference to an old node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reference {
    pub file: String,
    pub span: Span,
    pub pos: Position,
    /// The token as written in the file.
    pub text: String,
    pub kind: IdKind,
    /// The old node(s) it names (several only for a short name that old FQDNs share).
    pub nodes: Vec<usize>,
    pub context: Context,
    /// The roles its context decides; `None` stands for a place with no role.
    pub roles: BTreeSet<Option<Role>>,
    /// True when the name is only visible after decoding (split by a line continuation or
    /// an escape): it cannot be rewritten in place.
    pub hidden: bool,
    /// True when the file is migrated (false for installer-owned files).
    pub migrated: bool,
}

/// Scans every file of `tree` for names `inv` knows.
///
/// Files are scanned on a few threads; the references come in path order all the same.
pub fn scan(tree: &ConfigTree, inv: &Inventory, contexts: &RoleContexts) -> Vec<Reference> {
    let files: Vec<&ConfigFile> = tree.files.values().collect();
    let per_file = map_each_in_parallel_by_size(
        &files,
        |f| f.text.len(),
        |f| {
            let mut refs = Vec::new();
            scan_file(f, inv, contexts, &mut refs);
            refs
        },
    );
    per_file.into_iter().flatten().collect()
}

/// Scans one file, appending its references in source order.
///
/// Every token is looked up in the inventory first and its context (scope chain, YAML
/// paths, XML element) is worked out only for the tokens that name an old node: the
/// contexts cost far more than the lookup, and almost no token is a reference.
pub fn scan_file(
    f: &ConfigFile,
    inv: &Inventory,
    contexts: &RoleContexts,
    out: &mut Vec<Reference>,
) {
    let file_role = contexts.file_role(&f.path);
    let mut found: Vec<Reference> = Vec::new();
    let mut push = |hit: (IdKind, &[usize]),
                    span: Span,
                    text: &str,
                    (context, roles): (Context, BTreeSet<Option<Role>>),
                    hidden: bool| {
        let (kind, nodes) = hit;
        let roles = if roles.is_empty() || roles == BTreeSet::from([None]) {
            BTreeSet::from([file_role])
        } else {
            roles
        };
        found.push(Reference {
            file: f.path.clone(),
            span,
            // Set below, in one pass over the file in offset order: working each out
            // from its line's start would be quadratic on a long line full of names.
            pos: Position { line: 0, col: 0 },
            // `text` is the decoded token for hidden references; otherwise keep what the
            // file says.
            text: if hidden {
                text.to_string()
            } else {
                span.slice(&f.text).to_string()
            },
            kind,
            nodes: nodes.to_vec(),
            context,
            roles,
            hidden,
            migrated: f.migrated(),
        });
    };
    match &f.parsed {
        Parsed::Props(p) => {
            // Values are scanned decoded (an escape such as `\t` right before a host would
            // otherwise hide it); everything else as written.
            let values = SpanSet::new(p.declarations().iter().map(|d| d.value_span));
            for t in tokens(&f.text) {
                let Some(hit) = inv.lookup(t.text) else {
                    continue;
                };
                if values.covers(t.span) {
                    continue;
                }
                let ctx = props_context(p, &f.text, t.span.start, contexts);
                push(hit, t.span, t.text, ctx, false);
            }
            for d in p.declarations() {
                for t in tokens(&d.value) {
                    let Some(hit) = inv.lookup(t.text) else {
                        continue;
                    };
                    let raw = Span::new(d.raw_offset(t.span.start), d.raw_offset(t.span.end));
                    let hidden = !raw.slice(&f.text).eq_ignore_ascii_case(t.text);
                    let ctx = props_context(p, &f.text, raw.start, contexts);
                    push(hit, raw, t.text, ctx, hidden);
                }
            }
        }
        Parsed::Yaml(y) => {
            for t in tokens(&f.text) {
                let Some(hit) = inv.lookup(t.text) else {
                    continue;
                };
                let ctx = yaml_context(y, &f.path, t.span.start, contexts);
                push(hit, t.span, t.text, ctx, false);
            }
            // A double-quoted scalar with escapes could hide a name; find those.
            for s in y.scalars() {
                if s.style == ScalarStyle::DoubleQuoted && s.span.slice(&f.text).contains('\\') {
                    let raw: Vec<String> = tokens(s.span.slice(&f.text))
                        .map(|t| t.text.to_ascii_lowercase())
                        .collect();
                    for t in tokens(&s.value) {
                        let Some(hit) = inv.lookup(t.text) else {
                            continue;
                        };
                        if !raw.contains(&t.text.to_ascii_lowercase()) {
                            let ctx = yaml_context(y, &f.path, s.span.start, contexts);
                            push(hit, s.span, t.text, ctx, true);
                        }
                    }
                }
            }
        }
        Parsed::Xml(lazy) => {
            for t in tokens(&f.text) {
                let Some(hit) = inv.lookup(t.text) else {
                    continue;
                };
                let x = lazy.get(&f.text);
                let ctx = match x.context_at(t.span.start) {
                    XmlContext::AttrValue { element, attr } => Context::Xml {
                        element: x.path(element),
                        attr: Some(x.elements()[element].attrs[attr].name.clone()),
                    },
                    XmlContext::Text { element: Some(e) } => Context::Xml {
                        element: x.path(e),
                        attr: None,
                    },
                    XmlContext::Comment => Context::Comment { scopes: Vec::new() },
                    _ => Context::Text,
                };
                push(hit, t.span, t.text, (ctx, BTreeSet::new()), false);
            }
            // Entities (`&#46;`) could hide a name inside a value or text.
            // Without a `&` there is none (and no model is needed).
            let x = f.text.contains('&').then(|| lazy.get(&f.text));
            let decoded = x.into_iter().flat_map(|x| {
                x.elements()
                    .iter()
                    .flat_map(|e| e.attrs.iter().map(|a| (a.value.as_str(), a.value_span)))
                    .chain(x.texts().iter().map(|t| (t.value.as_str(), t.span)))
            });
            for (value, span) in decoded {
                if !span.slice(&f.text).contains('&') {
                    continue;
                }
                let raw: Vec<String> = tokens(span.slice(&f.text))
                    .map(|t| t.text.to_ascii_lowercase())
                    .collect();
                for t in tokens(value) {
                    let Some(hit) = inv.lookup(t.text) else {
                        continue;
                    };
                    if !raw.contains(&t.text.to_ascii_lowercase()) {
                        push(hit, span, t.text, (Context::Text, BTreeSet::new()), true);
                    }
                }
            }
        }
        Parsed::Cnf(_) | Parsed::Text => {
            for t in tokens(&f.text) {
                if let Some(hit) = inv.lookup(t.text) {
                    push(hit, t.span, t.text, (Context::Text, BTreeSet::new()), false);
                }
            }
        }
    }
    found.sort_by_key(|r| (r.span.start, r.span.end));
    found.dedup_by_key(|r| (r.span.start, r.span.end));
    let mut sweep = PositionSweep::new(&f.text);
    for r in &mut found {
        r.pos = sweep.at(r.span.start);
    }
    out.extend(found);
}

/// Line and column of offsets asked for in ascending order, counting each byte of the text
/// once in all (the same positions as [`crate::text::LineIndex::position`]).
struct PositionSweep<'a> {
    bytes: &'a [u8],
    offset: usize,
    /// 0-based line and column (in characters) of `offset`.
    line: usize,
    col: usize,
}

impl<'a> PositionSweep<'a> {
    fn new(text: &'a str) -> PositionSweep<'a> {
        PositionSweep {
            bytes: text.as_bytes(),
            offset: 0,
            line: 0,
            col: 0,
        }
    }

    fn at(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.bytes.len());
        if offset < self.offset {
            // Not in order (never the case for sorted references): start again.
            *self = PositionSweep {
                offset: 0,
                line: 0,
                col: 0,
                ..*self
            };
        }
        for &b in &self.bytes[self.offset..offset] {
            if b == b'\n' {
                self.line += 1;
                self.col = 0;
            } else if b & 0xC0 != 0x80 {
                self.col += 1;
            }
        }
        self.offset = offset;
        Position {
            line: self.line + 1,
            col: self.col + 1,
        }
    }
}

/// A set of spans that answers "does one of them cover this span" in O(log n): the
/// spans sorted by start, with the largest end seen so far at each place.
struct SpanSet {
    starts: Vec<usize>,
    max_end: Vec<usize>,
}

impl SpanSet {
    fn new(spans: impl Iterator<Item = Span>) -> SpanSet {
        let mut sorted: Vec<Span> = spans.collect();
        sorted.sort_by_key(|s| s.start);
        let mut max_end = Vec::with_capacity(sorted.len());
        let mut end = 0;
        for s in &sorted {
            end = end.max(s.end);
            max_end.push(end);
        }
        SpanSet {
            starts: sorted.iter().map(|s| s.start).collect(),
            max_end,
        }
    }

    /// True when some span `v` has `v.start <= s.start && s.end <= v.end`.
    fn covers(&self, s: Span) -> bool {
        let n = self.starts.partition_point(|&start| start <= s.start);
        n > 0 && self.max_end[n - 1] >= s.end
    }
}

/// The innermost scope whose header or body holds `offset`.
fn enclosing_scope(p: &PropsFile, offset: usize) -> Option<usize> {
    let scopes = p.scopes();
    let holds = |i: usize| {
        let s = &scopes[i];
        let body_end = s.close_span.map_or(usize::MAX, |c| c.start);
        (s.header_span.start <= offset && offset < s.header_span.end)
            || (s.open_span.end <= offset && offset < body_end)
    };
    // Scopes are in the order their headers appear, and nest. The innermost scope holding
    // `offset` is the last one starting at or before it, or one of that scope's parents
    // (a scope starting between the two would sit inside it): a binary search and a walk
    // of at most the nesting limit, not a look at every scope for every reference.
    let last = scopes
        .partition_point(|s| s.header_span.start <= offset)
        .checked_sub(1)?;
    let mut cur = Some(last);
    while let Some(i) = cur {
        if holds(i) {
            return Some(i);
        }
        cur = scopes[i].parent;
    }
    None
}

fn props_context(
    p: &PropsFile,
    src: &str,
    offset: usize,
    contexts: &RoleContexts,
) -> (Context, BTreeSet<Option<Role>>) {
    let scope = enclosing_scope(p, offset);
    let chain: Vec<usize> = scope.map(|s| p.scope_chain(s)).unwrap_or_default();
    let headers: Vec<String> = chain
        .iter()
        .map(|&s| p.scopes()[s].header_span.slice(src).to_string())
        .collect();
    // The innermost scope that names services decides the roles.
    let mut roles = BTreeSet::new();
    for &s in chain.iter().rev() {
        let services = p.services(s);
        if !services.is_empty() {
            roles = services
                .iter()
                .map(|name| contexts.service_role(name))
                .collect();
            break;
        }
    }
    let ctx = match p.context_at(offset) {
        PropsContext::Comment => Context::Comment { scopes: headers },
        PropsContext::Declaration { index, .. } => Context::Property {
            key: p.declarations()[index].key.clone(),
            scopes: headers,
        },
        PropsContext::ScopeHeader { .. } => Context::ScopeHeader { scopes: headers },
        _ => Context::Text,
    };
    (ctx, roles)
}

fn path_segments(path: &crate::formats::yaml::Path) -> Vec<String> {
    path.0
        .iter()
        .map(|s| match s {
            PathSeg::Key(k) => k.clone(),
            PathSeg::Index(i) => i.to_string(),
        })
        .collect()
}

fn yaml_context(
    y: &YamlDoc,
    file: &str,
    offset: usize,
    contexts: &RoleContexts,
) -> (Context, BTreeSet<Option<Role>>) {
    match y.context_at(offset) {
        YamlContext::Scalar(i) => {
            let paths = y.paths_of(i);
            let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            let mut roles = BTreeSet::new();
            if file == "config/routing/routing.yaml" {
                // The `anchors:` holding area is a definition, not a use: it decides no role
                // when the value is used elsewhere.
                let uses: Vec<Vec<String>> = paths.iter().map(path_segments).collect();
                let real: Vec<&Vec<String>> = uses
                    .iter()
                    .filter(|p| p.first().map(String::as_str) != Some("anchors"))
                    .collect();
                let considered: Vec<&Vec<String>> = if real.is_empty() {
                    uses.iter().collect()
                } else {
                    real
                };
                roles = considered
                    .iter()
                    .map(|p| contexts.routing_role(p))
                    .collect();
            }
            (Context::Yaml { paths: shown }, roles)
        }
        YamlContext::Comment => (Context::Comment { scopes: Vec::new() }, BTreeSet::new()),
        _ => (Context::Text, BTreeSet::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enclosing_scope_is_the_innermost_scope_holding_the_offset() {
        // Sequential, nested (three deep), an empty one, and
        // text between scopes and after inner ones.
        let src = "a=1\n[service.name=x] {\n b=dh-query-1\n [host=dh-query-2] {\n  c=3\n  [os=l] {\n   d=4\n  }\n  e=5\n }\n f=6\n}\ng=7\n[service.name=y] {\n}\nh=8\n[service.name=z|w] {\n [host=a] {\n i=9\n }\n j=10\n}\nk=11\n";
        let p = crate::formats::props::parse(src).unwrap();
        assert!(p.scopes().len() >= 6, "{} scopes", p.scopes().len());
        // What the innermost holding scope is, by looking at every scope.
        let brute = |offset: usize| {
            p.scopes()
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    let body_end = s.close_span.map_or(usize::MAX, |c| c.start);
                    (s.header_span.start <= offset && offset < s.header_span.end)
                        || (s.open_span.end <= offset && offset < body_end)
                })
                .max_by_key(|(_, s)| s.header_span.start)
                .map(|(i, _)| i)
        };
        let mut seen = BTreeSet::new();
        for offset in 0..=src.len() {
            let got = enclosing_scope(&p, offset);
            assert_eq!(got, brute(offset), "offset {offset}");
            seen.insert(got);
        }
        // Every scope, and no scope, were the answer somewhere.
        assert_eq!(seen.len(), p.scopes().len() + 1);
    }

    #[test]
    fn span_set_covers_exactly_the_spans_inside_one_of_its_spans() {
        // Out of order, one nested in another, one empty.
        let set = SpanSet::new(
            [
                Span::new(40, 50),
                Span::new(10, 20),
                Span::new(12, 15),
                Span::new(30, 30),
            ]
            .into_iter(),
        );
        assert!(set.covers(Span::new(10, 20)));
        assert!(set.covers(Span::new(13, 14)));
        assert!(set.covers(Span::new(16, 20)));
        assert!(set.covers(Span::new(45, 50)));
        assert!(!set.covers(Span::new(9, 12)));
        assert!(!set.covers(Span::new(18, 21)));
        assert!(!set.covers(Span::new(21, 25)));
        assert!(!set.covers(Span::new(30, 31)));
        assert!(!set.covers(Span::new(49, 51)));
        assert!(!set.covers(Span::new(0, 1)));
        assert!(!SpanSet::new(std::iter::empty()).covers(Span::new(0, 0)));
    }

    #[test]
    fn position_sweep_gives_the_line_index_positions() {
        let text = "a\u{e9}b\r\nx\n\n\u{1F600} host\nlast";
        let index = crate::text::LineIndex::new(text);
        let mut sweep = PositionSweep::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                sweep.at(offset),
                index.position(text, offset),
                "at {offset}"
            );
        }
        // Out of order still answers right.
        assert_eq!(sweep.at(1), index.position(text, 1));
    }
}
