//! The baseline for the apply benchmark (scripts/bench-apply.sh): the same keys and values
//! written the plainest way that still respects etcd's limits — a minimal loop of
//! 128-operation transactions with etcd-client, no guards, no plan, no record.
//!
//! Usage: raw_txn_baseline ENDPOINT TREE_DIR [LAYOUT_FILE]
//! Every file of TREE_DIR (a `plan --emit` output) that the default etcd layout maps to a
//! key is put at that key, with its `name` part when the layout has one (version 2: the
//! keys apply writes for a new item). Prints the number of keys and the seconds spent
//! writing.

use dh_migrate::layout::Layout;
use etcd_client::{Client, Txn, TxnOp};
use std::path::Path;
use std::time::Instant;

fn files(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            files(&p, root, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read(&p)?));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (endpoint, tree, layout) = match args.as_slice() {
        [_, endpoint, tree] => (endpoint, tree, Layout::builtin()),
        [_, endpoint, tree, file] => (
            endpoint,
            tree,
            Layout::parse(file, &std::fs::read_to_string(file)?)?,
        ),
        _ => return Err("usage: raw_txn_baseline ENDPOINT TREE_DIR [LAYOUT_FILE]".into()),
    };
    let mut all = Vec::new();
    files(Path::new(tree), Path::new(tree), &mut all)?;
    let mut kvs: Vec<(String, Vec<u8>)> = Vec::new();
    for (p, v) in all {
        let Some((key, _)) = layout.key_for(&p) else {
            continue;
        };
        let name = layout.item_keys(&key, &p).name;
        kvs.push((key, v));
        if let Some((name_key, name)) = name {
            kvs.push((name_key, name.into_bytes()));
        }
    }
    let start = Instant::now();
    let mut client = Client::connect([endpoint.as_str()], None).await?;
    for chunk in kvs.chunks(128) {
        let ops: Vec<TxnOp> = chunk
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.clone(), None))
            .collect();
        client.txn(Txn::new().and_then(ops)).await?;
    }
    println!("{} {:.3}", kvs.len(), start.elapsed().as_secs_f64());
    Ok(())
}
