//! The wizard's conversation: the summary of bundle and new cluster, one question per old
//! name (with its evidence and a preview of its references), then coverage and the plan
//! summary, and the final choice to write, change an answer, or quit. It returns the
//! mapping text to write; writing is the caller's job. After every answer it hands the
//! answers so far to the caller's `save_partial` (which keeps them in a partial file
//! beside the mapping, never in the mapping itself), so an interrupted session (Ctrl-C,
//! end of input) can be resumed.

use super::answers::{Answer, Book};
use super::ask::{Ask, AskError};
use super::preview::{preview, refers_to};
use crate::bundle::Bundle;
use crate::contexts::RoleContexts;
use crate::inspect::inspect;
use crate::layout::Layout;
use crate::mapping::suggest::{suggest, NewNode};
use crate::mapping::write::render;
use crate::mapping::Mapping;
use crate::migrate::migrate;
use crate::plan::{make_plan, PlanError, Target};
use crate::roles::Role;
use crate::scan::inventory::{IdKind, Inventory};
use crate::scan::refs::{scan, Reference};
use crate::scan::tokens::{is_host_name, is_ipv4};
use crate::text::escape_for_terminal as esc;
use crate::tree::ConfigTree;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Keeps the answers so far (a mapping-file text); Err: why it could not.
pub type SavePartial<'a> = dyn Fn(&str) -> Result<(), String> + 'a;

/// What the session works on.
pub struct Inputs<'a> {
    pub bundle: &'a Bundle,
    pub tree: &'a ConfigTree,
    pub target: &'a Target,
    pub contexts: &'a RoleContexts,
    pub layout: &'a Layout,
    /// How to name the bundle and the target in the file header and messages.
    pub bundle_label: String,
    pub target_label: String,
    /// The file the mapping goes to (for messages only).
    pub mapping_out: String,
    /// The mapping file of an earlier session: its answers are the defaults.
    pub existing: Option<Mapping>,
    /// The answers an unfinished session kept (and the file they are in): offered after
    /// the summary; resuming pre-selects them instead of `existing`'s.
    pub partial: Option<(Mapping, String)>,
    /// Keeps the answers so far (a mapping-file text) after each answer; an error is
    /// shown as a warning and the session goes on.
    pub save_partial: Option<&'a SavePartial<'a>>,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The user confirmed: write this mapping-file text.
    Write(String),
    /// The user chose to quit without writing.
    Quit,
}

/// How many references each answer's preview shows.
const PREVIEW_LINES: usize = 4;
/// How many unresolved places the coverage lists before summarising the rest.
const PROBLEM_LINES: usize = 30;

/// One entry of the per-name Select.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    Answer(Answer),
    Other,
    Keep,
    Split,
}

struct Session<'a, 'b> {
    inputs: &'b Inputs<'a>,
    inv: Inventory,
    refs: Vec<Reference>,
    new: Vec<NewNode>,
    book: Book,
}

/// Runs the whole conversation.
pub fn run(inputs: &Inputs<'_>, ask: &mut dyn Ask) -> Result<Finish, AskError> {
    let inv = Inventory::build(inputs.tree, &[]);
    let refs = scan(inputs.tree, &inv, inputs.contexts);
    let suggestions = suggest(inputs.tree, &inputs.target.tree, &inv, inputs.contexts);
    let new = inputs.target.nodes.clone();
    let mut s = Session {
        inputs,
        inv,
        refs,
        new,
        // The names to ask about, for the summary; the answers are decided below.
        book: Book::new(suggestions.clone(), None),
    };
    ask.say(&s.summary())?;
    let (existing, label) = match &inputs.partial {
        Some((m, file)) => {
            let kept = m.hosts.len() + m.keep.len();
            ask.say(&format!(
                "An unfinished wizard session kept {kept} answer(s) in {}.\n",
                esc(file)
            ))?;
            let items = [
                "resume from them".to_string(),
                "start afresh (this session's answers replace them)".to_string(),
            ];
            match ask.select("Resume?", &items, 0)? {
                0 => (Some(m), file.as_str()),
                _ => (inputs.existing.as_ref(), inputs.mapping_out.as_str()),
            }
        }
        None => (inputs.existing.as_ref(), inputs.mapping_out.as_str()),
    };
    if existing.is_some() {
        ask.say(&format!(
            "Answers from {} are pre-selected: press Enter to keep each one. The file is\n\
             rewritten in the wizard's own layout (its comments are not kept).\n",
            esc(label)
        ))?;
    }
    s.book = Book::new(suggestions, existing);
    let n = s.book.suggestions.len();
    if n == 0 {
        ask.say("The bundle names no old node: there is nothing to map.\n")?;
    }
    for i in 0..n {
        s.ask_one(ask, i)?;
        s.save_partial(ask)?;
    }
    loop {
        ask.say(&s.coverage())?;
        let items = vec![
            format!("write {}", inputs.mapping_out),
            "change an answer".to_string(),
            "quit without writing".to_string(),
        ];
        match ask.select("Save the mapping?", &items, 0)? {
            0 => {
                let draft = s.book.draft(&inputs.bundle_label, &inputs.target_label);
                return Ok(Finish::Write(render(&draft)));
            }
            1 if n > 0 => {
                let names: Vec<String> = (0..n)
                    .map(|i| {
                        format!(
                            "{}  ->  {}",
                            s.book.suggestions[i].old,
                            s.book.answers[i]
                                .as_ref()
                                .map_or("(no answer)".into(), |a| esc(&a.describe()).into_owned())
                        )
                    })
                    .collect();
                let i = ask.select("Which name?", &names, 0)?;
                s.ask_one(ask, i)?;
                s.save_partial(ask)?;
            }
            1 => {}
            _ => return Ok(Finish::Quit),
        }
    }
}

/// The node roles as a comma list.
fn roles_text<'r>(roles: impl IntoIterator<Item = &'r Role>) -> String {
    let v: Vec<&str> = roles.into_iter().map(|r| r.as_str()).collect();
    if v.is_empty() {
        "roles unknown".into()
    } else {
        v.join(", ")
    }
}

/// Host names and IPv4 addresses pass; anything else is refused with the reason.
pub fn check_host(v: &str) -> Result<(), String> {
    if is_host_name(v) || is_ipv4(v) {
        Ok(())
    } else if v.is_empty() {
        Err("a new host is needed (a host name or an IPv4 address)".into())
    } else {
        Err(format!("`{v}` is not a host name or an IPv4 address"))
    }
}

/// Empty (no default) or a host.
fn check_optional_host(v: &str) -> Result<(), String> {
    if v.is_empty() {
        Ok(())
    } else {
        check_host(v)
    }
}

/// A comma-separated list of distinct roles of the vocabulary (possibly empty).
pub fn parse_roles(v: &str) -> Result<Vec<Role>, String> {
    let mut out = Vec::new();
    for part in v.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let role: Role = part
            .parse()
            .map_err(|e: crate::roles::UnknownRole| e.to_string())?;
        if out.contains(&role) {
            return Err(format!("role {role} is listed twice"));
        }
        out.push(role);
    }
    Ok(out)
}

impl Session<'_, '_> {
    /// Hands the answers so far to the caller, as a mapping-file text that says it is
    /// partial (the unanswered names are TODO comments, so it parses as a mapping).
    fn save_partial(&self, ask: &mut dyn Ask) -> Result<(), AskError> {
        let Some(save) = self.inputs.save_partial else {
            return Ok(());
        };
        let answered = self.book.answers.iter().filter(|a| a.is_some()).count();
        let mut draft = self
            .book
            .draft(&self.inputs.bundle_label, &self.inputs.target_label);
        draft.header.insert(
            0,
            format!(
                "PARTIAL answers of an unfinished wizard session ({answered} of {} answered), kept to resume it; not the mapping file.",
                self.book.suggestions.len()
            ),
        );
        if let Err(e) = save(&render(&draft)) {
            ask.say(&format!(
                "warning: the answers so far could not be kept: {}\n",
                esc(&e)
            ))?;
        }
        Ok(())
    }

    fn summary(&self) -> String {
        let i = self.inputs;
        let report = inspect(i.bundle, i.tree, i.contexts);
        crate::text::render(|o| {
            writeln!(
                o,
                "dh-migrate wizard: which new host does each old host become?\n"
            )?;
            writeln!(
                o,
                "Bundle {} ({}, manifest {})",
                esc(&i.bundle_label),
                report.kind,
                report.manifest
            )?;
            let parts: Vec<String> = report
                .parts
                .iter()
                .filter(|p| p.files > 0)
                .map(|p| format!("{} {}", p.name, p.files))
                .collect();
            let mut line = String::from("  parts:");
            for p in parts {
                if line.len() + p.len() > 96 {
                    writeln!(o, "{},", line.trim_end_matches(','))?;
                    line = String::from("        ");
                } else if !line.ends_with(':') {
                    line.push(',');
                }
                line.push(' ');
                line.push_str(&p);
            }
            writeln!(o, "{line}")?;
            writeln!(o, "  old nodes ({}):", report.nodes.len())?;
            for n in &report.nodes {
                writeln!(
                    o,
                    "    {:<32} {:<15} {:<16} {} reference(s)",
                    esc(n.node.name()),
                    esc(&n.node.ips.join(", ")),
                    roles_text(&n.node.roles),
                    n.references.len()
                )?;
            }
            writeln!(
                o,
                "\nNew cluster {} ({} node(s))",
                esc(&i.target_label),
                self.new.len()
            )?;
            if self.new.is_empty() {
                writeln!(o, "  (no cluster/cluster.cnf: type each new host yourself)")?;
            }
            for n in &self.new {
                writeln!(
                    o,
                    "    {:<32} {:<15} {}",
                    esc(&n.name),
                    esc(n.ip.as_deref().unwrap_or("-")),
                    roles_text(&n.roles)
                )?;
            }
            writeln!(
                o,
                "\n{} name(s) to answer. The mapping is written only at the end; the answers so far are\n\
                 kept after each one, so an interrupted session (Ctrl-C) can be resumed.",
                self.book.suggestions.len()
            )?;

            Ok(())
        })
    }

    /// The new hosts offered for a name: IPs for an IP, names otherwise.
    fn candidates(&self, kind: IdKind) -> Vec<(String, String)> {
        self.new
            .iter()
            .filter_map(|n| {
                let host = if kind == IdKind::Ip {
                    n.ip.clone()?
                } else {
                    n.name.clone()
                };
                Some((host, roles_text(&n.roles)))
            })
            .collect()
    }

    fn ask_one(&mut self, ask: &mut dyn Ask, i: usize) -> Result<(), AskError> {
        let s = self.book.suggestions[i].clone();
        let suggested = self.book.suggested(i);
        let total = self
            .refs
            .iter()
            .filter(|r| r.migrated && refers_to(r, &s.old, &self.inv))
            .count();
        let roles = self
            .inv
            .lookup(&s.old)
            .map(|(_, ns)| {
                roles_text(
                    ns.iter()
                        .flat_map(|&n| self.inv.nodes[n].roles.iter())
                        .collect::<std::collections::BTreeSet<_>>(),
                )
            })
            .unwrap_or_else(|| "roles unknown".into());
        let o = crate::text::render(|o| {
            writeln!(
                o,
                "\n[{}/{}] {}  ({roles}; {total} reference(s) in migrated files)",
                i + 1,
                self.book.suggestions.len(),
                esc(&s.old)
            )?;
            match &suggested {
                Some(a) => {
                    writeln!(o, "  suggested: {}", esc(&a.describe()))?;
                }
                None => {
                    writeln!(o, "  no suggestion: no evidence found in the target")?;
                }
            }
            let mut shown = Vec::new();
            for v in &s.votes {
                let line = format!(
                    "{} -> {}{}",
                    v.evidence,
                    v.new,
                    v.role.map_or(String::new(), |r| format!(" ({r})"))
                );
                if !shown.contains(&line) {
                    shown.push(line);
                }
            }
            for l in shown.iter().take(3) {
                writeln!(o, "    evidence: {}", esc(l))?;
            }
            if shown.len() > 3 {
                writeln!(
                    o,
                    "    ... and {} more piece(s) of evidence",
                    shown.len() - 3
                )?;
            }
            Ok(())
        });
        ask.say(&o)?;

        // The choices: the suggestion first, then the other new hosts, then the rest.
        let mut choices: Vec<(Choice, String)> = Vec::new();
        let cands = self.candidates(s.kind);
        match &suggested {
            Some(Answer::Host(h)) => {
                let roles = cands
                    .iter()
                    .find(|(c, _)| c == h)
                    .map_or(String::new(), |(_, r)| format!("  [{r}]"));
                choices.push((
                    Choice::Answer(Answer::Host(h.clone())),
                    format!("{}{roles}  (suggested)", esc(h)),
                ));
            }
            Some(a @ Answer::Split { .. }) => {
                choices.push((
                    Choice::Answer(a.clone()),
                    format!("split by role: {}  (suggested)", esc(&a.describe())),
                ));
            }
            _ => {}
        }
        for (h, r) in &cands {
            if suggested.as_ref() != Some(&Answer::Host(h.clone())) {
                choices.push((
                    Choice::Answer(Answer::Host(h.clone())),
                    format!("{}  [{r}]", esc(h)),
                ));
            }
        }
        choices.push((Choice::Other, "type another host".into()));
        choices.push((Choice::Keep, "keep it as it is".into()));
        choices.push((Choice::Split, "split it by role".into()));

        let current = self.book.answers[i].clone();
        let default = match &current {
            None => 0,
            Some(a) => choices
                .iter()
                .position(|(c, _)| *c == Choice::Answer(a.clone()))
                .unwrap_or(match a {
                    Answer::Host(_) => choices.len() - 3,
                    Answer::Keep => choices.len() - 2,
                    Answer::Split { .. } => choices.len() - 1,
                }),
        };
        let items: Vec<String> = choices.iter().map(|(_, l)| l.clone()).collect();
        let picked = ask.select(&format!("{} becomes", esc(&s.old)), &items, default)?;
        let answer = match &choices[picked].0 {
            Choice::Answer(a) => a.clone(),
            Choice::Keep => Answer::Keep,
            Choice::Other => {
                let initial = match &current {
                    Some(Answer::Host(h)) => h.clone(),
                    _ => String::new(),
                };
                Answer::Host(ask.input(
                    &format!("new host for {}", esc(&s.old)),
                    &initial,
                    &check_host,
                )?)
            }
            Choice::Split => {
                let (default, roles) = match (&current, &suggested) {
                    (Some(Answer::Split { default, roles }), _)
                    | (_, Some(Answer::Split { default, roles })) => {
                        (default.clone(), roles.clone())
                    }
                    (Some(Answer::Host(h)), _) | (_, Some(Answer::Host(h))) => {
                        (Some(h.clone()), BTreeMap::new())
                    }
                    _ => (None, BTreeMap::new()),
                };
                self.ask_split(ask, &s.old, default, roles)?
            }
        };
        self.book.answers[i] = Some(answer);
        let p = self.preview(&s.old);
        ask.say(&p)?;
        Ok(())
    }

    fn ask_split(
        &self,
        ask: &mut dyn Ask,
        old: &str,
        default: Option<String>,
        roles: BTreeMap<Role, String>,
    ) -> Result<Answer, AskError> {
        loop {
            let d = ask.input(
                &format!("{} default (places without a role; empty: none)", esc(old)),
                default.as_deref().unwrap_or(""),
                &check_optional_host,
            )?;
            let names: Vec<&str> = roles.keys().map(|r| r.as_str()).collect();
            let listed = ask.input(
                "roles that go elsewhere (comma list of infra, query, merge, dis, etcd)",
                &names.join(", "),
                &|v| parse_roles(v).map(|_| ()),
            )?;
            // The check above accepted it, so this parses.
            let listed = parse_roles(&listed).unwrap_or_default();
            let mut chosen = BTreeMap::new();
            for r in listed {
                let initial = roles
                    .get(&r)
                    .cloned()
                    .or_else(|| self.host_with_role(old, r))
                    .unwrap_or_default();
                let v = ask.input(&format!("new host for role {r}"), &initial, &check_host)?;
                chosen.insert(r, v);
            }
            if d.is_empty() && chosen.is_empty() {
                ask.say("  a split needs a default or at least one role; again:\n")?;
                continue;
            }
            return Ok(Answer::Split {
                default: (!d.is_empty()).then_some(d),
                roles: chosen,
            });
        }
    }

    /// The only new node with `role` (name, or IP for an old IP), to pre-fill a role.
    fn host_with_role(&self, old: &str, role: Role) -> Option<String> {
        let with: Vec<&NewNode> = self
            .new
            .iter()
            .filter(|n| n.roles.contains(&role))
            .collect();
        match with.as_slice() {
            [one] if is_ipv4(old) => one.ip.clone(),
            [one] => Some(one.name.clone()),
            _ => None,
        }
    }

    /// The mapping of the answers so far, as `plan` would read it from the file.
    fn mapping(&self) -> Result<Mapping, String> {
        let text = render(
            &self
                .book
                .draft(&self.inputs.bundle_label, &self.inputs.target_label),
        );
        Mapping::parse(&self.inputs.mapping_out, &text).map_err(|e| e.to_string())
    }

    fn preview(&self, old: &str) -> String {
        crate::text::render(|o| {
            let mapping = match self.mapping() {
                Ok(m) => m,
                Err(e) => {
                    writeln!(o, "  (no preview: {})", esc(&e))?;
                    return Ok(());
                }
            };
            let p = preview(
                self.inputs.tree,
                &self.refs,
                &self.inv,
                &mapping,
                old,
                PREVIEW_LINES,
            );
            if p.total == 0 {
                writeln!(o, "  preview: no reference in the migrated files")?;
                return Ok(());
            }
            writeln!(
                o,
                "  preview ({} of {} reference(s)):",
                p.lines.len(),
                p.total
            )?;
            for l in &p.lines {
                writeln!(o, "    {}", esc(&l.place))?;
                writeln!(o, "      - {}", esc(&l.before))?;
                match &l.after {
                    Ok(a) => {
                        writeln!(o, "      + {}", esc(a))?;
                    }
                    Err(why) => {
                        writeln!(o, "      ! {}", esc(why))?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Coverage of the answers (resolved and unresolved references, each unresolved
    /// place) and, when complete, the plan summary.
    fn coverage(&self) -> String {
        crate::text::render(|o| {
            writeln!(o, "\nCoverage")?;
            let mapping = match self.mapping() {
                Ok(m) => m,
                Err(e) => {
                    writeln!(o, "  the answers do not make a valid mapping: {}", esc(&e))?;
                    return Ok(());
                }
            };
            let i = self.inputs;
            let migration = match migrate(i.tree, &mapping, i.contexts) {
                Ok(m) => m,
                Err(e) => {
                    writeln!(o, "  {}", esc(&e.to_string()))?;
                    return Ok(());
                }
            };
            let resolved = migration.resolution.outcomes.iter().flatten().count();
            let problems = migration.problem_lines(&i.mapping_out);
            writeln!(
                o,
                "  {resolved} reference(s) resolved, {} unresolved",
                problems.len()
            )?;
            for p in problems.iter().take(PROBLEM_LINES) {
                writeln!(o, "    {}", esc(p))?;
            }
            if problems.len() > PROBLEM_LINES {
                writeln!(
                    o,
                    "    ... and {} more (plan lists them all)",
                    problems.len() - PROBLEM_LINES
                )?;
            }
            if !problems.is_empty() {
                writeln!(
                    o,
                    "  plan will refuse this mapping until every place is mapped or kept"
                )?;
                return Ok(());
            }
            match make_plan(
                i.bundle, i.tree, i.target, &mapping, i.contexts, i.layout, None,
            ) {
                Ok(plan) => {
                    let c = plan.migration.counts();
                    let by_role: Vec<String> = c
                        .rewritten_by_role
                        .iter()
                        .map(|(r, n)| format!("{r}: {n}"))
                        .collect();
                    let changed = plan.comparison.files.iter().filter(|f| f.counts()).count();
                    writeln!(o, "\nPlan summary")?;
                    writeln!(
                        o,
                        "  files migrated        {} ({} rewritten)",
                        c.files, c.files_changed
                    )?;
                    writeln!(
                        o,
                        "  references rewritten  {} ({})",
                        c.rewritten,
                        if by_role.is_empty() {
                            "none".into()
                        } else {
                            by_role.join(", ")
                        }
                    )?;
                    writeln!(o, "  references kept       {}", c.kept)?;
                    writeln!(o, "  new cluster           {changed} file(s) would change")?;
                    for (node, files) in &plan.files_for_node {
                        writeln!(o, "  {} receives {} node file(s)", esc(node), files.len())?;
                    }
                }
                Err(PlanError::Incomplete(lines)) => {
                    writeln!(o, "  the plan is incomplete: {} problem(s)", lines.len())?;
                }
                Err(PlanError::Broke(b)) => {
                    writeln!(o, "  {}", esc(&b.to_string()))?;
                }
                Err(
                    ref e @ (PlanError::NotNewNodes(ref lines) | PlanError::MergeRules(ref lines)),
                ) => {
                    writeln!(o, "  {}", esc(&e.to_string()))?;
                    for l in lines.iter().take(PROBLEM_LINES) {
                        writeln!(o, "    {}", esc(l))?;
                    }
                }
                Err(e @ (PlanError::Merge(_) | PlanError::Encode(_))) => {
                    writeln!(o, "  {}", esc(&e.to_string()))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_ipv4_and_anything_else_is_refused_with_a_reason() {
        assert_eq!(check_host("query-a.new.example.com"), Ok(()));
        assert_eq!(check_host("10.20.0.21"), Ok(()));
        assert_eq!(
            check_host("not a host!"),
            Err("`not a host!` is not a host name or an IPv4 address".to_string())
        );
        assert!(check_host("").is_err());
        assert_eq!(check_optional_host(""), Ok(()));
    }

    #[test]
    fn role_lists_parse_the_vocabulary_and_refuse_unknown_or_repeated_roles() {
        assert_eq!(parse_roles("dis, query"), Ok(vec![Role::Dis, Role::Query]));
        assert_eq!(parse_roles("  "), Ok(vec![]));
        assert_eq!(
            parse_roles("dis,ingest"),
            Err("unknown role `ingest`: expected one of infra, query, merge, dis, etcd".into())
        );
        assert_eq!(
            parse_roles("dis,DIS"),
            Err("role dis is listed twice".to_string())
        );
    }
}
