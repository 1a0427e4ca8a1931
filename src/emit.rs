//! Writing the trees dh-migrate makes (`plan --emit`, `apply --files-out`, `export`):
//! through [`crate::atomic::write_atomic`], all or nothing, never over a folder that holds
//! anything. A bundle-layout tree also gets its `MANIFEST.sha256`.

use std::path::Path;

pub use crate::atomic::{file_mode, OutFile, WriteError as EmitError, KEY_DIR_MODE, KEY_FILE_MODE};
use crate::atomic::{holds_anything, write_atomic, Mode};

/// Checks that `dir` may be written (absent, or an empty folder) without writing anything.
pub fn check_destination(dir: &Path) -> Result<(), EmitError> {
    if holds_anything(dir)? {
        return Err(EmitError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `files` as a new tree at `dir` (absent or empty), each file with its own mode
/// (key files 0600). Returns the number of files written.
pub fn write_tree(dir: &Path, files: &[OutFile<'_>]) -> Result<usize, EmitError> {
    write_atomic(dir, files, Mode::Usual, true)?;
    Ok(files.len())
}

/// Writes `files` as a new bundle-layout tree at `dir`, with a `MANIFEST.sha256` listing
/// them, so the result verifies like any bundle. Returns the number of files written,
/// the manifest included.
pub fn write_bundle_tree(dir: &Path, files: &[OutFile<'_>]) -> Result<usize, EmitError> {
    use sha2::{Digest, Sha256};
    let hashes: Vec<(&str, [u8; 32])> = files
        .iter()
        .map(|f| (f.path, Sha256::digest(f.content).into()))
        .collect();
    let manifest = crate::bundle::manifest_for(hashes.iter().map(|(p, h)| (*p, h)));
    let mut all: Vec<OutFile<'_>> = files
        .iter()
        .map(|f| OutFile {
            path: f.path,
            content: f.content,
            mode: f.mode,
        })
        .collect();
    all.push(OutFile {
        path: crate::bundle::MANIFEST,
        content: manifest.as_bytes(),
        mode: 0o644,
    });
    write_tree(dir, &all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn writes_all_files_with_their_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let files = [
            OutFile {
                path: "a/b.txt",
                content: b"hello",
                mode: 0o644,
            },
            OutFile {
                path: "k/priv.key",
                content: b"secret",
                mode: 0o600,
            },
        ];
        assert_eq!(write_tree(&dir, &files).unwrap(), 2);
        assert_eq!(fs::read(dir.join("a/b.txt")).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(dir.join("k/priv.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(m, 0o600);
        }
        // Nothing left over next to it.
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn a_bundle_tree_carries_a_manifest_that_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let files = [OutFile {
            path: "config/props/a.prop",
            content: b"a=1\n",
            mode: 0o644,
        }];
        assert_eq!(write_bundle_tree(&dir, &files).unwrap(), 2);
        let b = crate::bundle::Bundle::open(&dir).unwrap();
        assert_eq!(
            b.manifest,
            crate::bundle::ManifestStatus::Verified { files: 1 }
        );
    }

    #[test]
    fn refuses_a_non_empty_destination_and_unsafe_paths_writing_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("x"), b"x").unwrap();
        assert!(matches!(
            write_tree(&dir, &[]),
            Err(EmitError::NotEmpty { .. })
        ));
        let dir2 = tmp.path().join("out2");
        let bad = [
            OutFile {
                path: "ok.txt",
                content: b"1",
                mode: 0,
            },
            OutFile {
                path: "../escape",
                content: b"2",
                mode: 0,
            },
        ];
        assert!(matches!(
            write_tree(&dir2, &bad),
            Err(EmitError::UnsafePath { .. })
        ));
        assert!(!dir2.exists());
        assert!(!tmp.path().join("escape").exists());
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out")]);
    }
}
