//! The wizard's answers and the mapping file they make: one answer per old name (a new
//! host, "keep it", or a split by role), pre-filled from an existing mapping file or the
//! suggestion, and rendered through `mapping::write` so that the wizard writes exactly the
//! format `mapping suggest` prints and `plan` reads.

use crate::mapping::suggest::{draft as suggest_draft, Suggestion};
use crate::mapping::write::{Draft, DraftHost, DraftTarget};
use crate::mapping::{Mapping, Target};
use crate::roles::Role;
use std::collections::BTreeMap;

/// What one old name becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// One new host for every reference.
    Host(String),
    /// References stay as they are (`keep:`).
    Keep,
    /// By role: each listed role goes to its host, everything else to `default`.
    Split {
        default: Option<String>,
        roles: BTreeMap<Role, String>,
    },
}

impl Answer {
    /// The answer an existing mapping file gives for `name`, if any.
    pub fn from_mapping(m: &Mapping, name: &str) -> Option<Answer> {
        if m.is_kept(name) {
            return Some(Answer::Keep);
        }
        m.rule(name).map(|r| match &r.target {
            Target::Host(h) => Answer::Host(h.value.clone()),
            Target::Roles { default, roles } => Answer::Split {
                default: default.as_ref().map(|h| h.value.clone()),
                roles: roles.iter().map(|(r, h)| (*r, h.value.clone())).collect(),
            },
        })
    }

    /// The answer a suggestion proposes.
    pub fn from_draft(t: &DraftTarget) -> Answer {
        match t {
            DraftTarget::Host(h) => Answer::Host(h.clone()),
            DraftTarget::Roles { default, roles } => Answer::Split {
                default: default.clone(),
                roles: roles.clone(),
            },
        }
    }

    /// The mapping value, or None for `Keep`.
    pub fn to_draft(&self) -> Option<DraftTarget> {
        match self {
            Answer::Host(h) => Some(DraftTarget::Host(h.clone())),
            Answer::Keep => None,
            Answer::Split { default, roles } => Some(DraftTarget::Roles {
                default: default.clone(),
                roles: roles.clone(),
            }),
        }
    }

    /// One line for a terminal: `query-a`, `kept as it is`, `default query-a; dis -> ingest-a`.
    pub fn describe(&self) -> String {
        match self {
            Answer::Host(h) => h.clone(),
            Answer::Keep => "kept as it is".into(),
            Answer::Split { default, roles } => {
                let mut parts = Vec::new();
                parts.push(match default {
                    Some(d) => format!("default {d}"),
                    None => "no default".into(),
                });
                for (r, v) in roles {
                    parts.push(format!("{r} -> {v}"));
                }
                parts.join("; ")
            }
        }
    }
}

/// Everything the mapping file is made of: the names asked about (with their answers so
/// far) and what an existing mapping file held beyond them, carried over unchanged.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub suggestions: Vec<Suggestion>,
    /// Parallel to `suggestions`; None: not answered yet.
    pub answers: Vec<Option<Answer>>,
    /// `hosts:` entries of the existing file for names the wizard does not ask about
    /// (e.g. a short name mapped explicitly).
    pub extra_hosts: Vec<(String, DraftTarget)>,
    /// `keep:` entries of the existing file that are not names the wizard asks about
    /// (e.g. an LDAP server).
    pub extra_keep: Vec<String>,
}

impl Book {
    /// Answers pre-filled from `existing` (a previous session's file); names it does not
    /// answer start unanswered.
    pub fn new(suggestions: Vec<Suggestion>, existing: Option<&Mapping>) -> Book {
        let asked = |n: &str| suggestions.iter().any(|s| s.old.eq_ignore_ascii_case(n));
        let answers = suggestions
            .iter()
            .map(|s| existing.and_then(|m| Answer::from_mapping(m, &s.old)))
            .collect();
        let (extra_hosts, extra_keep) = match existing {
            Some(m) => (
                m.hosts
                    .iter()
                    .filter(|h| !asked(&h.old))
                    .map(|h| (h.old.clone(), DraftTarget::from(&h.target)))
                    .collect(),
                m.keep
                    .iter()
                    .filter(|k| !asked(&k.host))
                    .map(|k| k.host.clone())
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Book {
            suggestions,
            answers,
            extra_hosts,
            extra_keep,
        }
    }

    /// The suggestion for name `i` as an answer.
    pub fn suggested(&self, i: usize) -> Option<Answer> {
        self.suggestions[i].target.as_ref().map(Answer::from_draft)
    }

    /// The mapping file for the answers so far. Evidence comments come from the
    /// suggestions; an answer that departs from its suggestion says so.
    pub fn draft(&self, bundle_label: &str, target_label: &str) -> Draft {
        let evidence = suggest_draft(&self.suggestions, bundle_label, target_label);
        let mut hosts = Vec::new();
        let mut keep = Vec::new();
        for ((s, answer), ev) in self
            .suggestions
            .iter()
            .zip(&self.answers)
            .zip(evidence.hosts)
        {
            let mut comments = ev.comments;
            match answer {
                Some(Answer::Keep) => {
                    keep.push((
                        s.old.clone(),
                        Some(format!("{}: kept as it is (answered in the wizard)", s.old)),
                    ));
                    continue;
                }
                Some(a) if Some(a) != self.suggested_answer(s).as_ref() => {
                    comments.push(match &s.target {
                        Some(t) => format!(
                            "answered in the wizard; the suggestion was: {}",
                            Answer::from_draft(t).describe()
                        ),
                        None => "answered in the wizard".into(),
                    });
                }
                _ => {}
            }
            hosts.push(DraftHost {
                old: s.old.clone(),
                target: answer.as_ref().and_then(Answer::to_draft),
                comments,
            });
        }
        for (old, t) in &self.extra_hosts {
            hosts.push(DraftHost {
                old: old.clone(),
                target: Some(t.clone()),
                comments: vec!["carried over from the existing mapping file".into()],
            });
        }
        keep.extend(self.extra_keep.iter().map(|k| (k.clone(), None)));
        Draft {
            header: vec![
                "dh-migrate mapping file, written by `dh-migrate wizard`".into(),
                format!("bundle: {bundle_label}"),
                format!("target: {target_label}"),
                "Run the wizard again with --mapping-out pointing to this file to change an answer."
                    .into(),
            ],
            hosts,
            keep,
        }
    }

    fn suggested_answer(&self, s: &Suggestion) -> Option<Answer> {
        s.target.as_ref().map(Answer::from_draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::inventory::IdKind;

    fn sug(old: &str, target: Option<DraftTarget>) -> Suggestion {
        Suggestion {
            old: old.into(),
            kind: IdKind::Fqdn,
            target,
            votes: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    #[test]
    fn existing_file_prefills_answers_and_keeps_what_it_does_not_ask() {
        let m = Mapping::parse(
            "m.yaml",
            "version: 1\nhosts:\n  a.old.x: a.new.x\n  b.old.x:\n    default: q.new.x\n    roles:\n      dis: i.new.x\n  c: c-new\nkeep:\n  - d.old.x\n  - ldap.x\n",
        )
        .unwrap();
        let book = Book::new(
            vec![
                sug("a.old.x", None),
                sug("b.old.x", None),
                sug("d.old.x", None),
                sug("e.old.x", None),
            ],
            Some(&m),
        );
        assert_eq!(
            book.answers,
            vec![
                Some(Answer::Host("a.new.x".into())),
                Some(Answer::Split {
                    default: Some("q.new.x".into()),
                    roles: BTreeMap::from([(Role::Dis, "i.new.x".into())]),
                }),
                Some(Answer::Keep),
                None,
            ]
        );
        assert_eq!(
            book.extra_hosts,
            vec![("c".to_string(), DraftTarget::Host("c-new".into()))]
        );
        assert_eq!(book.extra_keep, vec!["ldap.x".to_string()]);
    }

    #[test]
    fn draft_notes_departures_from_the_suggestion_and_lists_kept_names() {
        let mut book = Book::new(
            vec![
                sug("a.old.x", Some(DraftTarget::Host("a.new.x".into()))),
                sug("b.old.x", Some(DraftTarget::Host("b.new.x".into()))),
                sug("c.old.x", None),
            ],
            None,
        );
        book.answers = vec![
            Some(Answer::Host("a.new.x".into())),
            Some(Answer::Host("z.new.x".into())),
            Some(Answer::Keep),
        ];
        let text = crate::mapping::write::render(&book.draft("B", "T"));
        let expected = "\
# dh-migrate mapping file, written by `dh-migrate wizard`
# bundle: B
# target: T
# Run the wizard again with --mapping-out pointing to this file to change an answer.
version: 1
hosts:
  a.old.x: a.new.x
  # answered in the wizard; the suggestion was: b.new.x
  b.old.x: z.new.x
keep:
  # c.old.x: kept as it is (answered in the wizard)
  - c.old.x
";
        assert_eq!(text, expected);
    }

    #[test]
    fn split_answers_describe_default_and_roles() {
        let a = Answer::Split {
            default: None,
            roles: BTreeMap::from([(Role::Dis, "i".into()), (Role::Query, "q".into())]),
        };
        assert_eq!(a.describe(), "no default; query -> q; dis -> i");
    }
}
