//! The mapping file (contract: "Mapping file"): which new host each old host becomes,
//! optionally per role, and which references stay on purpose. This module reads and
//! validates it with `file:line` errors; `resolve` applies it to references.

pub mod explain;
pub mod merge_rules;
pub mod resolve;
pub mod suggest;
pub mod validate;
pub mod write;

use crate::formats::yaml::{self, Node, YamlDoc};
use crate::roles::Role;
use crate::scan::tokens::{is_host_name, is_ipv4};
use crate::text::{LineIndex, Position, Span};
use merge_rules::{ItemRules, MergeRules, RuleName};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

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
    /// The optional `merge:` section: what apply does with the new cluster's own settings.
    pub merge: MergeRules,
    /// The optional `carry-binary:` list: bundle paths (`*` and `**` globs) of binary
    /// files carried unchanged even though they name old hosts.
    pub carry_binary: Vec<RuleName>,
    /// Set by the caller (`--allow-unknown-hosts`), never read from the file: mapping
    /// values that are not nodes of the new cluster are warnings instead of errors.
    pub allow_unknown_hosts: bool,
    /// Lower-cased old host / kept host -> index, built on first lookup so that resolving
    /// many references against a large mapping stays linear.
    /// (Public so that `..Mapping::default()` works outside this module; opaque.)
    pub index: MappingIndex,
}

/// Case-insensitive lookups into [`Mapping::hosts`] and [`Mapping::keep`], built on first
/// use.
#[derive(Debug, Clone, Default)]
pub struct MappingIndex(OnceLock<Index>);

/// A cache: two mappings are equal by their contents, whether or not one was looked into.
impl PartialEq for MappingIndex {
    fn eq(&self, _: &MappingIndex) -> bool {
        true
    }
}

impl Eq for MappingIndex {}

#[derive(Debug, Clone, Default)]
struct Index {
    hosts: HashMap<String, usize>,
    keep: HashMap<String, usize>,
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

impl Reader<'_> {
    /// `merge:`: item path -> `drop:` / `new-wins:` lists of names.
    fn merge_rules(&self, node: &Node) -> Result<MergeRules, MappingError> {
        let mut rules = MergeRules::default();
        if let Node::Scalar(i) = node {
            if self.doc.scalars()[*i].value.is_empty() {
                return Ok(rules);
            }
        }
        for (k, v) in self.map(node, "merge (item path: drop / new-wins lists)")? {
            let (item, at) = self.scalar(k, "an item path")?;
            let mut ir = ItemRules {
                item: item.trim().to_string(),
                line: self.line(at),
                ..ItemRules::default()
            };
            for (dk, dv) in self.map(v, "an item's merge decisions (drop, new-wins)")? {
                let (what, wat) = self.scalar(dk, "drop or new-wins")?;
                let list = match what.as_str() {
                    "drop" => &mut ir.drop,
                    "new-wins" => &mut ir.new_wins,
                    _ => {
                        return Err(self.err(
                            wat,
                            MappingErrorKind::UnknownKey {
                                key: what,
                                allowed: "`drop` or `new-wins`",
                            },
                        ))
                    }
                };
                let items = match dv {
                    Node::Seq { items, .. } => items.as_slice(),
                    _ => {
                        return Err(self.err(
                            self.span(dv).start,
                            MappingErrorKind::ExpectedSeq("a list of settings"),
                        ))
                    }
                };
                for it in items {
                    let (name, nat) = self.scalar(it, "a setting name")?;
                    list.push(RuleName {
                        pattern: merge_rules::normalize(&name),
                        line: self.line(nat),
                    });
                }
            }
            rules.items.push(ir);
        }
        Ok(rules)
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
        // Duplicates are found through these (a mapping may list 100,000 hosts).
        let mut seen_hosts: HashMap<String, usize> = HashMap::new();
        let mut seen_keep: HashMap<String, usize> = HashMap::new();
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
                        if let Some(&first) = seen_hosts.get(&old.to_ascii_lowercase()) {
                            return Err(r.err(
                                hat,
                                MappingErrorKind::DuplicateHost {
                                    host: old,
                                    first_line: mapping.hosts[first].line,
                                },
                            ));
                        }
                        seen_hosts.insert(old.to_ascii_lowercase(), mapping.hosts.len());
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
                        if let Some(&first) = seen_keep.get(&host.to_ascii_lowercase()) {
                            return Err(r.err(
                                kat,
                                MappingErrorKind::DuplicateKeep {
                                    host,
                                    first_line: mapping.keep[first].line,
                                },
                            ));
                        }
                        seen_keep.insert(host.to_ascii_lowercase(), mapping.keep.len());
                        mapping.keep.push(KeepRule {
                            host,
                            line: r.line(kat),
                            offset: kat,
                        });
                    }
                }
                "merge" => mapping.merge = r.merge_rules(v)?,
                "carry-binary" => {
                    let items = match v {
                        Node::Seq { items, .. } => items.as_slice(),
                        Node::Scalar(i) if doc.scalars()[*i].value.is_empty() => &[],
                        _ => {
                            return Err(r.err(
                                r.span(v).start,
                                MappingErrorKind::ExpectedSeq("carry-binary"),
                            ))
                        }
                    };
                    for item in items {
                        let (path, at) = r.scalar(item, "a bundle path")?;
                        mapping.carry_binary.push(RuleName {
                            pattern: path.trim().to_string(),
                            line: r.line(at),
                        });
                    }
                }
                _ => {
                    return Err(r.err(
                        at,
                        MappingErrorKind::UnknownKey {
                            key,
                            allowed: "`version`, `hosts`, `keep`, `merge` or `carry-binary`",
                        },
                    ));
                }
            }
        }
        if !version_seen {
            return Err(r.err(0, MappingErrorKind::MissingVersion));
        }
        for k in &mapping.keep {
            if let Some(h) = seen_hosts
                .get(&k.host.to_ascii_lowercase())
                .map(|&i| &mapping.hosts[i])
            {
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
        // The duplicate checks built exactly the lookup index (duplicates are errors, so
        // every name is its only entry): keep it rather than build it again.
        let _ = mapping.index.0.set(Index {
            hosts: seen_hosts,
            keep: seen_keep,
        });
        Ok(mapping)
    }

    /// The explicit rule for `host` (case-insensitive).
    pub fn rule(&self, host: &str) -> Option<&HostRule> {
        let i = *self.index().hosts.get(&host.to_ascii_lowercase())?;
        self.hosts.get(i)
    }

    /// True when `host` is listed in `keep:`.
    pub fn is_kept(&self, host: &str) -> bool {
        self.kept(host).is_some()
    }

    /// True when `carry-binary:` names the bundle path `path`.
    pub fn carries_binary(&self, path: &str) -> bool {
        self.carry_binary
            .iter()
            .any(|r| crate::contexts::glob_match(&r.pattern, path))
    }

    /// The `keep:` entry for `host` (case-insensitive).
    pub fn kept(&self, host: &str) -> Option<&KeepRule> {
        let i = *self.index().keep.get(&host.to_ascii_lowercase())?;
        self.keep.get(i)
    }

    /// The lookup index, built from `hosts` and `keep` on first use (the first entry of a
    /// name wins, as a linear search would).
    fn index(&self) -> &Index {
        self.index.0.get_or_init(|| {
            let mut ix = Index::default();
            for (i, h) in self.hosts.iter().enumerate() {
                ix.hosts.entry(h.old.to_ascii_lowercase()).or_insert(i);
            }
            for (i, k) in self.keep.iter().enumerate() {
                ix.keep.entry(k.host.to_ascii_lowercase()).or_insert(i);
            }
            ix
        })
    }
}

#[cfg(test)]
mod tests;
