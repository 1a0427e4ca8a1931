//! A real MariaDB server for tests: Debian's `mariadbd` on a Unix socket in a temporary
//! directory, no TCP (`--skip-networking`), root without a password, an empty environment.
//!
//! The data directory is made by `mariadb-install-db` (about 5 s), the server is ready when
//! it logs "ready for connections" on stderr (read on a thread that keeps draining it), and
//! `Drop` kills and reaps it. `scripts/ensure-deps.sh` installs `mariadb-server` and
//! `mariadb-client` when missing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;

const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const MARIADBD: &str = "/usr/sbin/mariadbd";
const CLIENT: &str = "/usr/bin/mariadb";
const READY_LINE: &str = "ready for connections";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct MariaDb {
    dir: TempDir,
    child: Child,
    pub socket: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl MariaDb {
    pub fn start() -> MariaDb {
        let dir = tempfile::Builder::new()
            .prefix("mdb")
            .tempdir_in("/tmp")
            .expect("tempdir for MariaDB");
        let data = dir.path().join("data");
        let out = Command::new(INSTALL_DB)
            .env_clear()
            // A shell script: it needs the usual tools.
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--user=root",
                "--skip-test-db",
            ])
            .output()
            .expect("run mariadb-install-db (is mariadb-server installed?)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = dir.path().join("sock");
        let mut child = Command::new(MARIADBD)
            .env_clear()
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .args(["--skip-networking", "--user=root"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mariadbd");
        let stderr = child.stderr.take().expect("mariadbd stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(READY_LINE) {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
        let db = MariaDb {
            dir,
            child,
            socket,
            log,
        };
        if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
            panic!("mariadbd did not become ready:\n{}", db.log());
        }
        db
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Runs SQL as root through the `mariadb` client (statements on stdin); panics unless
    /// it succeeds. Returns stdout (tab-separated rows, `--batch`).
    pub fn sql(&self, sql: &str) -> String {
        let out = self.client(&["--batch"], sql.as_bytes());
        assert!(
            out.status.success(),
            "mariadb failed on {sql}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs the `mariadb` client with `args`, feeding `input`.
    pub fn client(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = Command::new(CLIENT)
            .env_clear()
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("-uroot")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mariadb");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("feed mariadb");
        child.wait_with_output().expect("mariadb output")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
