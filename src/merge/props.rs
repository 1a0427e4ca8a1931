//! Merging a migrated property file with the new cluster's copy, per key in its scope
//! chain (a setting is `[scope headers...] key`; the last declaration wins).
//!
//! - Both set a key: the bundle's value stands (unless `new-wins:` names it: then only the
//!   bytes of the bundle's value change).
//! - Only the bundle sets it: carried as it is (every byte of the bundle is kept).
//! - Only the new cluster sets it: its declaration, as the new cluster wrote it, is
//!   inserted (unless `drop:` names it), under a comment marking it as kept:
//!   - top-level keys at the end of the file, or before the first `final`/`finalize`
//!     that would lock them (always after `includefiles`, which must stay first);
//!   - scoped keys at the end of the last block with the same scope chain, or at its
//!     start when the block locks them further down; without such a block, in a new block
//!     with the new cluster's headers, placed like a top-level key;
//!   - `includefiles` (when only the new cluster has it) before the first non-comment line.
//!
//! Why declarations are copied as written rather than re-encoded: their escapes and
//! continuations are the new install's own bytes, and copying cannot change their values.

use super::{drops, line_ending, new_wins, splice, MergeError, MergeReport, Merged, KEPT_COMMENT};
use crate::formats::props::{self, PartKind, PropsContext, PropsFile, ScopeId};
use crate::mapping::merge_rules::{glob, ItemRules};
use crate::text::Span;
use std::collections::{BTreeMap, HashMap};

/// A setting: the normalized headers of its scope chain (outermost first) and its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    pub chain: Vec<String>,
    pub key: String,
}

impl Ident {
    /// `key`, or `[a=b][c=d] key`: the name the mapping's `merge:` section uses.
    pub fn name(&self) -> String {
        if self.chain.is_empty() {
            self.key.clone()
        } else {
            format!("{} {}", self.chain.concat(), self.key)
        }
    }
}

/// A parsed file with what merging needs to know about it.
struct Model<'a> {
    text: &'a str,
    p: PropsFile,
    /// Normalized scope chain of each scope id.
    chains: Vec<Vec<String>>,
    /// The whole source span of each declaration (`final` keyword to end of value).
    decl_spans: Vec<Span>,
    /// Each setting's effective (last) declaration.
    effective: HashMap<Ident, usize>,
}

/// `[key=a|b,key2=c]` from the decoded items: whitespace never matters.
fn header_sig(p: &PropsFile, id: ScopeId) -> String {
    let items: Vec<String> = p.scopes()[id]
        .items
        .iter()
        .map(|it| {
            let vals: Vec<&str> = it.values.iter().map(|(v, _)| v.as_str()).collect();
            format!("{}={}", it.key, vals.join("|"))
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn model(text: &str) -> Result<Model<'_>, String> {
    let p = props::parse(text).map_err(|e| {
        let pos = crate::text::position_of(text, e.offset);
        format!("{pos}: {}", e.kind)
    })?;
    let chains: Vec<Vec<String>> = (0..p.scopes().len())
        .map(|id| {
            p.scope_chain(id)
                .into_iter()
                .map(|s| header_sig(&p, s))
                .collect()
        })
        .collect();
    let mut decl_spans: Vec<Option<Span>> = vec![None; p.declarations().len()];
    for part in p.parts() {
        if let PropsContext::Declaration { index, .. } = part.context {
            if let Some(slot) = decl_spans.get_mut(index) {
                *slot = Some(match *slot {
                    None => part.span,
                    Some(s) => Span::new(s.start.min(part.span.start), s.end.max(part.span.end)),
                });
            }
        }
    }
    let decl_spans = decl_spans
        .into_iter()
        .zip(p.declarations())
        .map(|(s, d)| s.unwrap_or(Span::new(d.key_span.start, d.value_span.end)))
        .collect();
    let mut effective = HashMap::new();
    for (i, d) in p.declarations().iter().enumerate() {
        let chain = d.scope.map(|s| chains[s].clone()).unwrap_or_default();
        effective.insert(
            Ident {
                chain,
                key: d.key.clone(),
            },
            i,
        );
    }
    Ok(Model {
        text,
        p,
        chains,
        decl_spans,
        effective,
    })
}

impl Model<'_> {
    /// Every setting with its effective value.
    fn values(&self) -> BTreeMap<Ident, String> {
        self.effective
            .iter()
            .map(|(id, &i)| (id.clone(), self.p.declarations()[i].value.clone()))
            .collect()
    }

    fn chain_of(&self, scope: Option<ScopeId>) -> Vec<String> {
        scope.map(|s| self.chains[s].clone()).unwrap_or_default()
    }

    /// Every lock: `final` declarations and `finalize` names.
    fn locks(&self) -> Vec<Lock> {
        let mut v = Vec::new();
        for d in self.p.declarations().iter().filter(|d| d.is_final) {
            v.push(Lock {
                chain: self.chain_of(d.scope),
                pattern: d.key.clone(),
                exact: true,
                at: d.key_span.start,
                scope: d.scope,
                line: d.line,
            });
        }
        for f in self.p.finalized() {
            v.push(Lock {
                chain: self.chain_of(f.scope),
                pattern: f.name.clone(),
                exact: false,
                at: f.span.start,
                scope: f.scope,
                line: f.line,
            });
        }
        v
    }

    /// Where a top-level insertion must go to come before byte `at` (inside `scope`): the
    /// start of the line of the outermost enclosing header, or of `at`'s own line.
    fn top_level_before(&self, at: usize, scope: Option<ScopeId>) -> usize {
        let from = match scope {
            Some(s) => {
                let outer = self.p.scope_chain(s)[0];
                self.p.scopes()[outer].header_span.start
            }
            None => at,
        };
        line_start(self.text, from)
    }

    /// Start of the first line that is neither blank nor a comment (where `includefiles`
    /// must go), or the end of the text.
    fn first_content_line(&self) -> usize {
        self.p
            .parts()
            .iter()
            .find(|p| {
                !matches!(
                    p.kind,
                    PartKind::Whitespace | PartKind::LineEnd | PartKind::Comment
                )
            })
            .map_or(self.text.len(), |p| line_start(self.text, p.span.start))
    }
}

/// A `final` declaration or a `finalize` name.
struct Lock {
    chain: Vec<String>,
    pattern: String,
    exact: bool,
    at: usize,
    scope: Option<ScopeId>,
    line: usize,
}

impl Lock {
    /// True when this lock forbids declaring `id` after it: the names match and one
    /// scope chain is a prefix of the other (then one applies wherever the other does).
    fn locks(&self, id: &Ident) -> bool {
        let named = if self.exact {
            self.pattern == id.key
        } else {
            glob(&self.pattern, &id.key)
        };
        let related =
            id.chain.starts_with(&self.chain) || self.chain.starts_with(id.chain.as_slice());
        named && related
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Only whitespace (spaces, tabs, form feeds) between the start of `at`'s line and `at`.
fn at_line_start(text: &str, at: usize) -> bool {
    text[line_start(text, at)..at]
        .chars()
        .all(|c| matches!(c, ' ' | '\t' | '\x0c'))
}

fn indentation(text: &str, at: usize) -> &str {
    let ls = line_start(text, at);
    let rest = &text[ls..];
    let n = rest
        .find(|c: char| !matches!(c, ' ' | '\t' | '\x0c'))
        .unwrap_or(rest.len());
    &rest[..n]
}

/// One piece of text to insert at a byte offset of the bundle's text.
#[derive(Debug)]
struct Insertion {
    at: usize,
    /// Inserted in this order among insertions at the same offset.
    order: usize,
    text: String,
}

/// Merges `migrated` (the bundle's file after migration) with `target` (the new
/// cluster's copy). `item` names the file in errors.
pub fn merge(
    item: &str,
    migrated: &str,
    target: &str,
    rules: Option<&ItemRules>,
) -> Result<Merged, MergeError> {
    let parse_err = |side: &'static str, detail: String| MergeError::Parse {
        item: item.to_string(),
        side,
        detail,
    };
    let b = model(migrated).map_err(|d| parse_err("migrated", d))?;
    let t = model(target).map_err(|d| parse_err("new cluster's", d))?;
    let nl = line_ending(migrated);
    let locks = b.locks();
    let mut report = MergeReport::default();
    let mut edits: Vec<(Span, String)> = Vec::new();
    let mut intended = b.values();

    // The new cluster's settings, in its file order.
    let mut theirs: Vec<(&Ident, usize)> = t.effective.iter().map(|(k, &i)| (k, i)).collect();
    theirs.sort_by_key(|(_, i)| *i);

    // Kept settings grouped by where they go.
    let mut top: Vec<(Ident, usize)> = Vec::new();
    let mut top_before = migrated.len();
    let mut in_block: BTreeMap<(usize, bool), Vec<(Ident, usize)>> = BTreeMap::new();
    let mut include: Option<usize> = None;
    for (id, ti) in theirs {
        let name = id.name();
        let td = &t.p.declarations()[ti];
        if let Some(&bi) = b.effective.get(id) {
            let bd = &b.p.declarations()[bi];
            if bd.value != td.value && new_wins(rules, &name) {
                let raw = td.value_span.slice(target).to_string();
                let new = if bd.value_span.is_empty() && bd.value_span.start == bd.key_span.end {
                    format!("={raw}")
                } else {
                    raw
                };
                edits.push((bd.value_span, new));
                intended.insert(id.clone(), td.value.clone());
                report.new_won.push(name);
            }
            continue;
        }
        if drops(rules, &name) {
            report.dropped.push(name);
            continue;
        }
        intended.insert(id.clone(), td.value.clone());
        report.kept.push(name.clone());
        let cannot = |why: String| MergeError::CannotKeep {
            item: item.to_string(),
            name: name.clone(),
            why,
        };
        if id.chain.is_empty() && id.key.eq_ignore_ascii_case("includefiles") {
            include = Some(ti);
            continue;
        }
        let conflicting: Vec<&Lock> = locks.iter().filter(|l| l.locks(id)).collect();
        // The last block of the bundle with the same scope chain, if any.
        let block = (!id.chain.is_empty())
            .then(|| {
                (0..b.p.scopes().len())
                    .rev()
                    .find(|&s| b.chains[s] == id.chain)
            })
            .flatten();
        match block {
            Some(s) => {
                let sc = &b.p.scopes()[s];
                let close = sc.close_span.map_or(migrated.len(), |c| c.start);
                let first_lock = conflicting
                    .iter()
                    .map(|l| l.at)
                    .filter(|&a| a < close)
                    .min();
                let at_start = match first_lock {
                    None => false,
                    Some(a) if a > sc.open_span.end => true,
                    Some(_) => {
                        let l = conflicting
                            .iter()
                            .find(|l| l.at < close)
                            .map_or(0, |l| l.line);
                        return Err(cannot(format!(
                            "the migrated file locks it on line {l}, before its scope block"
                        )));
                    }
                };
                in_block
                    .entry((s, at_start))
                    .or_default()
                    .push((id.clone(), ti));
            }
            None => {
                for l in &conflicting {
                    top_before = top_before.min(b.top_level_before(l.at, l.scope));
                }
                top.push((id.clone(), ti));
            }
        }
    }

    let mut inserts: Vec<Insertion> = Vec::new();
    if let Some(ti) = include {
        let at = b.first_content_line();
        let decl = t.decl_spans[ti].slice(target);
        inserts.push(Insertion {
            at,
            order: 0,
            text: format!("{KEPT_COMMENT}{nl}{decl}{nl}"),
        });
    }
    for ((s, at_start), ids) in &in_block {
        let sc = &b.p.scopes()[*s];
        // Indent like the block's first declaration, else one level in from the header.
        let indent =
            b.p.declarations()
                .iter()
                .find(|d| d.scope == Some(*s))
                .map(|d| indentation(migrated, d.key_span.start).to_string())
                .unwrap_or_else(|| format!("{}    ", indentation(migrated, sc.header_span.start)));
        let mut lines = vec![format!("{indent}{KEPT_COMMENT}")];
        for (_, ti) in ids {
            lines.push(format!("{indent}{}", t.decl_spans[*ti].slice(target)));
        }
        let body = lines.join(nl);
        if *at_start {
            let at = sc.open_span.end;
            let rest_of_line = migrated[at..].split('\n').next().unwrap_or("");
            let tail = if rest_of_line.trim().is_empty() {
                ""
            } else {
                nl
            };
            inserts.push(Insertion {
                at,
                order: 1,
                text: format!("{nl}{body}{tail}"),
            });
        } else {
            let close = sc.close_span.map_or(migrated.len(), |c| c.start);
            if at_line_start(migrated, close) {
                inserts.push(Insertion {
                    at: line_start(migrated, close),
                    order: 1,
                    text: format!("{body}{nl}"),
                });
            } else {
                inserts.push(Insertion {
                    at: close,
                    order: 1,
                    text: format!("{nl}{body}{nl}"),
                });
            }
        }
    }
    if !top.is_empty() {
        let mut lines = vec![KEPT_COMMENT.to_string()];
        // Top-level keys first, then one new block per scope chain (in first-seen order).
        let mut chains: Vec<&Vec<String>> = Vec::new();
        for (id, ti) in &top {
            if id.chain.is_empty() {
                lines.push(t.decl_spans[*ti].slice(target).to_string());
            } else if !chains.contains(&&id.chain) {
                chains.push(&id.chain);
            }
        }
        for chain in chains {
            // The new cluster's own headers, as written, from its first key in this chain.
            let Some((_, first)) = top.iter().find(|(id, _)| &id.chain == chain) else {
                continue;
            };
            let scope_ids = t.p.declarations()[*first]
                .scope
                .map(|s| t.p.scope_chain(s))
                .unwrap_or_default();
            for (depth, s) in scope_ids.iter().enumerate() {
                let hdr = t.p.scopes()[*s].header_span.slice(target);
                lines.push(format!("{}{hdr} {{", "    ".repeat(depth)));
            }
            let indent = "    ".repeat(scope_ids.len());
            for (_, ti) in top.iter().filter(|(id, _)| &id.chain == chain) {
                lines.push(format!("{indent}{}", t.decl_spans[*ti].slice(target)));
            }
            for depth in (0..scope_ids.len()).rev() {
                lines.push(format!("{}}}", "    ".repeat(depth)));
            }
        }
        let body = lines.join(nl);
        let at = top_before;
        let lead = if at == migrated.len() && !migrated.is_empty() && !migrated.ends_with('\n') {
            nl
        } else {
            ""
        };
        inserts.push(Insertion {
            at,
            order: 2,
            text: format!("{lead}{body}{nl}"),
        });
    }

    let inserts: Vec<(usize, usize, String)> = inserts
        .into_iter()
        .map(|i| (i.at, i.order, i.text))
        .collect();
    let text = splice(migrated, &edits, &inserts);
    verify(item, &text, &intended)?;
    Ok(Merged { text, report })
}

/// The merged text parses and every setting has exactly its intended value.
fn verify(item: &str, text: &str, intended: &BTreeMap<Ident, String>) -> Result<(), MergeError> {
    let unsound = |name: String, detail: String| MergeError::Unsound {
        item: item.to_string(),
        name,
        detail,
    };
    let m = model(text).map_err(|d| unsound("(the file)".into(), d))?;
    let got = m.values();
    for (id, want) in intended {
        match got.get(id) {
            Some(v) if v == want => {}
            Some(v) => return Err(unsound(id.name(), format!("got `{v}`, want `{want}`"))),
            None => return Err(unsound(id.name(), "missing".into())),
        }
    }
    if let Some(extra) = got.keys().find(|k| !intended.contains_key(*k)) {
        return Err(unsound(extra.name(), "not expected".into()));
    }
    Ok(())
}

/// Every setting of a property file with its effective value, by name (`[a=b] key`): the
/// semantic view the comparison and the property tests use.
pub fn settings(text: &str) -> Result<BTreeMap<String, String>, String> {
    let m = model(text)?;
    Ok(m.values().into_iter().map(|(k, v)| (k.name(), v)).collect())
}

#[cfg(test)]
mod tests;
