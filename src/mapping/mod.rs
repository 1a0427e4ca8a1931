//! The mapping file (contract: "Mapping file"): which new host each old host becomes,
//! optionally per role, and which references stay on purpose. This module reads and
//! validates it with `file:line` errors; `resolve` applies it to references.

pub mod resolve;
pub mod suggest;
pub mod write;

use crate::formats::yaml::{self, Node, YamlDoc};
use crate::roles::Role;
use crate::scan::tokens::{is_host_name, is_ipv4};
use crate::text::{LineIndex, Position, Span};
use std::collections::BTreeMap;
use std::fmt;

/// A new host as the mapping names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHost {
    pub value: String,
    pub line: usize,
}

/// What an old host becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One new host for every reference.
    Host(NewHost),
    /// A node whose roles moved to several new nodes.
    Roles {
        default: Option<NewHost>,
        roles: BTreeMap<Role, NewHost>,
    },
}

impl Target {
    /// The new host for a reference whose context decided `role` (None: no role context).
    pub fn for_role(&self, role: Option<Role>) -> Option<&NewHost> {
        match self {
            Target::Host(h) => Some(h),
            Target::Roles { default, roles } => {
                role.and_then(|r| roles.get(&r)).or(default.as_ref())
            }
        }
    }

    /// Every new host this target can produce.
    pub fn values(&self) -> Vec<&NewHost> {
        match self {
            Target::Host(h) => vec![h],
            Target::Roles { default, roles } => default.iter().chain(roles.values()).collect(),
        }
    }
}

/// One `hosts:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The old host as written in the mapping file.
    pub old: String,
    pub line: usize,
    pub target: Target,
}

/// One `keep:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepRule {
    pub host: String,
    pub line: usize,
    /// Byte offset of the entry in the mapping file, for messages.
    pub offset: usize,
}

/// A validated mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    /// The file it came from, for messages.
    pub file: String,
    pub hosts: Vec<HostRule>,
    pub keep: Vec<KeepRule>,
}

/// What is wrong with a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingErrorKind {
    Syntax(String),
    ExpectedMap(&'static str),
    ExpectedSeq(&'static str),
    ExpectedScalar(&'static str),
    UnknownKey { key: String, allowed: &'static str },
    MissingVersion,
    UnsupportedVersion(String),
    InvalidOldHost(String),
    InvalidNewHost(String),
    UnknownRole(String),
    DuplicateHost { host: String, first_line: usize },
    DuplicateKeep { host: String, first_line: usize },
    KeptAndMapped { host: String, mapped_line: usize },
    EmptyRoles(String),
    AliasNotAllowed,
}

impl fmt::Display for MappingErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MappingErrorKind::*;
        match self {
            Syntax(e) => write!(f, "not valid YAML: {e}"),
            ExpectedMap(what) => write!(f, "expected a map for {what}"),
            ExpectedSeq(what) => write!(f, "expected a list for {what}"),
            ExpectedScalar(what) => write!(f, "expected a single value for {what}"),
            UnknownKey { key, allowed } => write!(f, "unknown key `{key}` (expected {allowed})"),
            MissingVersion => write!(f, "missing `version: 1`"),
            UnsupportedVersion(v) => write!(
                f,
                "unsupported mapping version `{v}` (this dh-migrate reads version 1)"
            ),
            InvalidOldHost(h) => write!(f, "`{h}` is not a valid host name or IPv4 address"),
            InvalidNewHost(h) => write!(
                f,
                "new value `{h}` is not a valid host name or IPv4 address"
            ),
            UnknownRole(r) => write!(
                f,
                "unknown role `{r}` (expected default or one of infra, query, merge, dis, etcd)"
            ),
            DuplicateHost { host, first_line } => write!(
                f,
                "old host `{host}` is listed twice (first on line {first_line})"
            ),
            DuplicateKeep { host, first_line } => write!(
                f,
                "`{host}` is listed twice in keep (first on line {first_line})"
            ),
            KeptAndMapped { host, mapped_line } => write!(
                f,
                "`{host}` is both kept and mapped (mapped on line {mapped_line})"
            ),
            EmptyRoles(h) => write!(f, "`{h}` has neither a `default` nor any role"),
            AliasNotAllowed => write!(
                f,
                "YAML aliases are not allowed in a mapping file: write each value out"
            ),
        }
    }
}

/// A mapping-file error with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{pos}: {kind}")]
pub struct MappingError {
    pub file: String,
    pub pos: Position,
    pub kind: MappingErrorKind,
}

struct Reader<'a> {
    file: &'a str,
    src: &'a str,
    doc: &'a YamlDoc,
    lines: LineIndex,
}

impl Reader<'_> {
    fn err(&self, offset: usize, kind: MappingErrorKind) -> MappingError {
        MappingError {
            file: self.file.to_string(),
            pos: self.lines.position(self.src, offset),
            kind,
        }
    }

    fn line(&self, offset: usize) -> usize {
        self.lines.position(self.src, offset).line
    }

    fn span(&self, node: &Node) -> Span {
        match node {
            Node::Map { span, .. } | Node::Seq { span, .. } => *span,
            Node::Scalar(i) => self.doc.scalars()[*i].span,
            Node::Alias(i) => self.doc.aliases()[*i].span,
        }
    }

    /// The scalar's text and offset, or an error saying what was expected.
    fn scalar(&self, node: &Node, what: &'static str) -> Result<(String, usize), MappingError> {
        match node {
            Node::Scalar(i) => {
                let s = &self.doc.scalars()[*i];
                Ok((s.value.clone(), s.span.start))
            }
            Node::Alias(_) => {
                Err(self.err(self.span(node).start, MappingErrorKind::AliasNotAllowed))
            }
            _ => Err(self.err(
                self.span(node).start,
                MappingErrorKind::ExpectedScalar(what),
            )),
        }
    }

    fn map<'n>(
        &self,
        node: &'n Node,
        what: &'static str,
    ) -> Result<&'n [(Node, Node)], MappingError> {
        match node {
            Node::Map { entries, .. } => Ok(entries),
            Node::Alias(_) => {
                Err(self.err(self.span(node).start, MappingErrorKind::AliasNotAllowed))
            }
            _ => Err(self.err(self.span(node).start, MappingErrorKind::ExpectedMap(what))),
        }
    }

    fn new_host(&self, node: &Node, what: &'static str) -> Result<NewHost, MappingError> {
        let (value, at) = self.scalar(node, what)?;
        let value = value.trim().to_string();
        if !is_host_name(&value) && !is_ipv4(&value) {
            return Err(self.err(at, MappingErrorKind::InvalidNewHost(value)));
        }
        Ok(NewHost {
            value,
            line: self.line(at),
        })
    }

    fn target(&self, old: &str, node: &Node) -> Result<Target, MappingError> {
        if let Node::Scalar(_) = node {
            return Ok(Target::Host(self.new_host(node, "the new host")?));
        }
        let mut default = None;
        let mut roles = BTreeMap::new();
        for (k, v) in self.map(
            node,
            "a host's new value (a host, or `default:` and `roles:`)",
        )? {
            let (key, at) = self.scalar(k, "a key")?;
            match key.as_str() {
                "default" => default = Some(self.new_host(v, "default")?),
                "roles" => {
                    for (rk, rv) in self.map(v, "roles")? {
                        let (role, rat) = self.scalar(rk, "a role")?;
                        let role: Role = role.parse().map_err(|_| {
                            self.err(rat, MappingErrorKind::UnknownRole(role.clone()))
                        })?;
                        roles.insert(role, self.new_host(rv, "a role's new host")?);
                    }
                }
                _ => {
                    return Err(self.err(
                        at,
                        MappingErrorKind::UnknownKey {
                            key,
                            allowed: "`default` or `roles`",
                        },
                    ));
                }
            }
        }
        if default.is_none() && roles.is_empty() {
            return Err(self.err(
                self.span(node).start,
                MappingErrorKind::EmptyRoles(old.to_string()),
            ));
        }
        Ok(Target::Roles { default, roles })
    }
}

impl Mapping {
    /// Reads and validates mapping-file text; `file` names it in errors.
    pub fn parse(file: &str, src: &str) -> Result<Mapping, MappingError> {
        let doc = yaml::parse(src).map_err(|e| MappingError {
            file: file.to_string(),
            pos: LineIndex::new(src).position(src, e.offset),
            kind: MappingErrorKind::Syntax(e.kind.to_string()),
        })?;
        let r = Reader {
            file,
            src,
            doc: &doc,
            lines: LineIndex::new(src),
        };
        let mut mapping = Mapping {
            file: file.to_string(),
            ..Mapping::default()
        };
        let Some(root) = doc.root() else {
            return Err(r.err(0, MappingErrorKind::MissingVersion));
        };
        let mut version_seen = false;
        for (k, v) in r.map(root, "the mapping file (version, hosts, keep)")? {
            let (key, at) = r.scalar(k, "a key")?;
            match key.as_str() {
                "version" => {
                    let (ver, vat) = r.scalar(v, "version")?;
                    if ver.trim() != "1" {
                        return Err(r.err(vat, MappingErrorKind::UnsupportedVersion(ver)));
                    }
                    version_seen = true;
                }
                "hosts" => {
                    if let Node::Scalar(i) = v {
                        // `hosts:` with nothing after it: an empty map.
                        if doc.scalars()[*i].value.is_empty() {
                            continue;
                        }
                    }
                    for (hk, hv) in r.map(v, "hosts (old host: new host)")? {
                        let (old, hat) = r.scalar(hk, "an old host")?;
                        let old = old.trim().to_string();
                        if !is_host_name(&old) && !is_ipv4(&old) {
                            return Err(r.err(hat, MappingErrorKind::InvalidOldHost(old)));
                        }
                        if let Some(first) = mapping
                            .hosts
                            .iter()
                            .find(|h| h.old.eq_ignore_ascii_case(&old))
                        {
                            return Err(r.err(
                                hat,
                                MappingErrorKind::DuplicateHost {
                                    host: old,
                                    first_line: first.line,
                                },
                            ));
                        }
                        let target = r.target(&old, hv)?;
                        mapping.hosts.push(HostRule {
                            old,
                            line: r.line(hat),
                            target,
                        });
                    }
                }
                "keep" => {
                    let items = match v {
                        Node::Seq { items, .. } => items.as_slice(),
                        Node::Scalar(i) if doc.scalars()[*i].value.is_empty() => &[],
                        _ => {
                            return Err(
                                r.err(r.span(v).start, MappingErrorKind::ExpectedSeq("keep"))
                            )
                        }
                    };
                    for item in items {
                        let (host, kat) = r.scalar(item, "a kept host")?;
                        let host = host.trim().to_string();
                        if !is_host_name(&host) && !is_ipv4(&host) {
                            return Err(r.err(kat, MappingErrorKind::InvalidOldHost(host)));
                        }
                        if let Some(first) = mapping
                            .keep
                            .iter()
                            .find(|k| k.host.eq_ignore_ascii_case(&host))
                        {
                            return Err(r.err(
                                kat,
                                MappingErrorKind::DuplicateKeep {
                                    host,
                                    first_line: first.line,
                                },
                            ));
                        }
                        mapping.keep.push(KeepRule {
                            host,
                            line: r.line(kat),
                            offset: kat,
                        });
                    }
                }
                _ => {
                    return Err(r.err(
                        at,
                        MappingErrorKind::UnknownKey {
                            key,
                            allowed: "`version`, `hosts` or `keep`",
                        },
                    ));
                }
            }
        }
        if !version_seen {
            return Err(r.err(0, MappingErrorKind::MissingVersion));
        }
        for k in &mapping.keep {
            if let Some(h) = mapping.rule(&k.host) {
                let kat = k.offset;
                return Err(r.err(
                    kat,
                    MappingErrorKind::KeptAndMapped {
                        host: k.host.clone(),
                        mapped_line: h.line,
                    },
                ));
            }
        }
        Ok(mapping)
    }

    /// The explicit rule for `host` (case-insensitive).
    pub fn rule(&self, host: &str) -> Option<&HostRule> {
        self.hosts.iter().find(|h| h.old.eq_ignore_ascii_case(host))
    }

    /// True when `host` is listed in `keep:`.
    pub fn is_kept(&self, host: &str) -> bool {
        self.keep.iter().any(|k| k.host.eq_ignore_ascii_case(host))
    }
}

#[cfg(test)]
mod tests;
