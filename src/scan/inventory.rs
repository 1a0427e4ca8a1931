//! The old cluster's nodes, as the bundle tells them: every FQDN, short name and IP that
//! names an old node, with the evidence for it (contract: "Unresolved" lists the sources).
//! A token in a migrated file is a reference exactly when this inventory knows it.

use crate::contexts::glob_match;
use crate::formats::yaml::PathSeg;
use crate::roles::Role;
use crate::scan::tokens::{is_host_name, is_ipv4, short_name, tokens};
use crate::text::LineIndex;
use crate::tree::{ConfigTree, Parsed};
use std::collections::{BTreeSet, HashMap};

/// How a token names a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Fqdn,
    Short,
    Ip,
}

/// Where the inventory learned a name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub file: String,
    pub line: usize,
    /// What at that place names the host: `DH_NODE_2_NAME`, `property dis.host.db_dis`, ...
    pub what: String,
    /// The name as written there.
    pub name: String,
}

/// One old node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OldNode {
    pub fqdn: Option<String>,
    pub short: Option<String>,
    pub ips: Vec<String>,
    pub roles: BTreeSet<Role>,
    pub evidence: Vec<Evidence>,
}

impl OldNode {
    /// The name to show: the FQDN, else the short name, else the first IP.
    pub fn name(&self) -> &str {
        self.fqdn
            .as_deref()
            .or(self.short.as_deref())
            .or(self.ips.first().map(String::as_str))
            .unwrap_or("?")
    }
}

#[derive(Debug, Clone)]
struct Entry {
    kind: IdKind,
    nodes: Vec<usize>,
}

/// A set of bytes.
#[derive(Debug, Clone, Copy, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b / 64)] |= 1 << (b % 64);
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b / 64)] & (1 << (b % 64)) != 0
    }
}

/// All old nodes and an index from lower-case name to node.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub nodes: Vec<OldNode>,
    /// Looked up for every token of every file: hashed with foldhash (randomly seeded per
    /// process), several times faster than SipHash on short names.
    index: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// Shortest and longest indexed name (bytes): `lookup` runs for every token of every
    /// file, and most tokens are ruled out by their length alone.
    min_len: usize,
    max_len: usize,
    /// The first and the last bytes of the indexed names (lower case), as bit sets: a
    /// token of a possible length is hashed only when both ends could start and end a
    /// name (an XML schema's words almost never do).
    first: ByteSet,
    last: ByteSet,
    /// Where each name already sits while nodes are put together: finding a node by a
    /// linear search made a mapping with 100,000 hosts quadratic.
    find: Finder,
}

#[derive(Debug, Clone, Default)]
struct Finder {
    fqdn: HashMap<String, usize>,
    /// Lower-case short name -> nodes with that short name, in creation order.
    short: HashMap<String, Vec<usize>>,
    ip: HashMap<String, usize>,
}

/// A name found in a source, before nodes are put together.
#[derive(Clone)]
struct Sighting {
    name: String,
    evidence: Evidence,
}

/// Names that never denote a cluster node.
fn ignorable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "localhost" || n == "localhost.localdomain" || n.starts_with("127.") || n == "0.0.0.0"
}

impl Inventory {
    /// Learns the old nodes from `tree` (a bundle) and the extra names given (the mapping
    /// file's `hosts:` keys, with their lines).
    pub fn build(tree: &ConfigTree, extra: &[(String, String, usize)]) -> Inventory {
        let (inv, sightings) = Inventory::learn(tree);
        inv.finish(sightings, extra)
    }

    /// [`Inventory::build`] without and with the extra names, reading the tree once.
    pub fn build_both(
        tree: &ConfigTree,
        extra: &[(String, String, usize)],
    ) -> (Inventory, Inventory) {
        let (inv, sightings) = Inventory::learn(tree);
        let without = inv.clone().finish(sightings.clone(), &[]);
        (without, inv.finish(sightings, extra))
    }

    /// The nodes `cluster.cnf` declares, and every other name the tree's sources give.
    fn learn(tree: &ConfigTree) -> (Inventory, Vec<Sighting>) {
        let mut inv = Inventory::default();
        let mut sightings = Vec::new();
        // 1. cluster.cnf: names, IPs and roles.
        if let Some(f) = tree.get("cluster/cluster.cnf") {
            if let Parsed::Cnf(cnf) = &f.parsed {
                let lines = LineIndex::new(&f.text);
                for n in cnf.nodes() {
                    let line_of = |var: &str| {
                        cnf.get(var)
                            .map_or(0, |a| lines.position(&f.text, a.name_span.start).line)
                    };
                    let idx = match &n.name {
                        Some(name) if !ignorable(name) => {
                            let var = format!("DH_NODE_{}_NAME", n.index);
                            let ev = Evidence {
                                file: f.path.clone(),
                                line: line_of(&var),
                                what: var,
                                name: name.clone(),
                            };
                            Some(inv.node_for_name(name, ev))
                        }
                        _ => None,
                    };
                    if let Some(ip) = n.ip.as_ref().filter(|ip| is_ipv4(ip)) {
                        let var = format!("DH_NODE_{}_IP", n.index);
                        let ev = Evidence {
                            file: f.path.clone(),
                            line: line_of(&var),
                            what: var,
                            name: ip.clone(),
                        };
                        inv.add_ip(ip, idx, ev);
                    }
                    if let Some(idx) = idx {
                        inv.nodes[idx]
                            .roles
                            .extend(n.roles.iter().filter_map(|r| r.parse::<Role>().ok()));
                    }
                }
            }
        }
        // 2. The other sources: every name they give.
        for f in tree.files.values() {
            // Most files give no name: index their lines only when one does.
            let lines = std::cell::OnceCell::new();
            let line = |offset: usize| {
                lines
                    .get_or_init(|| LineIndex::new(&f.text))
                    .position(&f.text, offset)
                    .line
            };
            match &f.parsed {
                Parsed::Props(p) => {
                    if f.path == "config/props/iris-endpoints.prop" {
                        for d in p.declarations() {
                            for t in tokens(&d.value) {
                                if is_ipv4(t.text) || crate::scan::tokens::looks_like_fqdn(t.text) {
                                    sightings.push(Sighting {
                                        name: t.text.to_string(),
                                        evidence: Evidence {
                                            file: f.path.clone(),
                                            line: d.line,
                                            what: format!("property {}", d.key),
                                            name: t.text.to_string(),
                                        },
                                    });
                                }
                            }
                        }
                    }
                    for scope in p.scopes() {
                        for item in scope
                            .items
                            .iter()
                            .filter(|i| i.key.trim().eq_ignore_ascii_case("host"))
                        {
                            for (value, span) in &item.values {
                                sightings.push(Sighting {
                                    name: value.trim().to_string(),
                                    evidence: Evidence {
                                        file: f.path.clone(),
                                        line: line(span.start),
                                        what: "[host=...] scope".into(),
                                        name: value.trim().to_string(),
                                    },
                                });
                            }
                        }
                    }
                }
                Parsed::Yaml(y) if f.path.starts_with("config/routing/") => {
                    for s in y.scalars().iter().filter(|s| !s.is_key) {
                        if matches!(s.path.0.last(), Some(PathSeg::Key(k)) if k == "host") {
                            sightings.push(Sighting {
                                name: s.value.trim().to_string(),
                                evidence: Evidence {
                                    file: f.path.clone(),
                                    line: line(s.span.start),
                                    what: format!("routing {}", s.path),
                                    name: s.value.trim().to_string(),
                                },
                            });
                        }
                    }
                }
                Parsed::Text if glob_match("**/etcd/client/*/endpoints", &f.path) => {
                    for url in f
                        .text
                        .split([',', ' ', '\n', '\r', '\t'])
                        .filter(|u| !u.is_empty())
                    {
                        let host = url.split_once("://").map_or(url, |(_, rest)| rest);
                        let host = host.split([':', '/']).next().unwrap_or(host);
                        let at = url.as_ptr() as usize - f.text.as_ptr() as usize;
                        sightings.push(Sighting {
                            name: host.to_string(),
                            evidence: Evidence {
                                file: f.path.clone(),
                                line: line(at),
                                what: "etcd client endpoints".into(),
                                name: host.to_string(),
                            },
                        });
                    }
                }
                _ => {}
            }
            if let Some(node) = &f.node {
                sightings.push(Sighting {
                    name: node.clone(),
                    evidence: Evidence {
                        file: f.path.clone(),
                        line: 0,
                        what: "node folder".into(),
                        name: node.clone(),
                    },
                });
            }
        }
        (inv, sightings)
    }

    /// Adds the sightings and the extra names to the nodes, and indexes every name.
    fn finish(
        mut self,
        mut sightings: Vec<Sighting>,
        extra: &[(String, String, usize)],
    ) -> Inventory {
        let inv = &mut self;
        for (name, file, line) in extra {
            sightings.push(Sighting {
                name: name.clone(),
                evidence: Evidence {
                    file: file.clone(),
                    line: *line,
                    what: "mapping key".into(),
                    name: name.clone(),
                },
            });
        }
        // IPs and FQDNs first, so that short names can attach to the FQDN they abbreviate.
        sightings.retain(|s| !ignorable(&s.name) && (is_ipv4(&s.name) || is_host_name(&s.name)));
        let (shorts, others): (Vec<_>, Vec<_>) = sightings
            .into_iter()
            .partition(|s| !is_ipv4(&s.name) && !s.name.contains('.'));
        for s in others {
            if is_ipv4(&s.name) {
                inv.add_ip(&s.name, None, s.evidence);
            } else {
                inv.node_for_name(&s.name, s.evidence);
            }
        }
        for s in shorts {
            inv.node_for_name(&s.name, s.evidence);
        }
        inv.reindex();
        self
    }

    /// The node named `name` (FQDN or short), created if new; records the evidence.
    fn node_for_name(&mut self, name: &str, ev: Evidence) -> usize {
        let lc = name.to_ascii_lowercase();
        let found = if lc.contains('.') {
            self.find.fqdn.get(&lc).copied()
        } else {
            // A node's short name is its FQDN's first label when it has an FQDN.
            let by_short: Vec<usize> = self.find.short.get(&lc).cloned().unwrap_or_default();
            // A short name shared by several FQDNs belongs to none of them alone.
            if by_short.len() > 1 {
                for &i in &by_short {
                    self.nodes[i].evidence.push(ev.clone());
                }
                return by_short[0];
            }
            by_short.first().copied()
        };
        let idx = found.unwrap_or_else(|| {
            let (fqdn, short) = if lc.contains('.') {
                (Some(lc.clone()), Some(short_name(&lc).to_string()))
            } else {
                (None, Some(lc.clone()))
            };
            let idx = self.nodes.len();
            if let Some(f) = &fqdn {
                self.find.fqdn.insert(f.clone(), idx);
            }
            if let Some(s) = &short {
                self.find.short.entry(s.clone()).or_default().push(idx);
            }
            self.nodes.push(OldNode {
                fqdn,
                short,
                ..OldNode::default()
            });
            idx
        });
        self.nodes[idx].evidence.push(ev);
        idx
    }

    fn add_ip(&mut self, ip: &str, node: Option<usize>, ev: Evidence) {
        let existing = self.find.ip.get(ip).copied();
        let idx = match (existing, node) {
            (Some(i), _) => i,
            (None, Some(n)) => {
                self.nodes[n].ips.push(ip.to_string());
                n
            }
            (None, None) => {
                self.nodes.push(OldNode {
                    ips: vec![ip.to_string()],
                    ..OldNode::default()
                });
                self.nodes.len() - 1
            }
        };
        self.find.ip.entry(ip.to_string()).or_insert(idx);
        self.nodes[idx].evidence.push(ev);
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.min_len = usize::MAX;
        self.max_len = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(f) = &n.fqdn {
                self.index.insert(
                    f.clone(),
                    Entry {
                        kind: IdKind::Fqdn,
                        nodes: vec![i],
                    },
                );
            }
            for ip in &n.ips {
                self.index.insert(
                    ip.clone(),
                    Entry {
                        kind: IdKind::Ip,
                        nodes: vec![i],
                    },
                );
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(s) = &n.short {
                let e = self.index.entry(s.clone()).or_insert(Entry {
                    kind: IdKind::Short,
                    nodes: Vec::new(),
                });
                if e.kind == IdKind::Short && !e.nodes.contains(&i) {
                    e.nodes.push(i);
                }
            }
        }
        self.first = ByteSet::default();
        self.last = ByteSet::default();
        for name in self.index.keys() {
            self.min_len = self.min_len.min(name.len());
            self.max_len = self.max_len.max(name.len());
            let b = name.as_bytes();
            if let (Some(&f), Some(&l)) = (b.first(), b.last()) {
                self.first.insert(f);
                self.last.insert(l);
            }
        }
    }

    /// What `token` names, if it names an old node: its kind and the node(s). A short name
    /// shared by several old FQDNs names all of them.
    pub fn lookup(&self, token: &str) -> Option<(IdKind, &[usize])> {
        // Names are indexed in lower case; lower-casing is an allocation, made only for
        // tokens of a possible length that have an upper-case letter.
        if token.len() < self.min_len || token.len() > self.max_len {
            return None;
        }
        let b = token.as_bytes();
        let ends = b.first().zip(b.last());
        if !ends.is_some_and(|(&f, &l)| {
            self.first.contains(f.to_ascii_lowercase())
                && self.last.contains(l.to_ascii_lowercase())
        }) {
            return None;
        }
        let entry = if token.bytes().any(|b| b.is_ascii_uppercase()) {
            self.index.get(&token.to_ascii_lowercase())
        } else {
            self.index.get(token)
        };
        entry.map(|e| (e.kind, e.nodes.as_slice()))
    }

    /// Every indexed name, sorted: FQDNs, short names and IPs.
    pub fn names(&self) -> Vec<(&str, IdKind)> {
        let mut v: Vec<_> = self
            .index
            .iter()
            .map(|(k, e)| (k.as_str(), e.kind))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_rejects_names_of_other_lengths() {
        let mut tree = ConfigTree::default();
        tree.insert(
            "cluster/cluster.cnf",
            "DH_NODE_1_NAME=\"dh-q-1.old.example.com\"\nDH_NODE_1_IP=\"10.1.2.21\"\n".into(),
            0o644,
        )
        .unwrap();
        let inv = Inventory::build(&tree, &[]);
        assert_eq!(
            inv.lookup("DH-Q-1.Old.Example.COM").unwrap().0,
            IdKind::Fqdn
        );
        assert_eq!(inv.lookup("dh-q-1.old.example.com").unwrap().1, &[0]);
        assert_eq!(inv.lookup("DH-Q-1").unwrap().0, IdKind::Short);
        assert_eq!(inv.lookup("10.1.2.21").unwrap().0, IdKind::Ip);
        // Shorter than the shortest name, longer than the longest, and in between.
        assert!(inv.lookup("dh-q").is_none());
        assert!(inv.lookup("dh-q-1.old.example.com.x").is_none());
        assert!(inv.lookup("dh-q-10").is_none());
        assert!(Inventory::default().lookup("dh-q-1").is_none());
    }
}
