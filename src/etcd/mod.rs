//! The etcd seam: everything dh-migrate knows about talking to a cluster's etcd (v3).
//!
//! - [`settings`] resolves *where* and *as whom* to connect (flags > `ETCDCTL_*` env >
//!   Deephaven client directory), from inputs captured once at the command-line edge.
//! - [`store`] defines the small synchronous [`KvStore`] trait the rest of the tool uses,
//!   the real implementation [`RealEtcd`] (etcd-client on its own current-thread tokio
//!   runtime), the in-memory [`MemStore`] for unit tests, and [`batches`], which splits a
//!   write set into transactions etcd will accept.
//! - [`snapshot`] streams a whole-keyspace snapshot through the maintenance API to disk,
//!   checking the SHA-256 trailer the server appends.
//! - [`batching`] splits further when a server's own limits are lower than etcd's defaults.
//! - [`error`] holds [`EtcdError`], the typed classification of everything that can go
//!   wrong on the wire (unreachable, auth, TLS, conflict, too large, over a server limit,
//!   timeout, retryable, server), classified once from the client's errors.
//!
//! No other module touches etcd-client or tokio directly.

pub mod batching;
pub mod error;
pub mod settings;
pub mod snapshot;
pub mod store;

pub use batching::{commit_all, lowered_limits, resplit, Committed};
pub use error::{EtcdError, Retry, ServerLimit};
pub use settings::{resolve, EtcdFlags, EtcdSettings, Secret, SettingsError};
pub use snapshot::{SnapshotError, SnapshotInfo};
pub use store::{
    batch_groups, batches, pack, Expect, Kv, KvStore, Limits, MemStore, Member, Op, RealEtcd,
};
