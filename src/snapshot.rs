//! Advice for the bundle's etcd snapshot: the per-member `etcdctl snapshot restore`
//! commands that would rebuild the new cluster's etcd from it, and why that is usually not
//! what a migration wants. dh-migrate prints these; it never runs them.

use crate::mapping::suggest::NewNode;
use crate::roles::Role;
use crate::scan::tokens::short_name;
use crate::snapshot_db::OldIdentity;
use crate::text::escape_for_terminal as esc;
use crate::tree::{ConfigTree, Parsed};
use std::fmt::Write;

/// What a restore of the snapshot brings back, as indented text lines.
pub fn render_identity(id: &OldIdentity, indent: &str) -> String {
    let list = |names: &[String]| {
        if names.is_empty() {
            String::new()
        } else {
            format!(": {}", esc(&names.join(", ")))
        }
    };
    crate::text::render(|o| {
        writeln!(
            o,
            "{indent}etcd members ({}){}",
            id.members.len(),
            list(&id.members)
        )?;
        writeln!(
            o,
            "{indent}etcd users ({}, auth {}; passwords not shown){}",
            id.users.len(),
            if id.auth_enabled {
                "enabled"
            } else {
                "disabled"
            },
            list(&id.users)
        )?;
        writeln!(
            o,
            "{indent}etcd roles ({}){}",
            id.roles.len(),
            list(&id.roles)
        )?;
        writeln!(o, "{indent}leases ({})", id.leases)?;
        writeln!(
            o,
            "{indent}lease-bound runtime keys ({}){}",
            id.leased_keys,
            list(&id.first_leased_keys)
        )?;
        if id.leased_keys > id.first_leased_keys.len() {
            writeln!(
                o,
                "{indent}  (and {} more)",
                id.leased_keys - id.first_leased_keys.len()
            )?;
        }
        Ok(())
    })
}

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
/// `old` is what the bundle's snapshot would bring back, when it was read.
pub fn advice(target: &ConfigTree, nodes: &[NewNode], old: Option<&OldIdentity>) -> String {
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
        if let Some(old) = old {
            writeln!(o, "  A restore of this snapshot brings back:")?;
            o.push_str(&render_identity(old, "    "));
        }
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
