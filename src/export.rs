//! Reading a cluster's configuration out of etcd: every key under the layout's prefix that
//! the layout maps to a bundle path, read page by page, with its revision. `export` writes
//! the result in the bundle layout; `plan`/`report` use it as the target.

use crate::etcd::{EtcdError, Kv, KvStore};
use crate::layout::Layout;
use crate::target::EtcdState;
use crate::tree::{config_file, map_in_parallel, ConfigTree, TreeError};
use std::collections::BTreeMap;

/// What etcd holds for the layout: bundle path -> (value, mod revision), and keys under
/// the prefix that the layout does not know (runtime keys, other tools' keys).
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub items: BTreeMap<String, (Vec<u8>, i64)>,
    /// Bundle path -> the etcd key of its item (a version 2 item: its `file` part).
    pub keys: BTreeMap<String, String>,
    /// Layout version 2: the `guard` key of each item etcd holds that has one -> (value,
    /// mod revision). Apply re-puts it with the item's `file` part (see `apply::changes`).
    pub guards: BTreeMap<String, (Vec<u8>, i64)>,
    pub unknown: Vec<String>,
    pub header_revision: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("etcd key {key} ({path}) is not UTF-8 text")]
    NotText { key: String, path: String },
    #[error("etcd key {key}: {source}")]
    Parse {
        key: String,
        #[source]
        source: TreeError,
    },
}

/// Reads every layout item from `store`.
pub fn read(store: &mut dyn KvStore, layout: &Layout) -> Result<Exported, ExportError> {
    let (kvs, header_revision) = store.get_prefix(layout.prefix.as_bytes())?;
    Ok(from_kvs(kvs, header_revision, layout))
}

/// Reads every layout item from an etcd snapshot file (offline), with its revisions.
pub fn from_snapshot(
    snap: &crate::snapshot_db::Snapshot,
    layout: &Layout,
) -> Result<Exported, crate::snapshot_db::SnapshotError> {
    let live = snap.live(layout.prefix.as_bytes())?;
    let kvs = live
        .kvs
        .into_iter()
        .map(|kv| Kv {
            key: kv.key,
            value: kv.value,
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
        })
        .collect();
    let revision = i64::try_from(live.revision).unwrap_or(i64::MAX);
    Ok(from_kvs(kvs, revision, layout))
}

/// Sorts key-values read from an etcd (live, or a snapshot file) into layout items and
/// other keys.
pub fn from_kvs(kvs: Vec<Kv>, header_revision: i64, layout: &Layout) -> Exported {
    let mut out = Exported {
        header_revision,
        ..Exported::default()
    };
    // Items keyed by serial number (layout version 2 `scan`) are named by their `name`
    // part: found over the whole keyspace first.
    let scanned: BTreeMap<String, String> = layout
        .scanned(
            kvs.iter()
                .filter_map(|kv| Some((std::str::from_utf8(&kv.key).ok()?, kv.value.as_slice()))),
        )
        .into_iter()
        .collect();
    let mut rest: BTreeMap<String, (Vec<u8>, i64)> = BTreeMap::new();
    for kv in kvs {
        let key = String::from_utf8_lossy(&kv.key).into_owned();
        let path = layout
            .path_for(&key)
            .map(|(p, _)| p)
            .or_else(|| scanned.get(&key).cloned());
        match path {
            Some(path) => {
                out.keys.insert(path.clone(), key);
                out.items.insert(path, (kv.value, kv.mod_revision));
            }
            None => {
                rest.insert(key, (kv.value, kv.mod_revision));
            }
        }
    }
    if layout.version == 2 {
        // Each item's guard, which apply re-puts with the item.
        for (path, file_key) in &out.keys {
            if let Some(guard) = layout.item_keys(file_key, path).guard {
                if let Some(held) = rest.get(&guard) {
                    out.guards.insert(guard, held.clone());
                }
            }
        }
    }
    // A version 2 item's `name` part and meta subtree belong to it: not unknown keys.
    let files: std::collections::BTreeSet<&String> = out.keys.values().collect();
    out.unknown = rest
        .into_keys()
        .filter(|k| !layout.part_of(k).is_some_and(|f| files.contains(&f)))
        .collect();
    out
}

impl Exported {
    /// The items as a parsed tree (a target), and their revisions.
    pub fn to_tree(&self) -> Result<(ConfigTree, EtcdState), ExportError> {
        let items: Vec<(&String, &Vec<u8>)> = self.items.iter().map(|(p, (v, _))| (p, v)).collect();
        // A cluster holds thousands of items: parsed on a few threads, in path order.
        let files = map_in_parallel(&items, |&(path, value)| {
            let key = || self.keys.get(path).cloned().unwrap_or_default();
            let text = std::str::from_utf8(value).map_err(|_| ExportError::NotText {
                key: key(),
                path: path.clone(),
            })?;
            config_file(path, text, 0o644)
                .map_err(|source| ExportError::Parse { key: key(), source })
        })?;
        let tree = ConfigTree {
            files: files
                .into_iter()
                .flatten()
                .map(|f| (f.path.clone(), f))
                .collect(),
            ..ConfigTree::default()
        };
        let state = EtcdState {
            header_revision: self.header_revision,
            // The guards too: a saved plan is stale when Deephaven updated an item's guard.
            revisions: self
                .items
                .iter()
                .map(|(path, (_, rev))| (self.keys.get(path).cloned().unwrap_or_default(), *rev))
                .chain(
                    self.guards
                        .iter()
                        .map(|(key, (_, rev))| (key.clone(), *rev)),
                )
                .collect(),
        };
        Ok((tree, state))
    }
}
