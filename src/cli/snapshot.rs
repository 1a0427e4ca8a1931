//! `dh-migrate snapshot dump|status SNAPSHOT`: read an etcd v3 snapshot offline (no etcd
//! process), through `crate::snapshot_db`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::args::OutputFormat;
use super::Ctx;
use crate::error::CliError;
use crate::snapshot_db::{LiveKv, Options, Snapshot, Status};
use crate::ui::UiError;

/// Read an etcd v3 snapshot (`etcdctl snapshot save`) without an etcd process.
#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    Dump(DumpArgs),
    Status(StatusArgs),
}

/// Print the live keyspace: one JSON object per line per live key, in key order, with
/// `key`, `value_sha256`, `create_revision`, `mod_revision`, `version`, `lease`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The snapshot file.
    pub snapshot: PathBuf,
    /// Only keys starting with this prefix.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Also print each value, base64-encoded, as `value_b64`. This prints raw values,
    /// secrets included (passwords in property files, keys): keep the output private.
    #[arg(long)]
    pub values: bool,
    /// Accept a file without the SHA-256 trailer `snapshot save` appends (for example a
    /// member's own `member/snap/db`); its structure is still checked.
    #[arg(long)]
    pub skip_hash_check: bool,
}

/// Print what `etcdctl snapshot status` prints (hash, revision, keys, size) and what a
/// restore of this snapshot would bring back: members, etcd users and roles, leases and
/// lease-bound runtime keys.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The snapshot file.
    pub snapshot: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Accept a file without the SHA-256 trailer (see `snapshot dump --help`).
    #[arg(long)]
    pub skip_hash_check: bool,
}

fn options(skip_hash_check: bool) -> Options {
    Options {
        require_trailer: !skip_hash_check,
    }
}

pub fn run(cmd: SnapshotCommand, ctx: &Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        SnapshotCommand::Dump(a) => dump(a),
        SnapshotCommand::Status(a) => status(a, ctx),
    }
}

/// One `dump` line, fields in the documented order.
#[derive(serde::Serialize)]
struct DumpLine<'a> {
    key: std::borrow::Cow<'a, str>,
    /// Keys are bytes in etcd: one that is not UTF-8 is shown readably and exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_b64: Option<String>,
    value_sha256: String,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    lease: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_b64: Option<String>,
}

/// One `dump` line for a live key.
pub fn dump_line(kv: &LiveKv, values: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let line = DumpLine {
        key: String::from_utf8_lossy(&kv.key),
        key_b64: std::str::from_utf8(&kv.key)
            .is_err()
            .then(|| b64.encode(&kv.key)),
        value_sha256: {
            let mut hex = [0u8; 64];
            hex::encode_to_slice(Sha256::digest(&kv.value), &mut hex)
                .expect("64 hex digits for 32 bytes");
            String::from_utf8_lossy(&hex).into_owned()
        },
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
        value_b64: values.then(|| b64.encode(&kv.value)),
    };
    serde_json::to_string(&line).expect("a dump line always serializes")
}

fn dump(a: DumpArgs) -> Result<ExitCode, CliError> {
    let snap = Snapshot::open(&a.snapshot, options(a.skip_hash_check))?;
    // Streamed line by line rather than through `Ui::out`: a million keys make hundreds of
    // MiB of output, which must never be held in memory.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = snap.for_each_live(a.prefix.as_bytes(), |kv| {
        writeln!(out, "{}", dump_line(&kv, a.values))
    })?;
    match written.and_then(|_| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(source) => Err(UiError {
            stream: "stdout",
            source,
        }
        .into()),
    }
}

fn status(a: StatusArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let snap = Snapshot::open(&a.snapshot, options(a.skip_hash_check))?;
    let st = snap.status()?;
    match a.format {
        OutputFormat::Json => ctx.ui.json(&st)?,
        OutputFormat::Text => ctx.ui.out(&render_status(&st))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of `snapshot status`: etcdctl's four figures, then the restore advice.
pub fn render_status(st: &Status) -> String {
    use std::fmt::Write as _;
    // Names come from the file: escaped so a crafted snapshot cannot drive the terminal.
    let e = |t: &str| crate::ui::esc(t).into_owned();
    let id = &st.identity;
    let mut s = String::new();
    let _ = writeln!(s, "hash:        {:x}", st.hash);
    let _ = writeln!(s, "revision:    {}", st.revision);
    let _ = writeln!(s, "total keys:  {}", st.total_keys);
    let _ = writeln!(s, "total size:  {}", st.total_size);
    let _ = writeln!(
        s,
        "file size:   {} ({})",
        st.file_size,
        if st.has_trailer {
            "SHA-256 trailer verified"
        } else {
            "no SHA-256 trailer"
        }
    );
    let _ = writeln!(
        s,
        "live keys:   {} ({} revisions held{})",
        st.live_keys,
        st.revisions,
        id.compact_revision
            .map(|r| format!(", compacted at {r}"))
            .unwrap_or_default()
    );
    if let Some(v) = &id.cluster_version {
        let _ = writeln!(s, "etcd cluster version: {}", e(v));
    }
    let _ = writeln!(s, "\nA restore of this snapshot brings back:");
    let _ = writeln!(s, "  members ({}):", id.members.len());
    for m in &id.members {
        let _ = writeln!(
            s,
            "    {} {} peers {}{}",
            e(&m.id),
            if m.name.is_empty() {
                "(unnamed)".to_string()
            } else {
                e(&m.name)
            },
            e(&m.peer_urls.join(",")),
            if m.client_urls.is_empty() {
                String::new()
            } else {
                format!(" clients {}", e(&m.client_urls.join(",")))
            }
        );
    }
    let _ = writeln!(
        s,
        "  etcd users ({}, auth {}; passwords not shown):",
        id.users.len(),
        if id.auth_enabled {
            "enabled"
        } else {
            "disabled"
        }
    );
    for u in &id.users {
        let _ = writeln!(s, "    {} roles: {}", e(&u.name), e(&u.roles.join(", ")));
    }
    let _ = writeln!(s, "  etcd roles ({}):", id.roles.len());
    for r in &id.roles {
        let _ = writeln!(s, "    {} ({} permissions)", e(&r.name), r.permissions);
    }
    let _ = writeln!(s, "  leases ({}):", id.leases.len());
    for l in &id.leases {
        let _ = writeln!(s, "    {:x} ttl {}s", l.id, l.ttl);
    }
    let _ = writeln!(s, "  lease-bound runtime keys ({}):", st.leased_keys.len());
    for k in &st.leased_keys {
        let _ = writeln!(s, "    {} (lease {:x})", e(&k.key), k.lease);
    }
    s
}
