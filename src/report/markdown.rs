//! The report as Markdown (GitHub-flavoured): a title, the result, the counts per class,
//! then per file a heading with its status, a table of its differences and its unified
//! diff in a `diff` fence. Meant for tickets, pull requests and runbooks.
//!
//! Every value from the document is written so that it cannot change the page's
//! structure: table cells hold values in code spans (no Markdown or HTML inside them is
//! interpreted), `|` is escaped, the code-span and fence delimiters are made longer than
//! any backtick run in the value, and control characters become visible escapes.

use super::{FileReport, ReportDoc, TargetInfo, CLASSES};
use crate::compare::Difference;
use crate::text::escape_for_terminal;
use std::fmt::Write;

pub fn render(doc: &ReportDoc) -> String {
    crate::text::build(|o| {
        writeln!(o, "# dh-migrate report\n")?;
        let d = &doc.document;
        writeln!(
            o,
            "- **Generated:** {} (UTC) by dh-migrate {}",
            code(&d.generated_at),
            code(&d.tool_version)
        )?;
        writeln!(
            o,
            "- **Bundle:** {} (SHA-256 of the {}: {})",
            code(&doc.bundle),
            d.bundle_sha256_of,
            code(&d.bundle_sha256)
        )?;
        let target_detail = match &d.target {
            TargetInfo::Directory { path } => format!("directory {}", code(path)),
            TargetInfo::Etcd {
                endpoints,
                revision,
            } => format!("etcd {} at revision {revision}", code(&endpoints.join(","))),
        };
        writeln!(o, "- **Target:** {} ({target_detail})", code(&doc.target))?;
        match &doc.mapping {
            Some(m) => {
                writeln!(
                    o,
                    "- **Mapping:** {} ({} reference(s) rewritten{}{})",
                    code(m),
                    doc.summary.references_rewritten,
                    match doc.summary.rewrites_in_scripts {
                        0 => String::new(),
                        n => format!(", {n} in a script: review"),
                    },
                    d.mapping_sha256
                        .as_deref()
                        .map_or(String::new(), |h| format!("; SHA-256 {}", code(h)))
                )?;
            }
            None => {
                writeln!(
                    o,
                    "- **Mapping:** none (the bundle is compared as backed up)"
                )?;
            }
        }
        let s = &doc.summary;
        if s.clean {
            writeln!(
                o,
                "\n**Result: no differences.** Applying would change nothing in the new cluster.\n"
            )?;
        } else {
            let nodes = match s.node_files_to_copy {
                0 => String::new(),
                n => format!(" ({n} of them node file(s), copied to their nodes, not into etcd)"),
            };
            writeln!(
                o,
                "\n**Result: differences.** Applying would change {} file(s) and add {}{nodes}.{}\n",
                s.files_changed,
                s.files_only_in_bundle,
                super::not_written_words(s)
            )?;
        }

        writeln!(o, "| class | differences |\n|---|---:|")?;
        for c in CLASSES {
            let n = doc
                .files
                .iter()
                .flat_map(|f| &f.file.differences)
                .filter(|d| d.class == c)
                .count();
            writeln!(o, "| {} | {n} |", c.title())?;
        }
        writeln!(
        o,
        "\nFiles: {} changed, {} only in the bundle{}, {} only in the new cluster, {} installer-owned.",
        s.files_changed,
        s.files_only_in_bundle,
        match s.files_not_written {
            0 => String::new(),
            n => format!(" (and {n} apply does not write)"),
        },
        s.files_only_in_target,
        s.installer_owned
    )?;

        if !doc.files.is_empty() {
            writeln!(o, "\n## Files")?;
        }
        for f in &doc.files {
            file_section(o, f)?;
        }
        if let Some(steps) = &doc.restart {
            let body: String = crate::restart::render_text(steps)
                .lines()
                .map(|l| format!("{}\n", escape_for_terminal(l)))
                .collect();
            let fence = "`".repeat((longest_backtick_run(&body) + 1).max(3));
            writeln!(o, "\n## Restart step\n\n{fence}text\n{body}{fence}")?;
        }
        Ok(())
    })
}

fn file_section(o: &mut String, f: &FileReport) -> std::fmt::Result {
    writeln!(o, "\n### {} ({})\n", code(&f.file.path), f.status_words())?;
    // Whole-file differences carry no values: a sentence says it; items go in a table.
    for d in f.file.differences.iter().filter(|d| d.item.is_none()) {
        let secret = if d.secret {
            " (secret: fingerprints only)"
        } else {
            ""
        };
        writeln!(o, "Whole file: {}{secret}.", d.class.title())?;
    }
    let items: Vec<&Difference> = f
        .file
        .differences
        .iter()
        .filter(|d| d.item.is_some())
        .collect();
    if !items.is_empty() {
        if items.len() < f.file.differences.len() {
            o.push('\n');
        }
        writeln!(
            o,
            "| class | item | bundle | migrated | target | line |\n|---|---|---|---|---|---|"
        )?;
        for d in items {
            difference_row(o, d)?;
        }
    }
    rewrite_tables(o, f)?;
    if let Some(diff) = &f.diff {
        let body: String = diff
            .lines()
            .map(|l| format!("{}\n", escape_for_terminal(l)))
            .collect();
        let fence = "`".repeat((longest_backtick_run(&body) + 1).max(3));
        writeln!(o, "\n{fence}diff\n{body}{fence}")?;
    }
    Ok(())
}

/// The file's rewritten references, those inside scripts in a table of their own.
fn rewrite_tables(o: &mut String, f: &FileReport) -> std::fmt::Result {
    for (title, _, list) in f.rewrite_groups() {
        writeln!(
            o,
            "\n{title} ({}):\n\n| line | place | before | after | decided by |\n|---:|---|---|---|---|",
            list.len()
        )?;
        for r in list {
            writeln!(
                o,
                "| {}:{} | {} | {} | {} | {} |",
                r.line,
                r.column,
                code(&r.place),
                code(&r.before),
                code(&r.after),
                r.why()
            )?;
        }
    }
    Ok(())
}

fn difference_row(o: &mut String, d: &Difference) -> std::fmt::Result {
    let item = code(d.item.as_deref().unwrap_or_default());
    let item = if d.secret {
        format!("{item} *(secret: fingerprints only)*")
    } else {
        item
    };
    // The bundle value matters only where the mapping rewrote it; repeating it next to an
    // identical migrated value would only add noise.
    let bundle = match (&d.bundle, &d.migrated) {
        (Some(b), Some(m)) if b == m => "*(as migrated)*".to_string(),
        (b, _) => cell(b.as_deref()),
    };
    let line = match (d.line, d.target_line) {
        (Some(l), Some(t)) => format!("{l} (target {t})"),
        (Some(l), None) => l.to_string(),
        (None, Some(t)) => format!("target {t}"),
        (None, None) => String::new(),
    };
    writeln!(
        o,
        "| {} | {} | {} | {} | {} | {} |",
        d.class.title(),
        item,
        bundle,
        cell(d.migrated.as_deref()),
        cell(d.target.as_deref()),
        line
    )?;
    Ok(())
}

/// A value in a table cell: a code span, or a word for an absent or empty value.
fn cell(v: Option<&str>) -> String {
    match v {
        None => "—".to_string(),
        Some("") => "*(empty)*".to_string(),
        Some(v) => code(v),
    }
}

/// `v` as an inline code span that holds it literally: control characters made visible,
/// `|` escaped (GitHub tables split cells on it even inside code spans), and a backtick
/// delimiter longer than any backtick run inside.
fn code(v: &str) -> String {
    let v = escape_for_terminal(v).replace('|', "\\|");
    let ticks = "`".repeat(longest_backtick_run(&v) + 1);
    // A space on each side keeps a leading or trailing backtick apart from the delimiter;
    // CommonMark strips exactly one such space from each side.
    let spaced = v.starts_with(' ') && v.ends_with(' ') && !v.trim().is_empty();
    let pad = if v.starts_with('`') || v.ends_with('`') || spaced {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{v}{pad}{ticks}")
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::{code, longest_backtick_run};

    #[test]
    fn code_spans_hold_pipes_backticks_and_controls_literally() {
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x `y` z"), "``x `y` z``");
        assert_eq!(code("`edge"), "`` `edge ``");
        assert_eq!(code("two\nlines"), "`two\\nlines`");
        assert_eq!(code("  padded  "), "`   padded   `");
        assert_eq!(code("   "), "`   `");
        assert_eq!(longest_backtick_run("a```b``"), 3);
    }
}
