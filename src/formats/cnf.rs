//! The installer's `cluster.cnf`: shell-style `VAR="value"` lines naming the cluster's
//! nodes and their roles. dh-migrate reads it (never migrates it: each cluster's installer
//! owns its own copy) to learn the old and new node names, IPs and roles.
//!
//! Node variables, as dh-migrate reads them: `DH_NODE_<N>_NAME` (FQDN or short name),
//! `DH_NODE_<N>_IP` (optional), `DH_NODE_<N>_ROLE_<ROLE>="true"` (one per role). The
//! per-node names are not published by Deephaven; a site whose file differs can still
//! name its nodes through the mapping file.

use crate::text::{Located, Span};
use std::collections::BTreeMap;
use std::fmt;

/// One `VAR=value` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    pub name_span: Span,
    /// The value without its quotes.
    pub value: String,
    /// The value's bytes, inside the quotes when quoted.
    pub value_span: Span,
    pub line: usize,
}

/// A node as `cluster.cnf` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CnfNode {
    /// The `<N>` of `DH_NODE_<N>_...`.
    pub index: u32,
    pub name: Option<String>,
    pub ip: Option<String>,
    /// Lower-case role names whose variable is `true`, sorted.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CnfFile {
    assignments: Vec<Assignment>,
    comments: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CnfError {
    /// A line that is neither blank, a comment, nor `NAME=value`.
    ExpectedAssignment,
    /// A quoted value whose closing quote is missing on its line.
    UnclosedQuote(char),
    /// Text after a closing quote.
    TrailingText,
}

impl fmt::Display for CnfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CnfError::ExpectedAssignment => {
                write!(f, "expected NAME=\"value\", a comment or a blank line")
            }
            CnfError::UnclosedQuote(q) => {
                write!(f, "expected a closing {q} before the end of the line")
            }
            CnfError::TrailingText => {
                write!(f, "expected the end of the line after the closing quote")
            }
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte offset of `part` (a slice of `src`) within `src`.
fn offset_in(src: &str, part: &str) -> usize {
    part.as_ptr() as usize - src.as_ptr() as usize
}

/// Parses `cluster.cnf` text.
pub fn parse(src: &str) -> Result<CnfFile, Located<CnfError>> {
    let mut assignments = Vec::new();
    let mut comments = Vec::new();
    for (line_no, raw_line) in src.split_inclusive('\n').enumerate() {
        let rest = raw_line.trim_end_matches(['\n', '\r']).trim_start();
        if rest.is_empty() {
            continue;
        }
        let span_of = |s: &str| Span::new(offset_in(src, s), offset_in(src, s) + s.len());
        if rest.starts_with('#') {
            comments.push(span_of(rest));
            continue;
        }
        let rest = rest.strip_prefix("export ").map_or(rest, str::trim_start);
        let name_len = rest.bytes().take_while(|b| is_name_byte(*b)).count();
        if name_len == 0 || rest.as_bytes().get(name_len) != Some(&b'=') {
            return Err(Located::new(
                offset_in(src, rest),
                CnfError::ExpectedAssignment,
            ));
        }
        let name = &rest[..name_len];
        let value_text = &rest[name_len + 1..];
        let (value, after) = match value_text.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value_text[1..];
                let close = inner.find(q).ok_or_else(|| {
                    Located::new(offset_in(src, value_text), CnfError::UnclosedQuote(q))
                })?;
                (&inner[..close], &inner[close + 1..])
            }
            _ => {
                // Unquoted: up to whitespace or a comment.
                let end = value_text
                    .find(|c: char| c.is_whitespace() || c == '#')
                    .unwrap_or(value_text.len());
                (&value_text[..end], &value_text[end..])
            }
        };
        let after = after.trim_start();
        if after.starts_with('#') {
            comments.push(span_of(after));
        } else if !after.is_empty() {
            return Err(Located::new(offset_in(src, after), CnfError::TrailingText));
        }
        assignments.push(Assignment {
            name: name.to_string(),
            name_span: span_of(name),
            value: value.to_string(),
            value_span: span_of(value),
            line: line_no + 1,
        });
    }
    Ok(CnfFile {
        assignments,
        comments,
    })
}

impl CnfFile {
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    pub fn comments(&self) -> &[Span] {
        &self.comments
    }

    /// The last value assigned to `name`, as the shell would see it.
    pub fn get(&self, name: &str) -> Option<&Assignment> {
        self.assignments.iter().rev().find(|a| a.name == name)
    }

    /// The nodes described by `DH_NODE_<N>_...` variables, ordered by `<N>`.
    pub fn nodes(&self) -> Vec<CnfNode> {
        let mut nodes: BTreeMap<u32, CnfNode> = BTreeMap::new();
        for a in &self.assignments {
            let Some(rest) = a.name.strip_prefix("DH_NODE_") else {
                continue;
            };
            let Some((num, field)) = rest.split_once('_') else {
                continue;
            };
            let Ok(index) = num.parse::<u32>() else {
                continue;
            };
            let node = nodes.entry(index).or_insert_with(|| CnfNode {
                index,
                ..CnfNode::default()
            });
            match field {
                "NAME" => node.name = Some(a.value.clone()).filter(|v| !v.is_empty()),
                "IP" => node.ip = Some(a.value.clone()).filter(|v| !v.is_empty()),
                _ => {
                    if let Some(role) = field.strip_prefix("ROLE_") {
                        let role = role.to_ascii_lowercase();
                        let on = a.value.eq_ignore_ascii_case("true")
                            || a.value == "1"
                            || a.value.eq_ignore_ascii_case("yes");
                        node.roles.retain(|r| r != &role);
                        if on {
                            node.roles.push(role);
                        }
                    }
                }
            }
        }
        nodes
            .into_values()
            .map(|mut n| {
                n.roles.sort();
                n
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::position_of;

    #[test]
    fn reads_nodes_roles_and_ips() {
        let src = "# installer\nDH_CLUSTER_NAME=\"prod\"\n\nDH_NODE_2_NAME=\"b.example.com\"\nDH_NODE_1_NAME='a.example.com'\nDH_NODE_1_IP=10.0.0.1 # first\nDH_NODE_1_ROLE_INFRA=\"true\"\nDH_NODE_1_ROLE_ETCD=\"true\"\nDH_NODE_2_ROLE_QUERY=\"true\"\nDH_NODE_2_ROLE_DIS=\"false\"\n";
        let f = parse(src).unwrap();
        let nodes = f.nodes();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].name.as_deref(), Some("a.example.com"));
        assert_eq!(nodes[0].ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(nodes[0].roles, vec!["etcd", "infra"]);
        assert_eq!(nodes[1].roles, vec!["query"]);
        assert_eq!(f.get("DH_CLUSTER_NAME").unwrap().value, "prod");
        let a = f.get("DH_NODE_1_NAME").unwrap();
        assert_eq!(a.value_span.slice(src), "a.example.com");
        assert_eq!(a.line, 5);
        assert_eq!(f.comments().len(), 2);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let src = "A=\"x\"\n  not an assignment\n";
        let e = parse(src).unwrap_err();
        assert_eq!(e.kind, CnfError::ExpectedAssignment);
        assert_eq!(position_of(src, e.offset).to_string(), "2:3");

        let src = "A=\"x\nB=1\n";
        let e = parse(src).unwrap_err();
        assert_eq!(e.kind, CnfError::UnclosedQuote('"'));
        assert_eq!(position_of(src, e.offset).to_string(), "1:3");

        let src = "A=\"x\" y\n";
        let e = parse(src).unwrap_err();
        assert_eq!(e.kind, CnfError::TrailingText);
        assert_eq!(position_of(src, e.offset).to_string(), "1:7");
    }
}
