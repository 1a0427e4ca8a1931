//! The one way dh-migrate writes what it makes: [`write_atomic`], for a single file (saved
//! plans, mapping files, run records) and for a whole tree of files (`plan --emit`,
//! `apply --files-out`, `export`). Either is made under a temporary name next to its
//! destination, flushed to disk, renamed into place, and the rename flushed too, so an
//! interruption leaves the old state or the new one, never part of one, and what was
//! written survives a crash.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// The permission bits of what is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exactly these bits (e.g. 0600 for a file holding previous values); for a tree,
    /// every file's.
    Exact(u32),
    /// For a file: the replaced file's bits, or the usual ones for a new file (0666 less
    /// the umask). For a tree: each file's own bits ([`file_mode`]: key files 0600).
    Usual,
}

/// One file of a tree: relative path, content, permission bits (0: 0644).
pub struct OutFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub mode: u32,
}

/// What [`write_atomic`] writes at its path.
pub enum Contents<'a> {
    /// One file with these bytes.
    File(&'a [u8]),
    /// A folder holding these files (plain relative paths; folders made as needed).
    Tree(&'a [OutFile<'a>]),
}

impl<'a> From<&'a [u8]> for Contents<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Contents::File(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Contents<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Contents::File(bytes)
    }
}

impl<'a> From<&'a [OutFile<'a>]> for Contents<'a> {
    fn from(files: &'a [OutFile<'a>]) -> Self {
        Contents::Tree(files)
    }
}

/// Writing failed; nothing was left at the destination that was not there before.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{dir} already exists and is not empty: refusing to write over it (choose a new folder)"
    )]
    NotEmpty { dir: PathBuf },
    #[error("refusing to write {path}: not a plain relative path")]
    UnsafePath { path: String },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl WriteError {
    /// True when `no_clobber` refused an existing file or a non-empty folder.
    pub fn already_exists(&self) -> bool {
        match self {
            WriteError::NotEmpty { .. } => true,
            WriteError::Io { source, .. } => source.kind() == std::io::ErrorKind::AlreadyExists,
            WriteError::UnsafePath { .. } => false,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` at `path` all at once. With `no_clobber`, an existing file, or a
/// folder holding anything, is never replaced (the error says so); an empty folder is
/// always replaced by a tree. Without it, a tree replaces a non-empty folder in one
/// step (Linux: the two are exchanged, then the old one is removed).
pub fn write_atomic<'a>(
    path: &Path,
    contents: impl Into<Contents<'a>>,
    mode: Mode,
    no_clobber: bool,
) -> Result<(), WriteError> {
    match contents.into() {
        Contents::File(bytes) => write_file(path, bytes, mode, no_clobber),
        Contents::Tree(files) => write_tree(path, files, mode, no_clobber),
    }
}

/// The folder a destination's temporary twin is made in (the same file system, so the
/// rename is atomic).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: Mode, no_clobber: bool) -> Result<(), WriteError> {
    let err = io(path);
    let parent = parent_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".dh-migrate-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bits = match mode {
            Mode::Exact(bits) => bits,
            Mode::Usual => fs::metadata(path).map_or(0o666, |m| m.permissions().mode()),
        };
        builder.permissions(fs::Permissions::from_mode(bits & 0o7777));
    }
    let mut tmp = builder.tempfile_in(&parent).map_err(io(path))?;
    #[cfg(unix)]
    if let Mode::Exact(bits) = mode {
        // Creation applied the umask; exact bits are exact.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(bits & 0o7777))
            .map_err(io(path))?;
    }
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    if no_clobber {
        tmp.persist_noclobber(path).map_err(|e| io(path)(e.error))?;
    } else {
        tmp.persist(path).map_err(|e| io(path)(e.error))?;
    }
    // The new name itself survives a crash.
    sync_dir(&parent).map_err(err)
}

/// True for a path made only of plain names (no root, `.`, `..` or empty path).
pub fn is_plain_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Whether `dir` holds anything: Ok(false) when it is absent or an empty folder.
pub fn holds_anything(dir: &Path) -> Result<bool, WriteError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(dir)(e)),
    }
}

/// The mode of a written key file, whatever its source said (a directory bundle copied
/// with a default umask says 0644), and of the folder holding one.
pub const KEY_FILE_MODE: u32 = 0o600;
pub const KEY_DIR_MODE: u32 = 0o700;

/// The permission bits a tree's file is written with: 0600 for a secret file (key
/// material, credential stores: [`crate::secrets::is_secret_file`]), else its own bits
/// (0644 when it has none).
pub fn file_mode(path: &str, own: u32) -> u32 {
    if crate::secrets::is_secret_file(path) {
        KEY_FILE_MODE
    } else if own & 0o777 == 0 {
        0o644
    } else {
        own & 0o777
    }
}

fn write_tree(
    dir: &Path,
    files: &[OutFile<'_>],
    mode: Mode,
    no_clobber: bool,
) -> Result<(), WriteError> {
    if let Some(bad) = files.iter().find(|f| !is_plain_relative(f.path)) {
        return Err(WriteError::UnsafePath {
            path: bad.path.to_string(),
        });
    }
    let occupied = holds_anything(dir)?;
    if occupied && no_clobber {
        return Err(WriteError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    let parent = parent_of(dir);
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
        let bits = match mode {
            Mode::Exact(bits) => bits & 0o7777,
            Mode::Usual => file_mode(f.path, f.mode),
        };
        if bits == KEY_FILE_MODE {
            if let Some(p) = path.parent().filter(|p| *p != tmp.path()) {
                set_mode(p, KEY_DIR_MODE).map_err(io(p))?;
            }
        }
        let mut out = open_with_mode(&path, bits).map_err(io(&path))?;
        out.write_all(f.content).map_err(io(&path))?;
    }
    // One flush of the file system for the whole tree (instead of one journal commit per
    // file) before the tree becomes visible under its name.
    sync_tree(tmp.path()).map_err(io(tmp.path()))?;
    let kept = tmp.keep();
    let placed = if occupied {
        exchange(&kept, dir)
    } else {
        // An empty destination folder is replaced; a missing one is made by the rename.
        if dir.exists() {
            fs::remove_dir(dir).map_err(io(dir))?;
        }
        fs::rename(&kept, dir)
    };
    if let Err(e) = placed {
        let _ = fs::remove_dir_all(&kept);
        return Err(io(dir)(e));
    }
    // Make the rename itself durable, then drop the replaced tree (now under the
    // temporary name).
    sync_dir(&parent).map_err(io(&parent))?;
    if occupied {
        fs::remove_dir_all(&kept).map_err(io(&kept))?;
    }
    Ok(())
}

/// Swaps two folders in one step, so `to` is always the old tree or the new one.
#[cfg(target_os = "linux")]
fn exchange(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "replacing a folder in one step needs Linux",
    ))
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

pub(crate) fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
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
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    fn bits(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_with_exact_mode_and_never_clobbers_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        write_atomic(&p, &b"one"[..], Mode::Exact(0o600), true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(bits(&p), 0o600);
        let e = write_atomic(&p, &b"two"[..], Mode::Exact(0o600), true).unwrap_err();
        assert!(e.already_exists(), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"one");
        // Only the file itself is in the folder: no temporary file left behind.
        assert_eq!(names(dir.path()), ["rec.json"]);
        write_atomic(&p, &b"three".to_vec(), Mode::Usual, false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(bits(&p), 0o600, "the replaced file's mode is kept");
    }

    fn two_files() -> [OutFile<'static>; 2] {
        [
            OutFile {
                path: "a/b.txt",
                content: b"hello",
                mode: 0o644,
            },
            OutFile {
                path: "k/priv.key",
                content: b"secret",
                mode: 0o644,
            },
        ]
    }

    #[test]
    fn a_tree_is_written_whole_with_its_modes_and_nothing_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        write_atomic(&dir, &two_files()[..], Mode::Usual, true).unwrap();
        assert_eq!(fs::read(dir.join("a/b.txt")).unwrap(), b"hello");
        assert_eq!(bits(&dir.join("a/b.txt")), 0o644);
        // A key file is 0600 in a 0700 folder, whatever it said.
        assert_eq!(bits(&dir.join("k/priv.key")), KEY_FILE_MODE);
        assert_eq!(bits(&dir.join("k")), KEY_DIR_MODE);
        assert_eq!(names(tmp.path()), ["out"]);
        // Exact bits apply to every file.
        let exact = tmp.path().join("exact");
        write_atomic(&exact, &two_files()[..], Mode::Exact(0o640), true).unwrap();
        assert_eq!(bits(&exact.join("a/b.txt")), 0o640);
        assert_eq!(bits(&exact.join("k/priv.key")), 0o640);
    }

    #[test]
    fn a_tree_never_clobbers_when_asked_and_replaces_in_one_step_otherwise() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("old"), b"x").unwrap();
        let e = write_atomic(&dir, &two_files()[..], Mode::Usual, true).unwrap_err();
        assert!(matches!(e, WriteError::NotEmpty { .. }), "{e}");
        assert!(e.already_exists());
        assert_eq!(names(&dir), ["old"], "untouched");
        write_atomic(&dir, &two_files()[..], Mode::Usual, false).unwrap();
        assert_eq!(
            names(&dir),
            ["a", "k"],
            "the old tree is gone, the new one whole"
        );
        assert_eq!(names(tmp.path()), ["out"], "no temporary folder left");
        // An empty folder is no obstacle either way.
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        write_atomic(&empty, &two_files()[..], Mode::Usual, true).unwrap();
        assert_eq!(names(&empty), ["a", "k"]);
    }

    #[test]
    fn an_unsafe_path_refuses_the_whole_tree_writing_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["../escape", "/abs", "", "a/../../b", "./x"] {
            let dir = tmp.path().join("out");
            let files = [
                OutFile {
                    path: "ok.txt",
                    content: b"1",
                    mode: 0,
                },
                OutFile {
                    path: bad,
                    content: b"2",
                    mode: 0,
                },
            ];
            let e = write_atomic(&dir, &files[..], Mode::Usual, true).unwrap_err();
            assert!(
                matches!(&e, WriteError::UnsafePath { path } if path == bad),
                "{bad}: {e}"
            );
            assert!(names(tmp.path()).is_empty(), "{bad}: nothing written");
        }
    }
}
