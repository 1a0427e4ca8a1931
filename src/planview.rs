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
use foldhash::{HashMap, HashSet};
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
    /// Print the etcd snapshot advice and warning (plan does; apply prints it once, after
    /// a write, never before its prompt or on a no-op).
    pub snapshot: bool,
    pub secrets: SecretPolicy,
}

pub fn render_text(plan: &Plan, o: &ViewOptions) -> String {
    crate::text::render(|out| {
        writeln!(out, "Plan: {} -> {}", esc(&o.bundle), esc(&o.target))?;
        writeln!(out, "Mapping: {}", esc(&o.mapping))?;
        let m = &plan.migration;
        // Looked up once per file below: indexed here rather than searched per file, which
        // made rendering quadratic in the number of files (and of references).
        let comparisons: HashMap<&str, &FileComparison> = plan
            .comparison
            .files
            .iter()
            .map(|c| (c.path.as_str(), c))
            .collect();
        // Node files (file-system parts) are copied to their node, never added to etcd.
        let node_of: HashMap<&str, &str> = plan
            .files_for_node
            .iter()
            .flat_map(|(n, fs)| fs.iter().map(move |f| (f.as_str(), n.as_str())))
            .collect();
        let mut rewrites_in: HashMap<&str, usize> = HashMap::default();
        for (r, _) in m.rewrites() {
            *rewrites_in.entry(r.file.as_str()).or_default() += 1;
        }
        let not_created: HashMap<&str, &crate::apply::Skipped> = plan
            .not_created
            .iter()
            .map(|s| (s.path.as_str(), s))
            .collect();
        for f in m.files.values() {
            let cmp = comparisons.get(f.path.as_str()).copied();
            let applies = cmp.is_some_and(|c| c.counts());
            if !f.changed() && !applies {
                continue;
            }
            let rewrites = rewrites_in.get(f.path.as_str()).copied().unwrap_or(0);
            writeln!(
                out,
                "\n== {}  ({} reference(s) rewritten{})",
                esc(&f.path),
                rewrites,
                if applies {
                    ""
                } else {
                    "; already so on the new cluster"
                }
            )?;
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
                    writeln!(out, "-- the migration's changes:")?;
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
                                writeln!(out, "-- changes to the new cluster:")?;
                                out.push_str(&d);
                            }
                        }
                        (FileStatus::OnlyInBundle, _) => match node_of.get(f.path.as_str()) {
                            Some(node) => writeln!(
                                out,
                                "-- a node file: copied to node {} with mode {:04o} (never into etcd)",
                                esc(node),
                                crate::emit::file_mode(&f.path, f.mode)
                            )?,
                            None if not_created.contains_key(f.path.as_str()) => writeln!(
                                out,
                                "-- {} (listed below)",
                                not_created[f.path.as_str()].why
                            )?,
                            None => writeln!(
                                out,
                                "-- the new cluster has no such file: applying adds it"
                            )?,
                        },
                        _ => {}
                    }
                }
            }
        }
        // References rewritten inside persistent-query scripts: a class of their own, for a
        // person to review (a script may build host names in ways no tool can see).
        let pq: Vec<String> = m
            .rewrites()
            .filter(|(r, _)| crate::report::in_script(r))
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
            writeln!(out, "\nIn a script: review ({}): references rewritten inside persistent-query scripts (a script may build host names in ways no tool can see):", pq.len())?;
            for l in &pq {
                writeln!(out, "{l}")?;
            }
        }
        let c = m.counts();
        let by_role: Vec<String> = c
            .rewritten_by_role
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        writeln!(out, "\nSummary")?;
        writeln!(
            out,
            "  files migrated        {} ({} rewritten)",
            c.files, c.files_changed
        )?;
        writeln!(
            out,
            "  references rewritten  {} ({}{})",
            c.rewritten,
            if by_role.is_empty() {
                "none".into()
            } else {
                by_role.join(", ")
            },
            match pq.len() {
                0 => String::new(),
                n => format!("; {n} in a script: review"),
            }
        )?;
        writeln!(out, "  references kept       {}", c.kept)?;
        writeln!(out, "  mapped to themselves  {}", c.unchanged)?;
        // New serial-keyed items are not written: listed on their own below.
        let changed = plan
            .comparison
            .files
            .iter()
            .filter(|f| f.counts() && !not_created.contains_key(f.path.as_str()))
            .count();
        let only_target = plan
            .comparison
            .files
            .iter()
            .filter(|f| f.status == FileStatus::OnlyInTarget)
            .count();
        writeln!(
            out,
            "  new cluster           {changed} file(s) would change; {only_target} file(s) only there are left alone"
        )?;
        // Grouped by reason (in order of first appearance), each with its import.
        let mut reasons: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for s in &plan.not_created {
            match reasons.iter_mut().find(|(why, _, _)| *why == s.why) {
                Some((_, _, paths)) => paths.push(&s.path),
                None => reasons.push((s.why, s.command, vec![&s.path])),
            }
        }
        for (why, command, paths) in reasons {
            writeln!(
                out,
                "\nNot written by apply ({}): {why}; import each migrated file (FILE: under `plan --emit DIR`) with: {command}",
                paths.len()
            )?;
            for p in paths {
                writeln!(out, "  {}", esc(p))?;
            }
        }
        if !plan.files_for_node.is_empty() {
            writeln!(
                out,
                "\nFile-system parts (not etcd items): which new node gets which file"
            )?;
            for (node, files) in &plan.files_for_node {
                writeln!(out, "  {}:", esc(node))?;
                for f in files {
                    writeln!(out, "    {}", esc(f))?;
                }
            }
        }
        if o.restart {
            out.push('\n');
            out.push_str(&crate::restart::render_text(&plan.restart));
        }
        if let Some(s) = plan.snapshot.as_ref().filter(|_| o.snapshot) {
            out.push('\n');
            out.push_str(s);
        }
        Ok(())
    })
}

/// The schema name of `plan --format json` (docs/plan.schema.json).
pub const PLAN_SCHEMA: &str = "dh-migrate/plan-output/v1";
/// The schema name of `apply --format json` (docs/plan.schema.json, `apply` object).
pub const APPLY_SCHEMA: &str = "dh-migrate/apply-output/v1";

/// The plan as one JSON document: summary, changes per item, files per node, restart step.
#[derive(Debug, serde::Serialize)]
pub struct PlanDoc<'a> {
    pub schema: &'static str,
    pub bundle: String,
    pub target: String,
    pub mapping: String,
    pub summary: PlanSummary,
    pub changes: Vec<ChangeDoc<'a>>,
    pub files_for_node: &'a std::collections::BTreeMap<String, Vec<String>>,
    pub restart: &'a [crate::restart::RestartStep],
    /// The etcd snapshot advice and warning (a bundle with etcd/snapshot.db), as text.
    pub snapshot: Option<&'a str>,
    /// References rewritten inside persistent-query scripts: their own class ("in a
    /// script: review"), for a person to check.
    pub rewrites_in_scripts: Vec<ScriptRewrite>,
    /// Items apply does not write (new persistent queries of a layout version 2).
    pub not_written: Vec<NotWritten<'a>>,
}

/// An item apply does not write, and how to bring it in.
#[derive(Debug, serde::Serialize)]
pub struct NotWritten<'a> {
    pub path: &'a str,
    pub reason: &'static str,
    pub command: &'static str,
}

/// One reference rewritten inside a persistent-query script.
#[derive(Debug, serde::Serialize)]
pub struct ScriptRewrite {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub before: String,
    pub after: String,
    pub context: String,
}

/// The plan's figures, as the text summary shows them.
#[derive(Debug, serde::Serialize)]
pub struct PlanSummary {
    pub files_migrated: usize,
    pub files_rewritten: usize,
    pub references_rewritten: usize,
    pub rewritten_by_role: std::collections::BTreeMap<String, usize>,
    pub references_kept: usize,
    pub mapped_to_themselves: usize,
    /// Files (items) applying would change or add on the new cluster.
    pub target_files_changing: usize,
    /// Files only the new cluster has (left alone).
    pub target_files_only_there: usize,
    /// References rewritten inside persistent-query scripts (listed for review).
    pub rewrites_in_scripts: usize,
}

/// One migrated file: what the migration did to it and what applying does.
#[derive(Debug, serde::Serialize)]
pub struct ChangeDoc<'a> {
    pub path: &'a str,
    /// Against the target: same, changed, only-in-bundle, ...
    pub status: Option<FileStatus>,
    pub references_rewritten: usize,
    /// True when applying writes it (it differs from the target).
    pub writes: bool,
    /// The differing items, values redacted unless `--show-secrets`.
    pub differences: &'a [crate::compare::Difference],
}

/// Builds the plan document (every migrated file that the migration changes or that
/// applying writes, as the text view lists them).
pub fn plan_doc<'a>(plan: &'a Plan, o: &ViewOptions) -> PlanDoc<'a> {
    let skipped: HashSet<&str> = plan.not_created.iter().map(|s| s.path.as_str()).collect();
    let comparisons: HashMap<&str, &FileComparison> = plan
        .comparison
        .files
        .iter()
        .map(|c| (c.path.as_str(), c))
        .collect();
    let mut rewrites_in: HashMap<&str, usize> = HashMap::default();
    for (r, _) in plan.migration.rewrites() {
        *rewrites_in.entry(r.file.as_str()).or_default() += 1;
    }
    let changes = plan
        .migration
        .files
        .values()
        .filter_map(|f| {
            let cmp = comparisons.get(f.path.as_str()).copied();
            let counts = cmp.is_some_and(|c| c.counts());
            let writes = counts && !skipped.contains(f.path.as_str());
            (f.changed() || counts).then(|| ChangeDoc {
                path: &f.path,
                status: cmp.map(|c| c.status),
                references_rewritten: rewrites_in.get(f.path.as_str()).copied().unwrap_or(0),
                writes,
                differences: cmp.map_or(&[][..], |c| &c.differences[..]),
            })
        })
        .collect();
    let rewrites_in_scripts: Vec<ScriptRewrite> = plan
        .migration
        .rewrites()
        .filter(|(r, _)| crate::report::in_script(r))
        .filter_map(|(r, o)| match o {
            Outcome::Rewrite { new, .. } => Some(ScriptRewrite {
                file: r.file.clone(),
                line: r.pos.line,
                column: r.pos.col,
                before: r.text.clone(),
                after: new.clone(),
                context: r.context.to_string(),
            }),
            _ => None,
        })
        .collect();
    let c = plan.migration.counts();
    PlanDoc {
        schema: PLAN_SCHEMA,
        bundle: o.bundle.clone(),
        target: o.target.clone(),
        mapping: o.mapping.clone(),
        summary: PlanSummary {
            files_migrated: c.files,
            files_rewritten: c.files_changed,
            references_rewritten: c.rewritten,
            rewritten_by_role: c.rewritten_by_role.clone(),
            references_kept: c.kept,
            mapped_to_themselves: c.unchanged,
            target_files_changing: plan
                .comparison
                .files
                .iter()
                .filter(|f| f.counts() && !skipped.contains(f.path.as_str()))
                .count(),
            target_files_only_there: plan
                .comparison
                .files
                .iter()
                .filter(|f| f.status == FileStatus::OnlyInTarget)
                .count(),
            rewrites_in_scripts: rewrites_in_scripts.len(),
        },
        rewrites_in_scripts,
        not_written: plan
            .not_created
            .iter()
            .map(|s| NotWritten {
                path: &s.path,
                reason: s.why,
                command: s.command,
            })
            .collect(),
        changes,
        files_for_node: &plan.files_for_node,
        restart: &plan.restart,
        snapshot: plan.snapshot.as_deref().filter(|_| o.snapshot),
    }
}

/// `apply --format json`: the plan, what was (or would be) written, and the run record.
#[derive(Debug, serde::Serialize)]
pub struct ApplyDoc<'a> {
    pub schema: &'static str,
    pub plan: PlanDoc<'a>,
    pub dry_run: bool,
    /// Keys that differ from etcd and are (or would be) written.
    pub keys_to_write: usize,
    /// The etcd keys, in write order.
    pub keys: Vec<&'a str>,
    pub applied: Option<AppliedDoc>,
    /// The run record (for `dh-migrate rollback`), when anything was written.
    pub run_record: Option<String>,
    /// Where the per-node file-system parts went, and how many.
    pub files_out: Option<FilesOutDoc<'a>>,
}

#[derive(Debug, serde::Serialize)]
pub struct AppliedDoc {
    pub keys: usize,
    pub transactions: usize,
    pub revision: i64,
}

#[derive(Debug, serde::Serialize)]
pub struct FilesOutDoc<'a> {
    pub dir: String,
    pub files: usize,
    /// The copy step: per node file, where it was written, where it goes on its node, and
    /// the mode, owner and group to give it (null where the bundle does not say).
    pub copies: &'a [crate::restart::CopyFile],
}
