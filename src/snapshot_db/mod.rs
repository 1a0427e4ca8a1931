//! The offline etcd v3 snapshot reader: what `etcdctl snapshot save` wrote, read without an
//! etcd process. It owns checking the file (SHA-256 trailer, bbolt structure), folding the
//! multi-version `key` bucket into the live keyspace, and reading the old cluster's etcd
//! identity (members, users and roles by name, leases). It never writes, never holds the
//! whole file in memory, and refuses anything it does not recognise instead of guessing.
//!
//! Layers: [`bbolt`] (pages and buckets), [`mvcc`] (revisions -> live keys), [`identity`]
//! (members, auth, leases), [`proto`] (the protobuf wire rules those need).
//!
//! The trailer rule follows etcd-io/etcd `etcdutl/snapshot/v3_snapshot.go` (`hasChecksum`:
//! `size % 512 == 32`, the last 32 bytes are the SHA-256 of everything before them); the
//! status figures (hash, revision, total keys, total size) follow `etcdctl snapshot status`
//! of etcd 3.4 (`clientv3/snapshot/v3_snapshot.go`, `Status`), so the two can be compared.

pub mod bbolt;
mod cache;
pub mod identity;
pub mod mvcc;
pub mod proto;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use identity::{Identity, Lease, Member, Role, User};
pub use mvcc::KeyValue;

/// What is wrong with a snapshot (the file name is added by [`SnapshotError`]).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0} bytes is too small to be an etcd snapshot")]
    TooSmall(u64),
    #[error(
        "no SHA-256 trailer (size {0} is not 512*n+32): the file is truncated or was not written by `etcdctl snapshot save`"
    )]
    NoTrailer(u64),
    #[error("SHA-256 trailer does not match the content: the file is corrupt or truncated")]
    HashMismatch,
    #[error("bbolt meta: {0}")]
    Meta(String),
    #[error("truncated: the database needs {needed} bytes, the file has {len}")]
    Truncated { needed: u64, len: u64 },
    #[error("bbolt structure: {0}")]
    Tree(String),
    #[error("no `{0}` bucket: not an etcd v3 snapshot")]
    MissingBucket(&'static str),
    #[error("revision {key}: {what}")]
    Revision { key: String, what: String },
    #[error("bucket `{bucket}`, key {key:?}: {what}")]
    Value {
        bucket: String,
        key: String,
        what: String,
    },
}

/// A snapshot that cannot be read, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct SnapshotError {
    pub file: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Refuse a file without the trailer (`etcdutl snapshot restore` does the same unless
    /// told `--skip-hash-check`). A raw `member/snap/db` copy has none.
    pub require_trailer: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            require_trailer: true,
        }
    }
}

/// An opened snapshot: a valid meta page chosen, the trailer (when present) being
/// verified on a thread of its own while the first walk runs; nothing is handed out
/// before the trailer matched.
pub struct Snapshot {
    path: PathBuf,
    file: File,
    trailer: std::sync::Mutex<Trailer>,
    /// The file's size, trailer included.
    pub file_size: u64,
    /// Whether a SHA-256 trailer was present (and matched).
    pub has_trailer: bool,
    db_len: u64,
    meta: bbolt::Meta,
}

/// One live key, as `etcdctl get` would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// Live keys with their values, and the snapshot's revision.
#[derive(Debug, Clone)]
pub struct LiveSet {
    pub kvs: Vec<LiveKv>,
    /// The last revision the snapshot holds (what a restored etcd's header would say).
    pub revision: u64,
}

/// How many live keys a walk visited, and the snapshot's revision.
#[derive(Debug, Clone, Copy)]
pub struct LiveSummary {
    pub keys: usize,
    pub revision: u64,
}

/// The figures `etcdctl snapshot status` prints, and what a restore would bring back.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// CRC-32C over bucket names, keys and values, as `etcdctl snapshot status` computes it.
    pub hash: u32,
    pub revision: u64,
    pub total_keys: u64,
    pub total_size: u64,
    pub file_size: u64,
    pub has_trailer: bool,
    pub live_keys: usize,
    /// Revisions held in the `key` bucket (history kept since the last compaction).
    pub revisions: u64,
    /// Live keys bound to a lease: runtime keys (presence, leader election) that a restore
    /// brings back with their leases.
    pub leased_keys: Vec<LeasedKey>,
    pub identity: Identity,
}

/// What a restore of the snapshot would bring back of the old cluster's etcd identity,
/// names only (never a password hash): shown by `inspect` and `plan` before anyone
/// restores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OldIdentity {
    /// `name (peer URLs)` per member.
    pub members: Vec<String>,
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub auth_enabled: bool,
    pub leases: usize,
    /// How many live keys are bound to a lease (runtime keys), and the first few.
    pub leased_keys: usize,
    pub first_leased_keys: Vec<String>,
}

/// How many lease-bound keys [`OldIdentity`] names.
const FIRST_LEASED: usize = 5;

impl Status {
    /// The old identity a restore brings back (names only).
    pub fn old_identity(&self) -> OldIdentity {
        let id = &self.identity;
        OldIdentity {
            members: id
                .members
                .iter()
                .map(|m| {
                    let name = if m.name.is_empty() { &m.id } else { &m.name };
                    format!("{name} ({})", m.peer_urls.join(","))
                })
                .collect(),
            users: id.users.iter().map(|u| u.name.clone()).collect(),
            roles: id.roles.iter().map(|r| r.name.clone()).collect(),
            auth_enabled: id.auth_enabled,
            leases: id.leases.len(),
            leased_keys: self.leased_keys.len(),
            first_leased_keys: self
                .leased_keys
                .iter()
                .take(FIRST_LEASED)
                .map(|k| k.key.clone())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LeasedKey {
    pub key: String,
    pub lease: i64,
}

const SHA_LEN: u64 = 32;

/// Live keys per batch of [`Snapshot::for_each_live_rendered`]: large enough that handing
/// batches between threads costs nothing next to rendering them, small enough that a few
/// batches in flight stay a few MiB (about 1 MiB per batch for a dump with values of 100
/// bytes). [`BATCH_BYTES`] of values also end a batch, so large values keep it small.
pub const BATCH_KEYS: usize = 2048;
/// Value bytes that end a batch of [`Snapshot::for_each_live_rendered`] (one value larger
/// than this is a batch of its own).
pub const BATCH_BYTES: u64 = 1 << 20;

/// The trailer check's state.
enum Trailer {
    Pending(std::thread::JoinHandle<Result<(), Problem>>),
    Ok,
    Mismatch,
    /// A read failure, kept to report it again on a later read.
    ReadFailed(std::io::ErrorKind, String),
}

impl Snapshot {
    /// Opens `path`, verifies its SHA-256 trailer and picks the valid bbolt meta page.
    pub fn open(path: &Path, options: Options) -> Result<Snapshot, SnapshotError> {
        let fail = |problem| SnapshotError {
            file: path.to_path_buf(),
            problem,
        };
        let file = File::open(path).map_err(|e| fail(Problem::Read(e)))?;
        let file_size = file.metadata().map_err(|e| fail(Problem::Read(e)))?.len();
        let has_trailer = file_size % 512 == SHA_LEN;
        if !has_trailer && options.require_trailer {
            return Err(fail(Problem::NoTrailer(file_size)));
        }
        let db_len = if has_trailer {
            file_size - SHA_LEN
        } else {
            file_size
        };
        // Hashing the whole file takes as long as a walk of it: the two run side by side.
        let trailer = if has_trailer {
            let copy = file.try_clone().map_err(|e| fail(Problem::Read(e)))?;
            Trailer::Pending(std::thread::spawn(move || verify_trailer(&copy, db_len)))
        } else {
            Trailer::Ok
        };
        let trailer = std::sync::Mutex::new(trailer);
        let meta = match bbolt::Db::open(&file, db_len) {
            Ok(db) => db.meta,
            // A damaged file is first of all a trailer mismatch, when it has one.
            Err(problem) => return Err(fail(settle(&trailer).err().unwrap_or(problem))),
        };
        Ok(Snapshot {
            path: path.to_path_buf(),
            file,
            trailer,
            file_size,
            has_trailer,
            db_len,
            meta,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the trailer check (once) and returns its verdict.
    fn verified(&self) -> Result<(), SnapshotError> {
        settle(&self.trailer).map_err(|p| self.fail(p))
    }

    fn fail(&self, problem: Problem) -> SnapshotError {
        SnapshotError {
            file: self.path.clone(),
            problem,
        }
    }

    fn db(&self) -> bbolt::Db<'_> {
        bbolt::Db::open(&self.file, self.db_len).expect("meta pages were checked when opened")
    }

    /// The `key` bucket's root among the top-level buckets.
    fn key_bucket(buckets: &[(Vec<u8>, bbolt::BucketRoot)]) -> Result<&bbolt::BucketRoot, Problem> {
        buckets
            .iter()
            .find(|(n, _)| n == b"key")
            .map(|(_, r)| r)
            .ok_or(Problem::MissingBucket("key"))
    }

    /// The live keys starting with `prefix`, in key order, each handed to `visit` with its
    /// value (read from the file as it is visited). Returns how many were visited.
    pub fn for_each_live<E>(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(LiveKv) -> Result<(), E>,
    ) -> Result<Result<LiveSummary, E>, SnapshotError> {
        let folded = self.fold(prefix);
        // The trailer's verdict comes before the walk's: a damaged file is reported as such.
        self.verified()?;
        let folded = folded.map_err(|p| self.fail(p))?;
        let mut buf = Vec::new();
        let mut cache = cache::Cache::new(&self.file, self.db_len);
        for (key, at) in folded.iter() {
            let kv = self
                .read_kv(&mut cache, &mut buf, key, at)
                .map_err(|p| self.fail(p))?;
            if let Err(e) = visit(kv) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(LiveSummary {
            keys: folded.len(),
            revision: folded.revision,
        }))
    }

    /// The live keys starting with `prefix`, in key order, rendered into bytes by `render`
    /// on `threads` worker threads and handed to `emit` in order, a batch of keys at a time.
    /// For a whole keyspace: reading each value back from the file and rendering it (a
    /// SHA-256, say) is most of a dump's work, and here it runs on every core while the
    /// calling thread only writes. Nothing reaches `emit` before the trailer matched.
    /// Memory: a few batches per worker (at most [`BATCH_KEYS`] keys or [`BATCH_BYTES`] of
    /// values each, or one larger value) and a read cache each.
    pub fn for_each_live_rendered<E>(
        &self,
        prefix: &[u8],
        threads: usize,
        render: impl Fn(&mut Vec<u8>, &KeyValue<'_>) + Sync,
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<LiveSummary, E>, SnapshotError> {
        use std::sync::mpsc;
        let folded = self.fold(prefix);
        let folded = match folded {
            Ok(f) => f,
            // The trailer's verdict comes before the walk's: a damaged file is reported as such.
            Err(p) => {
                self.verified()?;
                return Err(self.fail(p));
            }
        };
        let summary = LiveSummary {
            keys: folded.len(),
            revision: folded.revision,
        };
        // Batches of consecutive live keys, cut by count and by value bytes.
        let mut starts = Vec::new();
        let (mut keys, mut bytes) = (0usize, 0u64);
        for (i, (_, at)) in folded.iter().enumerate() {
            if i == 0 || keys == BATCH_KEYS || bytes >= BATCH_BYTES {
                starts.push(i);
                (keys, bytes) = (0, 0);
            }
            keys += 1;
            bytes += u64::from(at.value_len());
        }
        let batches = starts.len();
        starts.push(folded.len());
        let threads = threads.clamp(1, batches.max(1));
        // Worker `w` renders batches w, w + threads, ...; the caller takes them in turn, so
        // the output keeps key order. Each worker's channel holds one finished batch, and
        // emptied buffers go back to it for reuse.
        let render = &render;
        std::thread::scope(|scope| {
            let mut done_rx = Vec::with_capacity(threads);
            let mut free_tx = Vec::with_capacity(threads);
            for w in 0..threads {
                let (done, done_r) = mpsc::sync_channel::<Result<Vec<u8>, Problem>>(1);
                let (free, free_r) = mpsc::channel::<Vec<u8>>();
                done_rx.push(done_r);
                free_tx.push(free);
                let (folded, starts) = (&folded, &starts);
                scope.spawn(move || {
                    let mut cache = cache::Cache::new(&self.file, self.db_len);
                    let mut buf = Vec::new();
                    for b in (w..batches).step_by(threads) {
                        let mut out = free_r.try_recv().unwrap_or_default();
                        out.clear();
                        let rendered = (starts[b]..starts[b + 1]).try_for_each(|i| {
                            let (key, at) = folded.get(i);
                            let kv = self.read_value(&mut cache, &mut buf, key, at)?;
                            render(&mut out, &kv);
                            Ok(())
                        });
                        let failed = rendered.is_err();
                        // A closed channel: the caller stopped (an error, or output closed).
                        if done.send(rendered.map(|()| out)).is_err() || failed {
                            return;
                        }
                    }
                });
            }
            self.verified()?;
            for b in 0..batches {
                let w = b % threads;
                let out = match done_rx[w].recv() {
                    Ok(Ok(out)) => out,
                    Ok(Err(p)) => return Err(self.fail(p)),
                    // A worker sends every batch it owns, or an error, unless it panicked
                    // (the scope then carries its panic on).
                    Err(_) => panic!("snapshot worker {w} stopped before batch {b}"),
                };
                if let Err(e) = emit(&out) {
                    return Ok(Err(e));
                }
                // The worker may have finished: then the buffer is simply dropped.
                let _ = free_tx[w].send(out);
            }
            Ok(Ok(summary))
        })
    }

    /// All live keys starting with `prefix` (for small prefixes: values are held), and
    /// the snapshot's revision.
    pub fn live(&self, prefix: &[u8]) -> Result<LiveSet, SnapshotError> {
        let mut kvs = Vec::new();
        let summary = self
            .for_each_live(prefix, |kv| {
                kvs.push(kv);
                Ok::<(), std::convert::Infallible>(())
            })?
            .unwrap_or_else(|never| match never {});
        Ok(LiveSet {
            kvs,
            revision: summary.revision,
        })
    }

    fn fold(&self, prefix: &[u8]) -> Result<mvcc::Folded, Problem> {
        let db = self.db();
        let mut walker = db.walker();
        let buckets = walker.top_level()?;
        let root = Self::key_bucket(&buckets)?;
        let mut fold = mvcc::Fold::new(prefix);
        walker.walk(root, &mut |k, v| match v {
            bbolt::Value::Data(value, off) => fold.add(k, value, off),
            bbolt::Value::Bucket(_) => Err(nested_in_key(k)),
        })?;
        Ok(fold.finish())
    }

    fn read_kv(
        &self,
        cache: &mut cache::Cache<'_>,
        buf: &mut Vec<u8>,
        key: &[u8],
        at: &mvcc::Latest,
    ) -> Result<LiveKv, Problem> {
        let kv = self.read_value(cache, buf, key, at)?;
        Ok(LiveKv {
            key: kv.key.to_vec(),
            value: kv.value.to_vec(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
        })
    }

    /// Reads a live key's last revision back from the file into `buf` and decodes it.
    fn read_value<'b>(
        &self,
        cache: &mut cache::Cache<'_>,
        buf: &'b mut Vec<u8>,
        key: &[u8],
        at: &mvcc::Latest,
    ) -> Result<KeyValue<'b>, Problem> {
        buf.resize(at.value_len() as usize, 0);
        cache.read(at.value_off(), buf).map_err(Problem::Read)?;
        let kv = mvcc::decode_kv(buf).map_err(|what| Problem::Value {
            bucket: "key".into(),
            key: String::from_utf8_lossy(key).into_owned(),
            what: what.into(),
        })?;
        if kv.key != key {
            return Err(Problem::Value {
                bucket: "key".into(),
                key: String::from_utf8_lossy(key).into_owned(),
                what: "the value changed between two reads of the file".into(),
            });
        }
        Ok(kv)
    }

    /// Walks every bucket once: the `etcdctl snapshot status` figures, the live key count,
    /// lease-bound keys and the old cluster's identity.
    pub fn status(&self) -> Result<Status, SnapshotError> {
        let status = self.status_inner();
        self.verified()?;
        status.map_err(|p| self.fail(p))
    }

    fn status_inner(&self) -> Result<Status, Problem> {
        let db = self.db();
        let mut walker = db.walker();
        let buckets = walker.top_level()?;
        Self::key_bucket(&buckets)?;
        let mut crc = 0u32;
        let mut total_keys = 0u64;
        let mut fold = mvcc::Fold::new(b"");
        let mut identity = Identity::default();
        for (name, root) in &buckets {
            crc = crc32c::crc32c_append(crc, name);
            let is_key = name == b"key";
            walker.walk(root, &mut |k, v| {
                total_keys += 1;
                crc = crc32c::crc32c_append(crc, k);
                match v {
                    bbolt::Value::Data(value, off) => {
                        crc = crc32c::crc32c_append(crc, value);
                        if is_key {
                            fold.add(k, value, off)
                        } else {
                            identity.add(name, k, value)
                        }
                    }
                    // etcd keeps no buckets inside its buckets; `etcdctl` counts such an
                    // entry as a key with an empty value, and so do we (except in `key`).
                    bbolt::Value::Bucket(_) if is_key => Err(nested_in_key(k)),
                    bbolt::Value::Bucket(_) => Ok(()),
                }
            })?;
        }
        let folded = fold.finish();
        // Few keys are leased: their lease ids are read with their values.
        let mut cache = cache::Cache::new(&self.file, self.db_len);
        let mut buf = Vec::new();
        let mut leased_keys = Vec::new();
        for (k, e) in folded.iter().filter(|(_, e)| e.leased()) {
            let kv = self.read_kv(&mut cache, &mut buf, k, e)?;
            leased_keys.push(LeasedKey {
                key: String::from_utf8_lossy(k).into_owned(),
                lease: kv.lease,
            });
        }
        Ok(Status {
            hash: crc,
            revision: folded.revision,
            total_keys,
            total_size: self.meta.pgid * u64::from(self.meta.page_size),
            file_size: self.file_size,
            has_trailer: self.has_trailer,
            live_keys: folded.len(),
            revisions: folded.revisions,
            leased_keys,
            identity,
        })
    }
}

fn nested_in_key(k: &[u8]) -> Problem {
    Problem::Revision {
        key: hex::encode(k),
        what: "a nested bucket inside the `key` bucket".into(),
    }
}

/// Waits for a pending trailer check and keeps its verdict.
fn settle(trailer: &std::sync::Mutex<Trailer>) -> Result<(), Problem> {
    let mut state = trailer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Trailer::Pending(_) = &*state {
        let Trailer::Pending(handle) = std::mem::replace(&mut *state, Trailer::Ok) else {
            unreachable!("matched just above")
        };
        let verdict = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        *state = match verdict {
            Ok(()) => Trailer::Ok,
            Err(Problem::Read(e)) => Trailer::ReadFailed(e.kind(), e.to_string()),
            Err(_) => Trailer::Mismatch,
        };
    }
    match &*state {
        Trailer::Ok => Ok(()),
        Trailer::Pending(_) => unreachable!("settled above"),
        Trailer::Mismatch => Err(Problem::HashMismatch),
        Trailer::ReadFailed(kind, m) => Err(Problem::Read(std::io::Error::new(*kind, m.clone()))),
    }
}

/// Checks the last 32 bytes against the SHA-256 of everything before them.
fn verify_trailer(file: &File, db_len: u64) -> Result<(), Problem> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < db_len {
        let n = (db_len - off).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], off)
            .map_err(Problem::Read)?;
        hasher.update(&buf[..n]);
        off += n as u64;
    }
    let mut want = [0u8; SHA_LEN as usize];
    file.read_exact_at(&mut want, db_len)
        .map_err(Problem::Read)?;
    if hasher.finalize().as_slice() != want {
        return Err(Problem::HashMismatch);
    }
    Ok(())
}
