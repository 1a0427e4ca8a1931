//! Reading a bundle archive (`.tar`, `.tar.gz`/`.tgz`, `.tar.zst`) as a stream of entries,
//! without ever extracting it: each entry is checked, hashed with a fixed buffer, and kept
//! in memory only when a later stage parses it.
//!
//! The archive type comes from the file's first bytes, not its name. Truncation is caught
//! at every level: the compressed stream (gzip trailer and CRC, zstd frame), short entry
//! data, and a tar stream that ends without its end-of-archive block.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::collect::{Collected, Collector, EntryKind};
use super::error::{BundleError, UnsafeReason};
use super::limits::Limits;
use super::stream::{hash_stream, Counting, Reporter};
use super::{BundleFile, BundleKind, Progress, BUFFER_SIZE};

const BLOCK: u64 = 512;

/// Decides the archive type from the first bytes of `path`; `None` when it is none of the
/// supported ones.
pub(crate) fn detect(path: &Path) -> Result<Option<BundleKind>, BundleError> {
    let mut file = File::open(path).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut head = [0u8; 512];
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(BundleError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    let head = &head[..len];
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Some(BundleKind::TarGz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(BundleKind::TarZst)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(BundleKind::Tar)
    } else {
        None
    })
}

/// Sits between the decompressor and the tar reader and remembers how far the tar stream
/// was read and how many zero bytes it ended with. The tar crate treats a clean EOF where a
/// header should be as the end of the archive; with these two numbers an archive that
/// stops without its all-zero end block (cut at a block boundary) is told apart.
struct Tracking<R> {
    inner: R,
    pos: u64,
    trailing_zeros: u64,
}

impl<R: Read> Read for Tracking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.pos += n as u64;
        match chunk.iter().rposition(|&b| b != 0) {
            Some(last) => self.trailing_zeros = (n - last - 1) as u64,
            None => self.trailing_zeros += n as u64,
        }
        Ok(n)
    }
}

/// Reads a whole archive of a known kind.
pub(crate) fn read(
    path: &Path,
    kind: BundleKind,
    limits: Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Collected, BundleError> {
    let io_err = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let total = file.metadata().map_err(io_err)?.len();
    progress(Progress::Started {
        total_bytes: Some(total),
    });
    let count = Cell::new(0);
    let counting = Counting {
        inner: file,
        count: &count,
    };
    let mut reporter = Reporter::new(progress, &count);
    let corrupt = |source| BundleError::Corrupt {
        archive: path.to_owned(),
        entry: None,
        source,
    };
    let collected = match kind {
        BundleKind::Tar => walk(path, BufReader::new(counting), limits, &mut reporter)?,
        // Multi-member gzip (pigz, concatenated streams) is still one tar stream.
        BundleKind::TarGz => walk(
            path,
            flate2::read::MultiGzDecoder::new(counting),
            limits,
            &mut reporter,
        )?,
        BundleKind::TarZst => walk(
            path,
            zstd::stream::read::Decoder::new(counting).map_err(corrupt)?,
            limits,
            &mut reporter,
        )?,
        // Only archive kinds come here; a directory is a caller bug, reported rather than
        // panicking.
        BundleKind::Directory => {
            return Err(BundleError::UnknownFormat {
                path: path.to_owned(),
            })
        }
    };
    reporter.tick();
    Ok(collected)
}

/// Iterates the tar entries of a decompressed stream, then reads the stream to its end so
/// that the compressed format's own checks (gzip CRC and length) run.
fn walk<R: Read>(
    path: &Path,
    stream: R,
    limits: Limits,
    reporter: &mut Reporter<'_, '_>,
) -> Result<Collected, BundleError> {
    let mut archive = tar::Archive::new(Tracking {
        inner: stream,
        pos: 0,
        trailing_zeros: 0,
    });
    let mut collector = Collector::new(limits);
    let mut buf = vec![0u8; BUFFER_SIZE];
    // Where the data of the last entry ends, rounded up to a block: the end-of-archive
    // block must come after it.
    let mut data_end = 0u64;
    let mut current: Option<String> = None;
    let corrupt = |entry: &Option<String>, source| BundleError::Corrupt {
        archive: path.to_owned(),
        entry: entry.clone(),
        source,
    };
    {
        let entries = archive.entries().map_err(|e| corrupt(&None, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(&current, e))?;
            let raw_name = entry.path_bytes().into_owned();
            let display = String::from_utf8_lossy(&raw_name).into_owned();
            current = Some(display.clone());
            let header = entry.header();
            let entry_type = header.entry_type();
            if entry_type == tar::EntryType::XGlobalHeader {
                // `git archive` writes one (the commit id as a comment). Its records would
                // apply to every later entry; the ones that change a name or a size would
                // change what the bundle holds, so only those make it unsupported.
                if global_header_changes_entries(&mut entry).map_err(|e| corrupt(&current, e))? {
                    collector.reject(&display, UnsafeReason::GlobalHeaderOverride);
                }
                reporter.tick();
                continue;
            }
            let kind = entry_kind(entry_type, &raw_name);
            let size = entry.size();
            let file_pos = entry.raw_file_position();
            // For a GNU sparse entry `size` is the expanded size, not what is stored; the
            // header's own size is. (Such an entry makes the bundle invalid anyway.)
            let stored = if entry_type.is_gnu_sparse() {
                header.entry_size().unwrap_or(0)
            } else {
                size
            };
            data_end = file_pos.saturating_add(stored.div_ceil(BLOCK).saturating_mul(BLOCK));
            let mode = header.mode().unwrap_or(0) & 0o7777;
            let mtime = header.mtime().ok();
            let uid = header.uid().ok();
            let gid = header.gid().ok();
            let uname = header
                .username()
                .ok()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let gname = header
                .groupname()
                .ok()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let Ok(checked) = collector.entry(&raw_name, &display, kind, size) else {
                // A size limit: stop before reading (let alone decompressing) any more.
                return Ok(collector.finish());
            };
            let Some(accepted) = checked else {
                reporter.tick();
                continue;
            };
            let hashed = hash_stream(
                &mut entry,
                accepted.load.then_some(size),
                &mut buf,
                reporter,
            )
            .map_err(|e| corrupt(&current, e))?;
            if hashed.size != size {
                return Err(corrupt(
                    &current,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("entry data ends after {} of {size} bytes", hashed.size),
                    ),
                ));
            }
            collector.add_file(
                accepted,
                BundleFile {
                    path: String::new(),
                    size,
                    sha256: hashed.sha256,
                    mode,
                    mtime,
                    uid,
                    gid,
                    uname,
                    gname,
                    content: hashed.content,
                },
            );
        }
    }
    let mut tracking = archive.into_inner();
    // The tar reader stopped either at an all-zero block after the last entry (a complete
    // archive) or at EOF where a header should have been (a truncated one).
    let ended_cleanly =
        tracking.pos >= data_end.saturating_add(BLOCK) && tracking.trailing_zeros >= BLOCK;
    if !ended_cleanly {
        return Err(corrupt(
            &current,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends without its end-of-archive block",
            ),
        ));
    }
    // Drain the rest (end padding, compressed trailer) so that a bad gzip CRC or a cut
    // compressed stream after the last entry is still noticed.
    loop {
        match tracking.inner.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => reporter.tick(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(&current, e)),
        }
    }
    Ok(collector.finish())
}

/// Whether a pax global header has a record that would change later entries' names, link
/// targets or sizes (a harmless one holds comments, times, owners, charsets).
fn global_header_changes_entries<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<bool> {
    let Some(records) = entry.pax_extensions()? else {
        return Ok(false);
    };
    for record in records {
        let key = record?.key_bytes();
        if matches!(key, b"path" | b"linkpath" | b"size") || key.starts_with(b"GNU.sparse") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Classifies a tar entry type. A regular-file entry whose name ends in `/` is a
/// directory in old (pre-POSIX) archives, as GNU tar reads it.
fn entry_kind(t: tar::EntryType, raw_name: &[u8]) -> EntryKind {
    use tar::EntryType as T;
    match t {
        T::Regular if raw_name.ends_with(b"/") => EntryKind::Dir,
        T::Regular => EntryKind::File,
        T::Directory => EntryKind::Dir,
        T::Symlink => EntryKind::Rejected(UnsafeReason::Symlink),
        T::Link => EntryKind::Rejected(UnsafeReason::HardLink),
        T::Char | T::Block => EntryKind::Rejected(UnsafeReason::Device),
        T::Fifo => EntryKind::Rejected(UnsafeReason::Fifo),
        T::GNUSparse => EntryKind::Rejected(UnsafeReason::Sparse),
        other => EntryKind::Rejected(UnsafeReason::OtherType(char::from(other.as_byte()))),
    }
}
