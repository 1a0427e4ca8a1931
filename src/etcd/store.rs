//! The key-value seam the rest of dh-migrate uses to read and write etcd: the synchronous
//! [`KvStore`] trait, its real implementation [`RealEtcd`], the in-memory [`MemStore`] for
//! unit tests of other modules, and [`batches`], which splits a write set into
//! transactions etcd accepts.
//!
//! Why synchronous: the tool does one thing at a time (read the target, plan, write in
//! order), so async would only spread `.await` through the core. [`RealEtcd`] owns a
//! current-thread tokio runtime and blocks on each call; every call is bounded by the
//! configured timeout, so nothing can hang on a dead endpoint.
//!
//! Writes are compare-and-swap: every [`Op`] carries an [`Expect`] guard, and
//! [`KvStore::commit`] sends one transaction holding all guards and all operations, so a
//! batch is written entirely or not at all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, KvClient,
    TlsOptions, Txn, TxnOp, TxnOpResponse,
};

use super::error::{key_display, ErrorContext, EtcdError, Phase, Retry, ServerLimit};
use super::settings::{EtcdSettings, Secret};

/// One key as stored in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Revision of the last write of this key: what [`Expect::ModRevision`] compares.
    pub mod_revision: i64,
    pub create_revision: i64,
}

/// The guard of one key in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist.
    Absent,
    /// The key must exist and not have been written since this revision was read.
    ModRevision(i64),
}

/// One guarded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Vec<u8>,
        /// Shared with the change it writes (a large tree's values are not copied for
        /// the transactions).
        value: std::sync::Arc<[u8]>,
        expect: Expect,
    },
    Delete {
        key: Vec<u8>,
        expect: Expect,
    },
}

impl Op {
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key, .. } => key,
        }
    }

    pub fn expect(&self) -> Expect {
        match self {
            Op::Put { expect, .. } | Op::Delete { expect, .. } => *expect,
        }
    }

    /// Upper estimate of what this op adds to a transaction request: the key appears in
    /// the compare, in the operation and in the failure-branch read, plus the value and
    /// protobuf framing for the three messages.
    pub fn request_bytes(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => Op::put_bytes(key.len(), value.len()),
            Op::Delete { key, .. } => Op::put_bytes(key.len(), 0),
        }
    }

    /// [`Op::request_bytes`] of a put of a key and value of these lengths (a delete: value 0).
    pub fn put_bytes(key_len: usize, value_len: usize) -> usize {
        const FRAMING: usize = 64;
        3 * key_len + value_len + FRAMING
    }
}

/// How big one transaction may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations (and, separately, compares) per transaction: etcd's `--max-txn-ops`.
    pub max_ops: usize,
    /// Estimated request size per transaction (sum of [`Op::request_bytes`]).
    pub max_request_bytes: usize,
}

impl Limits {
    /// etcd's defaults: 128 ops per txn and `--max-request-bytes` of 1.5 MiB, minus 64 KiB
    /// headroom for the raft request envelope that etcd measures against that limit.
    pub const ETCD_DEFAULT: Limits = Limits {
        max_ops: 128,
        max_request_bytes: 1536 * 1024 - 64 * 1024,
    };
}

/// The synchronous key-value interface the rest of dh-migrate uses.
pub trait KvStore {
    /// Every key under `prefix` (all keys for an empty prefix), in key order, read at one
    /// revision, which is returned alongside. Paged, so arbitrarily large totals work.
    fn get_prefix(&mut self, prefix: &[u8]) -> Result<(Vec<Kv>, i64), EtcdError>;
    /// One key, if it exists.
    fn get(&mut self, key: &[u8]) -> Result<Option<Kv>, EtcdError>;
    /// One transaction: all guards, then all ops. A failed guard returns
    /// [`EtcdError::Conflict`] naming the keys that no longer match, and nothing is
    /// written. Returns the revision after the transaction.
    fn commit(&mut self, ops: &[Op]) -> Result<i64, EtcdError>;
    /// Several independent transactions (no key in two of them), each as
    /// [`KvStore::commit`], with one result per transaction in order. A store that can
    /// send them concurrently does; the default sends them one after the other.
    fn commit_many(&mut self, groups: &[Vec<Op>]) -> Vec<Result<i64, EtcdError>> {
        groups.iter().map(|g| self.commit(g)).collect()
    }
    /// What one [`KvStore::commit`] may hold; feed it to [`batches`].
    fn limits(&self) -> Limits;
    /// The cluster's members (names and URLs): where the new cluster's etcd runs, one of
    /// the sources of its node names. A store that knows none returns none.
    fn members(&mut self) -> Result<Vec<Member>, EtcdError> {
        Ok(Vec::new())
    }
}

/// One etcd member as the cluster lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

impl Member {
    /// The host part of each URL (a name or an IP, `[..]` removed), without duplicates.
    pub fn hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for url in self.client_urls.iter().chain(&self.peer_urls) {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let authority = rest.split('/').next().unwrap_or(rest);
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6),
                None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
            };
            if !host.is_empty() && !out.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                out.push(host.to_string());
            }
        }
        out
    }
}

/// Split `ops` (in order) into transactions within `limits`. An op that alone exceeds
/// the request size is [`EtcdError::TooLarge`]; nothing is split in that case.
pub fn batches(ops: Vec<Op>, limits: Limits) -> Result<Vec<Vec<Op>>, EtcdError> {
    Ok(
        batch_groups(ops.into_iter().map(|op| vec![op]).collect(), limits)?
            .into_iter()
            .map(|txn| txn.into_iter().flatten().collect())
            .collect(),
    )
}

/// Packs `groups` (in order) into transactions within `limits`, never splitting a group:
/// a group is the operations of one item (its `file` part, and its `name` and `guard`
/// parts in a version 2 layout), which etcd must apply together or not at all. Each
/// transaction is returned as its groups. A group that alone exceeds the request size is
/// [`EtcdError::TooLarge`], one with more operations than a transaction may hold is
/// [`EtcdError::TooManyOps`]; nothing is split in either case.
pub fn batch_groups(groups: Vec<Vec<Op>>, limits: Limits) -> Result<Vec<Vec<Vec<Op>>>, EtcdError> {
    pack(groups, limits, |group| {
        let first = group.first()?;
        let bytes = group.iter().map(Op::request_bytes).sum();
        Some((group.len(), bytes, first.key()))
    })
}

/// How [`batch_groups`] packs: `size` gives a group's operation count, its request bytes
/// and its first key (for errors), or None for an empty group (skipped). Shared with
/// estimates that count transactions without building the operations.
pub fn pack<G>(
    groups: impl IntoIterator<Item = G>,
    limits: Limits,
    size: impl Fn(&G) -> Option<(usize, usize, &[u8])>,
) -> Result<Vec<Vec<G>>, EtcdError> {
    let max_ops = limits.max_ops.max(1);
    let mut out: Vec<Vec<G>> = Vec::new();
    let mut current: Vec<G> = Vec::new();
    let mut current_ops = 0usize;
    let mut current_bytes = 0usize;
    for group in groups {
        let Some((ops, bytes, first)) = size(&group) else {
            continue;
        };
        if bytes > limits.max_request_bytes {
            return Err(EtcdError::TooLarge {
                key: key_display(first),
                bytes,
            });
        }
        if ops > max_ops {
            return Err(EtcdError::TooManyOps {
                key: key_display(first),
                ops,
                max_ops,
            });
        }
        if !current.is_empty()
            && (current_ops + ops > max_ops || current_bytes + bytes > limits.max_request_bytes)
        {
            out.push(std::mem::take(&mut current));
            current_ops = 0;
            current_bytes = 0;
        }
        current_ops += ops;
        current_bytes += bytes;
        current.push(group);
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Which of `ops`' guards `current` (the key's state now, by key) violates, as display keys.
fn violated_guards<'a>(ops: &[Op], current: impl Fn(&[u8]) -> Option<&'a Kv>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for op in ops {
        let now = current(op.key());
        let holds = match (op.expect(), now) {
            (Expect::Absent, None) => true,
            (Expect::ModRevision(r), Some(kv)) => kv.mod_revision == r,
            _ => false,
        };
        let shown = key_display(op.key());
        if !holds && !keys.contains(&shown) {
            keys.push(shown);
        }
    }
    keys
}

/// The first key after every key that starts with `prefix`, as etcd's `range_end`;
/// `[0]` (meaning "to the end of the keyspace") when there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Page sizing for [`RealEtcd::get_prefix`]: aim for about 2 MiB per reply, well under
/// the 4 MiB gRPC default, however big the values are.
const PAGE_TARGET_BYTES: usize = 2 * 1024 * 1024;
const PAGE_MAX_KEYS: i64 = 1000;
/// The first page is small because value sizes are unknown until something is read.
const PAGE_FIRST_KEYS: i64 = 64;
/// Decode limit for reads: a page overshoots the target when its values are much larger
/// than the previous page's; 64 MiB absorbs a 30-fold overshoot, and a page that still
/// overflows is retried at half the size.
const READ_DECODE_LIMIT: usize = 64 * 1024 * 1024;
/// Attempts per request when an endpoint fails at the transport level (a member down):
/// the balancer then moves to another member. All attempts share one request timeout.
const MAX_ATTEMPTS: u32 = 6;
const RETRY_BACKOFF: Duration = Duration::from_millis(25);

/// A connection to a real etcd cluster.
pub struct RealEtcd {
    runtime: tokio::runtime::Runtime,
    /// Kept for its authentication token refresh and for the maintenance calls of
    /// sibling modules (`snapshot.rs`); the KV calls go through `kv`.
    client: Client,
    kv: KvClient,
    endpoints: Vec<String>,
    user: Option<String>,
    /// Only to mask it out of error text.
    password: Option<Secret>,
    request_timeout: Duration,
    limits: Limits,
}

impl RealEtcd {
    /// Connect and prove the connection with a status call, so that an unreachable
    /// cluster, refused credentials or a TLS problem fail here, within
    /// `connect_timeout`, rather than at the first write.
    pub fn connect(s: &EtcdSettings) -> Result<RealEtcd, EtcdError> {
        let mut ctx = ErrorContext {
            endpoints: &s.endpoints,
            user: s.user.as_deref(),
            password: s.password.as_ref().map(Secret::expose),
            tls: false,
            client_cert: s.cert.is_some(),
        };
        if s.endpoints.is_empty() {
            return Err(ctx.unreachable("no endpoints given"));
        }
        let mut options = ConnectOptions::new()
            .with_connect_timeout(s.connect_timeout)
            .with_timeout(s.request_timeout)
            // etcd's simple auth tokens expire after 5 idle minutes; a long import (or a
            // wizard left open) must log in again rather than fail.
            .with_auto_token_refresh(true);
        let tls = tls_options(s, &ctx)?;
        ctx.tls = tls.is_some();
        if let Some(tls) = tls {
            options = options.with_tls(tls);
        }
        match (&s.user, &s.password) {
            (Some(user), password) => {
                let password = password.as_ref().map(Secret::expose).unwrap_or_default();
                options = options.with_user(user.clone(), password);
            }
            (None, Some(_)) => return Err(ctx.auth("a password was given without a user")),
            (None, None) => {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ctx.server(format!("cannot start the etcd client runtime: {e}")))?;

        let deadline = Instant::now() + s.connect_timeout;
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let endpoints = s.endpoints.clone();
            let options = options.clone();
            // The timer must be created inside the runtime, hence the outer async block.
            let result = runtime.block_on(async move {
                let connect = async move {
                    // `Client::connect` authenticates when a user is set, but is otherwise
                    // lazy: the status call makes the first real round trip.
                    let mut client = Client::connect(endpoints, Some(options)).await?;
                    client.status().await?;
                    Ok::<Client, etcd_client::Error>(client)
                };
                tokio::time::timeout(remaining, connect).await
            });
            let err = match result {
                Ok(Ok(client)) => break client,
                Ok(Err(e)) => e,
                Err(_elapsed) => {
                    return Err(ctx.unreachable(format!(
                        "no answer within the connect timeout of {:?}",
                        s.connect_timeout
                    )))
                }
            };
            let class = ctx.classify(&err, Phase::Connect, "connect");
            if class.retry() == Retry::No || attempt >= MAX_ATTEMPTS || Instant::now() >= deadline {
                return Err(class);
            }
            let pause = RETRY_BACKOFF * attempt;
            runtime.block_on(async move { tokio::time::sleep(pause).await });
        };
        let kv = client
            .kv_client()
            .max_decoding_message_size(READ_DECODE_LIMIT);
        Ok(RealEtcd {
            runtime,
            client,
            kv,
            endpoints: s.endpoints.clone(),
            user: s.user.clone(),
            password: s.password.clone(),
            request_timeout: s.request_timeout,
            limits: Limits::ETCD_DEFAULT,
        })
    }

    /// The endpoints this connection was made with.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// What the maintenance calls of sibling modules (`snapshot.rs`) need: the runtime to
    /// block on, a maintenance client, the request timeout and the error context.
    pub(super) fn maintenance(
        &self,
    ) -> (
        &tokio::runtime::Runtime,
        etcd_client::MaintenanceClient,
        Duration,
        ErrorContext<'_>,
    ) {
        (
            &self.runtime,
            self.client.maintenance_client(),
            self.request_timeout,
            self.ctx(),
        )
    }

    fn ctx(&self) -> ErrorContext<'_> {
        ErrorContext {
            endpoints: &self.endpoints,
            user: self.user.as_deref(),
            password: self.password.as_ref().map(Secret::expose),
            // Only the connect phase tells a rejected client certificate by its closed
            // connection; later requests need neither.
            tls: false,
            client_cert: false,
        }
    }

    /// Run one request, retrying transport failures (another member may answer) within
    /// the request timeout. The timeout is a backstop too: tonic's per-request timeout
    /// does not cover waiting for a usable endpoint. Returns whether an earlier attempt
    /// may have been applied.
    fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<(T, bool), EtcdError>
    where
        F: FnMut(KvClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        self.runtime.block_on(self.call_async(what, request))
    }

    /// [`RealEtcd::call`] as a future, so several requests can be in flight at once.
    async fn call_async<T, F, Fut>(&self, what: &str, request: F) -> Result<(T, bool), EtcdError>
    where
        F: FnMut(KvClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        self.retrying(what, &self.kv, request).await
    }

    /// The retry loop of [`RealEtcd::call`], for a request through any of etcd-client's
    /// clients (KV, cluster, ...): a fresh clone of `client` per attempt.
    async fn retrying<C, T, F, Fut>(
        &self,
        what: &str,
        client: &C,
        mut request: F,
    ) -> Result<(T, bool), EtcdError>
    where
        C: Clone,
        F: FnMut(C) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + self.request_timeout;
        let mut maybe_applied = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = tokio::time::timeout(remaining, request(client.clone())).await;
            let err = match result {
                Ok(Ok(v)) => return Ok((v, maybe_applied)),
                Ok(Err(e)) => e,
                Err(_elapsed) => return Err(self.ctx().timeout(what)),
            };
            let class = self.ctx().classify(&err, Phase::Request, what);
            match class.retry() {
                Retry::No => return Err(class),
                Retry::MaybeApplied => maybe_applied = true,
                Retry::NotSent => {}
            }
            if attempt >= MAX_ATTEMPTS || Instant::now() >= deadline {
                return Err(class);
            }
            tokio::time::sleep(RETRY_BACKOFF * attempt).await;
        }
    }

    /// One guarded transaction, as a future (see [`KvStore::commit`]).
    async fn commit_async(&self, ops: &[Op]) -> Result<i64, EtcdError> {
        // Built for the first attempt, and again for a retry (rare): a copy kept for
        // retries would copy every value of every transaction once more.
        let mut first = Some(build_txn(ops));
        let what = format!("a transaction of {} operations", ops.len());
        let (resp, maybe_applied) = self
            .call_async(&what, |mut kv| {
                let txn = first.take().unwrap_or_else(|| build_txn(ops));
                async move { kv.txn(txn).await }
            })
            .await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or_default();
        if resp.succeeded() {
            return Ok(revision);
        }
        let mut current: BTreeMap<Vec<u8>, Kv> = BTreeMap::new();
        for r in resp.op_responses() {
            if let TxnOpResponse::Get(get) = r {
                for kv in get.kvs() {
                    current.insert(kv.key().to_vec(), to_kv(kv));
                }
            }
        }
        let keys = violated_guards(ops, |k| current.get(k));
        // An earlier attempt may have landed before its connection broke; then every guard
        // fails on our own write. If every key holds exactly what this transaction writes,
        // that is the outcome, not a conflict.
        if maybe_applied && keys.len() == distinct_keys(ops) && self.already_applied(ops).await? {
            return Ok(revision);
        }
        Err(EtcdError::Conflict { keys })
    }

    /// Whether the store holds exactly what `ops` would write.
    async fn already_applied(&self, ops: &[Op]) -> Result<bool, EtcdError> {
        for op in ops {
            let (resp, _) = self
                .call_async("reading a key", |mut kv| {
                    let key = op.key().to_vec();
                    async move { kv.get(key, None).await }
                })
                .await?;
            let now = resp.kvs().first().map(to_kv);
            let as_written = match (op, now) {
                (Op::Put { value, .. }, Some(kv)) => kv.value[..] == value[..],
                (Op::Delete { .. }, None) => true,
                _ => false,
            };
            if !as_written {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Polls every future to completion, concurrently on the calling task, and returns their
/// outputs in order (a small `join_all`: the futures borrow the store, so they cannot be
/// spawned).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Build the client TLS configuration, or `None` for plain http endpoints.
fn tls_options(s: &EtcdSettings, ctx: &ErrorContext<'_>) -> Result<Option<TlsOptions>, EtcdError> {
    let has_files = s.cacert.is_some() || s.cert.is_some() || s.key.is_some();
    let https = s
        .endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    let http = s
        .endpoints
        .iter()
        .filter(|e| e.starts_with("http://"))
        .count();
    let bare = s.endpoints.len() - https - http;
    if https > 0 && (http > 0 || (bare > 0 && !has_files)) {
        return Err(ctx.tls("the endpoints mix https:// with plain endpoints; use one scheme"));
    }
    if http > 0 && has_files {
        // Silently dropping configured TLS files would send credentials in the clear to a
        // cluster the user believes is TLS-protected.
        return Err(ctx.tls(
            "TLS files were given but the endpoints use http://; use https:// endpoints or drop the TLS settings",
        ));
    }
    if https == 0 && !has_files {
        return Ok(None);
    }
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| ctx.tls(format!("cannot read the {what} {}: {e}", path.display())))
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = &s.cacert {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca, "CA bundle")?));
    }
    match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        (None, None) => {}
        _ => return Err(ctx.tls("a client certificate and its key must be given together")),
    }
    Ok(Some(tls))
}

fn to_kv(kv: &etcd_client::KeyValue) -> Kv {
    Kv {
        key: kv.key().to_vec(),
        value: kv.value().to_vec(),
        mod_revision: kv.mod_revision(),
        create_revision: kv.create_revision(),
    }
}

/// The transaction for `ops`: all guards; then all writes; else a keys-only read of every
/// guarded key, so a conflict report reflects exactly the state the guards saw.
fn build_txn(ops: &[Op]) -> Txn {
    let mut compares = Vec::with_capacity(ops.len());
    let mut writes = Vec::with_capacity(ops.len());
    let mut reads = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key().to_vec();
        compares.push(match op.expect() {
            // A missing key compares as revision 0 in etcd.
            Expect::Absent => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
            Expect::ModRevision(r) => Compare::mod_revision(key.clone(), CompareOp::Equal, r),
        });
        writes.push(match op {
            Op::Put { value, .. } => TxnOp::put(key.clone(), value.to_vec(), None),
            Op::Delete { .. } => TxnOp::delete(key.clone(), None),
        });
        reads.push(TxnOp::get(key, Some(GetOptions::new().with_keys_only())));
    }
    Txn::new().when(compares).and_then(writes).or_else(reads)
}

impl KvStore for RealEtcd {
    fn get_prefix(&mut self, prefix: &[u8]) -> Result<(Vec<Kv>, i64), EtcdError> {
        let end = prefix_end(prefix);
        // etcd's "whole keyspace" starts at key [0]; an empty key is not a valid start.
        let mut start = if prefix.is_empty() {
            vec![0]
        } else {
            prefix.to_vec()
        };
        let mut out = Vec::new();
        let mut revision = 0i64;
        let mut limit = PAGE_FIRST_KEYS;
        loop {
            // Pages after the first read at the first page's revision: one consistent view.
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(limit)
                .with_revision(revision);
            let page = self.call("reading a page of keys", |mut kv| {
                let (key, options) = (start.clone(), options.clone());
                async move { kv.get(key, Some(options)).await }
            });
            let mut page = match page {
                Ok((p, _)) => p,
                // A page over the decode limit: retry it smaller rather than fail.
                Err(EtcdError::OverLimit {
                    limit: ServerLimit::MessageBytes,
                    ..
                }) if limit > 1 => {
                    limit = (limit / 2).max(1);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if revision == 0 {
                revision = page.header().map(|h| h.revision()).unwrap_or_default();
            }
            let kvs = page.take_kvs();
            let page_bytes: usize = kvs.iter().map(|kv| kv.key().len() + kv.value().len()).sum();
            out.extend(kvs.iter().map(to_kv));
            match kvs.last() {
                Some(last) if page.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => break,
            }
            let average = (page_bytes / kvs.len()).max(1);
            let fitting = i64::try_from(PAGE_TARGET_BYTES / average).unwrap_or(PAGE_MAX_KEYS);
            limit = fitting.clamp(1, PAGE_MAX_KEYS);
        }
        Ok((out, revision))
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        let (resp, _) = self.call("reading a key", |mut kv| {
            let key = key.to_vec();
            async move { kv.get(key, None).await }
        })?;
        Ok(resp.kvs().first().map(to_kv))
    }

    fn commit(&mut self, ops: &[Op]) -> Result<i64, EtcdError> {
        self.runtime.block_on(self.commit_async(ops))
    }

    fn members(&mut self) -> Result<Vec<Member>, EtcdError> {
        // Retried like every KV request: the client spreads requests over the endpoints,
        // and one of them may be a member that is down.
        let cluster = self.client.cluster_client();
        let (resp, _) = self.runtime.block_on(self.retrying(
            "listing the etcd members",
            &cluster,
            |mut c| async move { c.member_list().await },
        ))?;
        Ok(resp
            .members()
            .iter()
            .map(|m| Member {
                name: m.name().to_string(),
                peer_urls: m.peer_urls().to_vec(),
                client_urls: m.client_urls().to_vec(),
            })
            .collect())
    }

    /// All transactions in flight at once on the one connection (HTTP/2 streams): etcd
    /// commits concurrent proposals together, with one fsync for many.
    fn commit_many(&mut self, groups: &[Vec<Op>]) -> Vec<Result<i64, EtcdError>> {
        let futures: Vec<_> = groups.iter().map(|g| self.commit_async(g)).collect();
        self.runtime.block_on(join_all(futures))
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

fn distinct_keys(ops: &[Op]) -> usize {
    ops.iter()
        .map(Op::key)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// An in-memory [`KvStore`] with etcd's revision semantics (one revision per writing
/// transaction, `create_revision` kept across updates), for unit tests of other modules.
/// It enforces the same [`Limits`] a real cluster does, so code that forgets to batch
/// fails here too.
#[derive(Debug, Clone)]
pub struct MemStore {
    data: BTreeMap<Vec<u8>, Kv>,
    revision: i64,
    limits: Limits,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::new()
    }
}

impl MemStore {
    /// An empty store at revision 1, like a fresh etcd.
    pub fn new() -> MemStore {
        MemStore {
            data: BTreeMap::new(),
            revision: 1,
            limits: Limits::ETCD_DEFAULT,
        }
    }

    /// The same store with other limits (e.g. tiny ones to exercise batching).
    pub fn with_limits(mut self, limits: Limits) -> MemStore {
        self.limits = limits;
        self
    }

    /// Unconditionally write one key in its own revision (test setup, or simulating a
    /// concurrent writer). Returns the new revision.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> i64 {
        self.revision += 1;
        self.write(key, value);
        self.revision
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    fn write(&mut self, key: &[u8], value: &[u8]) {
        let create_revision = self
            .data
            .get(key)
            .map(|kv| kv.create_revision)
            .unwrap_or(self.revision);
        self.data.insert(
            key.to_vec(),
            Kv {
                key: key.to_vec(),
                value: value.to_vec(),
                mod_revision: self.revision,
                create_revision,
            },
        );
    }
}

impl KvStore for MemStore {
    fn get_prefix(&mut self, prefix: &[u8]) -> Result<(Vec<Kv>, i64), EtcdError> {
        let kvs = self
            .data
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        Ok((kvs, self.revision))
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        Ok(self.data.get(key).cloned())
    }

    fn commit(&mut self, ops: &[Op]) -> Result<i64, EtcdError> {
        if ops.len() > self.limits.max_ops {
            // etcd's own wording for the same rejection.
            return Err(EtcdError::OverLimit {
                limit: ServerLimit::TxnOps,
                detail: "etcdserver: too many operations in txn request".to_owned(),
            });
        }
        let bytes: usize = ops.iter().map(Op::request_bytes).sum();
        if bytes > self.limits.max_request_bytes {
            return Err(EtcdError::OverLimit {
                limit: ServerLimit::RequestBytes,
                detail: "etcdserver: request is too large".to_owned(),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = ops.iter().find(|op| !seen.insert(op.key())) {
            return Err(EtcdError::Server {
                detail: format!(
                    "etcdserver: duplicate key given in txn request ({})",
                    key_display(dup.key())
                ),
            });
        }
        let keys = violated_guards(ops, |k| self.data.get(k));
        if !keys.is_empty() {
            return Err(EtcdError::Conflict { keys });
        }
        let changes = ops.iter().any(|op| match op {
            Op::Put { .. } => true,
            Op::Delete { key, .. } => self.data.contains_key(key),
        });
        if !changes {
            return Ok(self.revision);
        }
        self.revision += 1;
        for op in ops {
            match op {
                Op::Put { key, value, .. } => self.write(key, value),
                Op::Delete { key, .. } => {
                    self.data.remove(key);
                }
            }
        }
        Ok(self.revision)
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value_len: usize, expect: Expect) -> Op {
        Op::Put {
            key: key.as_bytes().to_vec(),
            value: vec![b'v'; value_len].into(),
            expect,
        }
    }

    #[test]
    fn prefix_end_increments_the_last_byte_below_ff() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn batches_split_by_count() {
        let ops: Vec<Op> = (0..300)
            .map(|i| put(&format!("k{i:03}"), 10, Expect::Absent))
            .collect();
        let b = batches(ops, Limits::ETCD_DEFAULT).expect("batches");
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![128, 128, 44]
        );
        assert_eq!(b[1][0].key(), b"k128");
    }

    #[test]
    fn batches_split_by_size() {
        let limits = Limits {
            max_ops: 128,
            max_request_bytes: 1000,
        };
        // Each op: 3*2 + 300 + 64 = 370 bytes, so two fit and a third does not.
        let ops: Vec<Op> = (0..5)
            .map(|i| put(&format!("k{i}"), 300, Expect::Absent))
            .collect();
        assert_eq!(ops[0].request_bytes(), 370);
        let b = batches(ops, limits).expect("batches");
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    }

    #[test]
    fn one_op_over_the_limit_is_too_large() {
        let limits = Limits {
            max_ops: 128,
            max_request_bytes: 1000,
        };
        let ops = vec![
            put("small", 1, Expect::Absent),
            put("huge", 2000, Expect::Absent),
        ];
        match batches(ops, limits) {
            Err(EtcdError::TooLarge { key, bytes }) => {
                assert_eq!(key, "huge");
                assert_eq!(bytes, 3 * 4 + 2000 + 64);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn memstore_revisions_follow_etcd() {
        let mut m = MemStore::new();
        assert_eq!(m.revision(), 1);
        let r = m
            .commit(&[put("/a", 1, Expect::Absent), put("/b", 1, Expect::Absent)])
            .expect("commit");
        assert_eq!(r, 2);
        let a = m.get(b"/a").expect("get").expect("present");
        assert_eq!((a.create_revision, a.mod_revision), (2, 2));
        let r = m
            .commit(&[put("/a", 2, Expect::ModRevision(2))])
            .expect("commit");
        assert_eq!(r, 3);
        let a = m.get(b"/a").expect("get").expect("present");
        assert_eq!(
            (a.create_revision, a.mod_revision, a.value.len()),
            (2, 3, 2)
        );
        let (kvs, rev) = m.get_prefix(b"/").expect("prefix");
        assert_eq!(rev, 3);
        assert_eq!(
            kvs.iter().map(|k| k.key.clone()).collect::<Vec<_>>(),
            vec![b"/a".to_vec(), b"/b".to_vec()]
        );
    }

    #[test]
    fn memstore_conflict_writes_nothing_and_names_keys() {
        let mut m = MemStore::new();
        m.put(b"/x", b"1");
        let stale = m.get(b"/x").expect("get").expect("present").mod_revision;
        m.put(b"/x", b"2");
        m.put(b"/exists", b"e");
        let err = m
            .commit(&[
                put("/new", 1, Expect::Absent),
                put("/x", 1, Expect::ModRevision(stale)),
                put("/exists", 1, Expect::Absent),
            ])
            .expect_err("must conflict");
        match err {
            EtcdError::Conflict { keys } => assert_eq!(keys, vec!["/x", "/exists"]),
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(m.get(b"/new").expect("get"), None);
        assert_eq!(
            m.get(b"/x").expect("get").expect("present").value,
            b"2".to_vec()
        );
    }

    #[test]
    fn memstore_enforces_limits() {
        let mut m = MemStore::new().with_limits(Limits {
            max_ops: 2,
            max_request_bytes: 10_000,
        });
        let ops: Vec<Op> = (0..3)
            .map(|i| put(&format!("k{i}"), 1, Expect::Absent))
            .collect();
        assert!(matches!(m.commit(&ops), Err(EtcdError::OverLimit { .. })));
        assert_eq!(m.revision(), 1);
    }
}
