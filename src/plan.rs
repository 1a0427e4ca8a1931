//! A plan: the migration of a bundle for a target, compared with the target, with the
//! restart step and the etcd snapshot advice. `plan`, `report`, `apply` and the wizard all
//! build one; nothing here writes anywhere.

use crate::bundle::Bundle;
use crate::compare::{compare, Comparison, Inputs};
use crate::contexts::RoleContexts;
use crate::layout::Layout;
use crate::mapping::suggest::NewNode;
use crate::mapping::Mapping;
use crate::migrate::{migrate, Migration, RewriteBroke};
use crate::restart::{self, Changes, RestartStep};
use crate::roles::Role;
use crate::tree::{map_each_in_parallel, ConfigTree};
use foldhash::HashSet;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use crate::target::{admin_user, EtcdState, Target};

/// A hash of a tree's files (path and content), to detect change between plan and apply.
pub fn tree_hash<'a>(files: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut all: Vec<(&str, &[u8])> = files.collect();
    all.sort();
    let mut h = Sha256::new();
    for (p, c) in all {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(c));
    }
    hex::encode(h.finalize())
}

/// The hash of a bundle: every file's path and SHA-256 (including the snapshot).
pub fn bundle_hash(b: &Bundle) -> String {
    let mut h = Sha256::new();
    for f in b.files() {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.sha256);
    }
    hex::encode(h.finalize())
}

#[derive(Debug)]
pub struct Plan {
    pub migration: Migration,
    pub comparison: Comparison,
    pub new_nodes: Vec<NewNode>,
    pub restart: Vec<RestartStep>,
    /// Per new node: the per-node files it receives (bundle paths).
    pub files_for_node: BTreeMap<String, Vec<String>>,
    pub snapshot: Option<String>,
    pub bundle_hash: String,
    pub target_hash: String,
    /// Things to know that do not stop the plan (unchecked or split-role mapping values).
    pub warnings: Vec<String>,
    /// Migrated files apply does not write: new serial-keyed items of a layout version 2
    /// (persistent queries) and `config/` files no layout item holds (ACL exports with
    /// layout v2), left to the vendor's import (`apply::not_created`).
    pub not_created: Vec<crate::apply::Skipped>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the migration is incomplete: {} problem(s)", .0.len())]
    Incomplete(Vec<String>),
    #[error(transparent)]
    Broke(#[from] RewriteBroke),
    /// Mapping values that are not nodes of the new cluster (contract: the mapping must
    /// name the new cluster).
    #[error("the mapping does not name the new cluster: {} problem(s)", .0.len())]
    NotNewNodes(Vec<String>),
    /// Entries of the mapping's `merge:` section that decide nothing (a typo there would
    /// let the bundle overwrite a value meant to be kept).
    #[error("the mapping's merge: section names what is not there: {} problem(s)", .0.len())]
    MergeRules(Vec<String>),
    /// An item that cannot be merged onto the new cluster's copy without losing something.
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    #[error(transparent)]
    Encode(#[from] crate::migrate::EncodeBack),
}

/// The old node `files/` (without a node folder) came from: `files_node` when given, else
/// the old cluster's only infra node (backups are taken there).
pub fn shared_files_node(m: &Migration, files_node: Option<&str>) -> Option<String> {
    if let Some(n) = files_node {
        return Some(n.to_ascii_lowercase());
    }
    let infra: Vec<_> = m
        .inventory
        .nodes
        .iter()
        .filter(|n| n.roles.contains(&Role::Infra))
        .collect();
    match infra.as_slice() {
        [one] => Some(one.name().to_string()),
        _ => None,
    }
}

/// The new node each per-node file goes to: its old node's mapping, decided by the file's
/// role (from the role contexts) when the old node is split.
pub fn node_for_file(
    path: &str,
    old_node: Option<&str>,
    mapping: &Mapping,
    contexts: &RoleContexts,
) -> Option<String> {
    let old = old_node?;
    let rule = mapping.rule(old)?;
    let role = contexts.file_role(path);
    rule.target
        .for_role(role)
        .map(|h| h.value.to_ascii_lowercase())
}

/// The new cluster's nodes as the mapping implies them, for a target without its
/// `cluster.cnf` (an etcd target): every new host, with the old node's roles (a split
/// node's listed roles go to their hosts, the rest to its default) and, where the old
/// node's IP is mapped too, the new IP.
pub fn nodes_from_mapping(mapping: &Mapping, migration: &Migration) -> Vec<NewNode> {
    use crate::mapping::Target as T;
    let inv = &migration.inventory;
    let mut nodes: Vec<NewNode> = Vec::new();
    let mut add = |name: &str, roles: &[Role], ip: Option<String>| {
        let name = name.to_ascii_lowercase();
        match nodes.iter_mut().find(|n| n.name == name) {
            Some(n) => {
                n.roles.extend(roles.iter().copied());
                if n.ip.is_none() {
                    n.ip = ip;
                }
            }
            None => nodes.push(NewNode {
                name,
                ip,
                roles: roles.iter().copied().collect(),
            }),
        }
    };
    for rule in mapping
        .hosts
        .iter()
        .filter(|h| !crate::scan::tokens::is_ipv4(&h.old))
    {
        let Some(node) = inv
            .lookup(&rule.old)
            .and_then(|(_, ns)| ns.first().map(|&i| &inv.nodes[i]))
        else {
            continue;
        };
        let old_roles: Vec<Role> = node.roles.iter().copied().collect();
        let ip_rule = node.ips.iter().find_map(|ip| mapping.rule(ip));
        let ip_for = |role: Option<Role>| {
            ip_rule
                .and_then(|r| r.target.for_role(role))
                .map(|h| h.value.clone())
        };
        match &rule.target {
            T::Host(h) => add(&h.value, &old_roles, ip_for(None)),
            T::Roles { default, roles } => {
                for (r, h) in roles {
                    add(&h.value, &[*r], ip_for(Some(*r)));
                }
                if let Some(d) = default {
                    let rest: Vec<Role> = old_roles
                        .iter()
                        .copied()
                        .filter(|r| !roles.contains_key(r))
                        .collect();
                    add(&d.value, &rest, ip_for(None));
                }
            }
        }
    }
    nodes
}

/// Builds the plan, secrets redacted. Fails with every problem when the migration is
/// incomplete.
pub fn make_plan(
    bundle: &Bundle,
    tree: &ConfigTree,
    target: &Target,
    mapping: &Mapping,
    contexts: &RoleContexts,
    layout: &Layout,
    files_node: Option<&str>,
) -> Result<Plan, PlanError> {
    make_plan_with(
        bundle,
        tree,
        target,
        mapping,
        contexts,
        layout,
        files_node,
        crate::secrets::SecretPolicy::Redact,
    )
}

/// Builds the plan with the given secret policy (`--show-secrets`).
#[allow(clippy::too_many_arguments)]
pub fn make_plan_with(
    bundle: &Bundle,
    tree: &ConfigTree,
    target: &Target,
    mapping: &Mapping,
    contexts: &RoleContexts,
    layout: &Layout,
    files_node: Option<&str>,
    secrets: crate::secrets::SecretPolicy,
) -> Result<Plan, PlanError> {
    let mut migration = migrate(tree, mapping, contexts)?;
    crate::timing::mark("migrated");
    if !migration.is_complete() {
        return Err(PlanError::Incomplete(
            migration.problem_lines(&mapping.file),
        ));
    }
    // The mapping must name the new cluster: its nodes as the target lists them.
    let findings = crate::mapping::validate::against_new_nodes(
        mapping,
        &migration.inventory,
        &crate::scan::inventory::Inventory::build(&target.tree, &target.extra_node_names()),
        mapping.allow_unknown_hosts,
    );
    if !findings.errors.is_empty() {
        return Err(PlanError::NotNewNodes(findings.errors));
    }
    // Merge, never overwrite: what apply writes for an item the new cluster has.
    migration.merge_onto(&target.tree, &mapping.merge)?;
    crate::timing::mark("merged");
    let unmatched = mapping.merge.unmatched(&mapping.file, &|item| {
        migration
            .merge_reports()
            .find(|(p, _)| *p == item)
            .map(|(_, r)| (r.dropped.clone(), r.new_won.clone()))
    });
    if !unmatched.is_empty() {
        return Err(PlanError::MergeRules(unmatched));
    }
    // Which paths are etcd items, asked several times per file below: `Layout::is_item`
    // matches the path against every layout pattern, so each path is asked once.
    let paths: Vec<&str> = tree
        .files
        .keys()
        .chain(target.tree.files.keys())
        .map(String::as_str)
        .collect();
    let items: HashSet<&str> = paths
        .iter()
        .zip(map_each_in_parallel(&paths, |p| layout.is_item(p)))
        .filter_map(|(p, item)| item.then_some(*p))
        .collect();
    let is_item = |p: &str| items.contains(p);
    // As `Target::in_scope`, with the item paths known.
    let no_etcd = target.etcd.is_none();
    let in_scope = |p: &str| no_etcd || is_item(p);
    crate::timing::mark("validated");
    // The comparison on its own thread, while what apply does not write and which node
    // gets each file are worked out here.
    let (comparison, nodes, not_created, files_for_node) = std::thread::scope(|s| {
        let comparing = s.spawn(|| {
            compare(&Inputs {
                migrated: &migration.files,
                bundle: tree,
                target: &target.tree,
                in_scope: &in_scope,
                secrets,
            })
        });
        let nodes = match &target.nodes {
            n if n.is_empty() => nodes_from_mapping(mapping, &migration),
            n => n.clone(),
        };
        // What apply does not write: new serial-keyed items (PQs), and `config/` files no
        // layout item holds (neither etcd items nor node files).
        let not_created = crate::apply::not_created(
            layout,
            migration
                .files
                .keys()
                .map(String::as_str)
                .filter(|p| is_item(p) || p.starts_with("config/")),
            |p| target.tree.files.contains_key(p),
        );
        let skipped: HashSet<&str> = not_created.iter().map(|s| s.path.as_str()).collect();
        // Which new node receives each file-system part.
        let shared = shared_files_node(&migration, files_node);
        let mut files_for_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in migration
            .files
            .values()
            .filter(|f| !is_item(&f.path) && !skipped.contains(f.path.as_str()))
        {
            let old = f.node.clone().or_else(|| {
                f.path
                    .starts_with("files/")
                    .then(|| shared.clone())
                    .flatten()
            });
            let new = node_for_file(&f.path, old.as_deref(), mapping, contexts)
                .unwrap_or_else(|| "unassigned".into());
            files_for_node.entry(new).or_default().push(f.path.clone());
        }
        let comparison = comparing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (comparison, nodes, not_created, files_for_node)
    });
    let skipped: HashSet<&str> = not_created.iter().map(|s| s.path.as_str()).collect();
    // Looked up per file below: a set, not a search of the comparison per file.
    let counted: HashSet<&str> = comparison
        .files
        .iter()
        .filter(|c| c.counts())
        .map(|c| c.path.as_str())
        .collect();
    // New serial-keyed items (PQs) apply does not write: no process restarts or reloads
    // for them.
    let written = |p: &str| is_item(p) && !skipped.contains(p);
    let changed_items = comparison
        .files
        .iter()
        .filter(|f| f.counts() && written(&f.path))
        .count();
    let pq_changed = comparison
        .files
        .iter()
        .any(|f| f.counts() && f.path.starts_with("config/pq/") && written(&f.path));
    let changes = Changes {
        etcd_items: changed_items,
        files_for_node: files_for_node
            .iter()
            .map(|(n, fs)| {
                (
                    n.clone(),
                    fs.iter()
                        .filter(|p| target.etcd.is_some() || counted.contains(p.as_str()))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, fs)| !fs.is_empty())
            .collect(),
        pq_changed,
    };
    let restart = restart::plan(&nodes, &changes, &target.admin_user);
    let snapshot = bundle
        .get("etcd/snapshot.db")
        .map(|_| crate::snapshot::advice(&target.tree, &nodes, bundle.snapshot_identity.as_ref()));
    let target_hash = match &target.etcd {
        Some(state) => {
            let joined: Vec<(String, Vec<u8>)> = state
                .revisions
                .iter()
                .map(|(k, r)| (k.clone(), r.to_string().into_bytes()))
                .collect();
            tree_hash(joined.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
        }
        None => tree_hash(
            target
                .tree
                .files
                .values()
                .map(|f| (f.path.as_str(), f.text.as_bytes())),
        ),
    };
    Ok(Plan {
        not_created,
        bundle_hash: bundle_hash(bundle),
        target_hash,
        warnings: findings.warnings,
        migration,
        comparison,
        new_nodes: nodes,
        restart,
        files_for_node,
        snapshot,
    })
}
