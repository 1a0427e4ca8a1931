//! What a backup copies from the machine it runs on: the per-node configuration under
//! `/etc/sysconfig/deephaven` and `/etc/sysconfig/illumon.d` (below a files root), the
//! `DbInternal.WorkspaceData` table's files under the intraday and historical roots of a
//! database root, and a `mysqldump` of the `dbacl_iris` database.
//!
//! Walks list files in path order without following links; a link, socket or device is
//! not copied and is reported (never skipped silently). The backups folder itself, the
//! destination, and etcd data directories (recognised by their `member/wal` or
//! `member/snap` folders, whatever they are called) are never copied.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// Configuration folders copied into `files/`, relative to the files root.
pub const CONFIG_ROOTS: &[&str] = &["etc/sysconfig/deephaven", "etc/sysconfig/illumon.d"];

/// Never copied: where `backup_deephaven` (and dh-migrate by default) keeps backups.
pub const BACKUPS_DIR: &str = "etc/sysconfig/deephaven/backups";

/// Database roots holding `DbInternal` tables: intraday, intraday user, historical
/// system and user data.
pub const DB_ROOTS: &[&str] = &["Intraday", "IntradayUser", "Systems", "Users"];

/// The one `DbInternal` table a backup carries.
pub const WORKSPACE_TABLE: &str = "WorkspaceData";

/// The MySQL/MariaDB database holding the ACLs of old installs.
pub const ACL_DATABASE: &str = "dbacl_iris";

/// One file to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Absolute path on this machine.
    pub from: PathBuf,
    /// Path in the bundle.
    pub to: String,
    pub mode: u32,
    pub size: u64,
}

/// Something found and deliberately not copied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid UTF-8 and cannot be named in a bundle")]
    NotUtf8 { path: PathBuf },
    /// `mysqldump` is missing or failed.
    #[error("{0}")]
    Tool(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// True when `dir` is (or holds, one level down) an etcd data directory.
fn is_etcd_data_dir(dir: &Path) -> bool {
    let member = dir.join("member");
    member.join("wal").is_dir() || member.join("snap").is_dir()
}

/// Files under `root/rel` for each of `rels`, bundle paths `prefix` + path below `root`;
/// `keep` decides per file (by its path below `root`), `exclude` prunes folders.
fn walk(
    root: &Path,
    rels: &[&str],
    prefix: &str,
    exclude: &[PathBuf],
    keep: &dyn Fn(&str) -> bool,
    files: &mut Vec<SourceFile>,
    skipped: &mut Vec<Skipped>,
) -> Result<(), SourceError> {
    fn visit(
        root: &Path,
        dir: &Path,
        prefix: &str,
        exclude: &[PathBuf],
        keep: &dyn Fn(&str) -> bool,
        files: &mut Vec<SourceFile>,
        skipped: &mut Vec<Skipped>,
    ) -> Result<(), SourceError> {
        let mut entries: Vec<(OsString, PathBuf)> = fs::read_dir(dir)
            .map_err(io_at(dir))?
            .map(|e| e.map(|e| (e.file_name(), e.path())))
            .collect::<Result<_, _>>()
            .map_err(io_at(dir))?;
        entries.sort();
        for (_, path) in entries {
            let meta = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                if exclude.iter().any(|x| x == &path) {
                    continue;
                }
                if is_etcd_data_dir(&path) {
                    skipped.push(Skipped {
                        path,
                        reason: "an etcd data directory (never copied)".into(),
                    });
                    continue;
                }
                visit(root, &path, prefix, exclude, keep, files, skipped)?;
            } else if kind.is_file() {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .to_str()
                    .ok_or_else(|| SourceError::NotUtf8 { path: path.clone() })?;
                if keep(rel) {
                    files.push(SourceFile {
                        to: format!("{prefix}{rel}"),
                        from: path.clone(),
                        mode: mode_of(&meta),
                        size: meta.len(),
                    });
                }
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy();
                if keep(&rel) {
                    let what = if kind.is_symlink() {
                        match fs::read_link(&path) {
                            Ok(t) => format!("a symbolic link to {}", t.display()),
                            Err(_) => "a symbolic link".to_string(),
                        }
                    } else {
                        "not a regular file".to_string()
                    };
                    skipped.push(Skipped {
                        path,
                        reason: format!("{what} (only regular files are copied)"),
                    });
                }
            }
        }
        Ok(())
    }
    for rel in rels {
        let start = root.join(rel);
        match fs::symlink_metadata(&start) {
            Ok(m) if m.is_dir() => {
                visit(root, &start, prefix, exclude, keep, files, skipped)?;
            }
            Ok(_) => skipped.push(Skipped {
                path: start,
                reason: "not a folder".into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&start)(e)),
        }
    }
    Ok(())
}

/// Permission bits (with setuid/setgid/sticky) of a file.
pub(crate) fn mode_of(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0o644
    }
}

/// The per-node configuration below `files_root`, as `files/<absolute path>`. Folders in
/// `exclude` (absolute, e.g. the backup destination) are left out, and so is the backups
/// folder.
pub fn config_files(
    files_root: &Path,
    exclude: &[PathBuf],
) -> Result<(Vec<SourceFile>, Vec<Skipped>), SourceError> {
    let mut excluded: Vec<PathBuf> = exclude.to_vec();
    excluded.push(files_root.join(BACKUPS_DIR));
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
    walk(
        files_root,
        CONFIG_ROOTS,
        "files/",
        &excluded,
        &|_| true,
        &mut files,
        &mut skipped,
    )?;
    Ok((files, skipped))
}

/// The `DbInternal.WorkspaceData` files below `db_root`, as `workspace/<path below the
/// root>` (e.g. `workspace/Intraday/DbInternal/WorkspaceData/...`). Only paths with a
/// `WorkspaceData` folder below `DbInternal` are taken: no other `DbInternal` table, and
/// nothing outside the four data roots (so never `TempFiles`).
pub fn workspace_files(db_root: &Path) -> Result<(Vec<SourceFile>, Vec<Skipped>), SourceError> {
    let rels: Vec<String> = DB_ROOTS.iter().map(|r| format!("{r}/DbInternal")).collect();
    let rels: Vec<&str> = rels.iter().map(String::as_str).collect();
    let keep = |rel: &str| rel.split('/').skip(2).any(|part| part == WORKSPACE_TABLE);
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
    walk(
        db_root,
        &rels,
        "workspace/",
        &[],
        &keep,
        &mut files,
        &mut skipped,
    )?;
    Ok((files, skipped))
}

/// How to reach the MySQL/MariaDB server holding the ACLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlSource {
    /// The dump program (`mysqldump`, found on the PATH, unless a path is given).
    pub program: PathBuf,
    /// `--defaults-file` (credentials stay in that file, never on a command line).
    pub defaults_file: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub user: Option<String>,
}

impl MysqlSource {
    /// The program with the connection options (no credentials on the command line).
    fn connect_command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        // mysqldump wants --defaults-file first.
        if let Some(f) = &self.defaults_file {
            let mut a = OsString::from("--defaults-file=");
            a.push(f);
            cmd.arg(a);
        }
        if let Some(s) = &self.socket {
            let mut a = OsString::from("--socket=");
            a.push(s);
            cmd.arg(a);
        }
        if let Some(u) = &self.user {
            cmd.arg(format!("--user={u}"));
        }
        cmd
    }

    fn command(&self) -> Command {
        let mut cmd = self.connect_command();
        // One consistent view without locking the ACL writer out; the database's own
        // CREATE/USE lines, so the dump restores on its own.
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--databases",
            ACL_DATABASE,
        ]);
        cmd
    }

    /// Runs the dump, streaming its output into `out`. A missing program, a failure to
    /// start, or a non-zero exit is [`SourceError::Tool`] with the program's own message.
    pub fn dump(
        &self,
        out: &mut dyn io::Write,
        out_error: &dyn Fn(io::Error) -> SourceError,
    ) -> Result<(), SourceError> {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = self.spawn(cmd, "dump the database", "--mysqldump")?;
        let errors = drain(child.stderr.take());
        let copied = match child.stdout.take() {
            Some(mut stdout) => io::copy(&mut stdout, out).map(|_| ()),
            None => Ok(()),
        };
        if copied.is_err() {
            let _ = child.kill();
        }
        let finished = self.finish(child, errors);
        copied.map_err(out_error)?;
        finished
    }

    /// Starts `cmd` (this source's program) with stderr captured; a missing program says
    /// what it was needed for and which option names another.
    fn spawn(
        &self,
        mut cmd: Command,
        needed_for: &str,
        option: &str,
    ) -> Result<Child, SourceError> {
        let name = self.program.display();
        cmd.stderr(Stdio::piped()).spawn().map_err(|e| {
            SourceError::Tool(if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "{name} not found (needed to {needed_for} of {ACL_DATABASE}; install \
                     mariadb-client or mysql-client, or give {option} PATH)"
                )
            } else {
                format!("cannot start {name}: {e}")
            })
        })
    }

    /// Waits for `child`; a failure carries the program's own message from `errors`.
    fn finish(&self, mut child: Child, errors: JoinHandle<String>) -> Result<(), SourceError> {
        let name = self.program.display();
        let status = child
            .wait()
            .map_err(|e| SourceError::Tool(format!("{name}: {e}")))?;
        let errors = errors.join().unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(SourceError::Tool(format!(
                "{name} failed ({status}): {}",
                errors.trim()
            )))
        }
    }
}

/// Reads a child's stderr on its own thread (so a chatty program never blocks on it),
/// keeping the first 64 KiB for the error message.
fn drain(stderr: Option<std::process::ChildStderr>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = (&mut s).take(64 * 1024).read_to_string(&mut text);
            let _ = io::copy(&mut s, &mut io::sink());
        }
        text
    })
}

impl MysqlSource {
    /// Feeds `input` (a dump made by [`MysqlSource::dump`], which recreates its database)
    /// to the client program (`mysql`/`mariadb`). A missing program or a failure is
    /// [`SourceError::Tool`] with the client's own message.
    pub fn import(&self, input: &mut dyn Read) -> Result<(), SourceError> {
        let mut cmd = self.connect_command();
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let mut child = self.spawn(cmd, "import the dump", "--mysql-client")?;
        let errors = drain(child.stderr.take());
        let fed = match child.stdin.take() {
            Some(mut stdin) => io::copy(input, &mut stdin).map(|_| ()),
            None => Ok(()),
        };
        self.finish(child, errors)?;
        fed.map_err(|e| {
            SourceError::Tool(format!(
                "feeding the dump to {}: {e}",
                self.program.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, rel.as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    #[test]
    fn config_files_leave_out_backups_etcd_data_and_links_reporting_them() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        touch(
            r,
            "etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
            0o600,
        );
        touch(r, "etc/sysconfig/deephaven/backups/system/old/x", 0o644);
        touch(
            r,
            "etc/sysconfig/deephaven/etcd/data/member/wal/0.wal",
            0o600,
        );
        touch(
            r,
            "etc/sysconfig/deephaven/etcd/client/root/endpoints",
            0o644,
        );
        touch(
            r,
            "etc/sysconfig/illumon.d/resources/tailerConfig.xml",
            0o644,
        );
        touch(r, "etc/other/ignored", 0o644);
        touch(r, "out/dest/x", 0o644);
        #[cfg(unix)]
        std::os::unix::fs::symlink("/nowhere", r.join("etc/sysconfig/illumon.d/link")).unwrap();
        let (files, skipped) = config_files(r, &[r.join("out/dest")]).unwrap();
        let got: Vec<(&str, u32)> = files.iter().map(|f| (f.to_str_path(), f.mode)).collect();
        assert_eq!(
            got,
            vec![
                (
                    "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt",
                    0o600
                ),
                (
                    "files/etc/sysconfig/deephaven/etcd/client/root/endpoints",
                    0o644
                ),
                (
                    "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
                    0o644
                ),
            ]
        );
        let why: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} {}", s.path.strip_prefix(r).unwrap().display(), s.reason))
            .collect();
        assert_eq!(
            why,
            vec![
                "etc/sysconfig/deephaven/etcd/data an etcd data directory (never copied)",
                "etc/sysconfig/illumon.d/link a symbolic link to /nowhere (only regular files are copied)",
            ]
        );
    }

    #[test]
    fn workspace_takes_only_workspace_data_from_the_data_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        touch(
            r,
            "Intraday/DbInternal/WorkspaceData/h1/2026-12-01/WorkspaceData/table.size",
            0o644,
        );
        touch(
            r,
            "Intraday/DbInternal/ProcessEventLog/h1/2026-12-01/x",
            0o644,
        );
        touch(
            r,
            "Systems/DbInternal/Partitions/0/2026-11-30/WorkspaceData/a.dat",
            0o644,
        );
        touch(r, "TempFiles/DbInternal/WorkspaceData/junk", 0o644);
        touch(r, "Intraday/Market/WorkspaceData/x", 0o644);
        let (files, skipped) = workspace_files(r).unwrap();
        let got: Vec<&str> = files.iter().map(SourceFile::to_str_path).collect();
        assert_eq!(
            got,
            vec![
                "workspace/Intraday/DbInternal/WorkspaceData/h1/2026-12-01/WorkspaceData/table.size",
                "workspace/Systems/DbInternal/Partitions/0/2026-11-30/WorkspaceData/a.dat",
            ]
        );
        assert!(skipped.is_empty());
    }

    impl SourceFile {
        fn to_str_path(&self) -> &str {
            &self.to
        }
    }
}
