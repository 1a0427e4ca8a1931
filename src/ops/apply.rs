//! `apply`: migrate and import into the new cluster's etcd, in two steps so the caller
//! can show the plan and ask in between. [`prepare`] builds the plan and the exact key
//! changes (guarded by the revisions read) and writes nothing; [`execute`] saves the run
//! record, writes the keys in guarded transactions, then the file-system parts per node.

use super::{Inputs, OpsError};
use crate::apply::{self as core, Applied, Change, Draft, RunOptions};
use crate::emit::{self, OutFile};
use crate::layout::Layout;
use crate::plan::Plan;
use crate::planfile::{sha256_hex, PlanFile};
use crate::restart::{owners_tsv, CopyFile};
use crate::secrets::SecretPolicy;
use std::path::PathBuf;
use std::sync::Arc;

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub files_node: Option<String>,
    pub secrets: SecretPolicy,
    /// Write the migrated file-system parts here, one folder per new node.
    pub files_out: Option<PathBuf>,
    /// Operations per transaction, for a server with a lower `--max-txn-ops`.
    pub max_txn_ops: Option<usize>,
    /// Test seam: stop after this many transactions, as if interrupted.
    pub stop_after: Option<usize>,
    /// Where the run record goes.
    pub record: PathBuf,
    /// A saved plan (its path and content): refused when anything changed since.
    pub saved_plan: Option<(PathBuf, PlanFile)>,
    /// Only show what would be written: no run record is drafted.
    pub dry_run: bool,
}

/// One file of the per-node file-system parts: path under the output folder, content,
/// mode.
pub type NodeFile = (String, Vec<u8>, u32);

/// What an apply would do; nothing written yet.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    /// Shared with the run record being drafted.
    pub changes: Arc<[Change]>,
    /// The per-node files, when `files_out` is given (with an OWNERS.tsv).
    pub files: Option<Vec<NodeFile>>,
    /// The same node files as the copy step lists them (empty without `files_out`).
    pub copies: Vec<CopyFile>,
    /// About how many transactions the changes take.
    pub transactions: usize,
    /// etcd's revision when the target was read.
    pub revision: i64,
    /// The run record, made on its own thread while the plan is shown and confirmed
    /// (None for a dry run or nothing to write). Taken by [`execute`].
    draft: Option<std::thread::JoinHandle<Draft>>,
}

impl Prepared {
    /// Nothing to write, to etcd or to disk.
    pub fn nothing_to_do(&self) -> bool {
        self.changes.is_empty() && self.files.is_none()
    }
}

/// What an apply did.
#[derive(Debug)]
pub struct Executed {
    pub applied: Applied,
    /// The run record, when anything was written to etcd.
    pub record: Option<PathBuf>,
    /// Where the per-node files went, and how many (without OWNERS.tsv).
    pub files: Option<(PathBuf, usize)>,
}

/// How many transactions `changes` take within `limits`: packed as apply packs them, each
/// item's keys kept together ([`core::groups`], [`crate::etcd::pack`]), before any server
/// refuses one as too big. An item too big for one transaction counts as one (apply
/// refuses it with its own error).
pub fn transactions(changes: &[Change], limits: crate::etcd::Limits) -> usize {
    let items = core::groups(changes, |c| c.part);
    let n = items.len();
    crate::etcd::pack(items, limits, |item| {
        let first = item.first()?;
        let bytes = item
            .iter()
            .map(|c| crate::etcd::Op::put_bytes(c.key.len(), c.value.len()))
            .sum();
        Some((item.len(), bytes, first.key.as_bytes()))
    })
    .map_or(n, |txns| txns.len())
}

/// Plans the apply against the live target. Writes nothing.
pub fn prepare(inputs: &Inputs, opts: &ApplyOptions) -> Result<Prepared, OpsError> {
    if let Some(d) = &opts.files_out {
        emit::check_destination(d)?;
    }
    let exported = inputs.target.exported.as_ref().ok_or(OpsError::Missing(
        "apply needs the new cluster's etcd (--endpoints)",
    ))?;
    if let Some((path, saved)) = &opts.saved_plan {
        let mapping = inputs.mapping()?;
        saved
            .check(
                &crate::plan::bundle_hash(&inputs.bundle),
                &sha256_hex(mapping.text.as_bytes()),
                &sha256_hex(inputs.layout_text.as_bytes()),
                inputs.target.etcd.as_ref(),
            )
            .map_err(|source| OpsError::Stale {
                path: path.clone(),
                source,
            })?;
    }
    let plan = super::plan::make(inputs, opts.files_node.as_deref(), opts.secrets)?;
    crate::timing::mark("planned");
    let changes: Arc<[Change]> = core::changes(&plan.migration, &inputs.layout, exported).into();
    crate::timing::mark("changes");
    // Hashing every value and serializing the record take a while on a large tree: done
    // while the caller shows the plan and asks; saved only by `execute`.
    let draft = (!opts.dry_run && !changes.is_empty()).then(|| {
        let known = known_hashes(&inputs.bundle, &changes);
        let (endpoints, changes) = (inputs.target.endpoints.clone(), Arc::clone(&changes));
        std::thread::spawn(move || Draft::with_known(&endpoints, &changes, &known))
    });
    let (files, copies) = match &opts.files_out {
        Some(_) => {
            let (files, copies) = node_files(&plan, inputs, &inputs.layout);
            (Some(files), copies)
        }
        None => (None, Vec::new()),
    };
    let mut limits = inputs
        .target
        .store
        .as_ref()
        .map_or(crate::etcd::Limits::ETCD_DEFAULT, |s| s.limits());
    if let Some(n) = opts.max_txn_ops {
        limits.max_ops = n.clamp(1, limits.max_ops);
    }
    Ok(Prepared {
        transactions: transactions(&changes, limits),
        revision: exported.header_revision,
        plan,
        changes,
        files,
        copies,
        draft,
    })
}

/// The SHA-256 of each change's value where it is already known: a value that is a bundle
/// file's own bytes (shared with the bundle, not a copy: the same memory and length) has
/// the digest taken when the bundle was read. The others (rewritten, merged, re-encoded,
/// the name and guard parts) are None.
pub fn known_hashes(bundle: &crate::bundle::Bundle, changes: &[Change]) -> Vec<Option<[u8; 32]>> {
    changes
        .iter()
        .map(|c| {
            bundle
                .get(&c.path)
                .filter(|f| {
                    f.content
                        .as_deref()
                        .is_some_and(|bytes| std::ptr::eq(bytes, &*c.value))
                })
                .map(|f| f.sha256)
        })
        .collect()
}

/// Writes what `prepare` planned: the run record before the first write, the keys in
/// guarded transactions (a refused one undoes the written ones), then the per-node files.
pub fn execute(
    inputs: &mut Inputs,
    prepared: &mut Prepared,
    opts: &ApplyOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Executed, OpsError> {
    let endpoints = inputs.target.endpoints.clone();
    let store = inputs.target.store.as_mut().ok_or(OpsError::Missing(
        "apply needs the new cluster's etcd (--endpoints)",
    ))?;
    let draft = prepared.draft.take().map(|drafting| -> core::Drafted<'_> {
        Box::new(move || {
            drafting
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    });
    let applied = core::apply(
        store.as_mut(),
        &inputs.layout,
        &prepared.changes,
        RunOptions {
            endpoints: &endpoints,
            record: &opts.record,
            draft,
            stop_after: opts.stop_after,
            max_ops: opts.max_txn_ops,
            progress,
        },
    )?;
    let files = match (&opts.files_out, &prepared.files) {
        (Some(dir), Some(files)) => {
            let refs: Vec<OutFile<'_>> = files
                .iter()
                .map(|(p, c, m)| OutFile {
                    path: p,
                    content: c,
                    mode: *m,
                })
                .collect();
            let n = emit::write_tree(dir, &refs)?;
            Some((dir.clone(), n - 1))
        }
        _ => None,
    };
    Ok(Executed {
        record: (applied.keys > 0).then(|| opts.record.clone()),
        applied,
        files,
    })
}

/// The file-system parts per new node, with an ownership list (owner, group and mode as
/// the bundle has them), and the same files as the copy step lists them.
fn node_files(plan: &Plan, inputs: &Inputs, layout: &Layout) -> (Vec<NodeFile>, Vec<CopyFile>) {
    let mut out = Vec::new();
    let mut copies = Vec::new();
    for (node, paths) in &plan.files_for_node {
        for p in paths {
            let Some(f) = plan.migration.files.get(p) else {
                continue;
            };
            if layout.is_item(p) {
                continue;
            }
            // files/<abs> or nodes/<old>/files/<abs> -> <node>/<abs>
            let abs = p
                .strip_prefix("files/")
                .or_else(|| p.split_once("/files/").map(|(_, rest)| rest))
                .unwrap_or(p);
            let b = inputs.bundle.get(p);
            let written = format!("{node}/{abs}");
            copies.push(CopyFile {
                node: node.clone(),
                written: written.clone(),
                dest: format!("/{abs}"),
                mode: crate::emit::file_mode(p, f.mode),
                owner: b.and_then(|b| b.uname.clone()),
                group: b.and_then(|b| b.gname.clone()),
                uid: b.and_then(|b| b.uid),
                gid: b.and_then(|b| b.gid),
            });
            // In the file's own encoding. Encoding back cannot fail here: a rewrite only
            // writes ASCII host names, which every encoding read as text can encode.
            let bytes = f
                .after_bytes()
                .unwrap_or_else(|_| f.after.as_bytes().to_vec());
            out.push((written, bytes, f.mode));
        }
    }
    out.push(("OWNERS.tsv".into(), owners_tsv(&copies).into_bytes(), 0o644));
    (out, copies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Part;
    use crate::etcd::{Expect, Limits};

    fn key(dir: usize, part: Part, value: usize) -> Change {
        let name = match part {
            Part::File => "file",
            Part::Name => "name",
            Part::Guard => "meta/guard",
        };
        Change {
            path: format!("config/props/p{dir}.prop"),
            key: format!("/main/config/props/p{dir}.prop/{name}"),
            value: vec![b'v'; value].into(),
            previous: None,
            expect: Expect::Absent,
            part,
        }
    }

    #[test]
    fn the_estimate_counts_transactions_with_items_kept_whole() {
        // 5 new items of 3 keys each (file, name, guard): 15 keys.
        let changes: Vec<Change> = (0..5)
            .flat_map(|i| [Part::File, Part::Name, Part::Guard].map(|p| key(i, p, 10)))
            .collect();
        let ops = |max_ops| Limits {
            max_ops,
            ..Limits::ETCD_DEFAULT
        };
        // 4 operations per transaction hold one item each (keys/4 would say 4).
        assert_eq!(transactions(&changes, ops(4)), 5);
        // 6 hold two items each: 2 + 2 + 1.
        assert_eq!(transactions(&changes, ops(6)), 3);
        assert_eq!(transactions(&changes, Limits::ETCD_DEFAULT), 1);
        // By size: each item alone fills the request limit.
        let one_item: usize = changes[..3]
            .iter()
            .map(|c| crate::etcd::Op::put_bytes(c.key.len(), c.value.len()))
            .sum();
        let bytes = Limits {
            max_request_bytes: one_item + 10,
            ..Limits::ETCD_DEFAULT
        };
        assert_eq!(transactions(&changes, bytes), 5);
        // An item too big for any transaction counts once (apply refuses it itself).
        let tiny = Limits {
            max_ops: 2,
            ..Limits::ETCD_DEFAULT
        };
        assert_eq!(transactions(&changes, tiny), 5);
        assert_eq!(transactions(&[], Limits::ETCD_DEFAULT), 0);
    }
}
