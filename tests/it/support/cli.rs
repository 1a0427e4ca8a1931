//! Running the real binary the way the CLI tests do: in a given folder, with a cleared
//! environment (only `PATH`, and `HOME` set to that folder so anything written there
//! shows in a listing of it).

use assert_cmd::Command;
use std::path::Path;
use std::process::Output;

/// Runs `dh-migrate ARGS` in `dir` with a cleared environment; HOME is `dir`.
pub fn dh_migrate(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("dh-migrate")
        .unwrap()
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap()
}
