//! Advice for the bundle's etcd snapshot: the per-member `etcdctl snapshot restore`
//! commands that would rebuild the new cluster's etcd from it, and why that is usually not
//! what a migration wants. dh-migrate prints these; it never runs them.

use crate::mapping::suggest::NewNode;
use crate::roles::Role;
use crate::scan::tokens::short_name;
use crate::tree::{ConfigTree, Parsed};
use std::fmt::Write;

fn cnf_value(target: &ConfigTree, var: &str) -> Option<String> {
    match target.get("cluster/cluster.cnf").map(|f| &f.parsed) {
        Some(Parsed::Cnf(c)) => c
            .get(var)
            .map(|a| a.value.clone())
            .filter(|v| !v.is_empty()),
        _ => None,
    }
}

/// The advice text for the new cluster's etcd members (nodes with the etcd role).
pub fn advice(target: &ConfigTree, nodes: &[NewNode]) -> String {
    let members: Vec<&NewNode> = nodes
        .iter()
        .filter(|n| n.roles.contains(&Role::Etcd))
        .collect();
    let port = cnf_value(target, "DH_ETCD_PEER_PORT").unwrap_or_else(|| "2380".into());
    let token = cnf_value(target, "DH_ETCD_TOKEN").unwrap_or_else(|| "NEW-CLUSTER-TOKEN".into());
    let peer = |n: &NewNode| {
        format!(
            "https://{}:{port}",
            n.ip.clone().unwrap_or_else(|| n.name.clone())
        )
    };
    let initial: Vec<String> = members
        .iter()
        .map(|n| format!("{}={}", short_name(&n.name), peer(n)))
        .collect();
    crate::text::render(|o| {
        writeln!(o, "etcd snapshot: the bundle holds etcd/snapshot.db.")?;
        writeln!(o, "  WARNING: the snapshot carries the OLD cluster's whole keyspace: its etcd users, roles and")?;
        writeln!(o, "  passwords, and runtime keys (presence, leases, leader election) naming old hosts. Restoring it")?;
        writeln!(o, "  replaces the new cluster's etcd. `dh-migrate apply` imports only the migrated configuration")?;
        writeln!(
        o,
        "  items and is what a migration normally wants. dh-migrate never runs the commands below."
    )?;
        if members.is_empty() {
            writeln!(o, "  The target names no etcd members (no DH_NODE_<N>_ROLE_ETCD in its cluster.cnf): no restore commands.")?;
            return Ok(());
        }
        writeln!(
        o,
        "  To rebuild the new etcd from it anyway, stop etcd on every member, then run on each:"
    )?;
        for n in &members {
            writeln!(
            o,
            "    [{}] etcdctl snapshot restore snapshot.db --name {} --initial-cluster {} --initial-cluster-token {} --initial-advertise-peer-urls {} --data-dir /var/lib/etcd/restored-{}",
            crate::text::escape_for_terminal(&n.name),
            short_name(&n.name),
            initial.join(","),
            token,
            peer(n),
            short_name(&n.name)
        )?;
        }
        Ok(())
    })
}
