//! Writing a tree of files all or nothing: everything goes into a fresh temporary folder
//! next to the destination, which is renamed into place only when every file is written.
//! An error leaves no destination and no partial tree behind.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// One file to write: relative path, content, permission bits (0: 0644).
pub struct OutFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub mode: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(
        "{dir} already exists and is not empty: refusing to write over it (choose a new folder)"
    )]
    NotEmpty { dir: PathBuf },
    #[error("refusing to write {path}: not a plain relative path")]
    UnsafePath { path: String },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EmitError + '_ {
    move |source| EmitError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn is_plain_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Checks that `dir` may be written (absent, or an empty folder) without writing anything.
pub fn check_destination(dir: &Path) -> Result<(), EmitError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(EmitError::NotEmpty {
                    dir: dir.to_path_buf(),
                })
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EmitError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// The mode of an emitted key file, whatever the bundle said (a directory bundle copied
/// with a default umask says 0644), and of the folder holding one.
pub const KEY_FILE_MODE: u32 = 0o600;
pub const KEY_DIR_MODE: u32 = 0o700;

/// The permission bits a file is written with: 0600 for a secret file (key material,
/// credential stores: [`crate::secrets::is_secret_file`]) from any bundle kind, else the
/// bundle's own bits (0644 when it had none).
pub fn file_mode(path: &str, bundle_mode: u32) -> u32 {
    if crate::secrets::is_secret_file(path) {
        KEY_FILE_MODE
    } else if bundle_mode & 0o777 == 0 {
        0o644
    } else {
        bundle_mode & 0o777
    }
}

/// Creates a folder and its missing parents as 0755 at most: the process umask may narrow
/// that, never widen it (a umask of 0 would otherwise give 0777).
fn create_dirs(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o755);
    }
    builder.create(path)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes `files` as a new tree at `dir`. Returns the number of files written.
pub fn write_tree(dir: &Path, files: &[OutFile<'_>]) -> Result<usize, EmitError> {
    check_destination(dir)?;
    for f in files {
        if !is_plain_relative(f.path) {
            return Err(EmitError::UnsafePath {
                path: f.path.to_string(),
            });
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".dh-migrate-partial-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let mut made_dirs: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for f in files {
        let path = tmp.path().join(f.path);
        if let Some(p) = path.parent() {
            if !made_dirs.contains(p) {
                create_dirs(p).map_err(io(p))?;
                made_dirs.insert(p.to_path_buf());
            }
        }
        let mode = file_mode(f.path, f.mode);
        if mode == KEY_FILE_MODE {
            if let Some(p) = path.parent().filter(|p| *p != tmp.path()) {
                set_mode(p, KEY_DIR_MODE).map_err(io(p))?;
            }
        }
        let mut out = open_with_mode(&path, mode).map_err(io(&path))?;
        out.write_all(f.content).map_err(io(&path))?;
    }
    // One flush of the file system for the whole tree (instead of one journal commit per
    // file) before the tree becomes visible under its name.
    sync_tree(tmp.path()).map_err(io(tmp.path()))?;
    // An empty destination folder is replaced; a missing one is created by the rename.
    if dir.exists() {
        fs::remove_dir(dir).map_err(io(dir))?;
    }
    let kept = tmp.keep();
    fs::rename(&kept, dir).map_err(|e| {
        let _ = fs::remove_dir_all(&kept);
        EmitError::Io {
            path: dir.to_path_buf(),
            source: e,
        }
    })?;
    // Make the rename itself durable.
    sync_dir(&parent).map_err(io(&parent))?;
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

/// Flushes every file and folder written under `root` to disk. On Linux one `syncfs` of
/// the file system holding `root`; elsewhere an `fsync` of each file and folder.
#[cfg(target_os = "linux")]
pub(crate) fn sync_tree(root: &Path) -> std::io::Result<()> {
    let dir = fs::File::open(root)?;
    rustix::fs::syncfs(&dir)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn sync_tree(root: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(root)
}

/// Flushes a folder's entries (a rename into it, new names in it).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates a file with its permission bits set from the start, so a key file is never
/// readable by others, not even for a moment.
pub(crate) fn open_with_mode(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have narrowed the mode further; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

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
