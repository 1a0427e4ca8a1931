//! The restart step: after a migration reaches the new cluster, every Deephaven process
//! must re-read its configuration. Per node of the new cluster, infra nodes first, the
//! exact commands and why the node is affected.

use crate::mapping::suggest::NewNode;
use crate::roles::Role;
use serde::Serialize;

/// Where Deephaven installs its tools.
pub const DH_MONIT: &str = "/usr/illumon/latest/bin/dh_monit";
pub const DHCONFIG: &str = "/usr/illumon/latest/bin/dhconfig";

#[derive(Debug, Clone, Serialize)]
pub struct RestartStep {
    pub order: usize,
    pub node: String,
    pub roles: Vec<Role>,
    pub why: Vec<String>,
    pub commands: Vec<String>,
}

/// What changed, as far as restarting is concerned.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Number of etcd configuration items the migration writes (all nodes read them).
    pub etcd_items: usize,
    /// Per new node: the files it receives.
    pub files_for_node: Vec<(String, Vec<String>)>,
    /// Persistent-query definitions changed: the controller must reload them.
    pub pq_changed: bool,
}

/// Infra nodes first (the configuration and authentication servers must be up before the
/// rest start), then etcd-only, DIS, merge and query nodes; the target's order otherwise.
fn rank(roles: &[Role]) -> usize {
    [Role::Infra, Role::Etcd, Role::Dis, Role::Merge, Role::Query]
        .iter()
        .position(|r| roles.contains(r))
        .unwrap_or(5)
}

/// The steps for `nodes` (the new cluster's nodes) given `changes`; `user` runs dh_monit.
pub fn plan(nodes: &[NewNode], changes: &Changes, user: &str) -> Vec<RestartStep> {
    let mut sorted: Vec<&NewNode> = nodes.iter().collect();
    sorted.sort_by_key(|n| rank(&n.roles.iter().copied().collect::<Vec<_>>()));
    let sudo = |cmd: &str| format!("sudo -u {user} {cmd}");
    let first_infra = sorted
        .iter()
        .find(|n| n.roles.contains(&Role::Infra))
        .map(|n| n.name.clone());
    let mut steps = Vec::new();
    for n in sorted {
        let mut why = Vec::new();
        if changes.etcd_items > 0 {
            why.push(format!(
                "{} configuration item(s) changed in etcd; every process re-reads them on start",
                changes.etcd_items
            ));
        }
        if let Some((_, files)) = changes
            .files_for_node
            .iter()
            .find(|(node, _)| node.eq_ignore_ascii_case(&n.name))
        {
            why.push(format!(
                "receives {} migrated file(s): {}",
                files.len(),
                files.join(", ")
            ));
        }
        if why.is_empty() {
            continue;
        }
        let roles: Vec<Role> = n.roles.iter().copied().collect();
        let mut commands = vec![sudo(&format!("{DH_MONIT} restart all"))];
        if roles.contains(&Role::Infra) || roles.contains(&Role::Etcd) {
            // Wait until this node's services are up before restarting the next node.
            commands.push(sudo(&format!("{DH_MONIT} up --block")));
        }
        if changes.pq_changed && first_infra.as_deref() == Some(n.name.as_str()) {
            why.push("persistent-query definitions changed".into());
            commands.push(sudo(&format!("{DHCONFIG} pq reload")));
        }
        steps.push(RestartStep {
            order: steps.len() + 1,
            node: n.name.clone(),
            roles,
            why,
            commands,
        });
    }
    steps
}

/// Human-readable restart step. Node names, file names and the admin user come from
/// files, so every one is escaped for the terminal.
pub fn render_text(steps: &[RestartStep]) -> String {
    use crate::text::escape_for_terminal as esc;
    let mut o = String::new();
    if steps.is_empty() {
        o.push_str("Restart step: nothing changed, no restart needed.\n");
        return o;
    }
    o.push_str("Restart step: run on each node, in this order (infra nodes first):\n");
    for s in steps {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        o.push_str(&format!(
            "  {}. {} ({})\n",
            s.order,
            esc(&s.node),
            roles.join(", ")
        ));
        for w in &s.why {
            o.push_str(&format!("     why: {}\n", esc(w)));
        }
        for c in &s.commands {
            o.push_str(&format!("     $ {}\n", esc(c)));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn node(name: &str, roles: &[Role]) -> NewNode {
        NewNode {
            name: name.into(),
            ip: None,
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn infra_first_with_blocking_wait_and_pq_reload_once() {
        let nodes = vec![
            node("q.example.com", &[Role::Query]),
            node("i.example.com", &[Role::Infra, Role::Etcd]),
            node("d.example.com", &[Role::Dis]),
        ];
        let changes = Changes {
            etcd_items: 3,
            files_for_node: vec![("d.example.com".into(), vec!["tailer.xml".into()])],
            pq_changed: true,
        };
        let steps = plan(&nodes, &changes, "irisadmin");
        let order: Vec<&str> = steps.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(
            order,
            vec!["i.example.com", "d.example.com", "q.example.com"]
        );
        assert_eq!(
            steps[0].commands,
            vec![
                "sudo -u irisadmin /usr/illumon/latest/bin/dh_monit restart all",
                "sudo -u irisadmin /usr/illumon/latest/bin/dh_monit up --block",
                "sudo -u irisadmin /usr/illumon/latest/bin/dhconfig pq reload"
            ]
        );
        assert_eq!(
            steps[1].commands,
            vec!["sudo -u irisadmin /usr/illumon/latest/bin/dh_monit restart all"]
        );
        assert!(steps[1].why.iter().any(|w| w.contains("tailer.xml")));
    }

    #[test]
    fn nothing_changed_means_no_restart() {
        let steps = plan(
            &[node("q", &[Role::Query])],
            &Changes::default(),
            "irisadmin",
        );
        assert!(steps.is_empty());
        assert!(render_text(&steps).contains("no restart needed"));
    }

    #[test]
    fn control_bytes_in_a_file_name_are_escaped_in_the_restart_step() {
        // Issue 10: a bundle file named with ESC and BEL reached the terminal raw.
        let changes = Changes {
            etcd_items: 0,
            files_for_node: vec![(
                "infra-a".into(),
                vec!["files/etc/evil\u{1b}]0;owned\u{7}.xml".into()],
            )],
            pq_changed: false,
        };
        let steps = plan(&[node("infra-a", &[Role::Infra])], &changes, "irisadmin");
        let text = render_text(&steps);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("evil\\u{1b}]0;owned\\u{7}.xml"), "{text}");
    }
}
