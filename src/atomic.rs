//! The one way dh-migrate writes a single file (saved plans, mapping files, run records):
//! a temporary file in the destination's folder, synced, then renamed into place, so an
//! interruption leaves either the old file or the new one, never half of one. Whole trees
//! (`--emit`, `--files-out`, `export`) get the same guarantee from `emit`, one level up.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The permission bits of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exactly these bits (e.g. 0600 for a file holding previous values).
    Exact(u32),
    /// The replaced file's bits, or the usual ones for a new file (0666 less the umask).
    Usual,
}

/// Writing `path` failed; nothing was left at `path` that was not there before.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    /// True when `no_clobber` refused an existing file.
    pub fn already_exists(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AlreadyExists
    }
}

/// Writes `bytes` to `path` all at once. With `no_clobber`, an existing file is never
/// replaced (the error says so).
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    no_clobber: bool,
) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".dh-migrate-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bits = match mode {
            Mode::Exact(bits) => bits,
            Mode::Usual => std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode()),
        };
        builder.permissions(std::fs::Permissions::from_mode(bits & 0o7777));
    }
    let mut tmp = builder.tempfile_in(&parent).map_err(err)?;
    #[cfg(unix)]
    if let Mode::Exact(bits) = mode {
        // Creation applied the umask; exact bits are exact.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(bits & 0o7777))
            .map_err(err)?;
    }
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    if no_clobber {
        tmp.persist_noclobber(path).map_err(|e| err(e.error))?;
    } else {
        tmp.persist(path).map_err(|e| err(e.error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_exact_mode_and_never_clobbers_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        write_atomic(&p, b"one", Mode::Exact(0o600), true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let bits = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(bits, 0o600);
        let e = write_atomic(&p, b"two", Mode::Exact(0o600), true).unwrap_err();
        assert!(e.already_exists(), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        // Only the file itself is in the folder: no temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&p, b"three", Mode::Usual, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        let bits = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(bits, 0o600, "the replaced file's mode is kept");
    }
}
