//! `dh-migrate layout detect (--snapshot FILE | --endpoints URL...)`: print a layout file
//! matching the keys an etcd (or a snapshot of one) holds (`crate::layout_detect`).

use super::args::EtcdArgs;
use super::Ctx;
use crate::error::{CliError, ErrorKind};
use crate::etcd::KvStore;
use crate::layout_detect::{detect, Seen, HEAD};
use crate::snapshot_db::{Options, Snapshot};
use crate::ui::esc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Work with etcd layout files.
#[derive(Debug, clap::Subcommand)]
pub enum LayoutCommand {
    Detect(DetectArgs),
}

/// Print a layout file (usable with `--layout`) matching the keys found: which prefixes
/// hold items (and their `file`/`name` parts), which kinds they look like from names and
/// content. Keys it could not place are listed as comments at the end. Reads only.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Read the keys from this etcd snapshot file (offline) instead of a live etcd.
    #[arg(long, value_name = "FILE", conflicts_with = "endpoints")]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

pub fn run(cmd: LayoutCommand, ctx: &Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        LayoutCommand::Detect(a) => detect_cmd(a, ctx),
    }
}

fn head(value: &[u8]) -> Vec<u8> {
    value[..value.len().min(HEAD)].to_vec()
}

fn detect_cmd(a: DetectArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let mut seen = Vec::new();
    if let Some(path) = &a.snapshot {
        // Streamed: only each value's first bytes are kept, whatever the snapshot's size.
        let snap = Snapshot::open(path, Options::default())?;
        snap.for_each_live(b"", |kv| {
            seen.push(Seen {
                key: String::from_utf8_lossy(&kv.key).into_owned(),
                head: head(&kv.value),
            });
            Ok::<(), std::convert::Infallible>(())
        })?
        .unwrap_or_else(|never| match never {});
    } else if a.etcd.given(&ctx.env) {
        let mut store = a.etcd.connect(&ctx.env)?;
        let (kvs, _) = store.get_prefix(b"")?;
        seen.extend(kvs.into_iter().map(|kv| Seen {
            key: String::from_utf8_lossy(&kv.key).into_owned(),
            head: head(&kv.value),
        }));
    } else {
        return Err(CliError::new(
            ErrorKind::Usage,
            "give --snapshot FILE or --endpoints URL (or ETCDCTL_ENDPOINTS)",
        ));
    }
    let d = detect(&seen);
    ctx.ui.out(&esc_lines(&d.layout))?;
    let kinds: Vec<String> = d.placed.iter().map(|(k, n)| format!("{k} {n}")).collect();
    ctx.ui.status(&format!(
        "{} keys read; items placed: {}; {} keys not placed (listed at the end)",
        seen.len(),
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        },
        d.unplaced.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Escapes each line (keys come from the cluster) but keeps the line breaks.
fn esc_lines(text: &str) -> String {
    text.lines().map(|l| format!("{}\n", esc(l))).collect()
}
