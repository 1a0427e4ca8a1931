//! The safe backup-bundle reader: opens a bundle (a directory, or a `.tar`, `.tar.gz`/`.tgz`
//! or `.tar.zst` archive of the same tree, possibly under one wrapping folder), checks every
//! entry and the `MANIFEST.sha256` checksums, and exposes the files by bundle-relative path.
//!
//! Nothing is ever extracted or written: archives are read entry by entry. Every safety and
//! manifest problem is collected and returned together by [`Bundle::open`], so no content
//! reaches a parser unless the whole bundle checked out. Only the parts later stages parse
//! (`config/`, `files/`, `nodes/`, `cluster/`) keep their content in memory; the rest
//! (`etcd/snapshot.db`, `workspace/`, `mysql/`) is hashed while streaming with a fixed
//! buffer, so memory does not grow with the bundle.

mod archive;
mod collect;
mod content;
mod dir;
mod error;
mod limits;
mod manifest;
mod stream;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use content::Content;
pub use error::{BundleError, Problem, UnsafeReason};
pub use limits::{
    parse_size, set_limits, LimitKind, Limits, DEFAULT_BUNDLE_LIMIT, DEFAULT_FILE_LIMIT,
};
pub use manifest::manifest_for;

/// The manifest's file name, at the bundle root.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// The read buffer: every byte of the bundle passes through one buffer of this size.
const BUFFER_SIZE: usize = 256 * 1024;

/// What the bundle path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Directory,
    Tar,
    TarGz,
    TarZst,
}

impl fmt::Display for BundleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BundleKind::Directory => "directory",
            BundleKind::Tar => "tar archive",
            BundleKind::TarGz => "gzip-compressed tar archive",
            BundleKind::TarZst => "zstd-compressed tar archive",
        })
    }
}

/// Whether the bundle carried a manifest. A manifest that did not verify makes
/// [`Bundle::open`] fail, so there is no "failed" state here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestStatus {
    Absent,
    /// Every regular file other than the manifest was listed and matched; `files` is the
    /// number of listings.
    Verified {
        files: usize,
    },
}

/// Progress of [`Bundle::open_with_progress`], in bytes of the bundle source: the
/// compressed file for an archive (so the total is the file size), the sum of the regular
/// files' sizes for a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Started {
        total_bytes: Option<u64>,
    },
    /// `bytes` is the running total read so far (a position, not an increment).
    Advanced {
        bytes: u64,
    },
    Finished,
}

/// One regular file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Bundle-relative path with `/` separators, wrapping folder stripped, e.g.
    /// `config/props/iris-environment.prop`.
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Permission bits (`0o7777` mask), for restoring files with their modes.
    pub mode: u32,
    /// Modification time in seconds since the epoch, when known.
    pub mtime: Option<u64>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    /// Owner name: as stored in a tar header, or for a directory bundle the local user
    /// database's name for its uid (None when neither says).
    pub uname: Option<String>,
    /// Group name, the same way (tar header, or the local group database for a directory).
    pub gname: Option<String>,
    /// The bytes, for files of the parsed parts (and the manifest); `None` for files that
    /// were only hashed.
    pub content: Option<Content>,
}

impl BundleFile {
    /// The SHA-256 digest as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// A file with mode 0644 and no owner or time (a test's, or one derived from the
    /// bundle's etcd snapshot).
    fn plain(path: String, size: u64, sha256: [u8; 32], content: Option<Content>) -> BundleFile {
        BundleFile {
            path,
            size,
            sha256,
            mode: 0o644,
            mtime: None,
            uid: None,
            gid: None,
            uname: None,
            gname: None,
            content,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_test(content: Option<Vec<u8>>) -> BundleFile {
        BundleFile::plain(String::new(), 0, [0; 32], content.map(Content::from))
    }
}

/// An opened, fully checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub source: PathBuf,
    pub kind: BundleKind,
    /// The wrapping top-level folder that was stripped from every path, if any.
    pub prefix: Option<String>,
    pub manifest: ManifestStatus,
    /// The old etcd identity its `etcd/snapshot.db` would bring back, once read
    /// (`ops::snapshot_source::fold_snapshot`).
    pub snapshot_identity: Option<crate::snapshot_db::OldIdentity>,
    files: BTreeMap<String, BundleFile>,
}

impl Bundle {
    /// Opens and checks a bundle: entry safety, duplicates, and the manifest. Any problem
    /// fails the whole open with [`BundleError::Invalid`] listing all of them.
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        Bundle::open_with_progress(path, &mut |_| {})
    }

    /// [`Bundle::open`], reporting how much of the source has been read.
    pub fn open_with_progress(
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Bundle, BundleError> {
        Bundle::open_with_limits(path, limits::current(), progress)
    }

    /// [`Bundle::open_with_progress`] with explicit size limits instead of the process's.
    pub fn open_with_limits(
        path: &Path,
        limits: Limits,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Bundle, BundleError> {
        // The root may be a link the user gave us; everything inside is looked at without
        // following links.
        let metadata = fs::metadata(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                BundleError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                BundleError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let (kind, collected) = if metadata.is_dir() {
            (BundleKind::Directory, dir::read(path, limits, progress)?)
        } else if metadata.is_file() {
            let kind = archive::detect(path)?.ok_or_else(|| BundleError::UnknownFormat {
                path: path.to_owned(),
            })?;
            (kind, archive::read(path, kind, limits, progress)?)
        } else {
            return Err(BundleError::UnknownFormat {
                path: path.to_owned(),
            });
        };
        progress(Progress::Finished);

        let mut problems = collected.problems;
        let files = collected.files;
        let manifest = match files.get(MANIFEST) {
            // Reading stopped at a size limit: the files are incomplete, and checking them
            // against the manifest would only add noise to the one real problem.
            _ if collected.stopped => ManifestStatus::Absent,
            None => ManifestStatus::Absent,
            Some(file) => match &file.content {
                None => {
                    problems.push(Problem::ManifestTooLarge { size: file.size });
                    ManifestStatus::Absent
                }
                Some(content) => {
                    let (listings, syntax) = manifest::parse(content);
                    problems.extend(syntax);
                    problems.extend(manifest::verify(&listings, &files));
                    ManifestStatus::Verified {
                        files: listings.len(),
                    }
                }
            },
        };
        if !problems.is_empty() {
            return Err(BundleError::Invalid {
                bundle: path.to_owned(),
                problems,
            });
        }
        Ok(Bundle {
            source: path.to_owned(),
            kind,
            prefix: collected.prefix,
            manifest,
            snapshot_identity: None,
            files,
        })
    }

    /// Every regular file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.values()
    }

    pub fn get(&self, path: &str) -> Option<&BundleFile> {
        self.files.get(path)
    }

    /// A file's in-memory content as UTF-8 text.
    pub fn text(&self, path: &str) -> Result<&str, BundleError> {
        self.shared_text(path).map(|t| &**t)
    }

    /// The same text, shared (the configuration tree holds it without a copy).
    pub fn shared_text(&self, path: &str) -> Result<&std::sync::Arc<str>, BundleError> {
        let file = self.get(path).ok_or_else(|| BundleError::NoSuchFile {
            path: path.to_owned(),
        })?;
        let content = file
            .content
            .as_ref()
            .ok_or_else(|| BundleError::NotLoaded {
                path: path.to_owned(),
            })?;
        content.text().ok_or_else(|| {
            // Not UTF-8; the bytes before the first bad one are valid: their lines and
            // characters say where it is.
            let offset = std::str::from_utf8(content).map_or_else(|e| e.valid_up_to(), str::len);
            let valid = std::str::from_utf8(&content[..offset]).unwrap_or_default();
            BundleError::NotUtf8 {
                path: path.to_owned(),
                pos: crate::text::position_of(valid, offset),
                offset,
            }
        })
    }

    /// Adds a configuration file the bundle holds in another form (an item of its etcd
    /// snapshot), as if the bundle had held it as a file: hashed, mode 0644, in memory.
    pub fn add_derived(&mut self, path: &str, content: Vec<u8>) {
        use sha2::Digest;
        let file = BundleFile::plain(
            path.to_owned(),
            content.len() as u64,
            sha2::Sha256::digest(&content).into(),
            Some(Content::from(content)),
        );
        self.files.insert(path.to_owned(), file);
    }

    /// Files whose path starts with `dir` + `/` (a trailing `/` on `dir` is allowed),
    /// sorted by path.
    pub fn under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a BundleFile> + 'a {
        let mut start = dir.trim_end_matches('/').to_owned();
        start.push('/');
        let bound = start.clone();
        self.files
            .range(start..)
            .take_while(move |(path, _)| path.starts_with(&bound))
            .map(|(_, file)| file)
    }
}
