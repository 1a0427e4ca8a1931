//! Applying a mapping to references: for each reference in a migrated file, its new value
//! (decided by host, or by the role its context decides), or why it cannot have one.
//! Nothing here guesses: a reference without a single answer is a problem.

use super::{Mapping, Target};
use crate::roles::Role;
use crate::scan::inventory::{IdKind, Inventory};
use crate::scan::refs::Reference;
use crate::scan::tokens::{is_ipv4, short_name};
use std::collections::{BTreeMap, HashSet};

/// What happens to one reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Rewritten to `new`; `role` is the role that decided it (None: by host alone).
    Rewrite {
        new: String,
        role: Option<Role>,
        rule_line: usize,
        derived_from: Option<String>,
    },
    /// Left as it is on purpose (`keep:`).
    Kept { line: usize },
    /// Mapped to itself: nothing changes.
    Same { rule_line: usize },
}

/// Why a reference has no single new value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// Names an old node but is neither mapped nor kept.
    Unresolved { reference: usize },
    /// Its context names several roles with different new values.
    Ambiguous {
        reference: usize,
        choices: Vec<(Option<Role>, String)>,
    },
    /// The node maps by role, and this reference's role (or lack of one) has no value and
    /// the node has no `default`.
    NoDefault {
        reference: usize,
        role: Option<Role>,
    },
    /// A short name that several old FQDNs share, not mapped explicitly.
    SharedShortName {
        reference: usize,
        fqdns: Vec<String>,
    },
    /// The name is split by a continuation or escape: it cannot be rewritten in place.
    Hidden { reference: usize },
    /// A mapping key that names no host of the bundle.
    UnknownHost { host: String, line: usize },
}

impl Problem {
    pub fn reference(&self) -> Option<usize> {
        match self {
            Problem::Unresolved { reference }
            | Problem::Ambiguous { reference, .. }
            | Problem::NoDefault { reference, .. }
            | Problem::SharedShortName { reference, .. }
            | Problem::Hidden { reference } => Some(*reference),
            Problem::UnknownHost { .. } => None,
        }
    }

    /// One line saying what is wrong, given the references it indexes into.
    pub fn describe(&self, refs: &[Reference], mapping_file: &str) -> String {
        let at = |i: usize| {
            let r = &refs[i];
            format!("{}:{}: `{}` ({})", r.file, r.pos, r.text, r.context)
        };
        match self {
            Problem::Unresolved { reference } => {
                format!("{}: names an old node but is neither mapped nor kept", at(*reference))
            }
            Problem::Ambiguous { reference, choices } => {
                let c: Vec<String> = choices
                    .iter()
                    .map(|(r, v)| format!("{} -> {v}", r.map_or("default".to_string(), |r| r.to_string())))
                    .collect();
                format!("{}: ambiguous, its context names roles with different new hosts ({})", at(*reference), c.join(", "))
            }
            Problem::NoDefault { reference, role } => match role {
                Some(r) => format!("{}: role {r} has no new host and the node has no `default`", at(*reference)),
                None => format!("{}: no role decides this place and the node has no `default`", at(*reference)),
            },
            Problem::SharedShortName { reference, fqdns } => format!(
                "{}: short name shared by {}; map the short name explicitly",
                at(*reference),
                fqdns.join(" and ")
            ),
            Problem::Hidden { reference } => format!(
                "{}: the name is split by a line continuation or an escape; rewrite it by hand (or keep it)",
                at(*reference)
            ),
            Problem::UnknownHost { host, line } => {
                format!("{mapping_file}:{line}: `{host}` names no host of the bundle (a typo?)")
            }
        }
    }
}

/// The outcome of every reference (by index; None for references in files that are not
/// migrated) and the problems found.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub outcomes: Vec<Option<Outcome>>,
    pub problems: Vec<Problem>,
}

impl Resolution {
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Keeps the look of what the file wrote: a name written in capitals stays in capitals.
fn styled(new: &str, as_written: &str) -> String {
    let has_alpha = as_written.bytes().any(|b| b.is_ascii_alphabetic());
    if has_alpha && !as_written.bytes().any(|b| b.is_ascii_lowercase()) {
        new.to_ascii_uppercase()
    } else {
        new.to_string()
    }
}

/// Decides every reference. `bundle_names` are the names the bundle itself knows (the
/// inventory built without the mapping's keys), used to catch mapping keys that name
/// nothing.
pub fn resolve(
    refs: &[Reference],
    mapping: &Mapping,
    inv: &Inventory,
    bundle_names: &Inventory,
) -> Resolution {
    let mut res = Resolution {
        outcomes: vec![None; refs.len()],
        problems: Vec::new(),
    };
    for (i, r) in refs.iter().enumerate() {
        if !r.migrated {
            continue;
        }
        match decide(r, mapping, inv) {
            Ok(outcome) => {
                if r.hidden && matches!(outcome, Outcome::Rewrite { .. }) {
                    res.problems.push(Problem::Hidden { reference: i });
                }
                res.outcomes[i] = Some(outcome);
            }
            Err(p) => res.problems.push(p(i)),
        }
    }
    // One pass over the references, then one lookup per rule: a mapping with 100,000
    // hosts must not compare each of them with every reference.
    let referenced: HashSet<String> = refs.iter().map(|r| r.text.to_ascii_lowercase()).collect();
    for rule in &mapping.hosts {
        if bundle_names.lookup(&rule.old).is_none()
            && !referenced.contains(&rule.old.to_ascii_lowercase())
        {
            res.problems.push(Problem::UnknownHost {
                host: rule.old.clone(),
                line: rule.line,
            });
        }
    }
    res
}

type ProblemAt = Box<dyn Fn(usize) -> Problem>;

fn decide(r: &Reference, mapping: &Mapping, inv: &Inventory) -> Result<Outcome, ProblemAt> {
    if let Some(k) = mapping.kept(&r.text) {
        return Ok(Outcome::Kept { line: k.line });
    }
    // An explicit rule for the name as written; else, for a short name, the rule of the
    // one FQDN it abbreviates.
    let (rule, derived_from) = match mapping.rule(&r.text) {
        Some(rule) => (rule, None),
        None => {
            if r.kind != IdKind::Short {
                return Err(Box::new(|i| Problem::Unresolved { reference: i }));
            }
            let fqdns: Vec<String> = r
                .nodes
                .iter()
                .filter_map(|&n| inv.nodes[n].fqdn.clone())
                .collect();
            if fqdns.len() > 1 {
                return Err(Box::new(move |i| Problem::SharedShortName {
                    reference: i,
                    fqdns: fqdns.clone(),
                }));
            }
            let Some(fqdn) = fqdns.into_iter().next() else {
                return Err(Box::new(|i| Problem::Unresolved { reference: i }));
            };
            if let Some(k) = mapping.kept(&fqdn) {
                return Ok(Outcome::Kept { line: k.line });
            }
            match mapping.rule(&fqdn) {
                Some(rule) => (rule, Some(fqdn)),
                None => return Err(Box::new(|i| Problem::Unresolved { reference: i })),
            }
        }
    };
    // The new value for each role the context names.
    let mut values: BTreeMap<String, Vec<Option<Role>>> = BTreeMap::new();
    let mut choices = Vec::new();
    let mut line = rule.line;
    for role in &r.roles {
        let Some(new) = rule.target.for_role(*role) else {
            let role = *role;
            return Err(Box::new(move |i| Problem::NoDefault { reference: i, role }));
        };
        line = new.line;
        let value = if derived_from.is_some() && !is_ipv4(&new.value) {
            short_name(&new.value).to_string()
        } else {
            new.value.clone()
        };
        choices.push((*role, value.clone()));
        values
            .entry(value.to_ascii_lowercase())
            .or_default()
            .push(*role);
    }
    if values.len() > 1 {
        return Err(Box::new(move |i| Problem::Ambiguous {
            reference: i,
            choices: choices.clone(),
        }));
    }
    let Some((role, value)) = choices.into_iter().next() else {
        return Err(Box::new(|i| Problem::Unresolved { reference: i }));
    };
    if value.eq_ignore_ascii_case(&r.text) {
        return Ok(Outcome::Same { rule_line: line });
    }
    // The role that decided it: only when the rule maps by role and a role applied.
    let decided = match (&rule.target, role) {
        (Target::Roles { roles, .. }, Some(r)) if roles.contains_key(&r) => Some(r),
        _ => None,
    };
    Ok(Outcome::Rewrite {
        new: styled(&value, &r.text),
        role: decided,
        rule_line: line,
        derived_from,
    })
}
