//! The mapping must name the new cluster (contract: "A mapping value for an old cluster
//! node must be a node of the new cluster"). The new cluster's nodes are learned from the
//! target exactly as the old ones are from the bundle (`scan::inventory`: `cluster.cnf`,
//! `iris-endpoints.prop`, etcd client endpoints, routing hosts, `[host=...]` scopes), so a
//! target that lists its nodes anywhere is checked.
//!
//! - A value for an old cluster node that names no new node: an error naming it and
//!   listing the new nodes (a warning with `--allow-unknown-hosts`).
//! - An old node whose name and IP go to different new nodes, where the target pairs
//!   names and IPs: the same.
//! - A node split by role whose role goes to a new node the target lists with other roles
//!   only: a warning.
//! - A target that names no node at all: one warning, nothing checked.

use super::{Mapping, Target};
use crate::roles::Role;
use crate::scan::inventory::Inventory;
use crate::scan::tokens::is_ipv4;
use std::collections::BTreeSet;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Each fails the plan (exit 5) unless unknown hosts are allowed.
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks `mapping` against the new cluster's nodes `new` (learned from the target);
/// `old` is the old cluster's inventory. With `allow_unknown`, errors become warnings.
pub fn against_new_nodes(
    mapping: &Mapping,
    old: &Inventory,
    new: &Inventory,
    allow_unknown: bool,
) -> Findings {
    let mut f = Findings::default();
    if new.nodes.is_empty() {
        f.warnings.push(
            "the target names no node (no cluster.cnf, iris-endpoints.prop, etcd endpoints or routing hosts): the mapping's new hosts were not checked".into(),
        );
        return f;
    }
    let listing = new_node_list(new);
    // The new nodes a value names (empty: none).
    let nodes_of = |v: &str| -> BTreeSet<usize> {
        new.lookup(v)
            .map(|(_, n)| n.iter().copied().collect())
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    for rule in &mapping.hosts {
        // Only values for old cluster nodes must be new nodes (a kept corporate host
        // mapped elsewhere is the site's business).
        if old.lookup(&rule.old).is_none() {
            continue;
        }
        for v in rule.target.values() {
            if nodes_of(&v.value).is_empty() {
                problems.push(format!(
                    "{}:{}: `{}` (for old node `{}`) is not a node of the new cluster; its nodes are: {listing}",
                    mapping.file, v.line, v.value, rule.old
                ));
            }
        }
    }
    // Name and IP of one old node going to different new nodes.
    for node in &old.nodes {
        let Some(name) = node.fqdn.as_deref().or(node.short.as_deref()) else {
            continue;
        };
        let Some(name_rule) = mapping.rule(name) else {
            continue;
        };
        for ip in &node.ips {
            let Some(ip_rule) = mapping.rule(ip) else {
                continue;
            };
            for role in roles_of(&name_rule.target).union(&roles_of(&ip_rule.target)) {
                let (Some(nv), Some(iv)) = (
                    name_rule.target.for_role(*role),
                    ip_rule.target.for_role(*role),
                ) else {
                    continue;
                };
                let (nn, ni) = (nodes_of(&nv.value), nodes_of(&iv.value));
                // Only where the target pairs them: the name's new node has IPs.
                let paired = nn.iter().any(|&n| !new.nodes[n].ips.is_empty());
                if paired && !nn.is_empty() && !ni.is_empty() && nn.is_disjoint(&ni) {
                    let role = role.map_or(String::new(), |r| format!(" (role {r})"));
                    problems.push(format!(
                        "{}:{}: old node `{name}`{role}: its name goes to `{}` but its IP `{ip}` goes to `{}`, a different node of the new cluster",
                        mapping.file, iv.line, nv.value, iv.value
                    ));
                }
            }
        }
    }
    // Roles that go to new nodes which do not have them.
    for rule in &mapping.hosts {
        if let Target::Roles { roles, .. } = &rule.target {
            for (role, v) in roles {
                if is_ipv4(&v.value) {
                    continue;
                }
                for n in nodes_of(&v.value) {
                    let have = &new.nodes[n].roles;
                    if !have.is_empty() && !have.contains(role) {
                        let listed: Vec<String> = have.iter().map(Role::to_string).collect();
                        f.warnings.push(format!(
                            "{}:{}: old node `{}` role {role} goes to `{}`, which the new cluster lists with role(s) {} only",
                            mapping.file, v.line, rule.old, v.value, listed.join(", ")
                        ));
                    }
                }
            }
        }
    }
    if allow_unknown {
        f.warnings.extend(problems);
    } else {
        f.errors = problems;
    }
    f
}

/// The roles a target decides by (None: the default or a plain host).
fn roles_of(t: &Target) -> BTreeSet<Option<Role>> {
    match t {
        Target::Host(_) => BTreeSet::from([None]),
        Target::Roles { default, roles } => default
            .iter()
            .map(|_| None)
            .chain(roles.keys().map(|r| Some(*r)))
            .collect(),
    }
}

/// `name (ip)` for every new node, comma separated.
fn new_node_list(new: &Inventory) -> String {
    let v: Vec<String> = new
        .nodes
        .iter()
        .map(
            |n| match (n.fqdn.as_deref().or(n.short.as_deref()), n.ips.first()) {
                (Some(name), Some(ip)) => format!("{name} ({ip})"),
                (Some(name), None) => name.to_string(),
                (None, Some(ip)) => ip.clone(),
                (None, None) => "?".into(),
            },
        )
        .collect();
    v.join(", ")
}
