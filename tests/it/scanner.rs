//! The reference scanner on tricky tokens, library-level: a `ConfigTree` built file by file
//! with a `cluster.cnf` naming the old nodes, then every reference of one file as
//! (line, column, text, context), each list written by hand. Covers prefixes that must not
//! match (`dh-query-1` / `dh-query-10`, `10.1.2.1` / `10.1.2.11`), `host:port`, URLs, comma
//! lists, upper case, a host ending a sentence, `[host=a|b]` headers, YAML anchors, XML
//! attributes, text and comments.

use dh_migrate::contexts::RoleContexts;
use dh_migrate::roles::Role;
use dh_migrate::scan::inventory::Inventory;
use dh_migrate::scan::refs::{scan, Reference};
use dh_migrate::tree::ConfigTree;
use std::collections::BTreeSet;

/// Old nodes: dh-infra-1 (10.1.2.11), dh-query-1 (10.1.2.1), dh-query-10 (10.1.2.10).
/// `10.1.2.111` and `dh-query-100` name nothing.
const CNF: &str = "\
DH_CLUSTER_NAME=\"scan-old\"
DH_NODE_1_NAME=\"dh-infra-1.old.example.com\"
DH_NODE_1_IP=\"10.1.2.11\"
DH_NODE_1_ROLE_INFRA=\"true\"
DH_NODE_2_NAME=\"dh-query-1.old.example.com\"
DH_NODE_2_IP=\"10.1.2.1\"
DH_NODE_2_ROLE_QUERY=\"true\"
DH_NODE_2_ROLE_DIS=\"true\"
DH_NODE_3_NAME=\"dh-query-10.old.example.com\"
DH_NODE_3_IP=\"10.1.2.10\"
DH_NODE_3_ROLE_QUERY=\"true\"
";

/// Scans a tree holding `cluster.cnf` and `path` = `text`; returns the references of `path`.
fn references(path: &str, text: &str) -> Vec<Reference> {
    let mut tree = ConfigTree::default();
    tree.insert("cluster/cluster.cnf", CNF.to_string(), 0o644)
        .unwrap();
    tree.insert(path, text.to_string(), 0o644).unwrap();
    let inv = Inventory::build(&tree, &[]);
    scan(&tree, &inv, &RoleContexts::builtin())
        .into_iter()
        .filter(|r| r.file == path)
        .collect()
}

/// (line, column, text as written, context as displayed) of each reference.
fn places(refs: &[Reference]) -> Vec<(usize, usize, String, String)> {
    refs.iter()
        .map(|r| (r.pos.line, r.pos.col, r.text.clone(), r.context.to_string()))
        .collect()
}

fn expect(list: &[(usize, usize, &str, &str)]) -> Vec<(usize, usize, String, String)> {
    list.iter()
        .map(|(l, c, t, x)| (*l, *c, t.to_string(), x.to_string()))
        .collect()
}

fn roles(list: &[Option<Role>]) -> BTreeSet<Option<Role>> {
    list.iter().copied().collect()
}

const PROPS: &str = "config/props/iris-environment.prop";

#[test]
fn prefixes_of_other_names_never_match() {
    let refs = references(
        PROPS,
        "hosts=dh-query-1,dh-query-10,dh-query-100,dh-query-1_backup\n\
         ips=10.1.2.1 10.1.2.11 10.1.2.111\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (1, 7, "dh-query-1", "property hosts"),
            (1, 18, "dh-query-10", "property hosts"),
            (2, 5, "10.1.2.1", "property ips"),
            (2, 14, "10.1.2.11", "property ips"),
        ])
    );
    // Each names its own node: dh-query-10 is not dh-query-1.
    assert_ne!(refs[0].nodes, refs[1].nodes);
    assert_ne!(refs[2].nodes, refs[3].nodes);
}

#[test]
fn ports_urls_lists_upper_case_and_sentence_ends() {
    let refs = references(
        PROPS,
        "# Moved to dh-query-1.\n\
         url=https://dh-infra-1.old.example.com:8000/iris/\n\
         peer=DH-QUERY-10.OLD.EXAMPLE.COM:22013\n\
         list=dh-query-1.old.example.com,10.1.2.11,dh-infra-1\n\
         ! Ask dh-infra-1.old.example.com. Not dh-query-100.\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (1, 12, "dh-query-1", "comment"),
            (2, 13, "dh-infra-1.old.example.com", "property url"),
            (3, 6, "DH-QUERY-10.OLD.EXAMPLE.COM", "property peer"),
            (4, 6, "dh-query-1.old.example.com", "property list"),
            (4, 33, "10.1.2.11", "property list"),
            (4, 43, "dh-infra-1", "property list"),
            (5, 7, "dh-infra-1.old.example.com", "comment"),
        ])
    );
}

#[test]
fn hosts_inside_scope_headers() {
    let refs = references(
        PROPS,
        "[host=dh-query-1|dh-query-10.old.example.com] {\n    \
         x=10.1.2.10\n\
         }\n",
    );
    let header = "[host=dh-query-1|dh-query-10.old.example.com]";
    assert_eq!(
        places(&refs),
        expect(&[
            (1, 7, "dh-query-1", &format!("scope header in {header}")),
            (
                1,
                18,
                "dh-query-10.old.example.com",
                &format!("scope header in {header}")
            ),
            (2, 7, "10.1.2.10", &format!("property x in {header}")),
        ])
    );
    // A host scope decides no role.
    assert!(refs.iter().all(|r| r.roles == roles(&[None])));
}

#[test]
fn service_scopes_decide_roles_innermost_first() {
    let refs = references(
        PROPS,
        "[service.name=db_dis] {\n    \
         # on dh-query-1\n    \
         [process.name=p] {\n        \
         a=dh-query-1\n    \
         }\n    \
         [service.name=db_query_server] {\n        \
         b=dh-query-1\n    \
         }\n\
         }\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (2, 10, "dh-query-1", "comment in [service.name=db_dis]"),
            (
                4,
                11,
                "dh-query-1",
                "property a in [service.name=db_dis] [process.name=p]"
            ),
            (
                7,
                11,
                "dh-query-1",
                "property b in [service.name=db_dis] [service.name=db_query_server]"
            ),
        ])
    );
    assert_eq!(refs[0].roles, roles(&[Some(Role::Dis)]));
    assert_eq!(refs[1].roles, roles(&[Some(Role::Dis)]));
    assert_eq!(refs[2].roles, roles(&[Some(Role::Query)]));
}

#[test]
fn yaml_anchor_definitions_quoted_scalars_and_comments() {
    let refs = references(
        "config/routing/routing.yaml",
        "anchors:\n  \
         - &dis-host dh-query-1.old.example.com\n\
         dataImportServers:\n  \
         db_dis:\n    \
         host: *dis-host\n  \
         db_other:\n    \
         host: \"10.1.2.1\"\n\
         # Comment naming dh-infra-1.\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (
                2,
                15,
                "dh-query-1.old.example.com",
                "anchors[0] (used at dataImportServers.db_dis.host)"
            ),
            (7, 12, "10.1.2.1", "dataImportServers.db_other.host"),
            (8, 18, "dh-infra-1", "comment"),
        ])
    );
    // The anchor's one use is a DIS: its definition takes that role.
    assert_eq!(refs[0].roles, roles(&[Some(Role::Dis)]));
    assert_eq!(refs[1].roles, roles(&[Some(Role::Dis)]));
    assert_eq!(refs[2].roles, roles(&[None]));
}

#[test]
fn xml_attributes_text_and_comments() {
    let refs = references(
        "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
        "<Processes>\n  \
         <!-- ships to dh-query-1 -->\n  \
         <Process name=\"t1\" host=\"dh-infra-1.old.example.com:22021\">\n    \
         <Description>Logs of dh-query-10 and 10.1.2.11.</Description>\n  \
         </Process>\n\
         </Processes>\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (2, 17, "dh-query-1", "comment"),
            (
                3,
                28,
                "dh-infra-1.old.example.com",
                "<Processes/Process host=...>"
            ),
            (4, 26, "dh-query-10", "<Processes/Process/Description> text"),
            (4, 42, "10.1.2.11", "<Processes/Process/Description> text"),
        ])
    );
    // A tailer file belongs to the dis role as a whole.
    assert!(refs.iter().all(|r| r.roles == roles(&[Some(Role::Dis)])));
}

#[test]
fn decoded_values_find_a_host_after_an_escape_and_across_a_continuation() {
    let refs = references(
        PROPS,
        "sep=\\tdh-query-1.old.example.com\n\
         list=dh-query-10,\\\n    \
         10.1.2.1\n",
    );
    assert_eq!(
        places(&refs),
        expect(&[
            (1, 7, "dh-query-1.old.example.com", "property sep"),
            (2, 6, "dh-query-10", "property list"),
            (3, 5, "10.1.2.1", "property list"),
        ])
    );
    // Each is written whole in the file, so each can be rewritten in place.
    assert!(refs.iter().all(|r| !r.hidden));
}
