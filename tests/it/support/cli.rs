//! Running the real binary as a user would, but sealed: in `dir`, with a cleared
//! environment whose HOME is `dir` itself (so anything written there shows in a listing).

use assert_cmd::Command;
use std::path::Path;
use std::process::Output;

/// Runs `dh-migrate ARGS` in `dir` with a cleared environment (PATH kept, HOME = `dir`).
pub fn run_sealed(dir: &Path, args: &[&str]) -> Output {
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
