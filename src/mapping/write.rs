//! Writing a mapping file: the one format `mapping suggest` prints and the wizard saves,
//! which `plan` and `apply` then read. Evidence goes into comments; a node without an
//! answer is written as a commented-out TODO so that the file still parses.

use super::Target;
use crate::roles::Role;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One old host in a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftHost {
    pub old: String,
    /// None: no answer yet (written as a TODO).
    pub target: Option<DraftTarget>,
    /// Comment lines written above the entry (evidence, notes).
    pub comments: Vec<String>,
}

/// A new value: one host, or by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftTarget {
    Host(String),
    Roles {
        default: Option<String>,
        roles: BTreeMap<Role, String>,
    },
}

impl From<&Target> for DraftTarget {
    fn from(t: &Target) -> DraftTarget {
        match t {
            Target::Host(h) => DraftTarget::Host(h.value.clone()),
            Target::Roles { default, roles } => DraftTarget::Roles {
                default: default.as_ref().map(|h| h.value.clone()),
                roles: roles.iter().map(|(r, h)| (*r, h.value.clone())).collect(),
            },
        }
    }
}

/// A mapping file to be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// Lines of the header comment.
    pub header: Vec<String>,
    pub hosts: Vec<DraftHost>,
    /// Kept hosts with an optional comment each.
    pub keep: Vec<(String, Option<String>)>,
}

fn comment(out: &mut String, indent: &str, text: &str) -> std::fmt::Result {
    for line in text.lines() {
        if line.is_empty() {
            writeln!(out, "{indent}#")?;
        } else {
            writeln!(out, "{indent}# {line}")?;
        }
    }
    Ok(())
}

/// Renders `draft` as mapping-file YAML (version 1).
pub fn render(draft: &Draft) -> String {
    crate::text::build(|out| {
        for h in &draft.header {
            comment(out, "", h)?;
        }
        out.push_str("version: 1\n");
        if draft.hosts.is_empty() {
            out.push_str("hosts: {}\n");
        } else {
            out.push_str("hosts:\n");
        }
        for h in &draft.hosts {
            for c in &h.comments {
                comment(out, "  ", c)?;
            }
            match &h.target {
                None => {
                    writeln!(
                        out,
                        "  # TODO: no answer yet; write the new host and remove the leading '# '"
                    )?;
                    writeln!(out, "  # {}: NEW-HOST", h.old)?;
                }
                Some(DraftTarget::Host(new)) => {
                    writeln!(out, "  {}: {}", h.old, new)?;
                }
                Some(DraftTarget::Roles { default, roles }) => {
                    writeln!(out, "  {}:", h.old)?;
                    if let Some(d) = default {
                        writeln!(out, "    default: {d}")?;
                    }
                    if !roles.is_empty() {
                        writeln!(out, "    roles:")?;
                        for (r, v) in roles {
                            writeln!(out, "      {r}: {v}")?;
                        }
                    }
                }
            }
        }
        if draft.keep.is_empty() {
            out.push_str("keep: []\n");
        } else {
            out.push_str("keep:\n");
            for (k, c) in &draft.keep {
                if let Some(c) = c {
                    comment(out, "  ", c)?;
                }
                writeln!(out, "  - {k}")?;
            }
        }
        Ok(())
    })
}
