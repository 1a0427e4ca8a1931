//! The plan as text: per file, what the migration changes (bundle -> migrated) and what
//! applying changes on the new cluster (target -> migrated), then the summary, the files
//! each node receives, the restart step and the snapshot advice. Diffs show redacted text.

use crate::compare::{FileComparison, FileStatus};
use crate::diff::unified;
use crate::mapping::resolve::Outcome;
use crate::plan::Plan;
use crate::secrets::SecretPolicy;
use crate::text::escape_for_terminal as esc;
use crate::tree::parse_file;
use std::collections::HashMap;
use std::fmt::Write;

/// Which diffs to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffMode {
    /// Both: the migration's changes and the changes to the new cluster.
    Both,
    /// Only what the migration rewrites in the bundle.
    Migration,
    /// Only what applying changes on the new cluster.
    Target,
    /// No diffs, the summary only.
    None,
}

pub struct ViewOptions {
    pub diff: DiffMode,
    pub color: bool,
    pub bundle: String,
    pub target: String,
    pub mapping: String,
    /// Print the restart step (apply prints it after writing instead).
    pub restart: bool,
    pub secrets: SecretPolicy,
}

pub fn render_text(plan: &Plan, o: &ViewOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan: {} -> {}", esc(&o.bundle), esc(&o.target));
    let _ = writeln!(out, "Mapping: {}", esc(&o.mapping));
    let m = &plan.migration;
    // Looked up once per file below: indexed here rather than searched per file, which
    // made rendering quadratic in the number of files (and of references).
    let comparisons: HashMap<&str, &FileComparison> = plan
        .comparison
        .files
        .iter()
        .map(|c| (c.path.as_str(), c))
        .collect();
    let mut rewrites_in: HashMap<&str, usize> = HashMap::new();
    for (r, _) in m.rewrites() {
        *rewrites_in.entry(r.file.as_str()).or_default() += 1;
    }
    for f in m.files.values() {
        let cmp = comparisons.get(f.path.as_str()).copied();
        let applies = cmp.is_some_and(|c| c.counts());
        if !f.changed() && !applies {
            continue;
        }
        let rewrites = rewrites_in.get(f.path.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "\n== {}  ({} reference(s) rewritten{})",
            esc(&f.path),
            rewrites,
            if applies {
                ""
            } else {
                "; already so on the new cluster"
            }
        );
        if matches!(o.diff, DiffMode::Both | DiffMode::Migration) && f.changed() {
            let before = o.secrets.text(
                &f.path,
                &f.before,
                parse_file(&f.path, &f.before, f.format).ok().as_ref(),
            );
            let after = o.secrets.text(
                &f.path,
                &f.after,
                parse_file(&f.path, &f.after, f.format).ok().as_ref(),
            );
            if let Some(d) = unified(
                &before,
                &after,
                &format!("bundle/{}", f.path),
                &format!("migrated/{}", f.path),
                o.color,
            ) {
                let _ = writeln!(out, "-- the migration's changes:");
                out.push_str(&d);
            }
        }
        if matches!(o.diff, DiffMode::Both | DiffMode::Target) {
            if let Some(c) = cmp {
                match (c.status, c.diff_texts()) {
                    (FileStatus::Changed, Some((t, mt))) => {
                        if let Some(d) = unified(
                            &t,
                            &mt,
                            &format!("target/{}", f.path),
                            &format!("after-apply/{}", f.path),
                            o.color,
                        ) {
                            let _ = writeln!(out, "-- changes to the new cluster:");
                            out.push_str(&d);
                        }
                    }
                    (FileStatus::OnlyInBundle, _) => {
                        let _ =
                            writeln!(out, "-- the new cluster has no such file: applying adds it");
                    }
                    _ => {}
                }
            }
        }
    }
    // References rewritten inside persistent-query definitions: scripts deserve a look.
    let pq: Vec<String> = m
        .rewrites()
        .filter(|(r, _)| r.file.starts_with("config/pq/"))
        .map(|(r, o)| match o {
            Outcome::Rewrite { new, .. } => format!(
                "  {}:{}  {} -> {}  ({})",
                esc(&r.file),
                r.pos,
                esc(&r.text),
                esc(new),
                esc(&r.context.to_string())
            ),
            _ => String::new(),
        })
        .collect();
    if !pq.is_empty() {
        let _ = writeln!(out, "\nReview: references rewritten inside persistent-query definitions (scripts may build host names in ways no tool can see):");
        for l in pq {
            let _ = writeln!(out, "{l}");
        }
    }
    let c = m.counts();
    let by_role: Vec<String> = c
        .rewritten_by_role
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect();
    let _ = writeln!(out, "\nSummary");
    let _ = writeln!(
        out,
        "  files migrated        {} ({} rewritten)",
        c.files, c.files_changed
    );
    let _ = writeln!(
        out,
        "  references rewritten  {} ({})",
        c.rewritten,
        if by_role.is_empty() {
            "none".into()
        } else {
            by_role.join(", ")
        }
    );
    let _ = writeln!(out, "  references kept       {}", c.kept);
    let _ = writeln!(out, "  mapped to themselves  {}", c.unchanged);
    let changed = plan.comparison.files.iter().filter(|f| f.counts()).count();
    let only_target = plan
        .comparison
        .files
        .iter()
        .filter(|f| f.status == FileStatus::OnlyInTarget)
        .count();
    let _ = writeln!(out, "  new cluster           {changed} file(s) would change; {only_target} file(s) only there are left alone");
    if !plan.files_for_node.is_empty() {
        let _ = writeln!(
            out,
            "\nFile-system parts (not etcd items): which new node gets which file"
        );
        for (node, files) in &plan.files_for_node {
            let _ = writeln!(out, "  {}:", esc(node));
            for f in files {
                let _ = writeln!(out, "    {}", esc(f));
            }
        }
    }
    if o.restart {
        out.push('\n');
        out.push_str(&crate::restart::render_text(&plan.restart));
    }
    if let Some(s) = &plan.snapshot {
        out.push('\n');
        out.push_str(s);
    }
    out
}
