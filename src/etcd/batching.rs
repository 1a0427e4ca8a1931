//! Living with a server whose limits are lower than etcd's defaults. etcd does not
//! publish its `--max-txn-ops` or `--max-request-bytes`; a transaction over either is
//! refused whole, with nothing of it written. So a refused transaction is split in two
//! and sent again, down to single operations, and the lower limits are kept for the rest.

use super::error::{EtcdError, ServerLimit};
use super::store::{batch_groups, KvStore, Limits, Op};

/// When etcd refused the transaction made of `groups` for being over the server's own
/// limits, the smaller limits to split it with. `None` for any other error, and for a
/// transaction of a single group (one item's operations, which must stay together: no
/// split can help, the error stands).
pub fn lowered_limits(cause: &EtcdError, groups: &[Vec<Op>], limits: Limits) -> Option<Limits> {
    if groups.len() < 2 {
        return None;
    }
    match cause {
        EtcdError::OverLimit {
            limit: ServerLimit::TxnOps,
            ..
        } => {
            let ops: usize = groups.iter().map(Vec::len).sum();
            let largest = groups.iter().map(Vec::len).max().unwrap_or(1);
            Some(Limits {
                max_ops: (ops / 2).max(largest),
                ..limits
            })
        }
        EtcdError::OverLimit { .. } => {
            let size = |g: &Vec<Op>| g.iter().map(Op::request_bytes).sum::<usize>();
            let bytes: usize = groups.iter().map(size).sum();
            let largest = groups.iter().map(size).max().unwrap_or(0);
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

/// Commits `groups` in order (each group's operations always in one transaction), in
/// transactions within `limits`, splitting a transaction the server refuses as too big
/// (see [`lowered_limits`]); `limits` ends as the limits that worked. Stops at the first
/// other error, with the transactions before it written.
pub fn commit_all(
    store: &mut dyn KvStore,
    groups: Vec<Vec<Op>>,
    limits: &mut Limits,
) -> Result<Committed, EtcdError> {
    let mut txns = batch_groups(groups, *limits)?;
    let mut done = Committed {
        transactions: 0,
        revision: 0,
    };
    let mut i = 0;
    while i < txns.len() {
        match store.commit(&txns[i].concat()) {
            Ok(rev) => {
                done.transactions += 1;
                done.revision = rev;
                i += 1;
            }
            Err(cause) => {
                let lower = lowered_limits(&cause, &txns[i], *limits).ok_or(cause)?;
                *limits = lower;
                resplit(&mut txns, i, lower)?;
            }
        }
    }
    Ok(done)
}

/// Splits the transactions `txns[from..]` (each as its groups) again within `limits`,
/// keeping the groups whole and in order.
pub fn resplit(txns: &mut Vec<Vec<Vec<Op>>>, from: usize, limits: Limits) -> Result<(), EtcdError> {
    let rest: Vec<Vec<Op>> = txns.drain(from..).flatten().collect();
    txns.extend(batch_groups(rest, limits)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::{Expect, MemStore};

    fn singles(ops: Vec<Op>) -> Vec<Vec<Op>> {
        ops.into_iter().map(|op| vec![op]).collect()
    }

    fn put(i: usize, len: usize) -> Op {
        Op::Put {
            key: format!("/k/{i:02}").into_bytes(),
            value: vec![b'v'; len].into(),
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
        let done = commit_all(&mut store, singles(ops), &mut limits).unwrap();
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
        let done = commit_all(&mut store, singles(ops), &mut limits).unwrap();
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
        let err = commit_all(&mut store, singles(vec![put(0, 500)]), &mut limits).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        assert!(store.get_prefix(b"/k/").unwrap().0.is_empty());

        let mut store = MemStore::new();
        store.put(b"/k/00", b"there");
        let err =
            commit_all(&mut store, singles(vec![put(0, 1), put(1, 1)]), &mut limits).unwrap_err();
        assert!(matches!(err, EtcdError::Conflict { .. }), "{err}");
        assert_eq!(limits, Limits::ETCD_DEFAULT, "a conflict lowers nothing");
    }

    /// One item's three operations (file, name, guard) as a group.
    fn item(i: usize) -> Vec<Op> {
        ["file", "name", "meta/guard"]
            .iter()
            .map(|part| Op::Put {
                key: format!("/i/{i:02}/{part}").into_bytes(),
                value: b"v".to_vec().into(),
                expect: Expect::Absent,
            })
            .collect()
    }

    #[test]
    fn an_items_operations_are_never_split_across_transactions() {
        let limits = Limits {
            max_ops: 4,
            ..Limits::ETCD_DEFAULT
        };
        // 3 + 1 fit in 4; the next item's 3 do not fit beside another 3.
        let groups = vec![item(0), vec![put(0, 1)], item(1), item(2)];
        let txns = batch_groups(groups, limits).unwrap();
        let sizes: Vec<Vec<usize>> = txns
            .iter()
            .map(|t| t.iter().map(Vec::len).collect())
            .collect();
        assert_eq!(sizes, vec![vec![3, 1], vec![3], vec![3]]);
        // A group over the operations limit is an error, as one op over the size is.
        let err = batch_groups(
            vec![item(0)],
            Limits {
                max_ops: 2,
                ..limits
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, EtcdError::TooManyOps { key, ops: 3, max_ops: 2 } if key == "/i/00/file"),
            "{err}"
        );
    }

    #[test]
    fn a_server_with_fewer_operations_per_transaction_keeps_each_item_whole() {
        // The client assumes 128; this server takes 4: one item (3 ops) per transaction.
        let server = Limits {
            max_ops: 4,
            ..Limits::ETCD_DEFAULT
        };
        let mut store = MemStore::new().with_limits(server);
        let mut limits = Limits::ETCD_DEFAULT;
        let done = commit_all(&mut store, (0..7).map(item).collect(), &mut limits).unwrap();
        assert!(limits.max_ops <= 4 && limits.max_ops >= 3, "{limits:?}");
        assert_eq!(done.transactions, 7);
        // Each item's keys were written in one transaction: the same revision.
        for i in 0..7 {
            let revs: Vec<i64> = ["file", "name", "meta/guard"]
                .iter()
                .map(|p| {
                    let key = format!("/i/{i:02}/{p}");
                    store.get(key.as_bytes()).unwrap().unwrap().mod_revision
                })
                .collect();
            assert!(revs.iter().all(|r| *r == revs[0]), "item {i}: {revs:?}");
        }
    }

    #[test]
    fn a_single_item_over_the_servers_limit_stands_and_nothing_is_written() {
        let server = Limits {
            max_ops: 2,
            ..Limits::ETCD_DEFAULT
        };
        let mut store = MemStore::new().with_limits(server);
        let mut limits = Limits::ETCD_DEFAULT;
        let err = commit_all(&mut store, vec![item(0)], &mut limits).unwrap_err();
        assert!(matches!(err, EtcdError::OverLimit { .. }), "{err}");
        assert_eq!(limits, Limits::ETCD_DEFAULT);
        assert!(store.get_prefix(b"/i/").unwrap().0.is_empty());
    }
}
