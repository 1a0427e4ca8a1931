//! Reading a directory bundle: a walk that never follows symbolic links (entries are looked
//! at with `symlink_metadata`), applying the same rules as for an archive. Only the bundle
//! root itself may be reached through a link, since the user named it.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::collect::{Collected, Collector, EntryKind};
use super::error::{BundleError, UnsafeReason};
use super::limits::Limits;
use super::stream::{hash_stream, read_small, Counting, Reporter};
use super::{BundleFile, Progress, BUFFER_SIZE};

/// One entry found by the walk.
struct Found {
    /// Path relative to the root, components joined with `/`, as raw bytes.
    relative: Vec<u8>,
    absolute: PathBuf,
    kind: EntryKind,
    metadata: Metadata,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

fn kind_of(metadata: &Metadata) -> EntryKind {
    let t = metadata.file_type();
    if t.is_symlink() {
        EntryKind::Rejected(UnsafeReason::Symlink)
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_file() {
        EntryKind::File
    } else if t.is_fifo() {
        EntryKind::Rejected(UnsafeReason::Fifo)
    } else if t.is_socket() {
        EntryKind::Rejected(UnsafeReason::Socket)
    } else if t.is_char_device() || t.is_block_device() {
        EntryKind::Rejected(UnsafeReason::Device)
    } else {
        EntryKind::Rejected(UnsafeReason::OtherType('?'))
    }
}

/// Lists every entry under `root`, sorted by relative path so the order (and so the
/// problem list) is stable. The directory listing says which entries are directories
/// (a link is never one: it is not followed); every entry is then looked at with
/// `symlink_metadata`, on a few threads (a bundle holds thousands of files), and that
/// look decides its kind.
fn walk(root: &Path) -> Result<Vec<Found>, BundleError> {
    let mut listed: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<u8>)> = vec![(root.to_owned(), Vec::new())];
    while let Some((dir, relative)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let absolute = entry.path();
            // From the listing itself (no `stat`, unless the file system does not say).
            let is_dir = entry.file_type().map_err(io_error(&absolute))?.is_dir();
            let mut child_relative = relative.clone();
            if !child_relative.is_empty() {
                child_relative.push(b'/');
            }
            child_relative.extend_from_slice(entry.file_name().as_bytes());
            if is_dir {
                stack.push((absolute.clone(), child_relative.clone()));
            }
            listed.push((absolute, child_relative, is_dir));
        }
    }
    let looked = crate::tree::map_in_parallel(&listed, |(absolute, _, _)| {
        fs::symlink_metadata(absolute).map_err(io_error(absolute))
    })?;
    let mut found = Vec::with_capacity(listed.len());
    for ((absolute, relative, listed_dir), metadata) in listed.into_iter().zip(looked) {
        let kind = kind_of(&metadata);
        if (kind == EntryKind::Dir) != listed_dir {
            // Replaced between the listing and the look: its contents were (or were not)
            // walked as the listing said, so the walk cannot be trusted.
            return Err(BundleError::Io {
                path: absolute,
                source: io::Error::other("the entry was replaced while the bundle was read"),
            });
        }
        found.push(Found {
            relative,
            absolute,
            kind,
            metadata,
        });
    }
    // Report in path order, like a sorted listing (a directory's files and its
    // subdirectories' files interleave by name).
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

/// Files up to this size are read on a few threads at once (a bundle holds thousands of
/// small configuration files); larger ones are streamed one at a time with progress.
const PARALLEL_MAX: u64 = 1024 * 1024;

pub(crate) fn read(
    root: &Path,
    limits: Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Collected, BundleError> {
    let found = walk(root)?;
    let total = found
        .iter()
        .filter(|f| f.kind == EntryKind::File)
        .map(|f| f.metadata.len())
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
        let size = f.metadata.len();
        let Ok(checked) = collector.entry(&f.relative, &display, f.kind, size) else {
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
    let read_small = crate::tree::map_in_parallel(&small, |(accepted, f)| {
        let mut buf = [0u8; 16 * 1024];
        let uncounted = Cell::new(0);
        let mut quiet = |_: Progress| {};
        let mut reporter = Reporter::new(&mut quiet, &uncounted);
        SCRATCH.with_borrow_mut(|scratch| {
            let read = read_one(
                f,
                accepted.load,
                (&mut buf, scratch),
                &uncounted,
                &mut reporter,
                &names,
            );
            // Never more than the largest small file (1 MiB) stays with a thread.
            scratch.clear();
            read
        })
    })?;
    let mut reporter = Reporter::new(progress, &count);
    for ((accepted, _), file) in small.into_iter().zip(read_small) {
        count.set(count.get() + file.size);
        reporter.tick();
        collector.add_file(accepted, file);
    }
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut scratch = Vec::new();
    for (accepted, f) in large {
        let file = read_one(
            &f,
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

/// Reads and hashes one checked regular file (keeping its content when `load`), with a
/// streaming buffer and a whole-file scratch buffer.
fn read_one(
    f: &Found,
    load: bool,
    (buf, scratch): (&mut [u8], &mut Vec<u8>),
    count: &Cell<u64>,
    reporter: &mut Reporter<'_, '_>,
    names: &LocalNames,
) -> Result<BundleFile, BundleError> {
    let size = f.metadata.len();
    let file = File::open(&f.absolute).map_err(io_error(&f.absolute))?;
    // The entry could have been swapped (for a link or a FIFO) since it was looked at;
    // read it only if the opened file is the regular file that was checked.
    let opened = file.metadata().map_err(io_error(&f.absolute))?;
    if !opened.is_file() || opened.dev() != f.metadata.dev() || opened.ino() != f.metadata.ino() {
        return Err(BundleError::Io {
            path: f.absolute.clone(),
            source: io::Error::other("the file was replaced while the bundle was read"),
        });
    }
    let mut counting = Counting { inner: file, count };
    let hashed = if load && size <= PARALLEL_MAX {
        read_small(&mut counting, size, scratch)
    } else {
        hash_stream(&mut counting, load.then_some(size), buf, reporter)
    }
    .map_err(io_error(&f.absolute))?;
    Ok(BundleFile {
        path: String::new(),
        size: hashed.size,
        sha256: hashed.sha256,
        mode: f.metadata.mode() & 0o7777,
        mtime: u64::try_from(f.metadata.mtime()).ok(),
        uid: Some(u64::from(f.metadata.uid())),
        gid: Some(u64::from(f.metadata.gid())),
        uname: names.users.get(&f.metadata.uid()).cloned(),
        gname: names.groups.get(&f.metadata.gid()).cloned(),
        content: hashed.content,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_id_names;

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
