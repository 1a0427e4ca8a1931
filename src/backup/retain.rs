//! Backup names, the lock that keeps two runs out of one folder, and retention.
//!
//! A bundle dh-migrate wrote is named `dh-migrate-backup-YYYYMMDDTHHMMSSZ` (UTC, then
//! `-N` when a name is taken), as a folder or with `.tar.zst`. Retention deletes an entry
//! only when the name matches AND it holds a manifest (a folder's regular
//! `MANIFEST.sha256`; an archive whose first entry is the manifest, as dh-migrate writes
//! them) AND its modification time is more than the given number of days old. Nothing
//! else in the folder is ever touched, and links are never followed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::bundle::MANIFEST;

/// The name prefix of every bundle `backup` writes.
pub const NAME_PREFIX: &str = "dh-migrate-backup-";

/// The lock file in the destination folder (it stays; the lock is on the open file).
pub const LOCK_FILE: &str = ".dh-migrate-backup.lock";

/// `dh-migrate-backup-YYYYMMDDTHHMMSSZ` for a time.
pub fn bundle_name(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{NAME_PREFIX}{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// True when `name` is one of ours by name: the prefix, a UTC stamp, an optional `-N`,
/// and nothing or `.tar.zst` after it.
pub fn is_bundle_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(NAME_PREFIX) else {
        return false;
    };
    let rest = rest.strip_suffix(".tar.zst").unwrap_or(rest);
    let b = rest.as_bytes();
    if b.len() < 16 {
        return false;
    }
    let stamp_ok = b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z';
    let tail = &rest[16..];
    stamp_ok
        && (tail.is_empty()
            || tail
                .strip_prefix('-')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())))
}

/// A free name for a new bundle in `dir`: the stamp, then `-2`, `-3`... when taken (two
/// backups in the same second).
pub fn free_name(dir: &Path, at: SystemTime, ext: &str) -> String {
    let base = bundle_name(at);
    let taken = |n: &str| fs::symlink_metadata(dir.join(format!("{n}{ext}"))).is_ok();
    if !taken(&base) {
        return base;
    }
    (2u32..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Whether `path` (a folder or `.tar.zst` named like ours) holds a manifest.
fn has_manifest(path: &Path, meta: &fs::Metadata) -> bool {
    if meta.is_dir() {
        return fs::symlink_metadata(path.join(MANIFEST)).is_ok_and(|m| m.is_file());
    }
    if !meta.is_file() {
        return false;
    }
    let first = || -> io::Result<bool> {
        let dec = zstd::Decoder::new(fs::File::open(path)?)?;
        let mut ar = tar::Archive::new(dec);
        let mut entries = ar.entries()?;
        match entries.next() {
            Some(e) => {
                let e = e?;
                Ok(e.header().entry_type().is_file() && e.path()?.as_os_str() == MANIFEST)
            }
            None => Ok(false),
        }
    };
    first().unwrap_or(false)
}

/// One bundle retention removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub path: PathBuf,
    /// Age by modification time, in whole days.
    pub age_days: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("retention: removing {path}: {source}")]
pub struct RetainError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Entries in `dir` retention would remove: dh-migrate bundles (name and manifest) whose
/// modification time is more than `days` days before `now`, except `keep`. Sorted.
pub fn expired(
    dir: &Path,
    days: u64,
    now: SystemTime,
    keep: &Path,
) -> Result<Vec<Removed>, RetainError> {
    let limit = Duration::from_secs(days.saturating_mul(86_400));
    let err = |source| RetainError {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_bundle_name(name) || path == keep {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age > limit && has_manifest(&path, &meta) {
            out.push(Removed {
                path,
                age_days: age.as_secs() / 86_400,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Deletes what [`expired`] chose.
pub fn remove(removed: &[Removed]) -> Result<(), RetainError> {
    for r in removed {
        let meta = fs::symlink_metadata(&r.path).map_err(|source| RetainError {
            path: r.path.clone(),
            source,
        })?;
        let result = if meta.is_dir() {
            fs::remove_dir_all(&r.path)
        } else {
            fs::remove_file(&r.path)
        };
        result.map_err(|source| RetainError {
            path: r.path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// An exclusive lock on the destination folder, held until dropped.
pub struct DirLock {
    _file: fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another dh-migrate backup is writing to {dir} (lock {lock} is held); nothing was written"
    )]
    Held { dir: PathBuf, lock: PathBuf },
    #[error("cannot lock {lock}: {source}")]
    Io {
        lock: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Takes the lock of `dir` without waiting.
pub fn lock(dir: &Path) -> Result<DirLock, LockError> {
    let lock = dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        lock: lock.clone(),
        source,
    };
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(LockError::Held {
            dir: dir.to_path_buf(),
            lock,
        }),
        Err(e) => Err(io(e.into())),
    }
}

/// Removes what earlier runs left when they were killed: hidden partial folders and
/// archives. Only called with the lock held, so none of them is being written.
pub fn remove_stale_partials(dir: &Path) -> Result<Vec<PathBuf>, RetainError> {
    let mut removed = Vec::new();
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RetainError { path, source }
    };
    for entry in fs::read_dir(dir).map_err(err(dir))? {
        let entry = entry.map_err(err(dir))?;
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.starts_with(super::writer::PARTIAL_PREFIX))
        {
            continue;
        }
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(err(&path))?;
        if meta.is_dir() {
            fs::remove_dir_all(&path).map_err(err(&path))?;
        } else {
            fs::remove_file(&path).map_err(err(&path))?;
        }
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_utc_time_and_are_recognised() {
        // 2026-12-03 09:16:36 UTC
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_289_396);
        assert_eq!(bundle_name(t), "dh-migrate-backup-20261203T091636Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(bundle_name(leap), "dh-migrate-backup-20000229T000000Z");
        for ok in [
            "dh-migrate-backup-20261203T091636Z",
            "dh-migrate-backup-20261203T091636Z-2",
            "dh-migrate-backup-20261203T091636Z.tar.zst",
            "dh-migrate-backup-20261203T091636Z-12.tar.zst",
        ] {
            assert!(is_bundle_name(ok), "{ok}");
        }
        for bad in [
            "dh-migrate-backup-20261203T091636Z.tar.gz",
            "dh-migrate-backup-20261203T091636",
            "dh-migrate-backup-20261203T091636Z-",
            "dh-migrate-backup-20261203T091636Zx",
            "my-backup-20261203T091636Z",
            ".dh-migrate-backup-partial-dh-migrate-backup-20261203T091636Z.abc",
        ] {
            assert!(!is_bundle_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let tmp = tempfile::tempdir().unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_289_396);
        let first = free_name(tmp.path(), t, "");
        fs::create_dir(tmp.path().join(&first)).unwrap();
        assert_eq!(
            free_name(tmp.path(), t, ""),
            "dh-migrate-backup-20261203T091636Z-2"
        );
        assert_eq!(free_name(tmp.path(), t, ".tar.zst"), first);
    }

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let first = lock(tmp.path()).unwrap();
        assert!(matches!(lock(tmp.path()), Err(LockError::Held { .. })));
        drop(first);
        lock(tmp.path()).unwrap();
    }
}
