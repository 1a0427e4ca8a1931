//! `-u/--user` of `backup` and `restore`: run as a given account, as `backup_deephaven`
//! does. Already that account: carry on. Another account: re-run this very command
//! through `sudo -n -u USER` (never prompting, so cron never hangs), say so on stderr,
//! and pass the child's exit status on. When the account does not exist, sudo is missing,
//! or sudo refuses, a clear error (exit 22) says how to fix it.

use crate::error::{CliError, ErrorKind};
use std::ffi::OsString;
use std::process::{Command, ExitCode};

/// The numeric id of `user`, as the system's user database (NSS) knows it.
fn uid_of(user: &str) -> Result<u32, CliError> {
    let out = Command::new("id")
        .args(["-u", "--", user])
        .output()
        .map_err(|e| {
            CliError::new(
                ErrorKind::SwitchUser,
                format!("cannot run `id` to look up user {user}: {e}"),
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), text.trim().parse::<u32>()) {
        (true, Ok(uid)) => Ok(uid),
        _ => Err(CliError::new(
            ErrorKind::SwitchUser,
            format!("user {user} does not exist on this machine (-u/--user)"),
        )
        .hint("give -u with the account that runs Deephaven (backup_deephaven's default is irisadmin)")),
    }
}

/// Runs the current command as `user`: `Ok(None)` when this process already is that
/// user; otherwise the exit status of the same command re-run through `sudo -n -u user`.
pub fn switch_user(user: &str, command: &str) -> Result<Option<ExitCode>, CliError> {
    let uid = uid_of(user)?;
    if rustix::process::geteuid().as_raw() == uid {
        return Ok(None);
    }
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            ErrorKind::SwitchUser,
            format!("cannot find the dh-migrate program to re-run as {user}: {e}"),
        )
    })?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    eprintln!("dh-migrate {command}: running as {user} through `sudo -n -u {user}`");
    let status = Command::new("sudo")
        .args(["-n", "-u", user, "--"])
        .arg(&exe)
        .args(&args)
        .status()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "sudo is not installed".to_string()
            } else {
                format!("sudo could not be started: {e}")
            };
            CliError::new(
                ErrorKind::SwitchUser,
                format!("cannot run as {user}: {why}; nothing was written"),
            )
            .hint(format!(
                "run dh-migrate as {user}, or give -u with the current account"
            ))
        })?;
    match status.code() {
        // sudo's own failure (password needed, not allowed); dh-migrate never exits 1
        // from backup or restore.
        Some(1) => Err(CliError::new(
            ErrorKind::SwitchUser,
            format!("cannot run as {user}: `sudo -n -u {user}` refused (see its message above); nothing was written"),
        )
        .hint(format!("allow it without a password in sudoers, run dh-migrate as {user}, or give -u with the current account"))),
        Some(code) => Ok(Some(ExitCode::from(u8::try_from(code).unwrap_or(70)))),
        None => Err(CliError::new(
            ErrorKind::SwitchUser,
            format!("the run as {user} was killed by a signal ({status})"),
        )),
    }
}
