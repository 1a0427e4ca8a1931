//! Loads the data set of the snapshot benchmark (scripts/bench-snapshot.sh) into an etcd:
//! KEYS keys with history, in large transactions (the script starts etcd with raised
//! `--max-txn-ops`/`--max-request-bytes` limits so a million keys load in about a minute).
//!
//! Usage: snapshot_bench_load ENDPOINT KEYS VALUE_BYTES
//! Round 1 puts every key `/bench/k/NNNNNNN` with a VALUE_BYTES value (every 1000th key gets
//! a value over a 4 KiB page, so overflow pages are read too); round 2 overwrites every
//! second key; round 3 deletes every tenth key; a few keys are bound to a lease. Values are
//! deterministic, so two runs give the same keyspace.

use etcd_client::{Client, PutOptions, Txn, TxnOp};
use std::time::Instant;

const BATCH: usize = 5000;

fn value(i: usize, round: u8, len: usize) -> Vec<u8> {
    let len = if i % 1000 == 7 { 6000 } else { len };
    // A cheap xorshift stream seeded by key and round: incompressible, reproducible.
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(round);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect()
}

fn key(i: usize) -> String {
    format!("/bench/k/{i:07}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, keys, value_bytes] = args.as_slice() else {
        return Err("usage: snapshot_bench_load ENDPOINT KEYS VALUE_BYTES".into());
    };
    let (keys, value_bytes): (usize, usize) = (keys.parse()?, value_bytes.parse()?);
    let start = Instant::now();
    let mut client = Client::connect([endpoint.as_str()], None).await?;
    let lease = client.lease_grant(3600, None).await?.id();
    // Round 1 writes every key, round 2 every second one.
    for (round, step) in [(1u8, 1usize), (2, 2)] {
        let chosen: Vec<usize> = (0..keys).step_by(step).collect();
        for chunk in chosen.chunks(BATCH) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|&i| {
                    let opts = (i % 100_000 == 5).then(|| PutOptions::new().with_lease(lease));
                    TxnOp::put(key(i), value(i, round, value_bytes), opts)
                })
                .collect();
            client.txn(Txn::new().and_then(ops)).await?;
        }
    }
    let doomed: Vec<usize> = (0..keys).filter(|i| i % 10 == 3).collect();
    for chunk in doomed.chunks(BATCH) {
        let ops: Vec<TxnOp> = chunk.iter().map(|&i| TxnOp::delete(key(i), None)).collect();
        client.txn(Txn::new().and_then(ops)).await?;
    }
    eprintln!(
        "loaded {keys} keys with history in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
