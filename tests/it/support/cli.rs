//! The one runner of the dh-migrate binary for every test module: a working directory,
//! a cleared environment holding only PATH and a HOME the test chooses (so anything the
//! binary writes there shows), plus whatever variables a test adds.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The binary under test, as a `std::process::Command` (for pseudo-terminal sessions),
/// set to run in `cwd` with a cleared environment and `HOME=home`.
pub fn command(cwd: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dh-migrate"));
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    cmd
}

/// Runs the binary with `args` in `cwd` (`HOME=home`), stdin closed, and waits.
pub fn run_with_home<S: AsRef<OsStr>>(cwd: &Path, home: &Path, args: &[S]) -> Output {
    command(cwd, home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Runs the binary with `args` in `dir`, which is HOME too.
pub fn run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    run_with_home(dir, dir, args)
}

/// As [`run_with_home`], with extra environment variables.
pub fn run_with_env<S: AsRef<OsStr>>(
    cwd: &Path,
    home: &Path,
    env: &[(&str, &Path)],
    args: &[S],
) -> Output {
    let mut cmd = command(cwd, home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A finished run of the binary, for assertions that print everything on failure.
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(args: &[&str], o: Output) -> Run {
        Run {
            what: format!("dh-migrate {}", args.join(" ")),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Fails, showing both streams, unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails unless stderr holds `needle`.
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "{}: stderr lacks {needle:?}:\n{}",
            self.what,
            self.stderr
        );
        self
    }
}

/// A scratch area per test: the working directory the binary runs in (so a stray file
/// is seen), its HOME, and a place for run records and other outputs.
pub struct Work {
    _tmp: tempfile::TempDir,
    pub cwd: std::path::PathBuf,
    pub home: std::path::PathBuf,
    pub out: std::path::PathBuf,
}

impl Work {
    pub fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let [cwd, home, out] = ["cwd", "home", "out"].map(|d| tmp.path().join(d));
        for d in [&cwd, &home, &out] {
            std::fs::create_dir(d).unwrap();
        }
        Work {
            _tmp: tmp,
            cwd,
            home,
            out,
        }
    }

    /// Runs dh-migrate in `cwd` with a cleared environment (PATH and a private HOME only).
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(args, run_with_home(&self.cwd, &self.home, args))
    }

    /// A path under the output folder.
    pub fn path(&self, name: &str) -> String {
        self.out.join(name).display().to_string()
    }
}
