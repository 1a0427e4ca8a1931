//! Merge, never overwrite (contract: "Merge, never overwrite"): what `apply` writes for an
//! item the new cluster already has is the migrated bundle's text with every byte kept,
//! plus the settings only the new cluster has inserted where the grammar needs them.
//!
//! Both engines are pure functions of (migrated text, target text, the mapping's `merge:`
//! decisions for the item). Each re-parses its result and checks that every setting has
//! the intended effective value (bundle over new cluster, minus explicit drops, plus
//! explicit new-wins); a result that does not is an error, never written.
//!
//! - [`props`]: property files, per key in its scope chain.
//! - [`yaml`]: routing YAML and DIS configs, per resolved path (aliases and `<<` merges
//!   resolved for comparing; the text edited in place for writing).

pub mod props;
pub mod yaml;

use crate::mapping::merge_rules::ItemRules;
use serde::Serialize;

/// What a merge did besides carrying the bundle's text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Settings only the new cluster has, kept (inserted into the result).
    pub kept: Vec<String>,
    /// Settings only the new cluster has, removed because the mapping's `merge:` section
    /// names them under `drop:`.
    pub dropped: Vec<String>,
    /// Settings both set where the new cluster's value stays (`new-wins:`).
    pub new_won: Vec<String>,
}

/// A merged item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    pub report: MergeReport,
}

/// Why an item cannot be merged without losing something: the plan stops naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("{item}: the {side} copy does not parse: {detail}")]
    Parse {
        item: String,
        side: &'static str,
        detail: String,
    },
    #[error("{item}: `{name}` is only in the new cluster but cannot be kept: {why}; decide it in the mapping file's `merge:` section (`drop:` it, or `new-wins:` for the enclosing setting)")]
    CannotKeep {
        item: String,
        name: String,
        why: String,
    },
    #[error("{item}: `{name}`: the new cluster's value cannot win: {why}")]
    CannotNewWin {
        item: String,
        name: String,
        why: String,
    },
    #[error("internal error: {item}: the merged text does not give `{name}` its intended value ({detail}); nothing was written")]
    Unsound {
        item: String,
        name: String,
        detail: String,
    },
}

/// The decisions for one item: none when the mapping names nothing for it.
pub(crate) fn drops(rules: Option<&ItemRules>, name: &str) -> bool {
    rules.is_some_and(|r| r.drops(name).is_some())
}

pub(crate) fn new_wins(rules: Option<&ItemRules>, name: &str) -> bool {
    rules.is_some_and(|r| r.new_wins(name).is_some())
}

/// `src` with `edits` (replacements of non-overlapping spans) and `inserts` (text placed at
/// an offset, before any edit starting there; several at one offset in `rank` order):
/// every other byte as it was.
pub(crate) fn splice(
    src: &str,
    edits: &[(crate::text::Span, String)],
    inserts: &[(usize, usize, String)],
) -> String {
    // (start, end, rank, text): an insertion is an empty span ranked before the edits.
    let mut all: Vec<(usize, usize, usize, &str)> = inserts
        .iter()
        .map(|(at, rank, t)| (*at, *at, *rank, t.as_str()))
        .chain(
            edits
                .iter()
                .map(|(s, t)| (s.start, s.end, usize::MAX, t.as_str())),
        )
        .collect();
    all.sort_by_key(|&(s, e, r, _)| (s, e, r));
    let mut out = String::with_capacity(src.len() + 256);
    let mut at = 0;
    for (s, e, _, new) in all {
        out.push_str(&src[at..s.max(at)]);
        out.push_str(new);
        at = e.max(at);
    }
    out.push_str(&src[at..]);
    out
}

/// `\r\n` when the text uses it, else `\n`: inserted lines follow the file.
pub(crate) fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

/// The comment line that marks what was kept from the new install (without indentation
/// and line ending; `#` starts a comment in both formats).
pub const KEPT_COMMENT: &str = "# kept from the new cluster by dh-migrate (only it sets these)";
