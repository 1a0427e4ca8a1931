//! The use-case layer called in-process, without the binary: the wizard's whole flow
//! through a scripted `Ask` (the pty tests keep the terminal itself), and `apply` on an
//! in-memory store, including a store that dies between transactions (exit 15) and
//! rollback of only the keys nobody changed since.

use dh_migrate::apply::{Part, RunRecord};
use dh_migrate::error::{CliError, ErrorKind};
use dh_migrate::etcd::{EtcdError, Kv, KvStore, Limits, MemStore, Op};
use dh_migrate::ops::{self, ApplyOptions, Inputs, RollbackOptions, Sources, TargetSource};
use dh_migrate::wizard::ask::{Ask, AskError, Check};
use dh_migrate::wizard::Finish;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// How the script answers one question.
enum Reply {
    /// Enter: the highlighted choice, or the pre-filled text.
    Default,
    /// The choice whose text contains this.
    Pick(&'static str),
    /// Typed text (checked like the terminal checks it).
    Type(&'static str),
}

/// Answers the wizard's questions in order, each only if its prompt is the expected one.
struct Script {
    steps: VecDeque<(&'static str, Reply)>,
    said: String,
}

impl Script {
    fn next(&mut self, prompt: &str) -> Reply {
        let (expected, reply) = self
            .steps
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected question {prompt:?}"));
        assert!(
            prompt.contains(expected),
            "asked {prompt:?}, the script expected {expected:?}"
        );
        reply
    }
}

impl Ask for Script {
    fn say(&mut self, text: &str) -> Result<(), AskError> {
        self.said.push_str(text);
        Ok(())
    }

    fn select(
        &mut self,
        prompt: &str,
        items: &[String],
        default: usize,
    ) -> Result<usize, AskError> {
        Ok(match self.next(prompt) {
            Reply::Default => default,
            Reply::Pick(text) => items
                .iter()
                .position(|i| i.contains(text))
                .unwrap_or_else(|| panic!("no choice {text:?} in {items:?}")),
            Reply::Type(_) => panic!("{prompt:?} is a choice"),
        })
    }

    fn input(&mut self, prompt: &str, initial: &str, check: Check<'_>) -> Result<String, AskError> {
        let v = match self.next(prompt) {
            Reply::Default => initial.to_string(),
            Reply::Type(t) => t.to_string(),
            _ => panic!("{prompt:?} asks for text"),
        };
        check(&v).unwrap_or_else(|why| panic!("{v:?} refused: {why}"));
        Ok(v)
    }
}

fn load(target: TargetSource, mapping: Option<PathBuf>, cnf: bool) -> Inputs {
    let f = fixtures();
    Inputs::load(
        Sources {
            bundle: f.join("old-cluster"),
            target: Some(target),
            cluster_cnf: cnf.then(|| f.join("new-cluster/cluster/cluster.cnf")),
            mapping,
            contexts: None,
            layout: None,
            etcd_prefix: None,
            allow_unknown_hosts: false,
            prefer_files: false,
        },
        &mut |_| {},
    )
    .unwrap()
}

/// The wizard's inputs on loaded ones, as `dh-migrate wizard` builds them.
fn session(inputs: &Inputs, bundle: String, target: String) -> dh_migrate::wizard::Inputs<'_> {
    dh_migrate::wizard::Inputs {
        bundle: &inputs.bundle,
        tree: &inputs.tree,
        target: &inputs.target,
        contexts: &inputs.contexts,
        layout: &inputs.layout,
        bundle_label: bundle,
        target_label: target,
        mapping_out: "mapping.yaml".into(),
        existing: None,
        partial: None,
        save_partial: None,
    }
}

#[test]
fn wizard_flow_through_a_scripted_ask_writes_the_same_mapping_as_the_terminal() {
    // The same answers as the pseudo-terminal session in wizard_pty, given by choice text.
    let inputs = load(
        TargetSource::Dir(fixtures().join("new-cluster")),
        None,
        false,
    );
    let session = session(
        &inputs,
        crate::wizard_pty::bundle(),
        crate::wizard_pty::target(),
    );
    let mut script = Script {
        steps: VecDeque::from([
            ("dh-infra-1.old.example.com becomes", Reply::Default),
            (
                "dh-query-1.old.example.com becomes",
                Reply::Pick("split it by role"),
            ),
            ("default (places without a role", Reply::Default),
            ("roles that go elsewhere", Reply::Default),
            ("new host for role dis", Reply::Default),
            (
                "dh-query-2.old.example.com becomes",
                Reply::Pick("type another host"),
            ),
            (
                "new host for dh-query-2.old.example.com",
                Reply::Type("query-c.new.example.com"),
            ),
            ("dh-query-10.old.example.com becomes", Reply::Default),
            ("10.1.2.11 becomes", Reply::Default),
            ("10.1.2.21 becomes", Reply::Default),
            ("10.1.2.22 becomes", Reply::Pick("keep it as it is")),
            ("10.1.2.30 becomes", Reply::Default),
            ("Save the mapping?", Reply::Default),
        ]),
        said: String::new(),
    };
    let finish = dh_migrate::wizard::run(&session, &mut script).unwrap();
    assert!(script.steps.is_empty(), "questions left unasked");
    assert_eq!(finish, Finish::Write(crate::wizard_pty::expected_mapping()));
    assert!(
        script.said.contains("reference(s) resolved, 0 unresolved"),
        "{}",
        script.said
    );
    assert!(script.said.contains("Plan summary"));
}

#[test]
fn wizard_quit_writes_nothing_and_says_so() {
    let inputs = load(
        TargetSource::Dir(fixtures().join("new-cluster")),
        None,
        false,
    );
    let session = session(&inputs, "b".into(), "t".into());
    let mut steps: VecDeque<(&'static str, Reply)> =
        (0..8).map(|_| ("becomes", Reply::Default)).collect();
    steps.push_back(("Save the mapping?", Reply::Pick("quit without writing")));
    let mut script = Script {
        steps,
        said: String::new(),
    };
    assert_eq!(
        dh_migrate::wizard::run(&session, &mut script).unwrap(),
        Finish::Quit
    );
}

/// A store shared with the test, so it can look at (and change) etcd's state while the
/// inputs own the store; optionally dying after some transactions, as etcd does when it is
/// stopped mid-apply.
#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<MemStore>>,
    commits_left: Arc<Mutex<Option<usize>>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            inner: Arc::new(Mutex::new(MemStore::new())),
            commits_left: Arc::new(Mutex::new(None)),
        }
    }

    fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.inner
            .lock()
            .unwrap()
            .get(key.as_bytes())
            .unwrap()
            .map(|kv| kv.value)
    }
}

fn gone() -> EtcdError {
    EtcdError::Unreachable {
        endpoints: vec!["mem://".into()],
        detail: "connection refused".into(),
        maybe_applied: false,
    }
}

impl KvStore for Shared {
    fn get_prefix(&mut self, prefix: &[u8]) -> Result<(Vec<Kv>, i64), EtcdError> {
        self.inner.lock().unwrap().get_prefix(prefix)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        self.inner.lock().unwrap().get(key)
    }

    fn commit(&mut self, ops: &[Op]) -> Result<i64, EtcdError> {
        let mut left = self.commits_left.lock().unwrap();
        match *left {
            Some(0) => return Err(gone()),
            Some(n) => *left = Some(n - 1),
            None => {}
        }
        self.inner.lock().unwrap().commit(ops)
    }

    fn limits(&self) -> Limits {
        Limits::ETCD_DEFAULT
    }
}

fn apply_opts(record: &Path, max_txn_ops: Option<usize>) -> ApplyOptions {
    ApplyOptions {
        record: record.to_path_buf(),
        max_txn_ops,
        ..ApplyOptions::default()
    }
}

fn mem_target(store: &Shared) -> TargetSource {
    TargetSource::Store {
        store: Box::new(store.clone()),
        endpoints: vec!["mem://".into()],
    }
}

#[test]
fn apply_in_process_on_a_memory_store_writes_every_item_and_rolls_back() {
    let store = Shared::new();
    let mapping = Some(fixtures().join("mapping.yaml"));
    let mut inputs = load(mem_target(&store), mapping.clone(), true);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("runs/run.json");
    let opts = apply_opts(&record, Some(5));
    let mut prepared = ops::apply_prepare(&inputs, &opts).unwrap();
    assert!(!prepared.changes.is_empty());
    assert_eq!(
        store.inner.lock().unwrap().revision(),
        1,
        "prepare writes nothing"
    );
    let mut seen = Vec::new();
    let done = ops::apply_execute(&mut inputs, &mut prepared, &opts, &mut |d, t| {
        seen.push((d, t))
    })
    .unwrap();
    let n = prepared.changes.len();
    assert_eq!(done.applied.keys, n);
    // The default layout (v2) on an empty store: every item is created as its `file` and
    // `name` parts (no guard to re-put), kept in one transaction: two items (4 keys) fit
    // in 5 operations, and the estimate counts the same.
    let parts: Vec<Part> = prepared.changes.iter().map(|c| c.part).collect();
    assert_eq!(
        parts,
        [Part::File, Part::Name].repeat(n / 2),
        "{:?}",
        prepared.changes
    );
    let batches = (n / 2).div_ceil(2);
    assert_eq!(done.applied.batches, batches);
    assert_eq!(prepared.transactions, batches);
    assert_eq!(seen.last(), Some(&(batches, batches)));
    assert_eq!(done.record.as_deref(), Some(record.as_path()));
    // The record drafted during prepare is the record of what was written.
    let saved = RunRecord::parse(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(saved, RunRecord::new(&["mem://".into()], &prepared.changes));
    // It took the digests of values that are bundle files' own bytes from the bundle
    // read: right for every one, and only for values the mapping left as they were.
    let known = ops::apply::known_hashes(&inputs.bundle, &prepared.changes);
    assert!(
        known.iter().any(Option::is_some),
        "some values are unchanged files"
    );
    for (c, k) in prepared.changes.iter().zip(&known) {
        if let Some(hash) = k {
            assert_eq!(
                hash,
                &<[u8; 32]>::from(Sha256::digest(&c.value)),
                "{}",
                c.key
            );
            assert_eq!(inputs.bundle.get(&c.path).unwrap().sha256, *hash);
        }
    }
    let rewritten = prepared.changes.iter().zip(&known).find(|(c, _)| {
        c.part == Part::File
            && inputs
                .bundle
                .get(&c.path)
                .and_then(|f| f.content.as_deref())
                != Some(&c.value[..])
    });
    assert!(
        matches!(rewritten, Some((_, None))),
        "a rewritten value is hashed, not looked up"
    );
    for c in prepared.changes.iter() {
        assert_eq!(
            store.value(&c.key).as_deref(),
            Some(&c.value[..]),
            "{}",
            c.key
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(record.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700, "the runs folder is private");
    }

    // Applying again converges: nothing left to write.
    let again = load(mem_target(&store), mapping, true);
    assert!(ops::apply_prepare(&again, &opts)
        .unwrap()
        .changes
        .is_empty());

    // Someone edits one item's file; a plain rollback refuses, --only-unchanged restores
    // the other items.
    let edited = prepared.changes[0].key.clone();
    store
        .inner
        .lock()
        .unwrap()
        .put(edited.as_bytes(), b"edited by hand");
    let rec = ops::rollback::load_record(&record).unwrap();
    let mut s = store.clone();
    let err = ops::rollback(&mut s, &rec, &inputs.layout, RollbackOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&edited), "{err}");
    let done = ops::rollback(
        &mut s,
        &rec,
        &inputs.layout,
        RollbackOptions {
            only_unchanged: true,
            ..RollbackOptions::default()
        },
    )
    .unwrap();
    // The edited item is skipped whole (its `file` and the `name` created with it).
    let name = prepared.changes[1].key.clone();
    assert_eq!(done.skipped, vec![edited.clone(), name.clone()]);
    assert_eq!(done.restored, n - 2);
    assert_eq!(
        store.value(&edited).as_deref(),
        Some(&b"edited by hand"[..])
    );
    assert!(store.value(&name).is_some(), "{name} kept with its file");
    for c in &prepared.changes[2..] {
        assert_eq!(store.value(&c.key), None, "{} restored to absent", c.key);
    }
}

/// A memory store, the fixture bundle's inputs against it, a run record path in a
/// scratch folder, and the apply prepared (nothing written yet).
struct Ready {
    store: Shared,
    inputs: Inputs,
    _dir: tempfile::TempDir,
    record: PathBuf,
    opts: ApplyOptions,
    prepared: ops::Prepared,
}

fn prepared(max_txn_ops: Option<usize>) -> Ready {
    let store = Shared::new();
    let inputs = load(
        mem_target(&store),
        Some(fixtures().join("mapping.yaml")),
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("run.json");
    let opts = apply_opts(&record, max_txn_ops);
    let prepared = ops::apply_prepare(&inputs, &opts).unwrap();
    Ready {
        store,
        inputs,
        _dir: dir,
        record,
        opts,
        prepared,
    }
}

#[test]
fn an_apply_cut_off_between_transactions_exits_15_naming_the_run_record() {
    let mut r = prepared(Some(2));
    // Two transactions land, then etcd is gone (and so is the way to undo them).
    *r.store.commits_left.lock().unwrap() = Some(2);
    let err =
        ops::apply_execute(&mut r.inputs, &mut r.prepared, &r.opts, &mut |_, _| {}).unwrap_err();
    let cli = CliError::from(err);
    assert_eq!(cli.kind, ErrorKind::Interrupted);
    assert_eq!(cli.kind.exit_code(), 15);
    assert!(
        cli.message.contains("dh-migrate rollback"),
        "{}",
        cli.message
    );
    assert!(cli.message.contains(&r.record.display().to_string()));
    assert!(
        r.record.exists(),
        "the record was saved before the first write"
    );
}

#[test]
fn a_key_changed_between_plan_and_write_refuses_the_apply_and_leaves_no_record() {
    let mut r = prepared(None);
    // Someone creates a key the apply would create, after the plan was made.
    let taken = r.prepared.changes[3].key.clone();
    r.store
        .inner
        .lock()
        .unwrap()
        .put(taken.as_bytes(), b"written by someone else");
    let err =
        ops::apply_execute(&mut r.inputs, &mut r.prepared, &r.opts, &mut |_, _| {}).unwrap_err();
    let cli = CliError::from(err);
    assert_eq!(cli.kind.exit_code(), 11, "{}", cli.message);
    assert!(cli.message.contains(&taken), "{}", cli.message);
    // Nothing written: only the key written by hand is there.
    for c in r.prepared.changes.iter() {
        let expected = (c.key == taken).then(|| b"written by someone else".to_vec());
        assert_eq!(r.store.value(&c.key), expected, "{}", c.key);
    }
    // The record (saved while etcd was checked) went with the refused apply.
    assert!(
        !r.record.exists(),
        "a record of an apply that wrote nothing"
    );
}
