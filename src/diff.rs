//! Unified diffs for people: hunks with context, and the changed words highlighted when
//! colour is on. Colour is never the only signal: lines keep their `-`/`+` markers.
//! Callers pass text that is already redacted.

use console::Style;
use similar::{ChangeTag, TextDiff};
use std::fmt::Write;

/// Lines of context around each change.
pub const CONTEXT: usize = 2;

/// A unified diff of `old` -> `new` (labels name the two sides), or None when equal.
/// `color` turns on ANSI styles with word-level highlighting of the changed tokens.
pub fn unified(
    old: &str,
    new: &str,
    old_label: &str,
    new_label: &str,
    color: bool,
) -> Option<String> {
    if old == new {
        return None;
    }
    let diff = TextDiff::from_lines(old, new);
    let (del, ins, hdr, hunk) = if color {
        (
            Style::new().red(),
            Style::new().green(),
            Style::new().bold(),
            Style::new().cyan(),
        )
    } else {
        (Style::new(), Style::new(), Style::new(), Style::new())
    };
    let (del_word, ins_word) = if color {
        (Style::new().red().reverse(), Style::new().green().reverse())
    } else {
        (Style::new(), Style::new())
    };
    let (del, ins, hdr, hunk, del_word, ins_word) = (
        del.force_styling(color),
        ins.force_styling(color),
        hdr.force_styling(color),
        hunk.force_styling(color),
        del_word.force_styling(color),
        ins_word.force_styling(color),
    );
    Some(crate::text::render(|out| {
        writeln!(out, "{}", hdr.apply_to(format!("--- {old_label}")))?;
        writeln!(out, "{}", hdr.apply_to(format!("+++ {new_label}")))?;
        for group in diff.grouped_ops(CONTEXT) {
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let old_range = first.old_range().start..last.old_range().end;
            let new_range = first.new_range().start..last.new_range().end;
            writeln!(
                out,
                "{}",
                hunk.apply_to(format!(
                    "@@ -{},{} +{},{} @@",
                    old_range.start + 1,
                    old_range.len(),
                    new_range.start + 1,
                    new_range.len()
                ))
            )?;
            for op in &group {
                for change in diff.iter_inline_changes(op) {
                    let (sign, style, word) = match change.tag() {
                        ChangeTag::Delete => ("-", &del, &del_word),
                        ChangeTag::Insert => ("+", &ins, &ins_word),
                        ChangeTag::Equal => (" ", &Style::new(), &Style::new()),
                    };
                    let mut line = String::new();
                    for (emphasized, value) in change.iter_strings_lossy() {
                        let value =
                            crate::text::escape_for_terminal(value.trim_end_matches(['\n', '\r']));
                        if emphasized {
                            write!(line, "{}", word.apply_to(value))?;
                        } else {
                            write!(line, "{}", style.apply_to(value))?;
                        }
                    }
                    writeln!(out, "{}{}", style.apply_to(sign), line)?;
                    if change.missing_newline() {
                        writeln!(out, "\\ No newline at end of file")?;
                    }
                }
            }
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unified_diff_has_hunks_and_markers() {
        let old = "a\nb=dh-query-1:22015\nc\nd\ne\nf\n";
        let new = "a\nb=query-a:22015\nc\nd\ne\nf\n";
        let d = unified(old, new, "bundle/x", "migrated/x", false).unwrap();
        assert_eq!(
            d,
            "--- bundle/x\n+++ migrated/x\n@@ -1,4 +1,4 @@\n a\n-b=dh-query-1:22015\n+b=query-a:22015\n c\n d\n"
        );
        assert_eq!(unified(old, old, "a", "b", false), None);
    }

    #[test]
    fn colour_highlights_the_changed_word() {
        let d = unified("h=dh-query-1\n", "h=query-a\n", "a", "b", true).unwrap();
        assert!(d.contains("\u{1b}["), "expected ANSI styles: {d:?}");
        assert!(d.contains("-") && d.contains("+"));
    }
}
