//! Applying edits to a file's text: each edit replaces one byte span (a reference) with
//! its new value, and every other byte stays as it was.

use crate::mapping::resolve::{Outcome, Resolution};
use crate::scan::refs::Reference;
use crate::text::Span;
use std::collections::BTreeMap;

/// One replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub new: String,
}

/// Applies non-overlapping `edits` (any order) to `text`.
///
/// Edits are sorted by position; an edit that overlaps the previous one is a bug in the
/// caller (references never overlap: tokens are disjoint) and panics in debug builds.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for e in sorted {
        debug_assert!(
            e.span.start >= at,
            "overlapping edits at byte {}",
            e.span.start
        );
        out.push_str(&text[at..e.span.start]);
        out.push_str(&e.new);
        at = e.span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The edits of each file: every reference resolved to a rewrite.
pub fn edits_by_file(refs: &[Reference], res: &Resolution) -> BTreeMap<String, Vec<Edit>> {
    let mut by_file: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
    for (r, outcome) in refs.iter().zip(&res.outcomes) {
        if let Some(Outcome::Rewrite { new, .. }) = outcome {
            if !r.hidden {
                by_file.entry(r.file.clone()).or_default().push(Edit {
                    span: r.span,
                    new: new.clone(),
                });
            }
        }
    }
    by_file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_edited_bytes() {
        let text = "a=dh-query-1:22015,dh-query-10 # dh-query-1.\n";
        let edits = vec![
            Edit {
                span: Span::new(33, 43),
                new: "query-a".into(),
            },
            Edit {
                span: Span::new(2, 12),
                new: "query-a".into(),
            },
        ];
        assert_eq!(
            apply(text, &edits),
            "a=query-a:22015,dh-query-10 # query-a.\n"
        );
        assert_eq!(apply(text, &[]), text);
    }
}
