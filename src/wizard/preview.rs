//! What an answer does to one old name's references, shown right after the answer: a few
//! places (file:line) with the line before and after. Decided by the same `resolve` that
//! `plan` uses, so the preview cannot disagree with the plan.

use crate::mapping::resolve::{resolve, Outcome, Problem};
use crate::mapping::Mapping;
use crate::scan::inventory::{IdKind, Inventory};
use crate::scan::refs::Reference;
use crate::scan::tokens::{is_ipv4, short_name};
use crate::tree::ConfigTree;
use std::collections::BTreeSet;

/// One previewed place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLine {
    /// `file:line`.
    pub place: String,
    pub before: String,
    /// The line after the rewrite, or why the reference has no new value.
    pub after: Result<String, String>,
}

/// The preview of one old name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    /// References to the name (and to its short name, which follows an FQDN) in migrated
    /// files.
    pub total: usize,
    pub lines: Vec<PreviewLine>,
}

/// Longest line shown, in characters; longer lines are cut around the reference.
const WIDTH: usize = 100;

/// True when `r` is a reference to `name` as the mapping decides it: the name itself, or
/// for an FQDN its short name when that names this node alone.
pub fn refers_to(r: &Reference, name: &str, inv: &Inventory) -> bool {
    if r.text.eq_ignore_ascii_case(name) {
        return true;
    }
    if is_ipv4(name) || r.kind != IdKind::Short || !name.contains('.') {
        return false;
    }
    let Some((_, nodes)) = inv.lookup(name) else {
        return false;
    };
    r.text.eq_ignore_ascii_case(short_name(name)) && r.nodes.len() == 1 && nodes == r.nodes
}

/// Up to `max` places where `name` is referenced, decided by `mapping`. One place per
/// distinct new value comes first, so a split shows each of its roles.
pub fn preview(
    tree: &ConfigTree,
    refs: &[Reference],
    inv: &Inventory,
    mapping: &Mapping,
    name: &str,
    max: usize,
) -> Preview {
    let res = resolve(refs, mapping, inv, inv);
    let mine: Vec<usize> = (0..refs.len())
        .filter(|&i| refs[i].migrated && refers_to(&refs[i], name, inv))
        .collect();
    let problem = |i: usize| res.problems.iter().find(|p| p.reference() == Some(i));
    let value = |i: usize| -> Result<String, String> {
        if let Some(p) = problem(i) {
            return Err(reason(p));
        }
        match &res.outcomes[i] {
            Some(Outcome::Rewrite { new, .. }) => Ok(new.clone()),
            Some(Outcome::Kept { .. }) | Some(Outcome::Same { .. }) => Ok(refs[i].text.clone()),
            None => Err("not decided".into()),
        }
    };
    let mut chosen = BTreeSet::new();
    let mut seen_values = BTreeSet::new();
    for &i in &mine {
        if chosen.len() < max && seen_values.insert(value(i)) {
            chosen.insert(i);
        }
    }
    for &i in &mine {
        if chosen.len() >= max {
            break;
        }
        chosen.insert(i);
    }
    let lines = chosen
        .into_iter()
        .filter_map(|i| {
            let r = &refs[i];
            let text = &tree.get(&r.file)?.text;
            let (start, end) = (r.span.start, r.span.end);
            if end > text.len() || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                return None;
            }
            let ls = text[..start].rfind('\n').map_or(0, |p| p + 1);
            let le = text[end..].find('\n').map_or(text.len(), |p| end + p);
            let line = text[ls..le].trim_end_matches('\r');
            let le = ls + line.len();
            let (s, e) = (start - ls, end.min(le).max(start) - ls);
            let after = value(i).map(|new| {
                let a = format!("{}{}{}", &line[..s], new, &line[e..]);
                clip(&a, s, s + new.len())
            });
            Some(PreviewLine {
                place: format!("{}:{}", r.file, r.pos.line),
                before: clip(line, s, e),
                after,
            })
        })
        .collect();
    Preview {
        total: mine.len(),
        lines,
    }
}

/// Why a reference has no new value, in a few words.
fn reason(p: &Problem) -> String {
    match p {
        Problem::Unresolved { .. } => "unresolved: neither mapped nor kept".into(),
        Problem::Ambiguous { choices, .. } => {
            let c: Vec<String> = choices
                .iter()
                .map(|(r, v)| {
                    format!(
                        "{} -> {v}",
                        r.map_or("default".to_string(), |r| r.to_string())
                    )
                })
                .collect();
            format!("ambiguous: {}", c.join(", "))
        }
        Problem::NoDefault { role: Some(r), .. } => {
            format!("role {r} has no new host and there is no default")
        }
        Problem::NoDefault { role: None, .. } => {
            "no role decides this place and there is no default".into()
        }
        Problem::SharedShortName { fqdns, .. } => {
            format!("short name shared by {}", fqdns.join(" and "))
        }
        Problem::Hidden { .. } => {
            "split by a line continuation or escape: rewrite it by hand".into()
        }
        Problem::UnknownHost { host, .. } => format!("`{host}` names no host of the bundle"),
    }
}

/// The line trimmed of its indentation and cut to `WIDTH` characters around the byte
/// range `s..e` (the name).
fn clip(line: &str, s: usize, e: usize) -> String {
    let indent = line.len() - line.trim_start().len();
    let from = indent.min(s);
    let body = &line[from..];
    let (s, e) = (s - from, e - from);
    if body.chars().count() <= WIDTH {
        return body.to_string();
    }
    // Keep about a third of the width before the name.
    let mut start = s.saturating_sub(WIDTH / 3);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = start;
    for (n, (i, c)) in body[start..].char_indices().enumerate() {
        if n >= WIDTH && start + i >= e {
            break;
        }
        end = start + i + c.len_utf8();
    }
    format!(
        "{}{}{}",
        if start > 0 { "..." } else { "" },
        &body[start..end],
        if end < body.len() { "..." } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_lines_and_cuts_long_ones_around_the_name() {
        assert_eq!(clip("   a = host.x", 7, 13), "a = host.x");
        let long = format!("{}host.x{}", "a".repeat(150), "b".repeat(150));
        let c = clip(&long, 150, 156);
        assert!(c.starts_with("..."), "{c}");
        assert!(c.ends_with("..."), "{c}");
        assert!(c.contains("host.x"), "{c}");
        assert_eq!(c.chars().count(), 100 + 6);
    }
}
