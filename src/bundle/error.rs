//! The bundle reader's typed errors: why a bundle cannot be opened ([`BundleError`]) and,
//! for an unsafe or inconsistent bundle, every individual reason ([`Problem`]).
//!
//! Names that come from the bundle (entry paths, manifest lines) are printed with `{:?}`
//! so that control characters in a hostile archive cannot reach the terminal raw.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::limits::LimitKind;

/// Why a bundle could not be opened, or why a file in it could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the bundle (a file of a directory bundle, or the archive itself) failed.
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// The bundle path does not exist.
    #[error("bundle {} does not exist", path.display())]
    NotFound { path: PathBuf },

    /// The bundle is a file but neither a tar, a gzip-compressed tar nor a zstd-compressed
    /// tar (judged by its first bytes, not by its name).
    #[error(
        "{} is not a bundle: expected a directory, a .tar, a .tar.gz/.tgz or a .tar.zst archive",
        path.display()
    )]
    UnknownFormat { path: PathBuf },

    /// The archive is truncated or damaged (bad compressed stream, bad tar header, short
    /// entry). `entry` is the entry being read when it failed; when the failure is in a tar
    /// header, no name is known yet and `entry` is the last entry read before it.
    #[error(
        "{} is corrupt or truncated{}: {source}",
        archive.display(),
        match entry { Some(e) => format!(" (at entry {e:?})"), None => String::new() }
    )]
    Corrupt {
        archive: PathBuf,
        entry: Option<String>,
        source: io::Error,
    },

    /// The bundle was read completely but is unsafe or inconsistent: every problem found,
    /// not just the first. (The field is not called `source`: thiserror would take a field
    /// of that name for the error's cause.)
    #[error("bundle {} is invalid ({} problem{}):{}", bundle.display(), problems.len(),
        if problems.len() == 1 { "" } else { "s" }, ProblemList(problems))]
    Invalid {
        bundle: PathBuf,
        problems: Vec<Problem>,
    },

    /// A file's content is not UTF-8; `pos` is the line and column of the first bad byte
    /// (the column counts the characters before it), `offset` its byte offset.
    #[error("{path}:{pos}: not valid UTF-8 (first invalid byte at byte offset {offset})")]
    NotUtf8 {
        path: String,
        pos: crate::text::Position,
        offset: usize,
    },

    /// The file exists but its content was only hashed, not kept in memory (it lies outside
    /// the parsed parts of the bundle).
    #[error("{path:?} is not held in memory (only its size and checksum were read)")]
    NotLoaded { path: String },

    /// No regular file with this path exists in the bundle.
    #[error("{path:?} is not in the bundle")]
    NoSuchFile { path: String },
}

/// Formats a problem list as one indented line per problem, for [`BundleError::Invalid`].
struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// One reason a bundle is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An entry that must not be in a bundle (see [`UnsafeReason`]). `entry` is the name as
    /// stored in the archive (or the path relative to a directory bundle).
    Unsafe { entry: String, reason: UnsafeReason },
    /// The same normalized path appears more than once.
    Duplicate { entry: String },
    /// A line of `MANIFEST.sha256` is not `<64 hex digits>  <path>` (or `<hex> *<path>`).
    ManifestSyntax { line: usize, text: String },
    /// `MANIFEST.sha256` lists the same path twice; `line` is the second listing.
    ManifestDuplicate { path: String, line: usize },
    /// `MANIFEST.sha256` is larger than anything sensible and was not read.
    ManifestTooLarge { size: u64 },
    /// A listed file's content does not have the listed hash (both as lowercase hex).
    ChecksumMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    /// A file listed in `MANIFEST.sha256` is not in the bundle.
    Missing { path: String },
    /// A regular file in the bundle is not listed in `MANIFEST.sha256`.
    Unlisted { path: String },
    /// An entry's size is over a limit (reading stopped there; see
    /// [`super::limits::Limits`]).
    TooLarge {
        entry: String,
        size: u64,
        limit: u64,
        kind: LimitKind,
    },
    /// `MANIFEST.sha256` is a folder, not a file.
    ManifestNotAFile,
    /// A top-level folder that is no bundle part, in a tree that is not wrapped in one
    /// folder (two wrapping folders, or a stray folder beside the parts).
    NotAPart { name: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unsafe { entry, reason } => write!(f, "entry {entry:?} {reason}"),
            Problem::Duplicate { entry } => write!(f, "entry {entry:?} appears more than once"),
            Problem::ManifestSyntax { line, text } => write!(
                f,
                "MANIFEST.sha256 line {line}: malformed line {text:?} \
                 (expected \"<64 hex digits>  <relative path>\")"
            ),
            Problem::ManifestDuplicate { path, line } => write!(
                f,
                "MANIFEST.sha256 line {line}: {path:?} is listed more than once"
            ),
            Problem::ManifestTooLarge { size } => {
                write!(f, "MANIFEST.sha256 is too large to read ({size} bytes)")
            }
            Problem::ChecksumMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path:?} does not match MANIFEST.sha256: expected sha256 {expected}, actual {actual}"
            ),
            Problem::Missing { path } => write!(
                f,
                "{path:?} is listed in MANIFEST.sha256 but is not in the bundle"
            ),
            Problem::Unlisted { path } => write!(
                f,
                "{path:?} is in the bundle but not listed in MANIFEST.sha256"
            ),
            Problem::TooLarge {
                entry,
                size,
                limit,
                kind,
            } => match kind {
                LimitKind::File => write!(
                    f,
                    "entry {entry:?} is {size} bytes, over the limit of {limit} bytes for one \
                     file read into memory (raise it with {}); reading stopped there",
                    kind.flag()
                ),
                LimitKind::Bundle => write!(
                    f,
                    "entry {entry:?} ({size} bytes) takes the content loaded from the bundle \
                     over its limit of {limit} bytes (raise it with {}); reading stopped there",
                    kind.flag()
                ),
            },
            Problem::ManifestNotAFile => {
                f.write_str("MANIFEST.sha256 is a folder, not a checksum file")
            }
            Problem::NotAPart { name } => write!(
                f,
                "top-level folder {name:?} is not a bundle part (etcd, config, files, nodes, \
                 workspace, mysql, cluster); a bundle may sit under one wrapping folder, not \
                 beside other folders"
            ),
        }
    }
}

/// Why an entry is unsafe. Each of these is something `tar --extract` (or the tar crate's
/// `unpack`) would turn into a write outside the intended tree, a special file, or a
/// silently different tree; a bundle reader has no use for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeReason {
    Symlink,
    HardLink,
    /// Character or block device.
    Device,
    Fifo,
    /// A Unix socket (only possible in a directory bundle).
    Socket,
    /// GNU sparse file.
    Sparse,
    /// Any other tar entry type (the type byte as stored), e.g. a contiguous file `7`.
    OtherType(char),
    /// A pax global header whose records set a path, link target or size for the entries
    /// after it (a harmless one, as `git archive` writes, is accepted).
    GlobalHeaderOverride,
    /// The path starts with `/`.
    Absolute,
    /// The path has a `..` component.
    ParentDir,
    /// The path is not valid UTF-8 (paths are keys and must compare exactly).
    NotUtf8Name,
    /// A regular file whose path is empty (or only `.` components).
    EmptyName,
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeReason::Symlink => f.write_str("is a symbolic link"),
            UnsafeReason::HardLink => f.write_str("is a hard link"),
            UnsafeReason::Device => f.write_str("is a device file"),
            UnsafeReason::Fifo => f.write_str("is a FIFO (named pipe)"),
            UnsafeReason::Socket => f.write_str("is a socket"),
            UnsafeReason::Sparse => f.write_str("is a GNU sparse file"),
            UnsafeReason::OtherType(c) => {
                write!(
                    f,
                    "has unsupported entry type {c:?} (only files and directories are allowed)"
                )
            }
            UnsafeReason::GlobalHeaderOverride => f.write_str(
                "is a pax global header that sets a path, link target or size for later entries",
            ),
            UnsafeReason::Absolute => f.write_str("has an absolute path"),
            UnsafeReason::ParentDir => f.write_str("has a path containing \"..\""),
            UnsafeReason::NotUtf8Name => f.write_str("has a path that is not valid UTF-8"),
            UnsafeReason::EmptyName => f.write_str("is a file with an empty path"),
        }
    }
}
