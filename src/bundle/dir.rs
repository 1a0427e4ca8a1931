//! Reading a directory bundle: a walk that never follows symbolic links (entries are looked
//! at without following them, and opened with `O_NOFOLLOW`), applying the same rules as for
//! an archive. Only the bundle root itself may be reached through a link, since the user
//! named it. Entries are looked at and opened relative to their folder (`statx`/`openat` on
//! the folder's descriptor), so each costs one name lookup, not one per path component.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Statx, StatxFlags, CWD};

use super::collect::{Collected, Collector, EntryKind};
use super::error::{BundleError, UnsafeReason};
use super::limits::Limits;
use super::stream::{hash_stream, read_small, Counting, Reporter};
use super::{BundleFile, Progress, BUFFER_SIZE};

/// What looking at an entry (without following a link) found.
#[derive(Debug, Clone, Copy)]
struct Meta {
    kind: EntryKind,
    size: u64,
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    /// Device and inode: the identity an opened file must still have.
    identity: (u32, u32, u64),
}

/// What `statx` is asked for.
const WANTED: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::MODE)
    .union(StatxFlags::UID)
    .union(StatxFlags::GID)
    .union(StatxFlags::MTIME)
    .union(StatxFlags::INO)
    .union(StatxFlags::SIZE);

impl Meta {
    fn of(st: &Statx) -> Meta {
        let mode = u32::from(st.stx_mode);
        Meta {
            kind: kind_of(FileType::from_raw_mode(mode)),
            size: st.stx_size,
            mode: mode & 0o7777,
            mtime: st.stx_mtime.tv_sec,
            uid: st.stx_uid,
            gid: st.stx_gid,
            identity: (st.stx_dev_major, st.stx_dev_minor, st.stx_ino),
        }
    }
}

/// One entry found by the walk.
struct Found {
    /// Path relative to the root, components joined with `/`, as raw bytes.
    relative: Vec<u8>,
    /// The folder holding it (an index into [`Walk::dirs`]) and its name there.
    dir: usize,
    name: OsString,
    meta: Meta,
}

/// Every entry under the root, and the folders holding them.
struct Walk {
    /// Absolute paths of the folders, the root first.
    dirs: Vec<PathBuf>,
    found: Vec<Found>,
}

/// The path of an entry, for messages.
fn path_of(dirs: &[PathBuf], f: &Found) -> PathBuf {
    dirs[f.dir].join(&f.name)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

fn kind_of(t: FileType) -> EntryKind {
    match t {
        FileType::Symlink => EntryKind::Rejected(UnsafeReason::Symlink),
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => EntryKind::File,
        FileType::Fifo => EntryKind::Rejected(UnsafeReason::Fifo),
        FileType::Socket => EntryKind::Rejected(UnsafeReason::Socket),
        FileType::CharacterDevice | FileType::BlockDevice => {
            EntryKind::Rejected(UnsafeReason::Device)
        }
        FileType::Unknown => EntryKind::Rejected(UnsafeReason::OtherType('?')),
    }
}

/// Opens a folder the walk listed, for lookups relative to it. Below the root a link is
/// refused (it was listed as a folder: it was replaced since).
fn open_dir(walk_dirs: &[PathBuf], dir: usize) -> Result<OwnedFd, BundleError> {
    let path = &walk_dirs[dir];
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if dir != 0 {
        flags |= OFlags::NOFOLLOW;
    }
    rustix::fs::openat(CWD, path, flags, Mode::empty()).map_err(|e| io_error(path)(e.into()))
}

/// The entries `items` (runs of one folder's entries in item order) as tasks for the
/// worker threads: each task one folder's, at most `TASK` entries, so each opens its
/// folder once.
fn by_folder<T>(items: &[T], dir: impl Fn(&T) -> usize) -> Vec<Range<usize>> {
    const TASK: usize = 64;
    let mut tasks = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || i - start == TASK || dir(&items[i]) != dir(&items[start]) {
            if start < i {
                tasks.push(start..i);
            }
            start = i;
        }
    }
    tasks
}

/// Lists every entry under `root`, sorted by relative path so the order (and so the
/// problem list) is stable. The directory listing says which entries are directories
/// (a link is never one: it is not followed); every entry is then looked at without
/// following links, on a few threads (a bundle holds thousands of files), and that look
/// decides its kind.
fn walk(root: &Path) -> Result<Walk, BundleError> {
    let mut dirs = vec![root.to_owned()];
    let mut listed: Vec<(usize, OsString, Vec<u8>, bool)> = Vec::new();
    let mut stack: Vec<(usize, Vec<u8>)> = vec![(0, Vec::new())];
    while let Some((dir, relative)) = stack.pop() {
        let path = dirs[dir].clone();
        for entry in fs::read_dir(&path).map_err(io_error(&path))? {
            let entry = entry.map_err(io_error(&path))?;
            let name = entry.file_name();
            // From the listing itself (no `stat`, unless the file system does not say).
            let is_dir = entry
                .file_type()
                .map_err(|e| io_error(&path.join(&name))(e))?
                .is_dir();
            let mut child_relative = relative.clone();
            if !child_relative.is_empty() {
                child_relative.push(b'/');
            }
            child_relative.extend_from_slice(name.as_bytes());
            if is_dir {
                dirs.push(path.join(&name));
                stack.push((dirs.len() - 1, child_relative.clone()));
            }
            listed.push((dir, name, child_relative, is_dir));
        }
    }
    let tasks = by_folder(&listed, |l| l.0);
    let looked = crate::tree::map_in_parallel(&tasks, |task| {
        let dir = open_dir(&dirs, listed[task.start].0)?;
        listed[task.clone()]
            .iter()
            .map(|(d, name, _, _)| {
                rustix::fs::statx(&dir, name, AtFlags::SYMLINK_NOFOLLOW, WANTED)
                    .map(|st| Meta::of(&st))
                    .map_err(|e| io_error(&dirs[*d].join(name))(e.into()))
            })
            .collect::<Result<Vec<Meta>, BundleError>>()
    })?;
    let mut found = Vec::with_capacity(listed.len());
    for ((dir, name, relative, listed_dir), meta) in
        listed.into_iter().zip(looked.into_iter().flatten())
    {
        if (meta.kind == EntryKind::Dir) != listed_dir {
            // Replaced between the listing and the look: its contents were (or were not)
            // walked as the listing said, so the walk cannot be trusted.
            return Err(BundleError::Io {
                path: dirs[dir].join(&name),
                source: io::Error::other("the entry was replaced while the bundle was read"),
            });
        }
        found.push(Found {
            relative,
            dir,
            name,
            meta,
        });
    }
    // Report in path order, like a sorted listing (a directory's files and its
    // subdirectories' files interleave by name).
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(Walk { dirs, found })
}

/// Files up to this size are read on a few threads at once (a bundle holds thousands of
/// small configuration files); larger ones are streamed one at a time with progress.
const PARALLEL_MAX: u64 = 1024 * 1024;

pub(crate) fn read(
    root: &Path,
    limits: Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Collected, BundleError> {
    let Walk { dirs, found } = walk(root)?;
    let total = found
        .iter()
        .filter(|f| f.meta.kind == EntryKind::File)
        .map(|f| f.meta.size)
        .sum();
    progress(Progress::Started {
        total_bytes: Some(total),
    });
    // Every entry is checked (in path order, so problems and the wrapping folder are
    // decided as for an archive) before any file is read.
    let mut collector = Collector::new(limits);
    let mut small = Vec::new();
    let mut large = Vec::new();
    for f in found {
        let display = String::from_utf8_lossy(&f.relative);
        let size = f.meta.size;
        let Ok(checked) = collector.entry(&f.relative, &display, f.meta.kind, size) else {
            // A size limit: nothing has been read yet, and nothing will be.
            return Ok(collector.finish());
        };
        if let Some(accepted) = checked {
            if size <= PARALLEL_MAX {
                small.push((accepted, f));
            } else {
                large.push((accepted, f));
            }
        }
    }
    let names = LocalNames::load();
    let count = Cell::new(0);
    thread_local! {
        // Each reading thread's buffer for whole small files, reused from file to file.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let tasks = by_folder(&small, |(_, f)| f.dir);
    let read_small = crate::tree::map_in_parallel(&tasks, |task| {
        let dir = open_dir(&dirs, small[task.start].1.dir)?;
        let mut buf = [0u8; 16 * 1024];
        let uncounted = Cell::new(0);
        let mut quiet = |_: Progress| {};
        let mut reporter = Reporter::new(&mut quiet, &uncounted);
        SCRATCH.with_borrow_mut(|scratch| {
            let read = small[task.clone()]
                .iter()
                .map(|(accepted, f)| {
                    read_one(
                        (&dirs, &dir, f),
                        accepted.load,
                        (&mut buf, scratch),
                        &uncounted,
                        &mut reporter,
                        &names,
                    )
                })
                .collect::<Result<Vec<BundleFile>, BundleError>>();
            // Never more than the largest small file (1 MiB) stays with a thread.
            scratch.clear();
            read
        })
    })?;
    let mut reporter = Reporter::new(progress, &count);
    for ((accepted, _), file) in small.into_iter().zip(read_small.into_iter().flatten()) {
        count.set(count.get() + file.size);
        reporter.tick();
        collector.add_file(accepted, file);
    }
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut scratch = Vec::new();
    for (accepted, f) in large {
        let dir = open_dir(&dirs, f.dir)?;
        let file = read_one(
            (&dirs, &dir, &f),
            accepted.load,
            (&mut buf, &mut scratch),
            &count,
            &mut reporter,
            &names,
        )?;
        collector.add_file(accepted, file);
    }
    Ok(collector.finish())
}

/// The local user and group databases (`/etc/passwd`, `/etc/group`): the names `ls -l`
/// shows for a directory bundle's files. Empty when unreadable: the names are then
/// unknown, never guessed.
#[derive(Debug, Default)]
struct LocalNames {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl LocalNames {
    fn load() -> LocalNames {
        let table = |path: &str| -> HashMap<u32, String> {
            std::fs::read_to_string(path)
                .map(|t| parse_id_names(&t))
                .unwrap_or_default()
        };
        LocalNames {
            users: table("/etc/passwd"),
            groups: table("/etc/group"),
        }
    }
}

/// `name:password:id:...` lines -> id -> name (the first name for an id wins).
fn parse_id_names(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split(':');
        if let (Some(name), Some(_), Some(Ok(id))) = (
            parts.next(),
            parts.next(),
            parts.next().map(str::parse::<u32>),
        ) {
            if !name.is_empty() {
                out.entry(id).or_insert_with(|| name.to_string());
            }
        }
    }
    out
}

/// Reads and hashes one checked regular file (keeping its content when `load`), opened
/// in its folder (`dir`), with a streaming buffer and a whole-file scratch buffer.
fn read_one(
    (dirs, dir, f): (&[PathBuf], &OwnedFd, &Found),
    load: bool,
    (buf, scratch): (&mut [u8], &mut Vec<u8>),
    count: &Cell<u64>,
    reporter: &mut Reporter<'_, '_>,
    names: &LocalNames,
) -> Result<BundleFile, BundleError> {
    let size = f.meta.size;
    let replaced = || BundleError::Io {
        path: path_of(dirs, f),
        source: io::Error::other("the file was replaced while the bundle was read"),
    };
    // Never through a link, and never blocking on a FIFO put in its place.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, &f.name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NXIO) => return Err(replaced()),
        Err(e) => return Err(io_error(&path_of(dirs, f))(e.into())),
    };
    // The entry could have been swapped (for a link or a FIFO) since it was looked at;
    // read it only if the opened file is the regular file that was checked.
    let opened = rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, WANTED)
        .map_err(|e| io_error(&path_of(dirs, f))(e.into()))?;
    let opened = Meta::of(&opened);
    if opened.kind != EntryKind::File || opened.identity != f.meta.identity {
        return Err(replaced());
    }
    let mut counting = Counting {
        inner: File::from(fd),
        count,
    };
    let hashed = if load && size <= PARALLEL_MAX {
        read_small(&mut counting, size, scratch)
    } else {
        hash_stream(&mut counting, load.then_some(size), buf, reporter)
    }
    .map_err(|e| io_error(&path_of(dirs, f))(e))?;
    Ok(BundleFile {
        path: String::new(),
        size: hashed.size,
        sha256: hashed.sha256,
        mode: f.meta.mode,
        mtime: u64::try_from(f.meta.mtime).ok(),
        uid: Some(u64::from(f.meta.uid)),
        gid: Some(u64::from(f.meta.gid)),
        uname: names.users.get(&f.meta.uid).cloned(),
        gname: names.groups.get(&f.meta.gid).cloned(),
        content: hashed.content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_runs_of_one_folder_at_most_64_long() {
        let dirs = [0, 0, 1, 1, 1, 0, 2];
        assert_eq!(by_folder(&dirs, |d| *d), vec![0..2, 2..5, 5..6, 6..7]);
        let many = vec![3usize; 130];
        assert_eq!(by_folder(&many, |d| *d), vec![0..64, 64..128, 128..130]);
        assert!(by_folder(&[] as &[usize], |d| *d).is_empty());
    }

    /// Reads `config/a.prop` of `root` as the reader would, after `swap` ran between the
    /// look at it and the read.
    fn read_after(swap: impl FnOnce(&Path)) -> Result<BundleFile, BundleError> {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("config")).unwrap();
        fs::write(root.path().join("config/a.prop"), b"a=1\n").unwrap();
        fs::write(root.path().join("config/b.prop"), b"b=2\n").unwrap();
        let walk = walk(root.path()).unwrap();
        let f = walk
            .found
            .iter()
            .find(|f| f.relative == b"config/a.prop")
            .unwrap();
        assert_eq!(f.meta.kind, EntryKind::File);
        swap(&root.path().join("config/a.prop"));
        let dir = open_dir(&walk.dirs, f.dir).unwrap();
        let (count, mut quiet) = (Cell::new(0), |_: Progress| {});
        let mut reporter = Reporter::new(&mut quiet, &count);
        read_one(
            (&walk.dirs, &dir, f),
            true,
            (&mut [0u8; 64], &mut Vec::new()),
            &count,
            &mut reporter,
            &LocalNames::default(),
        )
    }

    #[test]
    fn a_file_swapped_after_the_look_is_refused_and_a_fifo_never_blocks() {
        let read = read_after(|_| {}).unwrap();
        assert_eq!(read.content.as_deref(), Some(&b"a=1\n"[..]));
        type Swap = (&'static str, fn(&Path));
        let swaps: [Swap; 3] = [
            ("fifo", |p| {
                fs::remove_file(p).unwrap();
                rustix::fs::mknodat(CWD, p, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
            }),
            ("link", |p| {
                fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink(p.with_file_name("b.prop"), p).unwrap();
            }),
            ("another file", |p| {
                // Made while the first still exists (another inode), then renamed over it.
                let other = p.with_file_name("c.prop");
                fs::write(&other, b"a=2\n").unwrap();
                fs::rename(&other, p).unwrap();
            }),
        ];
        for (what, swap) in swaps {
            let e = read_after(swap).unwrap_err();
            assert!(e.to_string().contains("replaced while"), "{what}: {e}");
        }
    }

    #[test]
    fn id_names_from_passwd_and_group_lines() {
        let t = "# comment\nroot:x:0:0:root:/root:/bin/bash\nirisadmin:x:9000:9000::/home/irisadmin:/bin/bash\nbroken\nalias:x:0:0::/:/bin/sh\n:x:5:\n";
        let m = parse_id_names(t);
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&9000).map(String::as_str), Some("irisadmin"));
        assert_eq!(m.get(&5), None);
        assert_eq!(m.len(), 2);
    }
}
