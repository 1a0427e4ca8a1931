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
use crate::snapshot_db::{KeyValue, Options, Snapshot, Status};
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

/// Appends the `dump` line of one live key to `out`: a JSON object with the documented
/// fields in the documented order, then a newline. Written by hand rather than through a
/// serde struct: a million keys make a million lines, and the key is the only field that
/// needs escaping (done by serde_json, so it escapes exactly as before). A key that is
/// not UTF-8 is shown readably (invalid bytes replaced) and exactly (`key_b64`).
pub fn render_dump_line(out: &mut Vec<u8>, kv: &KeyValue<'_>, values: bool) {
    out.extend_from_slice(b"{\"key\":");
    let utf8 = std::str::from_utf8(kv.key);
    let key = match utf8 {
        Ok(k) => std::borrow::Cow::Borrowed(k),
        Err(_) => String::from_utf8_lossy(kv.key),
    };
    serde_json::to_writer(&mut *out, &*key).expect("writing to a Vec cannot fail");
    if utf8.is_err() {
        out.extend_from_slice(b",\"key_b64\":\"");
        push_b64(out, kv.key);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"value_sha256\":\"");
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(kv.value), &mut hex).expect("64 hex digits for 32 bytes");
    out.extend_from_slice(&hex);
    let mut num = itoa::Buffer::new();
    for (name, n) in [
        (&b"\",\"create_revision\":"[..], kv.create_revision),
        (b",\"mod_revision\":", kv.mod_revision),
        (b",\"version\":", kv.version),
        (b",\"lease\":", kv.lease),
    ] {
        out.extend_from_slice(name);
        out.extend_from_slice(num.format(n).as_bytes());
    }
    if values {
        out.extend_from_slice(b",\"value_b64\":\"");
        push_b64(out, kv.value);
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");

    fn push_b64(out: &mut Vec<u8>, bytes: &[u8]) {
        let start = out.len();
        out.resize(
            start + base64::encoded_len(bytes.len(), true).expect("fits in memory"),
            0,
        );
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut out[start..])
            .expect("sized by encoded_len");
        out.truncate(start + n);
    }
}

fn dump(a: DumpArgs) -> Result<ExitCode, CliError> {
    let snap = Snapshot::open(&a.snapshot, options(a.skip_hash_check))?;
    // Streamed batch by batch rather than through `Ui::out`: a million keys make hundreds
    // of MiB of output, which must never be held in memory. Values are read back, hashed
    // and rendered on every core; this thread writes the batches in key order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
    let mut out = std::io::stdout().lock();
    let written = snap.for_each_live_rendered(
        a.prefix.as_bytes(),
        threads,
        |buf, kv| render_dump_line(buf, kv, a.values),
        |batch| out.write_all(batch),
    )?;
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

/// Rendering threads of `dump` at most (beyond a few, writing the output is the limit).
const MAX_THREADS: usize = 4;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The line `dump` wrote through serde before it was written by hand: the reference
    /// the hand-written line must equal byte for byte.
    fn serde_line(kv: &KeyValue<'_>, values: bool) -> String {
        #[derive(serde::Serialize)]
        struct DumpLine<'a> {
            key: std::borrow::Cow<'a, str>,
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
        let b64 = base64::engine::general_purpose::STANDARD;
        let line = DumpLine {
            key: String::from_utf8_lossy(kv.key),
            key_b64: std::str::from_utf8(kv.key)
                .is_err()
                .then(|| b64.encode(kv.key)),
            value_sha256: hex::encode(Sha256::digest(kv.value)),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
            value_b64: values.then(|| b64.encode(kv.value)),
        };
        serde_json::to_string(&line).unwrap() + "\n"
    }

    #[test]
    fn hand_written_dump_lines_equal_serdes() {
        let keys: [&[u8]; 7] = [
            b"/plain/key",
            b"",
            b"quote\" back\\slash / \x00\x01\x08\t\n\x0c\r\x1f\x7f",
            "unicode \u{e9}\u{2028}\u{1f600}".as_bytes(),
            b"not utf-8 \xff\xfe end",
            b"\xc3",
            b"</script>",
        ];
        let values: [&[u8]; 4] = [b"", b"v", b"\x00\xff binary", &[7u8; 5000]];
        let mut out = Vec::new();
        let mut want = String::new();
        for (i, key) in keys.iter().enumerate() {
            for (j, value) in values.iter().enumerate() {
                for values_too in [false, true] {
                    let kv = KeyValue {
                        key,
                        value,
                        create_revision: i as i64,
                        mod_revision: i64::MAX - j as i64,
                        version: -1,
                        lease: 0x7eee_1234_5678_9abc * (j as i64 % 2),
                    };
                    render_dump_line(&mut out, &kv, values_too);
                    want += &serde_line(&kv, values_too);
                }
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
