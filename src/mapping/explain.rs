//! Mapping problems told cause first: a mapping key that names no host of the bundle comes
//! before the references it leaves unresolved, with the bundle's closest host as a "did
//! you mean"; unresolved references come grouped per old node with a count and their first
//! few places, so a mapping that misses one busy host gives one line, not hundreds.

use super::resolve::Problem;
use crate::scan::inventory::Inventory;
use crate::scan::refs::Reference;
use std::collections::BTreeMap;

/// Places shown per unresolved node; the rest are counted.
pub const PLACES_SHOWN: usize = 3;

/// Unknown mapping keys described one by one (with a "did you mean"); the rest counted.
pub const UNKNOWN_SHOWN: usize = 20;

/// The edit distance between `a` and `b` (case-insensitive), when it is at most `max`.
/// Banded: cost grows with `max`, not with the product of the lengths.
pub fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<u8> = a.bytes().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<u8> = b.bytes().map(|c| c.to_ascii_lowercase()).collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let big = max + 1;
    let mut prev: Vec<usize> = (0..=b.len()).map(|j| j.min(big)).collect();
    let mut cur = vec![big; b.len() + 1];
    for i in 1..=a.len() {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(b.len());
        cur.fill(big);
        cur[0] = i.min(big);
        let mut row_min = cur[0];
        for j in lo..=hi {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let v = sub.min(prev[j] + 1).min(cur[j - 1] + 1).min(big);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[b.len()] <= max).then_some(prev[b.len()])
}

/// The closest of `candidates` to `name` within a third of its length (at least 1, at
/// most 4 edits); ties go to the first candidate.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let max = (name.len() / 3).clamp(1, 4);
    candidates
        .iter()
        .filter(|c| !c.eq_ignore_ascii_case(name))
        .filter_map(|c| edit_distance(name, c, max).map(|d| (d, *c)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// One line per problem, cause first: unknown mapping keys (with "did you mean"), then
/// unresolved references grouped per old node, then the other problems in file order.
pub fn problem_lines(
    problems: &[Problem],
    refs: &[Reference],
    inv: &Inventory,
    mapping_file: &str,
) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut unresolved: BTreeMap<String, Vec<&Reference>> = BTreeMap::new();
    let mut other = Vec::new();
    for p in problems {
        match p {
            Problem::UnknownHost { .. } => unknown.push(p),
            Problem::Unresolved { reference } => {
                let r = &refs[*reference];
                let node = r
                    .nodes
                    .first()
                    .and_then(|&n| inv.nodes.get(n))
                    .map_or(r.text.to_ascii_lowercase(), |n| n.name().to_string());
                unresolved.entry(node).or_default().push(r);
            }
            _ => other.push(p.describe(refs, mapping_file)),
        }
    }
    // "Did you mean" looks among the hosts left unresolved first: a typo in a key leaves
    // exactly its intended host unmapped.
    let unmapped: Vec<&str> = unresolved.keys().map(String::as_str).collect();
    let mut lines = Vec::new();
    for p in unknown.iter().take(UNKNOWN_SHOWN) {
        let mut line = p.describe(refs, mapping_file);
        if let Problem::UnknownHost { host, .. } = p {
            let guess = did_you_mean(host, &unmapped).or_else(|| {
                let all: Vec<&str> = inv
                    .nodes
                    .iter()
                    .filter(|n| !n.evidence.iter().all(|e| e.what == "mapping key"))
                    .map(|n| n.name())
                    .collect();
                did_you_mean(host, &all)
            });
            if let Some(g) = guess {
                line.push_str(&format!("; did you mean `{g}`?"));
            }
        }
        lines.push(line);
    }
    if unknown.len() > UNKNOWN_SHOWN {
        lines.push(format!(
            "{mapping_file}: and {} more mapping keys that name no host of the bundle",
            unknown.len() - UNKNOWN_SHOWN
        ));
    }
    for (node, rs) in &unresolved {
        let places: Vec<String> = rs
            .iter()
            .take(PLACES_SHOWN)
            .map(|r| format!("{}:{} `{}` ({})", r.file, r.pos, r.text, r.context))
            .collect();
        let more = if rs.len() > PLACES_SHOWN {
            format!(" and {} more", rs.len() - PLACES_SHOWN)
        } else {
            String::new()
        };
        lines.push(format!(
            "{node}: {} reference(s) name this old node but are neither mapped nor kept: {}{more}",
            rs.len(),
            places.join("; ")
        ));
    }
    lines.extend(other);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_is_bounded_and_case_insensitive() {
        assert_eq!(edit_distance("kitten", "sitting", 3), Some(3));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("DH-QUERY-1", "dh-query-1", 0), Some(0));
        assert_eq!(edit_distance("", "abc", 3), Some(3));
        assert_eq!(edit_distance("abc", "", 2), None);
        assert_eq!(
            edit_distance("dh-query-9.old", "dh-query-1.old", 2),
            Some(1)
        );
    }

    #[test]
    fn did_you_mean_picks_the_closest_within_reach() {
        let c = ["dh-query-1.old.example.com", "dh-infra-1.old.example.com"];
        assert_eq!(
            did_you_mean("dh-qurey-1.old.example.com", &c),
            Some("dh-query-1.old.example.com")
        );
        assert_eq!(did_you_mean("totally-different.example.org", &c), None);
    }
}
