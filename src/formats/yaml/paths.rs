//! Every path a node is reachable at once aliases and `<<` merges are followed, without
//! expanding anything in the text: the rewriter needs to know that the host written once
//! under `anchors:` is also `dataImportServers.db_dis.endpoint.host`.

use std::collections::{HashMap, HashSet};

use super::{Path, PathSeg};

/// Upper bound on the paths reported for one scalar. Nested aliases can multiply paths
/// exponentially ("billion laughs"); real routing files stay far below this.
pub const MAX_PATHS: usize = 4096;

/// Where a node sits in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parent {
    Root,
    /// Entry `key` of map node `map` (key scalars point at the entry they name).
    Entry {
        map: usize,
        key: String,
    },
    Item {
        seq: usize,
        index: usize,
    },
}

/// The structural facts path resolution needs, indexed by node id (parents before
/// children).
#[derive(Debug, Clone, Default)]
pub(super) struct Graph {
    pub parent: Vec<Parent>,
    /// For map nodes: their own (non-`<<`) keys.
    pub explicit_keys: Vec<HashSet<String>>,
    /// For map nodes: the maps merged in by `<<`, in precedence order.
    pub merges: Vec<Vec<usize>>,
    /// The reverse of `merges`: for each map, the maps that merge it in (so finding them
    /// costs their number, not a pass over every node of the file).
    pub merged_by: Vec<Vec<usize>>,
    /// For each node: the alias nodes (not merges) that refer to its anchor.
    pub aliased_at: Vec<Vec<usize>>,
    /// For each node, once [`Graph::mark_single_paths`] ran: true when no alias or merge
    /// reaches it or any of its ancestors, so its own path is its only one.
    pub single_path: Vec<bool>,
}

impl Graph {
    pub(super) fn push_node(&mut self, parent: Parent) -> usize {
        self.parent.push(parent);
        self.explicit_keys.push(HashSet::new());
        self.merges.push(Vec::new());
        self.merged_by.push(Vec::new());
        self.aliased_at.push(Vec::new());
        self.parent.len() - 1
    }

    /// Works out [`Graph::single_path`] for every node (parents come before children).
    pub(super) fn mark_single_paths(&mut self) {
        let mut single = Vec::with_capacity(self.parent.len());
        for n in 0..self.parent.len() {
            let through_parent = match &self.parent[n] {
                Parent::Root => true,
                Parent::Entry { map, .. } => single[*map] && self.merged_by[*map].is_empty(),
                Parent::Item { seq, .. } => single[*seq],
            };
            single.push(through_parent && self.aliased_at[n].is_empty());
        }
        self.single_path = single;
    }

    /// True when map `map` has `key`, itself or through its merges.
    fn has_key(&self, map: usize, key: &str) -> bool {
        let mut seen = HashSet::new();
        let mut todo = vec![map];
        while let Some(m) = todo.pop() {
            if !seen.insert(m) {
                continue;
            }
            if self.explicit_keys[m].contains(key) {
                return true;
            }
            todo.extend(self.merges[m].iter().copied());
        }
        false
    }

    /// The map whose entry `key` of `map` really comes from: `map` itself when it has the
    /// key explicitly, else the first merged map that has it (YAML merge precedence).
    fn source_of(&self, map: usize, key: &str) -> Option<usize> {
        if self.explicit_keys[map].contains(key) {
            return Some(map);
        }
        self.merges[map]
            .iter()
            .copied()
            .find(|&m| self.has_key(m, key))
    }

    /// Every map at which entry `key` of `map` is visible: `map`, and each map that merges
    /// it (transitively) without overriding `key`.
    fn maps_showing(&self, map: usize, key: &str) -> Vec<usize> {
        let mut found = vec![map];
        let mut i = 0;
        while i < found.len() {
            let m = found[i];
            // In node order, as the paths of a scalar are listed.
            let mut users = self.merged_by[m].clone();
            users.sort_unstable();
            for user in users {
                if self.source_of(user, key) == Some(m) && !found.contains(&user) {
                    found.push(user);
                }
            }
            i += 1;
        }
        found
    }

    /// Nodes whose paths the paths of `node` are built from.
    fn dependencies(&self, node: usize) -> Vec<usize> {
        let mut deps = match &self.parent[node] {
            Parent::Root => Vec::new(),
            Parent::Entry { map, key } => self.maps_showing(*map, key),
            Parent::Item { seq, .. } => vec![*seq],
        };
        deps.extend(self.aliased_at[node].iter().copied());
        deps
    }

    /// All paths `node` is reachable at, its own first; at most [`MAX_PATHS`].
    pub(super) fn paths(&self, node: usize) -> Vec<Path> {
        let mut memo: HashMap<usize, Vec<Path>> = HashMap::new();
        // Iterative depth-first evaluation: alias chains can be long, the stack is not.
        let mut stack = vec![node];
        while let Some(&n) = stack.last() {
            if memo.contains_key(&n) {
                stack.pop();
                continue;
            }
            let deps = self.dependencies(n);
            let missing: Vec<usize> = deps
                .iter()
                .copied()
                .filter(|d| !memo.contains_key(d))
                .collect();
            if !missing.is_empty() {
                stack.extend(missing);
                continue;
            }
            stack.pop();
            let mut out: Vec<Path> = Vec::new();
            let mut push = |p: Path| {
                if out.len() < MAX_PATHS && !out.contains(&p) {
                    out.push(p);
                }
            };
            match &self.parent[n] {
                Parent::Root => push(Path(Vec::new())),
                Parent::Entry { map, key } => {
                    for m in self.maps_showing(*map, key) {
                        for p in memo.get(&m).into_iter().flatten() {
                            push(p.child(PathSeg::Key(key.clone())));
                        }
                    }
                }
                Parent::Item { seq, index } => {
                    for p in memo.get(seq).into_iter().flatten() {
                        push(p.child(PathSeg::Index(*index)));
                    }
                }
            }
            for alias in &self.aliased_at[n] {
                for p in memo.get(alias).into_iter().flatten() {
                    push(p.clone());
                }
            }
            memo.insert(n, out);
        }
        memo.remove(&node).unwrap_or_default()
    }
}
