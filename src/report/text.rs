//! The report as plain text for a terminal.

use super::{FileReport, ReportDoc, CLASSES};
use crate::text::escape_for_terminal as esc;
use std::fmt::Write;

pub fn render(doc: &ReportDoc) -> String {
    crate::text::build(|o| {
        writeln!(
            o,
            "Report: {} against {}",
            esc(&doc.bundle),
            esc(&doc.target)
        )?;
        match &doc.mapping {
            Some(m) => {
                writeln!(
                    o,
                    "Mapping: {} ({} reference(s) rewritten{})",
                    esc(m),
                    doc.summary.references_rewritten,
                    match doc.summary.rewrites_in_scripts {
                        0 => String::new(),
                        n => format!(", {n} in a script: review"),
                    }
                )?;
            }
            None => {
                writeln!(o, "Mapping: none (the bundle is compared as backed up)")?;
            }
        }
        let s = &doc.summary;
        writeln!(o, "Result: {}", super::result_words(s))?;
        for c in CLASSES {
            let n = doc
                .files
                .iter()
                .flat_map(|f| &f.file.differences)
                .filter(|d| d.class == c)
                .count();
            writeln!(o, "  {:<34} {n}", c.title())?;
        }
        for f in &doc.files {
            file_section(o, f)?;
        }
        if let Some(steps) = &doc.restart {
            o.push('\n');
            o.push_str(&esc_lines(&crate::restart::render_text(steps)));
        }
        Ok(())
    })
}

fn esc_lines(s: &str) -> String {
    s.lines().map(|l| format!("{}\n", esc(l))).collect()
}

fn file_section(o: &mut String, f: &FileReport) -> std::fmt::Result {
    writeln!(
        o,
        "\n== {}  [{}]",
        esc(&f.file.path),
        esc(&f.status_words())
    )?;
    for d in &f.file.differences {
        let item = d.item.as_deref().unwrap_or("(whole file)");
        writeln!(o, "  - {}: {}", d.class.title(), esc(item))?;
        let line = |label: &str, v: &Option<String>, l: Option<usize>| match v {
            Some(v) => format!(
                "      {label:<9} {}{}\n",
                esc(v),
                l.map_or(String::new(), |l| format!("  (line {l})"))
            ),
            None => String::new(),
        };
        if d.bundle != d.migrated {
            o.push_str(&line("bundle", &d.bundle, None));
        }
        o.push_str(&line("migrated", &d.migrated, d.line));
        o.push_str(&line("target", &d.target, d.target_line));
    }
    for (title, _, list) in f.rewrite_groups() {
        // Lower case in the indented text layout ("rewritten references (8):").
        writeln!(
            o,
            "  {}{} ({}):",
            title[..1].to_lowercase(),
            &title[1..],
            list.len()
        )?;
        for r in list {
            writeln!(
                o,
                "    line {}:{}  {}  {} -> {}  ({})",
                r.line,
                r.column,
                esc(&r.place),
                esc(&r.before),
                esc(&r.after),
                r.why()
            )?;
        }
    }
    Ok(())
}
