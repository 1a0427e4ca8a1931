//! The report as one self-contained HTML page an administrator prints and signs: a title
//! block (when, which tool, the bundle, mapping and target with their hashes and etcd
//! revision), a result banner, the counts, then per file (changed first, then added, then
//! the rest) a section with its status, a table of its differences, its rewritten
//! references (those inside scripts apart, for review) and its unified diff, then the
//! restart step and a sign-off block; a sticky index of the files on screen, an A4 print
//! stylesheet on paper. Host names and paths are never broken inside: lines break only
//! after `,`, `;`, `=`, `/` inside values and at spaces. The page
//! (`templates/report.html`, compiled in) has its CSS inline and no scripts or external
//! assets, so it can be mailed or archived as one file.
//!
//! Every value from the document goes through [`esc`] (`& < > " '`), after control
//! characters are made visible, so a crafted value cannot inject markup. Colour is never
//! the only signal: statuses and classes are written out, and diff lines keep their
//! `+`/`-` markers.

use super::{status_words, title_lines, FileReport, ReportDoc, CLASSES};
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

/// The short status of the index; node files are copied, not added to etcd.
fn nav_status(f: &FileReport) -> &'static str {
    match f.file.status {
        FileStatus::Changed | FileStatus::OnlyInBundle if f.is_node_file() => "to node",
        s => status_short(s),
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
    crate::text::build(|o| {
        writeln!(
            o,
            r##"<h2>Files ({})</h2>
<ol>
<li class="top"><a href="#summary">&#8593; Summary and counts</a></li>
<li class="top"><a href="#restart">&#8595; Restart step</a></li>"##,
            doc.files.len()
        )?;
        for (i, f) in doc.files.iter().enumerate() {
            let n = f.file.differences.len();
            writeln!(
                o,
                r##"<li><a href="#f{i}" title="{}">{}<span class="path mono">{}</span><span class="n" title="differences">{n}</span></a></li>"##,
                esc(&format!("{}: {}", f.file.path, f.status_words())),
                status_badge(f.file.status, nav_status(f)),
                breakable_path(&f.file.path),
            )?;
        }
        o.push_str("</ol>");
        Ok(())
    })
}

/// An escaped value in which a narrow column may break lines only after `,`, `/`, `;`
/// and `=` and at spaces: the parts between are unbreakable spans, so a host name (whose
/// `-` a browser would otherwise break after) is never split. `<wbr>` and the spans are
/// not part of the text: copying the value still gives it exactly.
fn breakable(v: &str) -> String {
    let mut out = String::new();
    let mut part = String::new();
    let flush = |out: &mut String, part: &mut String, sep: &str| {
        if !part.is_empty() {
            out.push_str(r#"<span class="nb">"#);
            out.push_str(&esc(part));
            out.push_str("</span>");
            part.clear();
        }
        out.push_str(sep);
    };
    for c in v.chars() {
        match c {
            ',' | '/' | ';' | '=' => {
                part.push(c);
                flush(&mut out, &mut part, "<wbr>");
            }
            c if c.is_whitespace() => flush(&mut out, &mut part, &esc(&c.to_string())),
            c => part.push(c),
        }
    }
    flush(&mut out, &mut part, "");
    out
}

/// A path for the narrow index: the folder muted, line breaks allowed after each `/`
/// of the folder (between its parts, never inside one).
fn breakable_path(path: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    let dir = esc(dir).replace('/', "/<wbr>");
    format!(r#"<span class="dir">{dir}</span>{}"#, esc(name))
}

fn main(doc: &ReportDoc) -> String {
    crate::text::build(|o| {
        let s = &doc.summary;

        writeln!(
            o,
            r#"<header class="top" id="summary">
<h1>dh-migrate report</h1>
<p class="subtitle">Migration review: what applying the bundle with this mapping changes in the new cluster</p>
<dl class="meta">"#
        )?;
        for (label, value) in title_lines(doc) {
            let value = match label {
                "Mapping" if doc.mapping.is_some() => format!(
                    "{} ({} reference(s) rewritten{})",
                    meta_value(&value),
                    s.references_rewritten,
                    match s.rewrites_in_scripts {
                        0 => String::new(),
                        n => format!(", {n} in a script: review"),
                    }
                ),
                "Mapping" => format!(r#"<span class="muted">{}</span>"#, esc(&value)),
                _ => meta_value(&value),
            };
            writeln!(o, "<dt>{label}</dt><dd>{value}</dd>")?;
        }
        o.push_str("</dl>\n</header>\n");
        if s.clean {
            o.push_str(
            r#"<div class="banner clean" role="status"><strong>&#10004; No differences</strong>Applying the migration would change nothing in the new cluster.</div>"#,
        );
        } else {
            write!(
                o,
                r#"<div class="banner differences" role="status"><strong>&#9650; Differences</strong>Applying the migration would change {} file(s) and add {} to the new cluster{}.{}</div>"#,
                s.files_changed,
                s.files_only_in_bundle,
                match s.node_files_to_copy {
                    0 => String::new(),
                    n =>
                        format!(" ({n} of them node file(s), copied to their nodes, not into etcd)"),
                },
                super::not_written_words(s)
            )?;
        }
        o.push('\n');

        o.push_str(
            "<div class=\"counts\">\n<div class=\"card\"><h2>Differences by class</h2>\n<table>\n\
         <thead><tr><th>class</th><th class=\"num\">differences</th></tr></thead>\n<tbody>\n",
        );
        for c in CLASSES {
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="num">{}</td></tr>"#,
                class_badge(c),
                class_count(doc, c)
            )?;
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
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#,
                status_badge(status, status_words(status))
            )?;
        }
        o.push_str("</tbody></table></div>\n</div>\n");

        if doc.files.is_empty() {
            o.push_str(
                r#"<p class="muted">No file differs between the bundle and the new cluster.</p>"#,
            );
        }
        for (i, f) in doc.files.iter().enumerate() {
            file_section(o, i, f)?;
        }
        restart_section(o, doc)?;
        signoff(o);
        write!(
            o,
            r#"<footer>Generated by dh-migrate {} (report schema <code>{}</code>). Secret values are shown only as fingerprints (the first 8 hex digits of their SHA-256). This report is diff-only: nothing was written to any cluster or bundle.</footer>"#,
            esc(env!("CARGO_PKG_VERSION")),
            esc(doc.schema)
        )?;
        Ok(())
    })
}

/// A title-block value: each whitespace-separated part in its own unbreakable code span,
/// so a hash, host or path stays on one line and lines break between parts.
fn meta_value(v: &str) -> String {
    v.split_whitespace()
        .map(|w| format!(r#"<code class="nb">{}</code>"#, esc(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The restart step: per new node, in order, why and the exact commands.
fn restart_section(o: &mut String, doc: &ReportDoc) -> std::fmt::Result {
    o.push_str("<section class=\"restart\" id=\"restart\">\n<h2>Restart step</h2>\n");
    match &doc.restart {
        None => o.push_str(
            r#"<p class="muted">No mapping was given: the restart step depends on the mapping (run the report with <code>--mapping</code>).</p>"#,
        ),
        Some(steps) if steps.is_empty() => {
            o.push_str("<p>Nothing changed: no restart is needed.</p>\n")
        }
        Some(steps) => {
            o.push_str(
                "<p>After applying, run on each node of the new cluster, in this order (infra nodes first):</p>\n<ol class=\"steps\">\n",
            );
            for st in steps {
                let roles: Vec<&str> = st.roles.iter().map(|r| r.as_str()).collect();
                writeln!(
                    o,
                    r#"<li><p><code class="nb host">{}</code> <span class="muted">({})</span></p>"#,
                    esc(&st.node),
                    esc(&roles.join(", "))
                )?;
                o.push_str("<ul class=\"why\">");
                for w in &st.why {
                    // Lines break at spaces; a path or host name stays whole.
                    let words: Vec<String> = w
                        .split(' ')
                        .map(|p| {
                            if p.contains(['/', '.']) {
                                format!(r#"<span class="nb">{}</span>"#, esc(p))
                            } else {
                                esc(p)
                            }
                        })
                        .collect();
                    write!(o, "<li>{}</li>", words.join(" "))?;
                }
                o.push_str("</ul>\n<pre class=\"commands\">");
                for c in &st.commands {
                    writeln!(o, "$ {}", esc(c))?;
                }
                o.push_str("</pre></li>\n");
            }
            o.push_str("</ol>\n");
        }
    }
    o.push_str("</section>\n");
    Ok(())
}

/// Lines for the people who sign the change off, on paper.
fn signoff(o: &mut String) {
    o.push_str(
        "<section class=\"signoff\"><h2>Sign-off</h2>\n<table>\n<thead><tr><th>role</th><th>name</th><th>date</th><th>signature</th></tr></thead>\n<tbody>\n\
         <tr><td>prepared by</td><td></td><td></td><td></td></tr>\n\
         <tr><td>reviewed by</td><td></td><td></td><td></td></tr>\n\
         <tr><td>approved by</td><td></td><td></td><td></td></tr>\n</tbody></table></section>\n",
    );
}

/// The rewritten references of a file; those inside scripts in their own table.
fn rewrite_tables(o: &mut String, f: &FileReport) -> std::fmt::Result {
    for (title, in_script, list) in f.rewrite_groups() {
        let class = if in_script {
            "rewrites script"
        } else {
            "rewrites"
        };
        writeln!(
            o,
            r#"<h3>{title} ({})</h3>
<table class="{class}">
<colgroup><col class="w-line"><col class="w-place"><col><col class="w-why"></colgroup>
<thead><tr><th class="num">line</th><th>place</th><th>before &#8594; after</th><th>decided by</th></tr></thead>
<tbody>"#,
            list.len()
        )?;
        for r in list {
            let why = if r.in_script {
                r#"<span class="badge review">in a script: review</span>"#.to_string()
            } else {
                esc(&r.why())
            };
            writeln!(
                o,
                r#"<tr><td class="num">{}:{}</td><td><code>{}</code></td><td><code class="nb">{}</code> &#8594; <code class="nb">{}</code></td><td>{why}</td></tr>"#,
                r.line,
                r.column,
                breakable(&r.place),
                esc(&r.before),
                esc(&r.after),
            )?;
        }
        o.push_str("</tbody></table>\n");
    }
    Ok(())
}

fn file_section(o: &mut String, i: usize, f: &FileReport) -> std::fmt::Result {
    writeln!(
        o,
        r#"<section class="file" id="f{i}">
<h2><code class="nb path">{}</code> {}</h2>
<div class="body">"#,
        esc(&f.file.path),
        status_badge(f.file.status, &f.status_words())
    )?;
    // Whole-file differences carry no values: a sentence says it; items go in a table.
    for d in f.file.differences.iter().filter(|d| d.item.is_none()) {
        whole_file_line(o, f, d)?;
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
            difference_row(o, d)?;
        }
        o.push_str("</tbody></table>\n");
    }
    rewrite_tables(o, f)?;
    if let Some(diff) = &f.diff {
        diff_block(o, diff)?;
    }
    o.push_str("</div>\n</section>\n");
    Ok(())
}

fn secret_badge(d: &Difference) -> &'static str {
    if d.secret {
        r#" <span class="badge secret" title="values shown as fingerprints">secret</span>"#
    } else {
        ""
    }
}

fn whole_file_line(o: &mut String, f: &FileReport, d: &Difference) -> std::fmt::Result {
    let copied;
    let what = match d.class {
        Class::SiteCustomization | Class::ExplainedByMapping if f.is_node_file() => {
            copied = match &f.node {
                Some(n) => format!(
                    "A file on the node's disk, not an etcd item: copied to node {n} with mode {}; apply never puts it into etcd.",
                    f.mode.as_deref().unwrap_or_default()
                ),
                None => "A file on a node's disk, not an etcd item: no new node was decided for it (see --files-node).".to_string(),
            };
            copied.as_str()
        }
        Class::ExplainedByMapping => "The whole file differs only by hosts the mapping rewrites.",
        Class::SiteCustomization => "The whole file is carried over from the bundle.",
        Class::NewDefault => "The whole file exists only in the new cluster; applying leaves it.",
        Class::RemovedByApply => "Removed by apply: the mapping's merge: section drops it.",
        Class::InstallerOwned => "Installer-owned: never migrated; the new cluster's copy stands.",
    };
    writeln!(
        o,
        r#"<p class="whole">{}{} {}</p>"#,
        class_badge(d.class),
        secret_badge(d),
        esc(what)
    )?;
    Ok(())
}

fn difference_row(o: &mut String, d: &Difference) -> std::fmt::Result {
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
    writeln!(
        o,
        r#"<tr><td>{}</td><td class="item"><code>{}</code>{secret}</td><td data-label="bundle">{bundle}</td><td data-label="migrated">{}</td><td data-label="target">{}</td><td class="num" data-label="line">{line}</td></tr>"#,
        class_tag(d.class),
        breakable(item),
        value(d.migrated.as_deref()),
        value(d.target.as_deref()),
    )?;
    Ok(())
}

fn value(v: Option<&str>) -> String {
    match v {
        None => r#"<span class="muted">absent</span>"#.to_string(),
        Some("") => r#"<span class="muted">empty</span>"#.to_string(),
        Some(v) => format!("<code>{}</code>", breakable(v)),
    }
}

/// The unified diff, one span per line classed by its marker (which stays in the text).
fn diff_block(o: &mut String, diff: &str) -> std::fmt::Result {
    let lines: Vec<&str> = diff.lines().collect();
    // Long diffs start folded so the page stays navigable.
    let open = if lines.len() <= 300 { " open" } else { "" };
    write!(
        o,
        "<details{open}><summary>Unified diff, target &#8594; migrated ({} lines)</summary>\n<pre class=\"diff\">",
        lines.len()
    )?;
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
        writeln!(o, r#"<span class="{class}">{}</span>"#, esc(l))?;
    }
    o.push_str("</pre></details>\n");
    Ok(())
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
