//! Role contexts: which role the place of a reference stands for (a `[service.name=...]`
//! scope, a routing section, a whole file). The table is data, `templates/role-contexts.yaml`
//! by default; this module reads it and answers questions about it.

use crate::formats::yaml::{self, Node, YamlDoc};
use crate::roles::Role;
use crate::text::{LineIndex, Position};
use std::collections::BTreeMap;

/// The default table, shipped in `templates/`.
pub const DEFAULT_CONTEXTS: &str = include_str!("../templates/role-contexts.yaml");

#[derive(Debug, Clone, Default)]
pub struct RoleContexts {
    services: BTreeMap<String, Role>,
    /// Routing path patterns, split into segments, with their role.
    routing: Vec<(Vec<String>, Role)>,
    files: Vec<(String, Role)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{pos}: {what}")]
pub struct ContextsError {
    pub file: String,
    pub pos: Position,
    pub what: String,
}

impl RoleContexts {
    /// The shipped table.
    pub fn builtin() -> RoleContexts {
        // The shipped file is tested to parse (tests below); failing here is a build bug.
        RoleContexts::parse("templates/role-contexts.yaml", DEFAULT_CONTEXTS)
            .unwrap_or_else(|e| panic!("shipped role-contexts table is invalid: {e}"))
    }

    /// Reads a role-contexts file.
    pub fn parse(file: &str, src: &str) -> Result<RoleContexts, ContextsError> {
        let lines = LineIndex::new(src);
        let err = |offset: usize, what: String| ContextsError {
            file: file.to_string(),
            pos: lines.position(src, offset),
            what,
        };
        let doc = yaml::parse(src).map_err(|e| err(e.offset, e.kind.to_string()))?;
        let mut out = RoleContexts::default();
        let Some(Node::Map { entries, .. }) = doc.root() else {
            return Err(err(
                0,
                "expected a map with version, services, routing, files".into(),
            ));
        };
        let scalar = |doc: &YamlDoc, n: &Node| -> Option<(String, usize)> {
            match n {
                Node::Scalar(i) => Some((
                    doc.scalars()[*i].value.clone(),
                    doc.scalars()[*i].span.start,
                )),
                _ => None,
            }
        };
        for (k, v) in entries {
            let Some((key, at)) = scalar(&doc, k) else {
                return Err(err(0, "expected a plain key".into()));
            };
            if key == "version" {
                continue;
            }
            let Node::Map { entries: rows, .. } = v else {
                return Err(err(at, format!("expected a map under `{key}`")));
            };
            for (rk, rv) in rows {
                let (Some((name, nat)), Some((role, rat))) = (scalar(&doc, rk), scalar(&doc, rv))
                else {
                    return Err(err(at, format!("expected `name: role` rows under `{key}`")));
                };
                let role: Role = role
                    .parse()
                    .map_err(|e: crate::roles::UnknownRole| err(rat, e.to_string()))?;
                match key.as_str() {
                    "services" => {
                        out.services.insert(name.to_ascii_lowercase(), role);
                    }
                    "routing" => out
                        .routing
                        .push((name.split('.').map(str::to_string).collect(), role)),
                    "files" => out.files.push((name, role)),
                    _ => return Err(err(nat.min(at), format!("unknown section `{key}`"))),
                }
            }
        }
        Ok(out)
    }

    /// The role of a Deephaven service name (`db_dis` -> dis), case-insensitive.
    pub fn service_role(&self, service: &str) -> Option<Role> {
        self.services.get(&service.to_ascii_lowercase()).copied()
    }

    /// The role of a routing path (segments), by the longest matching pattern.
    pub fn routing_role(&self, path: &[String]) -> Option<Role> {
        self.routing
            .iter()
            .filter(|(pat, _)| {
                pat.len() <= path.len() && pat.iter().zip(path).all(|(p, s)| p == "*" || p == s)
            })
            .max_by_key(|(pat, _)| pat.len())
            .map(|(_, role)| *role)
    }

    /// The role a whole file stands for, from the first matching `files` pattern.
    pub fn file_role(&self, path: &str) -> Option<Role> {
        self.files
            .iter()
            .find(|(pat, _)| glob_match(pat, path))
            .map(|(_, r)| *r)
    }
}

/// Matches `path` against a glob where `*` matches within one `/`-separated segment and
/// `**` matches any number of whole segments.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|i| match_segments(rest, &segs[i..])),
        Some((p, rest)) => segs.split_first().is_some_and(|(s, srest)| {
            match_segment(p.as_bytes(), s.as_bytes()) && match_segments(rest, srest)
        }),
    }
}

fn match_segment(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| match_segment(rest, &s[i..])),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(d, srest)| c == d && match_segment(rest, srest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn shipped_table_answers_the_documented_contexts() {
        let c = RoleContexts::builtin();
        assert_eq!(c.service_role("db_dis"), Some(Role::Dis));
        assert_eq!(c.service_role("DB_QUERY_SERVER"), Some(Role::Query));
        assert_eq!(c.service_role("iris_controller"), Some(Role::Infra));
        assert_eq!(c.service_role("db_merge_server"), Some(Role::Merge));
        assert_eq!(c.service_role("unknown_thing"), None);
        assert_eq!(
            c.routing_role(&segs("dataImportServers.db_dis.endpoint.host")),
            Some(Role::Dis)
        );
        assert_eq!(
            c.routing_role(&segs("logAggregatorServers.0.host")),
            Some(Role::Infra)
        );
        assert_eq!(
            c.routing_role(&segs("tableDataServices.db_ltds.host")),
            Some(Role::Dis)
        );
        assert_eq!(c.routing_role(&segs("tableDataServices.other.host")), None);
        assert_eq!(c.routing_role(&segs("storage.0.dbRoot")), None);
        assert_eq!(
            c.file_role("config/routing/dis/Ingester1.yaml"),
            Some(Role::Dis)
        );
        assert_eq!(
            c.file_role("nodes/x/files/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml"),
            Some(Role::Dis)
        );
        assert_eq!(
            c.file_role("files/etc/sysconfig/deephaven/etcd/client/root/endpoints"),
            Some(Role::Etcd)
        );
        assert_eq!(c.file_role("config/props/iris-environment.prop"), None);
    }

    #[test]
    fn globs_match_segments() {
        assert!(glob_match("a/*.yaml", "a/x.yaml"));
        assert!(!glob_match("a/*.yaml", "a/b/x.yaml"));
        assert!(glob_match("**/x", "x"));
        assert!(glob_match("**/x", "a/b/x"));
        assert!(!glob_match("**/x", "a/b/xy"));
    }

    #[test]
    fn bad_roles_are_named_with_their_place() {
        let e = RoleContexts::parse("rc.yaml", "version: 1\nservices:\n  db_dis: ingest\n")
            .unwrap_err();
        assert_eq!(e.pos.to_string(), "3:11");
        assert!(e.what.contains("ingest"), "{e}");
    }
}
