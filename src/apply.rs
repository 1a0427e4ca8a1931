//! Importing a migration into the new cluster's etcd, safely.
//!
//! - Only keys whose value changes are written; each write is guarded by the key's
//!   revision as read when planning (or by its absence), so a concurrent change refuses
//!   the transaction with nothing of it written.
//! - Writes go in batches within the server's limits. Before the first write, a run record
//!   (every key's previous value and the hash of its new one) is saved to disk, so
//!   `rollback` can restore the previous state byte for byte even after a crash.
//! - When a later batch is refused, the batches already written are rolled back at once
//!   (guarded by the revisions they produced); if even that fails, the error names the run
//!   record to roll back with.
//! - Re-running after an interruption converges: keys already holding their new value are
//!   not written again.
//! - Layout version 2 (Deephaven's atomic directories): an item's write is its `file` part
//!   (guarded by its revision, or its absence), its `name` part when the item is new
//!   (guarded by absence), and a re-put of its `guard` key with the value it holds (guarded
//!   by the guard's own revision) when etcd has one, so a concurrent Deephaven update
//!   refuses the transaction and Deephaven's own compare-and-swap on `guard` sees ours.
//!   The keys of one item always go in one transaction, and are recorded and rolled back
//!   together. No other meta key is touched, and no guard is created. An item keyed by a
//!   serial number Deephaven assigns (`scan` kinds: persistent queries) is only updated
//!   where etcd already has it; a new one is left to the vendor's import (see
//!   [`not_created`]).

use crate::etcd::{
    batch_groups, commit_all, lowered_limits, EtcdError, Expect, KvStore, Limits, Op,
};
use crate::export::Exported;
use crate::layout::Layout;
use crate::migrate::{MigratedFile, Migration};
use crate::planfile::sha256_hex;
use crate::tree::map_each_in_parallel;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

/// Which part of an item a [`Change`] writes. A layout version 1 item is one key, its
/// `File`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The item's bytes (version 1: the item's one key).
    #[default]
    File,
    /// Version 2: the item's file name, written when apply creates the item.
    Name,
    /// Version 2: Deephaven's guard key, re-put with the value it holds.
    Guard,
}

/// One key to write. The changes of one item are consecutive, its `File` first: the
/// item's group, which always goes in one transaction (see [`groups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub key: String,
    /// Shared with the migrated file's text when it is written as it is (no copy).
    pub value: std::sync::Arc<[u8]>,
    /// The value before, None when the key is new.
    pub previous: Option<Vec<u8>>,
    pub expect: Expect,
    pub part: Part,
}

/// The changes split into items: each group starts at a `File` change.
pub fn groups<T>(entries: &[T], part: impl Fn(&T) -> Part) -> Vec<&[T]> {
    entries
        .chunk_by(|_, next| part(next) != Part::File)
        .collect()
}

/// The keys that write one item whose `file` part is `key` with `value`, given what etcd
/// holds now (`current`); empty when etcd already holds `value`. See the module doc for
/// what a version 2 item's write holds.
pub fn item_changes(
    layout: &Layout,
    current: &Exported,
    path: &str,
    key: String,
    value: impl Into<std::sync::Arc<[u8]>> + AsRef<[u8]>,
) -> Vec<Change> {
    let now = current.items.get(path);
    if now.is_some_and(|(v, _)| v.as_slice() == value.as_ref()) {
        return Vec::new();
    }
    let parts = layout.item_keys(&key, path);
    let mut out = vec![Change {
        path: path.to_string(),
        key,
        value: value.into(),
        previous: now.map(|(v, _)| v.clone()),
        expect: now.map_or(Expect::Absent, |(_, rev)| Expect::ModRevision(*rev)),
        part: Part::File,
    }];
    if let (None, Some((name_key, name))) = (now, parts.name) {
        out.push(Change {
            path: path.to_string(),
            key: name_key,
            value: name.into_bytes().into(),
            previous: None,
            expect: Expect::Absent,
            part: Part::Name,
        });
    }
    // Only a guard etcd holds: a guard is Deephaven's to create.
    if let Some((guard, (held, rev))) = parts
        .guard
        .and_then(|g| current.guards.get(&g).map(|held| (g, held)))
    {
        out.push(Change {
            path: path.to_string(),
            key: guard,
            value: held.as_slice().into(),
            previous: Some(held.clone()),
            expect: Expect::ModRevision(*rev),
            part: Part::Guard,
        });
    }
    out
}

/// The etcd key of the item at bundle path `path`: by the layout's pattern, or, for an
/// item keyed by a serial number (`scan`), where etcd holds it. None for a path that is no
/// item, and for a new serial-keyed item (which apply cannot create: [`not_created`]).
pub fn item_key(layout: &Layout, current: &Exported, path: &str) -> Option<String> {
    layout
        .key_for(path)
        .map(|(k, _)| k)
        .or_else(|| current.keys.get(path).cloned())
}

/// The keys a migration writes, given what etcd holds now: every layout item of the
/// migration whose value differs from etcd's, with its other parts (layout version 2).
pub fn changes(migration: &Migration, layout: &Layout, current: &Exported) -> Vec<Change> {
    let files: Vec<&MigratedFile> = migration.files.values().collect();
    // Per file (the layout's patterns are matched for each): on a few threads, in order.
    let per_file = map_each_in_parallel(&files, |f| {
        let key = item_key(layout, current, &f.path)?;
        // What apply writes: the migrated file merged onto the new cluster's copy, else
        // the migrated text itself (shared, not copied).
        let value: std::sync::Arc<[u8]> = match &f.result {
            Some(merged) => merged.text.as_bytes().into(),
            None => f.after.clone().into(),
        };
        Some(item_changes(layout, current, &f.path, key, value))
    });
    per_file.into_iter().flatten().flatten().collect()
}

/// Why apply does not create a new serial-keyed item.
pub const NOT_CREATED_WHY: &str =
    "a new persistent query: Deephaven assigns its serial number, so dh-migrate does not create it";

/// How to bring in an item apply does not create, with the vendor's tool (`FILE`: the
/// migrated file, as `plan --emit DIR` writes it under DIR).
pub const VENDOR_IMPORT: &str = "controller_tool --import -x FILE (or: dhconfig pq import)";

/// Why apply does not write an ACL export (`config/acls/`) that no item of the layout
/// holds (the default layout v2 has no ACL item).
pub const ACL_WHY: &str =
    "an ACL export: Deephaven keeps ACLs as rows, not files, and no item of the etcd layout holds it";

/// How to bring in an ACL export with the vendor's tool (`FILE` as in [`VENDOR_IMPORT`]).
pub const ACL_IMPORT: &str =
    "dhconfig acls import FILE (not --replace-all: it removes the new cluster's own service users)";

/// Why apply does not write another `config/` file that no item of the layout holds.
pub const NOT_AN_ITEM_WHY: &str = "no item of the etcd layout holds this file";

/// What to do with such a file: no vendor import is known for it.
pub const BY_HAND: &str = "no import known: bring it over by hand if the new cluster needs it";

/// The `paths` apply does not write, each listed by plan, apply and restore with why
/// and the vendor's import: layout version 2 items keyed by a serial number Deephaven assigns
/// (`scan` kinds: persistent queries) that `has` (the target) does not hold, and
/// `config/` files no layout item matches.
pub fn not_created<'a>(
    layout: &Layout,
    paths: impl IntoIterator<Item = &'a str>,
    has: impl Fn(&str) -> bool,
) -> Vec<Skipped> {
    paths
        .into_iter()
        .filter_map(|p| {
            let (why, command) = match layout.key_for(p) {
                Some(_) => return None,
                None if layout.is_item(p) => {
                    (!has(p)).then_some((NOT_CREATED_WHY, VENDOR_IMPORT))?
                }
                None if p.starts_with("config/acls/") => (ACL_WHY, ACL_IMPORT),
                None => p
                    .starts_with("config/")
                    .then_some((NOT_AN_ITEM_WHY, BY_HAND))?,
            };
            Some(Skipped {
                path: p.to_string(),
                why,
                command,
            })
        })
        .collect()
}

/// A bundle file apply does not write (see [`not_created`]): why, and the vendor's
/// command that brings it in instead (`FILE`: the migrated file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub why: &'static str,
    pub command: &'static str,
}

/// The schema of run records written now; [`RECORD_SCHEMA_V1`] records are still read.
pub const RECORD_SCHEMA: &str = "dh-migrate/run/v2";
/// Version 1 records: one key per item, no `part`.
pub const RECORD_SCHEMA_V1: &str = "dh-migrate/run/v1";

/// One key of a run record. The entries of one item are consecutive, its `file` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub key: String,
    pub path: String,
    /// Which part of the item (version 2 records; a version 1 entry is a `file`).
    #[serde(default)]
    pub part: Part,
    /// The previous value, base64; None when the key did not exist.
    pub previous: Option<String>,
    /// SHA-256 of the value apply writes: rollback restores only keys still holding it.
    pub new_sha256: String,
}

/// What `rollback` needs: written before the first write of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: String,
    pub endpoints: Vec<String>,
    pub entries: Vec<RecordEntry>,
}

impl RunRecord {
    pub fn new(endpoints: &[String], changes: &[Change]) -> RunRecord {
        RunRecord::with_known(endpoints, changes, &[])
    }

    /// [`RunRecord::new`], with `known[i]` the SHA-256 of `changes[i].value` where the
    /// caller already has it (a value that is a bundle file's own bytes, hashed when the
    /// bundle was read); the other values are hashed here.
    pub fn with_known(
        endpoints: &[String],
        changes: &[Change],
        known: &[Option<[u8; 32]>],
    ) -> RunRecord {
        let b64 = base64::engine::general_purpose::STANDARD;
        let indexed: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
        RunRecord {
            schema: RECORD_SCHEMA.into(),
            endpoints: endpoints.to_vec(),
            // Hashing every new value and encoding every previous one is per key: on a
            // few threads, in order.
            entries: map_each_in_parallel(&indexed, |&(i, c)| RecordEntry {
                key: c.key.clone(),
                path: c.path.clone(),
                part: c.part,
                previous: c.previous.as_ref().map(|v| b64.encode(v)),
                new_sha256: match known.get(i).copied().flatten() {
                    Some(hash) => hex::encode(hash),
                    None => sha256_hex(&c.value),
                },
            }),
        }
    }

    pub fn parse(text: &str) -> Result<RunRecord, ApplyError> {
        let r: RunRecord =
            serde_json::from_str(text).map_err(|e| ApplyError::BadRecord(e.to_string()))?;
        if r.schema != RECORD_SCHEMA && r.schema != RECORD_SCHEMA_V1 {
            return Err(ApplyError::BadRecord(format!(
                "schema {} (expected {RECORD_SCHEMA} or {RECORD_SCHEMA_V1})",
                r.schema
            )));
        }
        Ok(r)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("cannot write the run record {path}: {source}; nothing was written to etcd")]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a dh-migrate run record: {0}")]
    BadRecord(String),
    #[error("batch {batch} of {total} was refused ({cause}); the {batch_done} batch(es) already written were rolled back, so etcd is as it was; nothing is half-written")]
    RolledBack {
        batch: usize,
        total: usize,
        batch_done: usize,
        cause: Box<EtcdError>,
    },
    #[error("batch {batch} of {total} failed ({cause}) and rolling back the written batches failed too ({rollback}); restore with: dh-migrate rollback {record}")]
    Partial {
        batch: usize,
        total: usize,
        cause: Box<EtcdError>,
        rollback: String,
        record: PathBuf,
    },
    #[error("stopped after {done} of {total} batch(es) as asked (--stop-after-batches); finish with apply again or undo with: dh-migrate rollback {record}")]
    Stopped {
        done: usize,
        total: usize,
        record: PathBuf,
    },
    #[error("rollback refused, nothing written: these keys changed since the apply wrote them: {}", .0.join(", "))]
    RollbackConflict(Vec<String>),
    #[error("rollback refused, nothing written: the run record names keys outside the layout's prefix {prefix}: {}", keys.join(", "))]
    OutsidePrefix { prefix: String, keys: Vec<String> },
}

/// The result of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub keys: usize,
    pub batches: usize,
    /// etcd's revision after the last batch (unchanged when nothing was written).
    pub revision: i64,
    /// The smaller limits used when the server refused transactions of the default size.
    pub lowered: Option<Limits>,
}

/// A run record made ahead of the write: every new value hashed and the whole record
/// serialized while the plan is shown and confirmed, so that [`apply`] only saves it.
#[derive(Debug)]
pub struct Draft(std::io::Result<Vec<u8>>);

impl Draft {
    /// The record of writing `changes` to `endpoints`, as [`RunRecord::with_known`] makes
    /// it (`known`: the SHA-256 of values already hashed; may be empty).
    pub fn with_known(
        endpoints: &[String],
        changes: &[Change],
        known: &[Option<[u8; 32]>],
    ) -> Draft {
        Draft(record_json(&RunRecord::with_known(
            endpoints, changes, known,
        )))
    }
}

/// How a caller hands over a record drafted ahead: called (on the thread that saves the
/// record, so waiting for a draft still being made overlaps the check of etcd's state)
/// for the draft.
pub type Drafted<'a> = Box<dyn FnOnce() -> Draft + Send + 'a>;

/// The record as saved: pretty JSON.
fn record_json(record: &RunRecord) -> std::io::Result<Vec<u8>> {
    // Sized for the entries up front (about 300 bytes each): grown by doubling, the
    // buffer of a large apply was copied a dozen times.
    let mut json = Vec::with_capacity(512 + record.entries.len() * 320);
    serde_json::to_writer_pretty(&mut json, record).map_err(std::io::Error::other)?;
    Ok(json)
}

/// Saves the run record atomically, readable by its owner only (it holds previous values,
/// which may include secrets). An existing file is never replaced: it may be the only way
/// back from an earlier apply.
fn save_draft(path: &Path, draft: Draft) -> Result<(), ApplyError> {
    use crate::atomic::{write_atomic, Mode};
    let err = |source| ApplyError::Record {
        path: path.to_path_buf(),
        source,
    };
    let json = draft.0.map_err(err)?;
    // The default place (a state directory) may not exist yet; made private to its owner.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(parent).map_err(err)?;
    }
    write_atomic(path, &json, Mode::Exact(0o600), true).map_err(|e| match e {
        e if e.already_exists() => err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a run record of an earlier apply is there; it is kept (choose another --run-record)",
        )),
        crate::atomic::WriteError::Io { source, .. } => err(source),
        other => err(std::io::Error::other(other)),
    })
}

/// Options of one apply run.
pub struct RunOptions<'a> {
    pub endpoints: &'a [String],
    pub record: &'a Path,
    /// The record made ahead ([`Draft::with_known`] with these endpoints and changes); None: it
    /// is made here.
    pub draft: Option<Drafted<'a>>,
    /// Test seam: stop (as if interrupted) after this many batches.
    pub stop_after: Option<usize>,
    /// Override the store's operations-per-transaction limit (a server with a lower
    /// `--max-txn-ops`).
    pub max_ops: Option<usize>,
    pub progress: &'a mut dyn FnMut(usize, usize),
}

/// Checks every change's guard against etcd's present state (one paged read), so that a
/// concurrent change refuses the apply before anything is written.
fn precheck(store: &mut dyn KvStore, layout: &Layout, changes: &[Change]) -> Result<(), EtcdError> {
    let (kvs, _) = store.get_prefix(layout.prefix.as_bytes())?;
    let now: BTreeMap<&[u8], i64> = kvs
        .iter()
        .map(|kv| (kv.key.as_slice(), kv.mod_revision))
        .collect();
    let stale: Vec<String> = changes
        .iter()
        .filter(|c| {
            let rev = now.get(c.key.as_bytes()).copied();
            match c.expect {
                Expect::Absent => rev.is_some(),
                Expect::ModRevision(r) => rev != Some(r),
            }
        })
        .map(|c| c.key.clone())
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(EtcdError::Conflict { keys: stale })
    }
}

/// Transactions waiting to be sent (each a list of items, each item its operations), and
/// the limits they were packed within.
type Packed = (VecDeque<Vec<Vec<Op>>>, Limits);

/// The guards checked against etcd's present state, then the changes packed into
/// transactions within the store's limits (lowered to `max_ops`), each item whole.
fn check_and_pack(
    store: &mut dyn KvStore,
    layout: &Layout,
    changes: &[Change],
    max_ops: Option<usize>,
) -> Result<Packed, ApplyError> {
    precheck(store, layout, changes)?;
    crate::timing::mark("prechecked");
    let mut limits = store.limits();
    if let Some(n) = max_ops {
        limits.max_ops = n.clamp(1, limits.max_ops);
    }
    // One group of operations per item: never split across transactions.
    let ops: Vec<Vec<Op>> = groups(changes, |c| c.part)
        .into_iter()
        .map(|item| {
            item.iter()
                .map(|c| Op::Put {
                    key: c.key.as_bytes().to_vec(),
                    value: c.value.clone(),
                    expect: c.expect,
                })
                .collect()
        })
        .collect();
    Ok((batch_groups(ops, limits)?.into(), limits))
}

/// Writes `changes` (nothing to do when empty).
pub fn apply(
    store: &mut dyn KvStore,
    layout: &Layout,
    changes: &[Change],
    opts: RunOptions<'_>,
) -> Result<Applied, ApplyError> {
    if changes.is_empty() {
        let (_, rev) = store.get_prefix(layout.prefix.as_bytes())?;
        return Ok(Applied {
            keys: 0,
            batches: 0,
            revision: rev,
            lowered: None,
        });
    }
    let (endpoints, record, draft) = (opts.endpoints, opts.record, opts.draft);
    // The run record is saved (made first, hashing every value, unless drafted ahead; then
    // an fsync) on its own thread while etcd's present state is checked and the
    // transactions are packed; the first write waits for both.
    let (checked, saved) = std::thread::scope(|s| {
        let saving = s.spawn(|| {
            let draft = match draft {
                Some(drafted) => drafted(),
                None => Draft::with_known(endpoints, changes, &[]),
            };
            save_draft(record, draft)
        });
        let checked = check_and_pack(store, layout, changes, opts.max_ops);
        let saved = saving
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (checked, saved)
    });
    let (mut pending, mut limits) = match (checked, saved) {
        (Ok(packed), Ok(())) => packed,
        // Refused before anything was written: the record of a write that will not happen
        // goes (it would only block the next apply's default record path). Its removal
        // failing leaves a record whose keys etcd never received: harmless.
        (Err(refused), Ok(())) => {
            let _ = std::fs::remove_file(record);
            return Err(refused);
        }
        // The check's refusal first, as when the record was saved after it.
        (Err(refused), Err(_)) => return Err(refused),
        (Ok(_), Err(not_saved)) => return Err(not_saved),
    };
    crate::timing::mark("run record saved");
    // Transactions go a wave at a time, each wave's concurrently: no key is in two of them,
    // each is guarded on its own, and etcd commits concurrent proposals with one fsync
    // for many. `written` holds every transaction that landed (as its items' groups of
    // keys), with its revision.
    let mut written: Vec<(Vec<Vec<Vec<u8>>>, i64)> = Vec::new();
    let mut revision = 0;
    let mut lowered = None;
    while !pending.is_empty() {
        let total = written.len() + pending.len();
        if opts.stop_after == Some(written.len()) {
            return Err(ApplyError::Stopped {
                done: written.len(),
                total,
                record: opts.record.to_path_buf(),
            });
        }
        // The test seam stops after an exact number of transactions: never past it.
        let mut n = WAVE.min(pending.len());
        if let Some(stop) = opts.stop_after {
            n = n.min(stop - written.len());
        }
        let wave: Vec<Vec<Vec<Op>>> = pending.drain(..n).collect();
        let flat: Vec<Vec<Op>> = wave.iter().map(|txn| txn.concat()).collect();
        let results = store.commit_many(&flat);
        let mut refused: Vec<Vec<Op>> = Vec::new();
        let mut failure: Option<EtcdError> = None;
        for (txn, result) in wave.into_iter().zip(results) {
            match result {
                Ok(rev) => {
                    revision = revision.max(rev);
                    let keys = txn
                        .iter()
                        .map(|g| g.iter().map(|o| o.key().to_vec()).collect())
                        .collect();
                    written.push((keys, rev));
                    (opts.progress)(written.len(), total);
                }
                Err(cause) => match lowered_limits(&cause, &txn, limits) {
                    // A server with lower limits than etcd's defaults refused it whole:
                    // its items go again in smaller transactions.
                    Some(lower) => {
                        limits = Limits {
                            max_ops: limits.max_ops.min(lower.max_ops),
                            max_request_bytes: limits
                                .max_request_bytes
                                .min(lower.max_request_bytes),
                        };
                        lowered = Some(limits);
                        refused.extend(txn);
                    }
                    None => {
                        failure.get_or_insert(cause);
                    }
                },
            }
        }
        if let Some(cause) = failure {
            if written.is_empty() {
                return Err(cause.into());
            }
            let batch = written.len() + 1;
            return Err(undo_written(
                store,
                changes,
                &written,
                &mut limits,
                cause,
                (batch, total),
                opts.record,
            ));
        }
        if !refused.is_empty() {
            // The refused items first, then the rest, all within the lower limits.
            refused.extend(pending.drain(..).flatten());
            pending = batch_groups(refused, limits)?.into();
        }
    }
    crate::timing::mark("written");
    Ok(Applied {
        keys: changes.len(),
        batches: written.len(),
        revision,
        lowered,
    })
}

/// How many transactions are in flight at once.
const WAVE: usize = 16;

/// After a transaction was refused (`cause`) with others already written: undo those,
/// each key guarded by the revision our own write gave it (a key changed since by
/// someone else is not touched), the latest first, each item's keys in one transaction
/// (a created `name` part deleted, a re-put `guard` put back with its value).
fn undo_written(
    store: &mut dyn KvStore,
    changes: &[Change],
    written: &[(Vec<Vec<Vec<u8>>>, i64)],
    limits: &mut Limits,
    cause: EtcdError,
    (batch, total): (usize, usize),
    record: &Path,
) -> ApplyError {
    let prev: BTreeMap<&str, &Change> = changes.iter().map(|c| (c.key.as_str(), c)).collect();
    let mut undo: Vec<Vec<Op>> = Vec::new();
    for (items, rev) in written.iter().rev() {
        for keys in items {
            let mut group = Vec::new();
            for k in keys {
                let key = String::from_utf8_lossy(k).into_owned();
                let expect = Expect::ModRevision(*rev);
                match prev.get(key.as_str()).and_then(|c| c.previous.clone()) {
                    Some(v) => group.push(Op::Put {
                        key: k.clone(),
                        value: v.into(),
                        expect,
                    }),
                    None => group.push(Op::Delete {
                        key: k.clone(),
                        expect,
                    }),
                }
            }
            undo.push(group);
        }
    }
    match commit_all(store, undo, limits) {
        Ok(_) => ApplyError::RolledBack {
            batch,
            total,
            batch_done: written.len(),
            cause: Box::new(cause),
        },
        Err(rollback) => ApplyError::Partial {
            batch,
            total,
            cause: Box::new(cause),
            rollback: rollback.to_string(),
            record: record.to_path_buf(),
        },
    }
}

/// What a rollback would do / did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    pub restored: usize,
    pub already: usize,
    pub batches: usize,
    /// The keys restored (or, in a dry run, to restore), in record order.
    pub keys: Vec<String>,
    /// Keys changed by someone else since the apply, left alone (`only_unchanged`).
    pub skipped: Vec<String>,
}

/// A rollback's findings, key by key; nothing written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackCheck {
    /// Keys still holding what the apply wrote: restored.
    pub restore: Vec<String>,
    /// Keys already holding their previous value.
    pub already: Vec<String>,
    /// Keys holding anything else: changed by someone since the apply.
    pub changed: Vec<String>,
    /// The restoring operations, one group per item (one transaction each at most).
    groups: Vec<Vec<Op>>,
}

/// Checks every key of `record` against etcd. A record naming keys outside `prefix` (the
/// layout's, which apply writes under) is refused whole, naming them: a hand-edited or
/// foreign record must not make rollback write anywhere else.
pub fn check_rollback(
    store: &mut dyn KvStore,
    record: &RunRecord,
    prefix: &str,
) -> Result<RollbackCheck, ApplyError> {
    let outside: Vec<String> = record
        .entries
        .iter()
        .filter(|e| !e.key.starts_with(prefix))
        .map(|e| e.key.clone())
        .collect();
    if !outside.is_empty() {
        return Err(ApplyError::OutsidePrefix {
            prefix: prefix.to_string(),
            keys: outside,
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut check = RollbackCheck {
        restore: Vec::new(),
        already: Vec::new(),
        changed: Vec::new(),
        groups: Vec::new(),
    };
    // Item by item (a version 1 record: key by key), each item's keys in one transaction.
    for item in groups(&record.entries, |e| e.part) {
        let mut group = Vec::new();
        // Whether the item's `file` part is restored: its `guard` is re-put only then (a
        // guard is written only with its item, so Deephaven's compare-and-swap sees it).
        let mut file_restored = false;
        // An item whose `file` part someone changed since is theirs now: its `name` part
        // is left alone with it.
        let mut file_changed = false;
        for e in item {
            let previous = match &e.previous {
                Some(p) => Some(
                    b64.decode(p)
                        .map_err(|err| ApplyError::BadRecord(format!("{}: {err}", e.key)))?,
                ),
                None => None,
            };
            let now = store.get(e.key.as_bytes())?;
            let ours = now
                .as_ref()
                .is_some_and(|kv| sha256_hex(&kv.value) == e.new_sha256);
            if e.part == Part::Guard {
                // Holding the value it had: put back with the restored item. Anything else
                // is Deephaven's own later update.
                match &now {
                    Some(kv) if ours && file_restored => {
                        group.push(Op::Put {
                            key: e.key.as_bytes().to_vec(),
                            value: kv.value.as_slice().into(),
                            expect: Expect::ModRevision(kv.mod_revision),
                        });
                        check.restore.push(e.key.clone());
                    }
                    _ if ours || !file_restored => check.already.push(e.key.clone()),
                    _ => check.changed.push(e.key.clone()),
                }
                continue;
            }
            if file_changed {
                check.changed.push(e.key.clone());
                continue;
            }
            match (&now, &previous) {
                (Some(kv), _) if ours => {
                    let expect = Expect::ModRevision(kv.mod_revision);
                    group.push(match previous {
                        Some(v) => Op::Put {
                            key: e.key.as_bytes().to_vec(),
                            value: v.into(),
                            expect,
                        },
                        None => Op::Delete {
                            key: e.key.as_bytes().to_vec(),
                            expect,
                        },
                    });
                    check.restore.push(e.key.clone());
                    file_restored |= e.part == Part::File;
                }
                (None, None) => check.already.push(e.key.clone()),
                (Some(kv), Some(p)) if &kv.value == p => check.already.push(e.key.clone()),
                _ => {
                    check.changed.push(e.key.clone());
                    file_changed |= e.part == Part::File;
                }
            }
        }
        if !group.is_empty() {
            check.groups.push(group);
        }
    }
    Ok(check)
}

/// Restores what `check` found. A key changed since the apply refuses the whole rollback,
/// unless `only_unchanged`: then the others are restored and it is named as skipped.
pub fn rollback_checked(
    store: &mut dyn KvStore,
    check: RollbackCheck,
    only_unchanged: bool,
    dry_run: bool,
    max_ops: Option<usize>,
) -> Result<RolledBack, ApplyError> {
    if !check.changed.is_empty() && !only_unchanged {
        return Err(ApplyError::RollbackConflict(check.changed));
    }
    let mut limits = store.limits();
    if let Some(n) = max_ops {
        limits.max_ops = n.clamp(1, limits.max_ops);
    }
    let batches = if dry_run {
        batch_groups(check.groups, limits)?.len()
    } else {
        commit_all(store, check.groups, &mut limits)?.transactions
    };
    Ok(RolledBack {
        restored: check.restore.len(),
        already: check.already.len(),
        batches,
        keys: check.restore,
        skipped: check.changed,
    })
}

/// Restores the previous value of every key of `record` that still holds the value the
/// apply wrote. Keys already holding their previous value are skipped (so a second
/// rollback converges); a key holding anything else refuses the whole rollback.
pub fn rollback(
    store: &mut dyn KvStore,
    record: &RunRecord,
    dry_run: bool,
    max_ops: Option<usize>,
) -> Result<RolledBack, ApplyError> {
    let check = check_rollback(store, record, "")?;
    rollback_checked(store, check, false, dry_run, max_ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::MemStore;

    fn change(key: &str, value: &str, store: &mut MemStore) -> Change {
        let now = store.get(key.as_bytes()).unwrap();
        Change {
            path: key.into(),
            key: key.into(),
            value: value.as_bytes().into(),
            previous: now.as_ref().map(|kv| kv.value.clone()),
            expect: now.map_or(Expect::Absent, |kv| Expect::ModRevision(kv.mod_revision)),
            part: Part::File,
        }
    }

    fn layout() -> Layout {
        Layout::v1().with_prefix("/p/")
    }

    #[test]
    fn applies_in_batches_and_rolls_back_byte_for_byte() {
        let mut s = MemStore::new();
        s.put(b"/p/a", b"old-a");
        s.put(b"/p/b", b"old-b");
        let cs = vec![
            change("/p/a", "new-a", &mut s),
            change("/p/b", "new-b", &mut s),
            change("/p/c", "new-c", &mut s),
        ];
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.json");
        let mut seen = Vec::new();
        let mut progress = |d: usize, t: usize| seen.push((d, t));
        let out = apply(
            &mut s,
            &layout(),
            &cs,
            RunOptions {
                endpoints: &[],
                record: &rec,
                draft: None,
                stop_after: None,
                max_ops: Some(1),
                progress: &mut progress,
            },
        )
        .unwrap();
        assert_eq!(out.batches, 3);
        assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
        assert_eq!(s.get(b"/p/c").unwrap().unwrap().value, b"new-c");
        let record = RunRecord::parse(&std::fs::read_to_string(&rec).unwrap()).unwrap();
        let r = rollback(&mut s, &record, false, None).unwrap();
        assert_eq!(r.restored, 3);
        assert_eq!(s.get(b"/p/a").unwrap().unwrap().value, b"old-a");
        assert_eq!(s.get(b"/p/b").unwrap().unwrap().value, b"old-b");
        assert_eq!(s.get(b"/p/c").unwrap(), None);
        // A second rollback has nothing left to do.
        assert_eq!(
            rollback(&mut s, &record, false, None).unwrap(),
            RolledBack {
                restored: 0,
                already: 3,
                batches: 0,
                keys: vec![],
                skipped: vec![],
            }
        );
    }

    #[test]
    fn a_concurrent_change_refuses_before_anything_is_written() {
        let mut s = MemStore::new();
        s.put(b"/p/a", b"old-a");
        let cs = vec![
            change("/p/a", "new-a", &mut s),
            change("/p/b", "new-b", &mut s),
        ];
        s.put(b"/p/a", b"someone-else");
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.json");
        let err = apply(
            &mut s,
            &layout(),
            &cs,
            RunOptions {
                endpoints: &[],
                record: &rec,
                draft: None,
                stop_after: None,
                max_ops: Some(1),
                progress: &mut |_, _| {},
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, ApplyError::Etcd(EtcdError::Conflict { ref keys }) if keys == &vec!["/p/a".to_string()]),
            "{err}"
        );
        assert_eq!(s.get(b"/p/b").unwrap(), None);
        assert!(!rec.exists(), "no record before a refused apply");
    }

    #[test]
    fn an_existing_run_record_is_never_replaced_and_nothing_is_written() {
        let mut s = MemStore::new();
        let cs = vec![change("/p/a", "new-a", &mut s)];
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.json");
        std::fs::write(&rec, b"earlier record").unwrap();
        let err = apply(
            &mut s,
            &layout(),
            &cs,
            RunOptions {
                endpoints: &[],
                record: &rec,
                draft: None,
                stop_after: None,
                max_ops: None,
                progress: &mut |_, _| {},
            },
        )
        .unwrap_err();
        assert!(matches!(err, ApplyError::Record { .. }), "{err}");
        assert_eq!(std::fs::read(&rec).unwrap(), b"earlier record");
        assert_eq!(s.get(b"/p/a").unwrap(), None);
    }

    #[test]
    fn rollback_refuses_keys_changed_by_someone_else() {
        let mut s = MemStore::new();
        s.put(b"/p/a", b"old-a");
        let cs = vec![change("/p/a", "new-a", &mut s)];
        let record = RunRecord::new(&[], &cs);
        s.put(b"/p/a", b"third-party");
        let err = rollback(&mut s, &record, false, None).unwrap_err();
        assert!(
            matches!(err, ApplyError::RollbackConflict(ref k) if k == &vec!["/p/a".to_string()])
        );
        assert_eq!(s.get(b"/p/a").unwrap().unwrap().value, b"third-party");
    }

    #[test]
    fn only_unchanged_restores_the_others_and_names_the_changed_ones() {
        let mut s = MemStore::new();
        s.put(b"/p/a", b"old-a");
        s.put(b"/p/b", b"old-b");
        let cs = vec![
            change("/p/a", "new-a", &mut s),
            change("/p/b", "new-b", &mut s),
        ];
        let record = RunRecord::new(&[], &cs);
        s.put(b"/p/a", b"new-a");
        s.put(b"/p/b", b"new-b");
        s.put(b"/p/a", b"third-party");
        let check = check_rollback(&mut s, &record, "/p/").unwrap();
        assert_eq!(check.restore, vec!["/p/b".to_string()]);
        assert_eq!(check.changed, vec!["/p/a".to_string()]);
        let done = rollback_checked(&mut s, check, true, false, None).unwrap();
        assert_eq!(done.keys, vec!["/p/b".to_string()]);
        assert_eq!(done.skipped, vec!["/p/a".to_string()]);
        assert_eq!(s.get(b"/p/a").unwrap().unwrap().value, b"third-party");
        assert_eq!(s.get(b"/p/b").unwrap().unwrap().value, b"old-b");
    }

    #[test]
    fn a_record_with_keys_outside_the_prefix_is_refused_naming_them() {
        // Issue 10: a hand-edited run record made rollback write outside the layout.
        let mut s = MemStore::new();
        let cs = vec![
            change("/p/a", "new-a", &mut s),
            change("/elsewhere/x", "new-x", &mut s),
        ];
        let record = RunRecord::new(&[], &cs);
        let rev = s.revision();
        let err = check_rollback(&mut s, &record, "/p/").unwrap_err();
        assert!(
            matches!(&err, ApplyError::OutsidePrefix { keys, .. } if keys == &vec!["/elsewhere/x".to_string()]),
            "{err}"
        );
        assert!(err.to_string().contains("/elsewhere/x"));
        assert_eq!(s.revision(), rev, "nothing written");
    }

    fn v2() -> Layout {
        Layout::builtin()
    }

    const ENV: &str = "/main/config/props/iris-environment.prop";

    /// A Deephaven-shaped store: one props item with its meta subtree.
    /// The environment item's `file` and `meta/guard` keys as the store holds them.
    fn file_and_guard(s: &mut MemStore) -> (crate::etcd::Kv, crate::etcd::Kv) {
        let get = |s: &mut MemStore, part: &str| {
            s.get(format!("{ENV}/{part}").as_bytes()).unwrap().unwrap()
        };
        (get(s, "file"), get(s, "meta/guard"))
    }

    fn deephaven() -> MemStore {
        let mut s = MemStore::new();
        s.put(format!("{ENV}/file").as_bytes(), b"a=1\n");
        s.put(format!("{ENV}/name").as_bytes(), b"iris-environment.prop");
        s.put(format!("{ENV}/meta/updated").as_bytes(), b"x");
        s.put(format!("{ENV}/meta/guard").as_bytes(), b"7");
        s
    }

    fn v2_changes(s: &mut MemStore) -> Vec<Change> {
        let l = v2();
        let current = crate::export::read(s, &l).unwrap();
        let mut out = Vec::new();
        for (path, value) in [
            ("config/props/iris-environment.prop", "a=2\n"),
            ("config/props/iris-common.prop", "b=1\n"),
        ] {
            let key = item_key(&l, &current, path).unwrap();
            out.extend(item_changes(&l, &current, path, key, value.as_bytes()));
        }
        out
    }

    fn run(
        s: &mut MemStore,
        cs: &[Change],
        rec: &Path,
        max_ops: Option<usize>,
    ) -> Result<Applied, ApplyError> {
        apply(
            s,
            &v2(),
            cs,
            RunOptions {
                endpoints: &[],
                record: rec,
                draft: None,
                stop_after: None,
                max_ops,
                progress: &mut |_, _| {},
            },
        )
    }

    #[test]
    fn v2_changes_are_file_name_when_new_and_the_guard_held() {
        let mut s = deephaven();
        let cs = v2_changes(&mut s);
        let got: Vec<(&str, Part, Expect)> = cs
            .iter()
            .map(|c| (c.key.as_str(), c.part, c.expect))
            .collect();
        assert_eq!(
            got,
            vec![
                (&*format!("{ENV}/file"), Part::File, Expect::ModRevision(2)),
                (
                    &*format!("{ENV}/meta/guard"),
                    Part::Guard,
                    Expect::ModRevision(5)
                ),
                (
                    "/main/config/props/iris-common.prop/file",
                    Part::File,
                    Expect::Absent
                ),
                (
                    "/main/config/props/iris-common.prop/name",
                    Part::Name,
                    Expect::Absent
                ),
            ]
        );
        assert_eq!(&cs[1].value[..], b"7", "the guard keeps its value");
        assert_eq!(&cs[3].value[..], b"iris-common.prop");
        assert_eq!(
            groups(&cs, |c| c.part)
                .iter()
                .map(|g| g.len())
                .collect::<Vec<_>>(),
            vec![2, 2]
        );
    }

    #[test]
    fn v2_a_guard_changed_after_planning_refuses_before_anything_is_written() {
        let mut s = deephaven();
        let cs = v2_changes(&mut s);
        s.put(format!("{ENV}/meta/guard").as_bytes(), b"8");
        let rev = s.revision();
        let dir = tempfile::tempdir().unwrap();
        let err = run(&mut s, &cs, &dir.path().join("run.json"), None).unwrap_err();
        assert!(
            matches!(&err, ApplyError::Etcd(EtcdError::Conflict { keys }) if keys == &vec![format!("{ENV}/meta/guard")]),
            "{err}"
        );
        assert_eq!(s.revision(), rev, "nothing written");
    }

    #[test]
    fn v2_items_go_whole_and_roll_back_whole() {
        let mut s = deephaven();
        let before = s.get_prefix(b"").unwrap().0;
        let cs = v2_changes(&mut s);
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.json");
        // Two operations per transaction: each item (2 ops) alone in one.
        let out = run(&mut s, &cs, &rec, Some(2)).unwrap();
        assert_eq!((out.keys, out.batches), (4, 2));
        let (file, guard) = file_and_guard(&mut s);
        assert_eq!(
            (guard.value.as_slice(), guard.mod_revision),
            (&b"7"[..], file.mod_revision)
        );
        let record = RunRecord::parse(&std::fs::read_to_string(&rec).unwrap()).unwrap();
        assert_eq!(record.schema, RECORD_SCHEMA);
        let r = rollback(&mut s, &record, false, Some(2)).unwrap();
        assert_eq!((r.restored, r.batches), (4, 2));
        let now = s.get_prefix(b"").unwrap().0;
        let values = |kvs: &[crate::etcd::Kv]| -> Vec<(Vec<u8>, Vec<u8>)> {
            kvs.iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect()
        };
        assert_eq!(values(&now), values(&before));
        let (file, guard) = file_and_guard(&mut s);
        assert_eq!(
            guard.mod_revision, file.mod_revision,
            "guard re-put with the rollback"
        );
        // Converges: nothing left, the guard is not re-put again.
        let rev = s.revision();
        let again = rollback(&mut s, &record, false, None).unwrap();
        assert_eq!((again.restored, again.already), (0, 4));
        assert_eq!(s.revision(), rev);
    }

    #[test]
    fn v2_rollback_leaves_an_item_deephaven_updated_since() {
        let mut s = deephaven();
        let cs = v2_changes(&mut s);
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("run.json");
        run(&mut s, &cs, &rec, None).unwrap();
        // Deephaven updates the item we created, and bumps the other item's guard.
        s.put(b"/main/config/props/iris-common.prop/file", b"b=9\n");
        s.put(format!("{ENV}/meta/guard").as_bytes(), b"8");
        let record = RunRecord::parse(&std::fs::read_to_string(&rec).unwrap()).unwrap();
        let check = check_rollback(&mut s, &record, "/main/").unwrap();
        assert_eq!(check.restore, vec![format!("{ENV}/file")]);
        assert_eq!(
            check.changed,
            vec![
                format!("{ENV}/meta/guard"),
                "/main/config/props/iris-common.prop/file".to_string(),
                "/main/config/props/iris-common.prop/name".to_string(),
            ]
        );
        let err = rollback_checked(&mut s, check, false, false, None).unwrap_err();
        assert!(matches!(err, ApplyError::RollbackConflict(_)), "{err}");
    }

    #[test]
    fn a_version_1_run_record_is_still_read_as_one_key_per_item() {
        let text = r#"{"schema":"dh-migrate/run/v1","endpoints":[],"entries":[
            {"key":"/p/a","path":"config/props/a.prop","previous":null,"new_sha256":"00"},
            {"key":"/p/b","path":"config/props/b.prop","previous":"eA==","new_sha256":"00"}]}"#;
        let r = RunRecord::parse(text).unwrap();
        assert!(r.entries.iter().all(|e| e.part == Part::File));
        assert_eq!(groups(&r.entries, |e| e.part).len(), 2);
        let err = RunRecord::parse(&text.replace("run/v1", "run/v9")).unwrap_err();
        assert!(err.to_string().contains("run/v9"), "{err}");
    }
}
