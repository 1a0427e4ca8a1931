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

/// One node file as it is to be copied onto its new node by hand (apply never puts node
/// files into etcd): where `--files-out` wrote it, where it goes, and the mode, owner and
/// group it had in the bundle (None: the bundle does not say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyFile {
    pub node: String,
    /// Path under the `--files-out` folder: `<node>/<absolute path without the leading />`.
    pub written: String,
    /// Absolute path on the node.
    pub dest: String,
    pub mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
}

/// `OWNERS.tsv`: one line per node file (node, path, mode, owner, group, uid, gid), with
/// `unknown` wherever the bundle does not say.
pub fn owners_tsv(files: &[CopyFile]) -> String {
    let mut o = String::from(
        "# node\tpath\tmode\towner\tgroup\tuid\tgid\n\
         # owner/group: from the bundle's tar headers, or for a directory bundle the names of its\n\
         # files' uid/gid on the machine that read it; \"unknown\" where the bundle does not say\n",
    );
    let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    for f in files {
        o.push_str(&format!(
            "{}\t{}\t{:04o}\t{}\t{}\t{}\t{}\n",
            f.node,
            f.dest,
            f.mode & 0o7777,
            or_unknown(f.owner.clone()),
            or_unknown(f.group.clone()),
            or_unknown(f.uid.map(|u| u.to_string())),
            or_unknown(f.gid.map(|g| g.to_string())),
        ));
    }
    o
}

/// `v` for a POSIX shell: as it is when it holds only safe characters, else single-quoted.
fn sh(v: &str) -> String {
    let safe = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./@:+,=-%".contains(c));
    if safe {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// The copy step, per new node: the `rsync -a` that carries the node's folder over, then
/// one `install` per file that puts it in place with the bundle's mode, owner and group.
/// Printed before the restart step: the restarted processes read these files.
pub fn render_copy_text(dir: &str, files: &[CopyFile]) -> String {
    crate::text::build(|o| {
        use std::fmt::Write;

        if files.is_empty() {
            return Ok(());
        }
        writeln!(
        o,
        "Copy step: before restarting, put each node's files in place (written to {}; apply never puts them into etcd):",
        dir
    )?;
        let staging = "/tmp/dh-migrate-files";
        let mut nodes: Vec<&str> = files.iter().map(|f| f.node.as_str()).collect();
        nodes.dedup();
        for (i, node) in nodes.iter().enumerate() {
            let mine: Vec<&CopyFile> = files.iter().filter(|f| f.node == *node).collect();
            writeln!(o, "  {}. {} ({} file(s))", i + 1, node, mine.len())?;
            writeln!(
                o,
                "     $ rsync -a {}/ {}:{staging}/",
                sh(&format!("{}/{}", dir.trim_end_matches('/'), node)),
                sh(node)
            )?;
            writeln!(o, "     then on {node}:")?;
            for f in mine {
                let staged = format!("{staging}{}", f.dest);
                let owner = match (&f.owner, &f.group) {
                    (Some(u), Some(g)) => format!(" -o {} -g {}", sh(u), sh(g)),
                    (Some(u), None) => format!(" -o {}", sh(u)),
                    (None, Some(g)) => format!(" -g {}", sh(g)),
                    (None, None) => String::new(),
                };
                let note = if f.owner.is_none() || f.group.is_none() {
                    "   # owner/group unknown in the bundle: set them by hand"
                } else {
                    ""
                };
                writeln!(
                    o,
                    "     $ sudo install -D -m {:04o}{owner} {} {}{note}",
                    f.mode & 0o7777,
                    sh(&staged),
                    sh(&f.dest)
                )?;
            }
        }
        Ok(())
    })
}

/// Human-readable restart step. Node names, file names and the admin user come from
/// files, so every one is escaped for the terminal.
pub fn render_text(steps: &[RestartStep]) -> String {
    crate::text::build(|o| {
        use crate::text::escape_for_terminal as esc;

        if steps.is_empty() {
            o.push_str("Restart step: nothing changed, no restart needed.\n");
            return Ok(());
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
        Ok(())
    })
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
    fn copy_step_rsyncs_each_node_then_installs_with_the_bundle_owner_and_mode() {
        let f = |node: &str, dest: &str, mode, owner: Option<&str>| CopyFile {
            node: node.into(),
            written: format!("{node}{dest}"),
            dest: dest.into(),
            mode,
            owner: owner.map(str::to_string),
            group: owner.map(|_| "dh".to_string()),
            uid: owner.map(|_| 9000),
            gid: None,
        };
        let files = vec![
            f("i.example.com", "/etc/a b.key", 0o600, Some("irisadmin")),
            f("i.example.com", "/etc/x.xml", 0o644, None),
            f("d.example.com", "/etc/t.xml", 0o640, Some("irisadmin")),
        ];
        assert_eq!(
            render_copy_text("out", &files),
            "Copy step: before restarting, put each node's files in place (written to out; apply never puts them into etcd):\n\
             \x20 1. i.example.com (2 file(s))\n\
             \x20    $ rsync -a out/i.example.com/ i.example.com:/tmp/dh-migrate-files/\n\
             \x20    then on i.example.com:\n\
             \x20    $ sudo install -D -m 0600 -o irisadmin -g dh '/tmp/dh-migrate-files/etc/a b.key' '/etc/a b.key'\n\
             \x20    $ sudo install -D -m 0644 /tmp/dh-migrate-files/etc/x.xml /etc/x.xml   # owner/group unknown in the bundle: set them by hand\n\
             \x20 2. d.example.com (1 file(s))\n\
             \x20    $ rsync -a out/d.example.com/ d.example.com:/tmp/dh-migrate-files/\n\
             \x20    then on d.example.com:\n\
             \x20    $ sudo install -D -m 0640 -o irisadmin -g dh /tmp/dh-migrate-files/etc/t.xml /etc/t.xml\n"
        );
        let tsv = owners_tsv(&files);
        assert!(tsv.ends_with(
            "i.example.com\t/etc/a b.key\t0600\tirisadmin\tdh\t9000\tunknown\n\
             i.example.com\t/etc/x.xml\t0644\tunknown\tunknown\tunknown\tunknown\n\
             d.example.com\t/etc/t.xml\t0640\tirisadmin\tdh\t9000\tunknown\n"
        ));
        assert_eq!(sh("it's"), "'it'\\''s'");
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
