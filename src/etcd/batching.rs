//! Living with a server whose limits are lower than etcd's defaults. etcd does not
//! publish its `--max-txn-ops` or `--max-request-bytes`; a transaction over either is
//! refused whole, with nothing of it written. So a refused transaction is split in two
//! and sent again, down to single operations, and the lower limits are kept for the rest.

use super::error::{EtcdError, ServerLimit};
use super::store::{batches, KvStore, Limits, Op};

/// When etcd refused `group` for being over the server's own limits, the smaller limits
/// to split it with. `None` for any other error, and for a single operation (which no
/// split can help: the error stands).
pub fn lowered_limits(cause: &EtcdError, group: &[Op], limits: Limits) -> Option<Limits> {
    if group.len() < 2 {
        return None;
    }
    match cause {
        EtcdError::OverLimit {
            limit: ServerLimit::TxnOps,
            ..
        } => Some(Limits {
            max_ops: group.len() / 2,
            ..limits
        }),
        EtcdError::OverLimit { .. } => {
            let bytes: usize = group.iter().map(Op::request_bytes).sum();
            let largest = group.iter().map(Op::request_bytes).max().unwrap_or(0);
            Some(Limits {
                max_request_bytes: (bytes / 2).max(largest),
                ..limits
            })
        }
        _ => None,
    }
}

/// What [`commit_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub transactions: usize,
    /// The revision after the last transaction (0 when there was nothing to write).
    pub revision: i64,
}

/// Commits `ops` in order, in transactions within `limits`, splitting a transaction the
/// server refuses as too big (see [`lowered_limits`]); `limits` ends as the limits that
/// worked. Stops at the first other error, with the transactions before it written.
pub fn commit_all(
    store: &mut dyn KvStore,
    ops: Vec<Op>,
    limits: &mut Limits,
) -> Result<Committed, EtcdError> {
    let mut groups = batches(ops, *limits)?;
    let mut done = Committed {
        transactions: 0,
        revision: 0,
    };
    let mut i = 0;
    while i < groups.len() {
        match store.commit(&groups[i]) {
            Ok(rev) => {
                done.transactions += 1;
                done.revision = rev;
                i += 1;
            }
            Err(cause) => {
                let lower = lowered_limits(&cause, &groups[i], *limits).ok_or(cause)?;
                *limits = lower;
                resplit(&mut groups, i, lower)?;
            }
        }
    }
    Ok(done)
}

/// Splits `groups[from..]` again within `limits`, keeping the operations' order.
pub fn resplit(groups: &mut Vec<Vec<Op>>, from: usize, limits: Limits) -> Result<(), EtcdError> {
    let rest: Vec<Op> = groups.drain(from..).flatten().collect();
    groups.extend(batches(rest, limits)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::{Expect, MemStore};

    fn put(i: usize, len: usize) -> Op {
        Op::Put {
            key: format!("/k/{i:02}").into_bytes(),
            value: vec![b'v'; len],
            expect: Expect::Absent,
        }
    }

    #[test]
    fn a_server_with_fewer_operations_per_transaction_gets_smaller_ones() {
        // The client assumes 128; this server takes 5.
        let server = Limits {
            max_ops: 5,
            ..Limits::ETCD_DEFAULT
        };
        let mut store = MemStore::new().with_limits(server);
        let ops: Vec<Op> = (0..23).map(|i| put(i, 10)).collect();
        let mut limits = Limits::ETCD_DEFAULT;
        let done = commit_all(&mut store, ops, &mut limits).unwrap();
        // 23 refused -> 11 refused -> 5: then 5+5+5+5+3.
        assert_eq!(limits.max_ops, 5);
        assert_eq!(done.transactions, 5);
        for i in 0..23 {
            let kv = store.get(format!("/k/{i:02}").as_bytes()).unwrap();
            assert_eq!(kv.map(|kv| kv.value), Some(vec![b'v'; 10]), "key {i}");
        }
    }

    #[test]
    fn a_server_with_a_smaller_request_size_gets_smaller_requests() {
        let one = put(0, 1000).request_bytes();
        let server = Limits {
            max_request_bytes: 3 * one,
            ..Limits::ETCD_DEFAULT
        };
        let mut store = MemStore::new().with_limits(server);
        let ops: Vec<Op> = (0..10).map(|i| put(i, 1000)).collect();
        let mut limits = Limits::ETCD_DEFAULT;
        let done = commit_all(&mut store, ops, &mut limits).unwrap();
        assert!(limits.max_request_bytes <= 3 * one, "{limits:?}");
        assert!(done.transactions >= 4, "{done:?}");
        assert_eq!(store.get_prefix(b"/k/").unwrap().0.len(), 10);
    }

    #[test]
    fn a_single_operation_over_the_limit_and_other_errors_stand() {
        let server = Limits {
            max_request_bytes: 100,
            ..Limits::ETCD_DEFAULT
        };
        let mut store = MemStore::new().with_limits(server);
        let mut limits = Limits::ETCD_DEFAULT;
        let err = commit_all(&mut store, vec![put(0, 500)], &mut limits).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        assert!(store.get_prefix(b"/k/").unwrap().0.is_empty());

        let mut store = MemStore::new();
        store.put(b"/k/00", b"there");
        let err = commit_all(&mut store, vec![put(0, 1), put(1, 1)], &mut limits).unwrap_err();
        assert!(matches!(err, EtcdError::Conflict { .. }), "{err}");
        assert_eq!(limits, Limits::ETCD_DEFAULT, "a conflict lowers nothing");
    }
}
