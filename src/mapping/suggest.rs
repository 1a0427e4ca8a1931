//! `mapping suggest`: infers old -> new host pairs by aligning the bundle with the target,
//! and drafts a mapping file with the evidence for each pair as comments.
//!
//! Evidence, each a vote "old name -> new name, in the context of role R":
//! 1. `cluster.cnf`: the i-th old node with role R and the i-th new node with role R
//!    (for every role), and their IPs.
//! 2. The installer's `iris-endpoints.prop`: the same key on both sides; the key's words
//!    say the role (`dis.host.db_dis` -> dis).
//! 3. Routing: the same YAML path in `routing.yaml`, and the same DIS config, on both sides;
//!    the role-contexts table says the role.
//! 4. `iris-environment.prop`: the same key in the same scope on both sides.
//!
//! A node whose votes agree maps to one host. A node whose votes differ by role maps by
//! role: the default is the winner of its first role (infra, query, merge, dis, etcd order),
//! and every role with another winner is listed.

use super::write::{Draft, DraftHost, DraftTarget};
use crate::contexts::RoleContexts;
use crate::formats::yaml::PathSeg;
use crate::roles::Role;
use crate::scan::inventory::{IdKind, Inventory};
use crate::scan::tokens::{is_ipv4, looks_like_fqdn, tokens};
use crate::tree::{ConfigTree, Parsed};
use std::collections::{BTreeMap, BTreeSet};

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub new: String,
    pub role: Option<Role>,
    pub evidence: String,
}

/// The suggestion for one old name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub old: String,
    pub kind: IdKind,
    pub target: Option<DraftTarget>,
    pub votes: Vec<Vote>,
    /// Roles whose votes disagreed among themselves.
    pub conflicts: Vec<String>,
}

/// New-cluster nodes as the target's `cluster.cnf` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    pub name: String,
    pub ip: Option<String>,
    pub roles: BTreeSet<Role>,
}

/// The target's nodes, from its `cluster.cnf`.
pub fn new_nodes(target: &ConfigTree) -> Vec<NewNode> {
    let Some(Parsed::Cnf(cnf)) = target.get("cluster/cluster.cnf").map(|f| &f.parsed) else {
        return Vec::new();
    };
    cnf.nodes()
        .into_iter()
        .filter_map(|n| {
            Some(NewNode {
                name: n.name?.to_ascii_lowercase(),
                ip: n.ip,
                roles: n.roles.iter().filter_map(|r| r.parse().ok()).collect(),
            })
        })
        .collect()
}

/// The role a property key's words suggest (`dis.host.db_dis` -> dis).
fn role_of_key(key: &str) -> Option<Role> {
    let k = key.to_ascii_lowercase();
    let words: Vec<&str> = k.split(['.', '_', '-']).collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(x));
    if has(&["dis", "ltds", "tailer"]) {
        Some(Role::Dis)
    } else if has(&["merge"]) {
        Some(Role::Merge)
    } else if has(&["query", "rqd", "dispatcher"]) {
        Some(Role::Query)
    } else if has(&["etcd"]) {
        Some(Role::Etcd)
    } else if has(&[
        "configuration",
        "authentication",
        "acl",
        "controller",
        "web",
        "las",
        "infra",
        "tdcp",
        "envoy",
    ]) {
        Some(Role::Infra)
    } else {
        None
    }
}

/// Host-like tokens of a value, in order.
fn host_tokens(value: &str) -> Vec<String> {
    tokens(value)
        .filter(|t| is_ipv4(t.text) || looks_like_fqdn(t.text))
        .map(|t| t.text.to_ascii_lowercase())
        .collect()
}

struct Votes<'a> {
    inv: &'a Inventory,
    by_old: BTreeMap<String, Vec<Vote>>,
}

impl Votes<'_> {
    fn add(&mut self, old: &str, new: &str, role: Option<Role>, evidence: String) {
        let old = old.to_ascii_lowercase();
        // Only names of old nodes, and only FQDNs and IPs (short names follow FQDNs).
        match self.inv.lookup(&old) {
            Some((IdKind::Fqdn | IdKind::Ip, _)) => {}
            _ => return,
        }
        if is_ipv4(&old) != is_ipv4(new) || old.eq_ignore_ascii_case(new) {
            return;
        }
        self.by_old.entry(old).or_default().push(Vote {
            new: new.to_ascii_lowercase(),
            role,
            evidence,
        });
    }

    /// `old` stays itself: the new cluster has a node of that very name (restoring a
    /// cluster onto itself, or a node kept across the migration).
    fn add_same(&mut self, old: &str) {
        let old = old.to_ascii_lowercase();
        if !matches!(self.inv.lookup(&old), Some((IdKind::Fqdn | IdKind::Ip, _))) {
            return;
        }
        self.by_old.entry(old.clone()).or_default().push(Vote {
            new: old,
            role: None,
            evidence: "the new cluster has a node of this name (same-cluster restore)".into(),
        });
    }

    /// Pairs the host tokens of two values position by position, when they have as many.
    fn pair_values(&mut self, old: &str, new: &str, role: Option<Role>, evidence: &str) {
        let (o, n) = (host_tokens(old), host_tokens(new));
        if o.len() == n.len() {
            for (a, b) in o.iter().zip(&n) {
                self.add(a, b, role, evidence.to_string());
            }
        }
    }
}

/// Infers a suggestion for every old FQDN and IP of `inv`.
pub fn suggest(
    bundle: &ConfigTree,
    target: &ConfigTree,
    inv: &Inventory,
    contexts: &RoleContexts,
) -> Vec<Suggestion> {
    let mut votes = Votes {
        inv,
        by_old: BTreeMap::new(),
    };
    // 1. cluster.cnf alignment by role.
    let news = new_nodes(target);
    for role in Role::ALL {
        let olds: Vec<_> = inv
            .nodes
            .iter()
            .filter(|n| n.roles.contains(&role))
            .collect();
        let newr: Vec<_> = news.iter().filter(|n| n.roles.contains(&role)).collect();
        for (i, (o, n)) in olds.iter().zip(&newr).enumerate() {
            let ev = format!(
                "cluster.cnf: node #{} with role {role} on both sides",
                i + 1
            );
            if let Some(f) = &o.fqdn {
                votes.add(f, &n.name, Some(role), ev.clone());
            }
            if let (Some(oip), Some(nip)) = (o.ips.first(), &n.ip) {
                votes.add(oip, nip, Some(role), ev);
            }
        }
    }
    // 2 and 4. Same property key on both sides.
    for file in [
        "config/props/iris-endpoints.prop",
        "config/props/iris-environment.prop",
    ] {
        let (Some(Parsed::Props(o)), Some(Parsed::Props(n))) = (
            bundle.get(file).map(|f| &f.parsed),
            target.get(file).map(|f| &f.parsed),
        ) else {
            continue;
        };
        let name = file.rsplit('/').next().unwrap_or(file);
        for d in o.declarations().iter().filter(|d| d.scope.is_none()) {
            if let Some(nd) = n.get(&d.key) {
                let ev = format!("{name}: same key {}", d.key);
                votes.pair_values(&d.value, &nd.value, role_of_key(&d.key), &ev);
            }
        }
    }
    // 3. Same routing path, same DIS config.
    let yaml_hosts = |tree: &ConfigTree, path: &str| -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Parsed::Yaml(y)) = tree.get(path).map(|f| &f.parsed) {
            for s in y.scalars().iter().filter(|s| !s.is_key) {
                if matches!(s.path.0.last(), Some(PathSeg::Key(k)) if k == "host") {
                    out.insert(s.path.to_string(), s.value.clone());
                }
            }
        }
        out
    };
    let mut yaml_files: Vec<&String> = bundle
        .files
        .keys()
        .filter(|p| p.starts_with("config/routing/"))
        .collect();
    yaml_files.retain(|p| target.get(p).is_some());
    for path in yaml_files {
        let (o, n) = (yaml_hosts(bundle, path), yaml_hosts(target, path));
        let is_main = path.as_str() == "config/routing/routing.yaml";
        for (p, ov) in &o {
            if let Some(nv) = n.get(p) {
                let role = if is_main {
                    contexts.routing_role(&p.split('.').map(str::to_string).collect::<Vec<_>>())
                } else {
                    contexts.file_role(path)
                };
                let name = path.strip_prefix("config/routing/").unwrap_or(path);
                votes.pair_values(ov, nv, role, &format!("{name}: same path {p}"));
            }
        }
    }
    // 5. Names the new cluster itself has as nodes stay as they are; a name that other
    // evidence maps elsewhere keeps that evidence (the self vote only breaks no tie it
    // does not win).
    let new_inv = Inventory::build(target, &[]);
    for (name, kind) in inv.names() {
        if kind != IdKind::Short && new_inv.lookup(name).is_some() {
            let elsewhere = votes.by_old.get(name).is_some_and(|v| !v.is_empty());
            if !elsewhere {
                votes.add_same(name);
            }
        }
    }
    // Decide.
    let mut out = Vec::new();
    let mut names: Vec<(String, IdKind)> = inv
        .names()
        .into_iter()
        .filter(|(_, k)| *k != IdKind::Short)
        .map(|(n, k)| (n.to_string(), k))
        .collect();
    // FQDNs first, then IPs, each in node order.
    names.sort_by_key(|(n, k)| {
        let node = inv
            .lookup(n)
            .and_then(|(_, ns)| ns.first().copied())
            .unwrap_or(usize::MAX);
        (*k == IdKind::Ip, node, n.clone())
    });
    for (name, kind) in names {
        let vs = votes.by_old.remove(&name).unwrap_or_default();
        let node_roles: BTreeSet<Role> = inv
            .lookup(&name)
            .map(|(_, ns)| {
                ns.iter()
                    .flat_map(|&i| inv.nodes[i].roles.iter().copied())
                    .collect()
            })
            .unwrap_or_default();
        let (target, conflicts) = decide(&vs, &node_roles);
        out.push(Suggestion {
            old: name,
            kind,
            target,
            votes: vs,
            conflicts,
        });
    }
    out
}

/// The most-voted new value among `vs` (ties: the first seen).
fn winner<'a>(vs: impl Iterator<Item = &'a Vote>) -> Option<(String, usize, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for v in vs {
        match counts.iter_mut().find(|(n, _)| *n == v.new) {
            Some(c) => c.1 += 1,
            None => counts.push((v.new.clone(), 1)),
        }
    }
    let distinct = counts.len();
    let best = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, c))| (*c, usize::MAX - i))?
        .1
        .clone();
    Some((best.0, best.1, distinct))
}

fn decide(vs: &[Vote], node_roles: &BTreeSet<Role>) -> (Option<DraftTarget>, Vec<String>) {
    if vs.is_empty() {
        return (None, Vec::new());
    }
    let mut conflicts = Vec::new();
    let mut per_role: BTreeMap<Option<Role>, String> = BTreeMap::new();
    let roles: BTreeSet<Option<Role>> = vs.iter().map(|v| v.role).collect();
    for r in roles {
        if let Some((w, _, distinct)) = winner(vs.iter().filter(|v| v.role == r)) {
            if distinct > 1 {
                conflicts.push(r.map_or("no role".to_string(), |r| r.to_string()));
            }
            per_role.insert(r, w);
        }
    }
    let distinct: BTreeSet<&String> = per_role.values().collect();
    if distinct.len() == 1 {
        let only = per_role.values().next().cloned().unwrap_or_default();
        return (Some(DraftTarget::Host(only)), conflicts);
    }
    // Split by role: the default is the winner of the node's first role that has votes,
    // else of the role-less votes.
    let primary = Role::ALL
        .into_iter()
        .find(|r| node_roles.contains(r) && per_role.contains_key(&Some(*r)));
    let default = primary
        .and_then(|r| per_role.get(&Some(r)))
        .or_else(|| per_role.get(&None))
        .cloned();
    let roles: BTreeMap<Role, String> = per_role
        .iter()
        .filter_map(|(r, v)| r.map(|r| (r, v.clone())))
        .filter(|(_, v)| Some(v) != default.as_ref())
        .collect();
    (Some(DraftTarget::Roles { default, roles }), conflicts)
}

/// The draft mapping file for the suggestions.
pub fn draft(suggestions: &[Suggestion], bundle_label: &str, target_label: &str) -> Draft {
    let hosts = suggestions
        .iter()
        .map(|s| {
            let mut comments = Vec::new();
            let mut seen = BTreeSet::new();
            for v in &s.votes {
                let line = format!(
                    "evidence: {} -> {}{}",
                    v.evidence,
                    v.new,
                    v.role.map_or(String::new(), |r| format!(" ({r})"))
                );
                if seen.insert(line.clone()) && seen.len() <= 6 {
                    comments.push(line);
                }
            }
            if s.votes.len() > 6 {
                comments.push(format!(
                    "... and {} more piece(s) of evidence",
                    s.votes.len() - 6
                ));
            }
            if !s.conflicts.is_empty() {
                comments.push(format!(
                    "CHECK: evidence disagrees for {}; the majority was taken",
                    s.conflicts.join(", ")
                ));
            }
            if s.target.is_none() {
                comments.push("no evidence found for this name in the target".into());
            }
            DraftHost {
                old: s.old.clone(),
                target: s.target.clone(),
                comments,
            }
        })
        .collect();
    Draft {
        header: vec![
            "dh-migrate mapping file, suggested by `dh-migrate mapping suggest`".into(),
            format!("bundle: {bundle_label}"),
            format!("target: {target_label}"),
            "Review every entry: the evidence comments say why each pair was suggested.".into(),
            "Short names follow their FQDNs; list hosts that must stay as they are under keep:."
                .into(),
        ],
        hosts,
        keep: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_words_give_roles() {
        assert_eq!(role_of_key("dis.host.db_dis"), Some(Role::Dis));
        assert_eq!(role_of_key("query.server.host.1"), Some(Role::Query));
        assert_eq!(role_of_key("merge.server.host.1"), Some(Role::Merge));
        assert_eq!(role_of_key("configuration.server.host"), Some(Role::Infra));
        assert_eq!(role_of_key("etcd.endpoints"), Some(Role::Etcd));
        assert_eq!(role_of_key("smtp.host"), None);
    }

    #[test]
    fn votes_split_by_role_give_a_default_and_roles() {
        let v = |new: &str, role| Vote {
            new: new.into(),
            role,
            evidence: String::new(),
        };
        let vs = vec![
            v("q-a", Some(Role::Query)),
            v("i-a", Some(Role::Dis)),
            v("i-a", Some(Role::Dis)),
        ];
        let (t, c) = decide(&vs, &BTreeSet::from([Role::Query, Role::Dis]));
        assert_eq!(
            t,
            Some(DraftTarget::Roles {
                default: Some("q-a".into()),
                roles: BTreeMap::from([(Role::Dis, "i-a".into())])
            })
        );
        assert!(c.is_empty());
        let (t, _) = decide(&[v("x", None), v("x", Some(Role::Infra))], &BTreeSet::new());
        assert_eq!(t, Some(DraftTarget::Host("x".into())));
        assert_eq!(decide(&[], &BTreeSet::new()).0, None);
    }
}
