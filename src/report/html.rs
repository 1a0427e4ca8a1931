//! The report as one self-contained HTML page for an administrator: who was compared with
//! what, a result banner, the counts, then per file a section with its status, a table of
//! its differences and its unified diff, with a sticky index of the files. The page
//! (`templates/report.html`, compiled in) has its CSS inline and no scripts or external
//! assets, so it can be mailed or archived as one file.
//!
//! Every value from the document goes through [`esc`] (`& < > " '`), after control
//! characters are made visible, so a crafted value cannot inject markup. Colour is never
//! the only signal: statuses and classes are written out, and diff lines keep their
//! `+`/`-` markers.

use super::{status_words, FileReport, ReportDoc, CLASSES};
use crate::compare::{Class, Difference, FileStatus};
use crate::text::escape_for_terminal;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("../../templates/report.html");

pub fn render(doc: &ReportDoc) -> String {
    let title = format!("dh-migrate report: {}", doc.bundle);
    let generator = format!("dh-migrate {}", env!("CARGO_PKG_VERSION"));
    fill(TEMPLATE, |name| match name {
        "title" => Some(esc(&title)),
        "generator" => Some(esc(&generator)),
        "nav" => Some(nav(doc)),
        "main" => Some(main(doc)),
        _ => None,
    })
}

/// Replaces each `{{name}}` of the template, in one pass over the template only, so a
/// value that happens to contain `{{...}}` is never expanded again.
fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        match value(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + len + 4]),
        }
        rest = &rest[start + len + 4..];
    }
    out.push_str(rest);
    out
}

/// HTML-escapes a value from the document (after making control characters visible).
fn esc(v: &str) -> String {
    let v = escape_for_terminal(v);
    let mut out = String::with_capacity(v.len() + 16);
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The serde spelling of a class or status (used for CSS classes).
fn slug<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn status_short(s: FileStatus) -> &'static str {
    match s {
        FileStatus::Same => "same",
        FileStatus::Changed => "changed",
        FileStatus::OnlyInBundle => "added",
        FileStatus::OnlyInTarget => "target only",
        FileStatus::InstallerOwned => "installer",
    }
}

fn status_badge(s: FileStatus, words: &str) -> String {
    format!(
        r#"<span class="badge s-{}">{}</span>"#,
        esc(&slug(&s)),
        esc(words)
    )
}

fn class_badge(c: Class) -> String {
    format!(
        r#"<span class="badge c-{}">{}</span>"#,
        esc(&slug(&c)),
        esc(c.title())
    )
}

/// A compact class label for table rows; the full title is its tooltip and is spelled out
/// in the counts at the top.
fn class_tag(c: Class) -> String {
    let short = match c {
        Class::ExplainedByMapping => "mapping",
        Class::SiteCustomization => "customization",
        Class::NewDefault => "new default",
        Class::RemovedByApply => "removed",
        Class::InstallerOwned => "installer-owned",
    };
    format!(
        r#"<span class="badge c-{}" title="{}">{}</span>"#,
        esc(&slug(&c)),
        esc(c.title()),
        esc(short)
    )
}

fn class_count(doc: &ReportDoc, c: Class) -> usize {
    doc.files
        .iter()
        .flat_map(|f| &f.file.differences)
        .filter(|d| d.class == c)
        .count()
}

fn nav(doc: &ReportDoc) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        r##"<h2>Files ({})</h2>
<ol>
<li class="top"><a href="#summary">&#8593; Summary and counts</a></li>"##,
        doc.files.len()
    );
    for (i, f) in doc.files.iter().enumerate() {
        let n = f.file.differences.len();
        let _ = writeln!(
            o,
            r##"<li><a href="#f{i}" title="{}">{}<span class="path mono">{}</span><span class="n" title="differences">{n}</span></a></li>"##,
            esc(&format!("{}: {}", f.file.path, status_words(f.file.status))),
            status_badge(f.file.status, status_short(f.file.status)),
            breakable_path(&f.file.path),
        );
    }
    o.push_str("</ol>");
    o
}

/// An escaped value in which a narrow column may break lines after `.`, `,`, `/`, `;` and
/// `=` (`<wbr>` is not part of the text, so copying the value still gives it exactly).
fn breakable(v: &str) -> String {
    let mut out = String::new();
    for c in esc(v).chars() {
        out.push(c);
        if matches!(c, '.' | ',' | '/' | ';' | '=') {
            out.push_str("<wbr>");
        }
    }
    out
}

/// A path for the narrow index: the folder muted, line breaks allowed after each `/`.
fn breakable_path(path: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    let dir = esc(dir).replace('/', "/<wbr>");
    format!(r#"<span class="dir">{dir}</span>{}"#, esc(name))
}

fn main(doc: &ReportDoc) -> String {
    let s = &doc.summary;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<header class="top" id="summary">
<h1>dh-migrate report</h1>
<dl class="meta">
<dt>Bundle</dt><dd><code>{}</code></dd>
<dt>Target</dt><dd><code>{}</code></dd>"#,
        esc(&doc.bundle),
        esc(&doc.target)
    );
    match &doc.mapping {
        Some(m) => {
            let _ = writeln!(
                o,
                "<dt>Mapping</dt><dd><code>{}</code> ({} reference(s) rewritten)</dd>",
                esc(m),
                s.references_rewritten
            );
        }
        None => {
            let _ = writeln!(
                o,
                r#"<dt>Mapping</dt><dd class="muted">none: the bundle is compared as backed up</dd>"#
            );
        }
    }
    o.push_str("</dl>\n</header>\n");
    if s.clean {
        o.push_str(
            r#"<div class="banner clean" role="status"><strong>&#10004; No differences</strong>Applying the migration would change nothing in the new cluster.</div>"#,
        );
    } else {
        let _ = write!(
            o,
            r#"<div class="banner differences" role="status"><strong>&#9650; Differences</strong>Applying the migration would change {} file(s) and add {} to the new cluster.</div>"#,
            s.files_changed, s.files_only_in_bundle
        );
    }
    o.push('\n');

    o.push_str(
        "<div class=\"counts\">\n<div class=\"card\"><h2>Differences by class</h2>\n<table>\n\
         <thead><tr><th>class</th><th class=\"num\">differences</th></tr></thead>\n<tbody>\n",
    );
    for c in CLASSES {
        let _ = writeln!(
            o,
            r#"<tr><td>{}</td><td class="num">{}</td></tr>"#,
            class_badge(c),
            class_count(doc, c)
        );
    }
    o.push_str("</tbody></table></div>\n");
    o.push_str(
        "<div class=\"card\"><h2>Files</h2>\n<table>\n\
         <thead><tr><th>status</th><th class=\"num\">files</th></tr></thead>\n<tbody>\n",
    );
    for (status, n) in [
        (FileStatus::Changed, s.files_changed),
        (FileStatus::OnlyInBundle, s.files_only_in_bundle),
        (FileStatus::OnlyInTarget, s.files_only_in_target),
        (FileStatus::InstallerOwned, s.installer_owned),
    ] {
        let _ = writeln!(
            o,
            r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#,
            status_badge(status, status_words(status))
        );
    }
    o.push_str("</tbody></table></div>\n</div>\n");

    if doc.files.is_empty() {
        o.push_str(
            r#"<p class="muted">No file differs between the bundle and the new cluster.</p>"#,
        );
    }
    for (i, f) in doc.files.iter().enumerate() {
        file_section(&mut o, i, f);
    }
    let _ = write!(
        o,
        r#"<footer>Generated by dh-migrate {} (report schema <code>{}</code>). Secret values are shown only as fingerprints (the first 8 hex digits of their SHA-256). This report is diff-only: nothing was written to any cluster or bundle.</footer>"#,
        esc(env!("CARGO_PKG_VERSION")),
        esc(doc.schema)
    );
    o
}

fn file_section(o: &mut String, i: usize, f: &FileReport) {
    let _ = writeln!(
        o,
        r#"<section class="file" id="f{i}">
<h2><code>{}</code> {}</h2>
<div class="body">"#,
        esc(&f.file.path),
        status_badge(f.file.status, status_words(f.file.status))
    );
    // Whole-file differences carry no values: a sentence says it; items go in a table.
    for d in f.file.differences.iter().filter(|d| d.item.is_none()) {
        whole_file_line(o, d);
    }
    let items: Vec<&Difference> = f
        .file
        .differences
        .iter()
        .filter(|d| d.item.is_some())
        .collect();
    if !items.is_empty() {
        o.push_str(
            "<table class=\"diffs\">\n<colgroup><col class=\"w-class\"><col class=\"w-item\">\
             <col><col><col><col class=\"w-line\"></colgroup>\n<thead><tr><th>class</th><th>item</th><th>bundle</th>\
             <th>migrated</th><th>target</th><th class=\"num\">line</th></tr></thead>\n<tbody>\n",
        );
        for d in items {
            difference_row(o, d);
        }
        o.push_str("</tbody></table>\n");
    }
    if let Some(diff) = &f.diff {
        diff_block(o, diff);
    }
    o.push_str("</div>\n</section>\n");
}

fn secret_badge(d: &Difference) -> &'static str {
    if d.secret {
        r#" <span class="badge secret" title="values shown as fingerprints">secret</span>"#
    } else {
        ""
    }
}

fn whole_file_line(o: &mut String, d: &Difference) {
    let what = match d.class {
        Class::ExplainedByMapping => "The whole file differs only by hosts the mapping rewrites.",
        Class::SiteCustomization => "The whole file is carried over from the bundle.",
        Class::NewDefault => "The whole file exists only in the new cluster; applying leaves it.",
        Class::RemovedByApply => "Removed by apply: the mapping's merge: section drops it.",
        Class::InstallerOwned => "Installer-owned: never migrated; the new cluster's copy stands.",
    };
    let _ = writeln!(
        o,
        r#"<p class="whole">{}{} {}</p>"#,
        class_badge(d.class),
        secret_badge(d),
        esc(what)
    );
}

fn difference_row(o: &mut String, d: &Difference) {
    let secret = secret_badge(d);
    let item = d.item.as_deref().unwrap_or_default();
    // The bundle value matters only where the mapping rewrote it.
    let bundle = match (&d.bundle, &d.migrated) {
        (Some(b), Some(m)) if b == m => r#"<span class="muted">as migrated</span>"#.to_string(),
        (b, _) => value(b.as_deref()),
    };
    let line = match (d.line, d.target_line) {
        (Some(l), Some(t)) => format!("{l}<br><span class=\"muted\">target {t}</span>"),
        (Some(l), None) => l.to_string(),
        (None, Some(t)) => format!("<span class=\"muted\">target {t}</span>"),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        o,
        r#"<tr><td>{}</td><td><code>{}</code>{secret}</td><td>{bundle}</td><td>{}</td><td>{}</td><td class="num">{line}</td></tr>"#,
        class_tag(d.class),
        breakable(item),
        value(d.migrated.as_deref()),
        value(d.target.as_deref()),
    );
}

fn value(v: Option<&str>) -> String {
    match v {
        None => r#"<span class="muted">absent</span>"#.to_string(),
        Some("") => r#"<span class="muted">empty</span>"#.to_string(),
        Some(v) => format!("<code>{}</code>", breakable(v)),
    }
}

/// The unified diff, one span per line classed by its marker (which stays in the text).
fn diff_block(o: &mut String, diff: &str) {
    let lines: Vec<&str> = diff.lines().collect();
    // Long diffs start folded so the page stays navigable.
    let open = if lines.len() <= 300 { " open" } else { "" };
    let _ = write!(
        o,
        "<details{open}><summary>Unified diff, target &#8594; migrated ({} lines)</summary>\n<pre class=\"diff\">",
        lines.len()
    );
    for (n, l) in lines.iter().enumerate() {
        let class = if n < 2 && (l.starts_with("--- ") || l.starts_with("+++ ")) {
            "hdr"
        } else if l.starts_with("@@") {
            "hunk"
        } else if l.starts_with('+') {
            "add"
        } else if l.starts_with('-') {
            "del"
        } else if l.starts_with('\\') {
            "note"
        } else {
            "ctx"
        };
        let _ = writeln!(o, r#"<span class="{class}">{}</span>"#, esc(l));
    }
    o.push_str("</pre></details>\n");
}

#[cfg(test)]
mod tests {
    use super::{esc, fill};

    #[test]
    fn escapes_every_markup_character_and_controls() {
        assert_eq!(
            esc(r#"<b>x</b>& "q" 'a'"#),
            "&lt;b&gt;x&lt;/b&gt;&amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(esc("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }

    #[test]
    fn fill_expands_the_template_once() {
        let out = fill("<t>{{a}}</t>{{b}}{{unknown}}", |n| match n {
            "a" => Some("{{b}}".to_string()),
            "b" => Some("B".to_string()),
            _ => None,
        });
        assert_eq!(out, "<t>{{b}}</t>B{{unknown}}");
    }
}
