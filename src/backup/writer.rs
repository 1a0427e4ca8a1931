//! Writing a backup bundle without ever leaving a partial one behind: every file streams
//! into a hidden temporary folder next to the destination (hashed as it is written, so
//! memory does not grow with a 1 GiB snapshot), then the manifest, one flush of the file
//! system, a full verification by the same reader every other command uses, and only then
//! the rename to the bundle's name. For `tar.zst` the verified folder is packed into a
//! hidden temporary archive, the archive is verified in turn, renamed, and the folder
//! removed. Any error (or a drop before [`BundleWriter::finish`]) removes the temporary
//! folder and archive.
//!
//! `crate::emit` writes small in-memory trees the same way (all or nothing); this writer
//! exists because a backup's parts are streams (etcd's snapshot, `mysqldump`, table files)
//! that must not be held in memory. It shares emit's mode-exact file creation and flushes.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::atomic::{open_with_mode, sync_dir, sync_tree};
use crate::bundle::{Bundle, BundleError, MANIFEST};

/// Hidden names of unfinished backups: never a bundle name, and removed by the next run.
pub const PARTIAL_PREFIX: &str = ".dh-migrate-backup-partial-";

/// The two forms a backup bundle can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BundleFormat {
    #[serde(rename = "dir")]
    Dir,
    #[serde(rename = "tar.zst")]
    TarZst,
}

impl BundleFormat {
    pub fn extension(self) -> &'static str {
        match self {
            BundleFormat::Dir => "",
            BundleFormat::TarZst => ".tar.zst",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("refusing to write {path}: not a plain relative path")]
    UnsafePath { path: String },
    #[error("{path} was given twice")]
    Duplicate { path: String },
    /// What was written does not read back as the bundle it should be.
    #[error("the new bundle did not verify (it was removed): {0}")]
    Verify(#[source] BundleError),
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A writer that hashes what passes through it.
pub struct Hashing<W> {
    inner: W,
    /// None when the producer hashes the content itself.
    hash: Option<Sha256>,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 of everything `input` yields.
pub fn sha256_of(input: &mut dyn Read) -> io::Result<[u8; 32]> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(hash.finalize().into());
        }
        hash.update(&buf[..n]);
    }
}

/// A bundle being written. Dropped without [`BundleWriter::finish`], it removes itself.
pub struct BundleWriter {
    /// Where the bundle goes, and its final path.
    dir: PathBuf,
    dest: PathBuf,
    format: BundleFormat,
    tmp: tempfile::TempDir,
    hashes: BTreeMap<String, [u8; 32]>,
    made_dirs: HashSet<PathBuf>,
    bytes: u64,
}

fn is_plain_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

impl BundleWriter {
    /// Starts a bundle to be named `name` (plus the format's extension) in `dir`.
    pub fn create(
        dir: &Path,
        name: &str,
        format: BundleFormat,
    ) -> Result<BundleWriter, WriteError> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{PARTIAL_PREFIX}{name}."))
            .tempdir_in(dir)
            .map_err(io_at(dir))?;
        // A backup holds auth keys: only its owner may look inside.
        set_mode(tmp.path(), 0o700).map_err(io_at(tmp.path()))?;
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            dest: dir.join(format!("{name}{}", format.extension())),
            format,
            tmp,
            hashes: BTreeMap::new(),
            made_dirs: HashSet::new(),
            bytes: 0,
        })
    }

    /// The path the bundle will have once finished.
    pub fn destination(&self) -> &Path {
        &self.dest
    }

    /// Bytes written so far (manifest excluded).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Files written so far (manifest excluded).
    pub fn files(&self) -> usize {
        self.hashes.len()
    }

    /// Writes the file `path` (bundle-relative) with permission bits `mode`, its content
    /// produced by `fill` into a writer. Returns the bytes written.
    pub fn add_with<E>(
        &mut self,
        path: &str,
        mode: u32,
        fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    ) -> Result<u64, E>
    where
        E: From<WriteError>,
    {
        self.add(path, mode, true, |out| fill(out).map(|()| None))
    }

    /// [`BundleWriter::add_with`] for a producer that hashes what it writes anyway (the
    /// etcd snapshot checks its trailer): `fill` returns the content's SHA-256, saving a
    /// second pass over a large file. The verification before the rename re-reads the
    /// file, so a wrong digest can only fail the backup, never pass it.
    pub fn add_hashed_by<E>(
        &mut self,
        path: &str,
        mode: u32,
        fill: impl FnOnce(&mut dyn Write) -> Result<[u8; 32], E>,
    ) -> Result<u64, E>
    where
        E: From<WriteError>,
    {
        self.add(path, mode, false, |out| fill(out).map(Some))
    }

    fn add<E>(
        &mut self,
        path: &str,
        mode: u32,
        hash: bool,
        fill: impl FnOnce(&mut dyn Write) -> Result<Option<[u8; 32]>, E>,
    ) -> Result<u64, E>
    where
        E: From<WriteError>,
    {
        if !is_plain_relative(path) || path == MANIFEST {
            return Err(WriteError::UnsafePath {
                path: path.to_string(),
            }
            .into());
        }
        if self.hashes.contains_key(path) {
            return Err(WriteError::Duplicate {
                path: path.to_string(),
            }
            .into());
        }
        let full = self.tmp.path().join(path);
        if let Some(parent) = full.parent() {
            if !self.made_dirs.contains(parent) {
                fs::create_dir_all(parent).map_err(io_at(parent))?;
                self.made_dirs.insert(parent.to_path_buf());
            }
        }
        let mode = if mode & 0o777 == 0 {
            0o644
        } else {
            mode & 0o777
        };
        let file = open_with_mode(&full, mode).map_err(io_at(&full))?;
        let mut out = Hashing {
            inner: io::BufWriter::with_capacity(256 * 1024, file),
            hash: hash.then(Sha256::new),
            bytes: 0,
        };
        let given = fill(&mut out)?;
        out.flush().map_err(io_at(&full))?;
        let bytes = out.bytes;
        let digest = match (out.hash, given) {
            (Some(h), _) => h.finalize().into(),
            (None, Some(d)) => d,
            (None, None) => Sha256::digest([]).into(),
        };
        self.hashes.insert(path.to_string(), digest);
        self.bytes += bytes;
        Ok(bytes)
    }

    /// [`BundleWriter::add_with`] copying from a reader.
    pub fn add_from(
        &mut self,
        path: &str,
        mode: u32,
        from: &mut dyn Read,
    ) -> Result<u64, WriteError> {
        let full = self.tmp.path().join(path);
        self.add_with(path, mode, |out| {
            io::copy(from, out).map(|_| ()).map_err(io_at(&full))
        })
    }

    /// Writes the manifest, flushes, verifies the result with the bundle reader, and
    /// renames it into place. Returns the bundle's path.
    pub fn finish(self) -> Result<PathBuf, WriteError> {
        let manifest =
            crate::bundle::manifest_for(self.hashes.iter().map(|(p, h)| (p.as_str(), h)));
        let manifest_path = self.tmp.path().join(MANIFEST);
        let mut f = open_with_mode(&manifest_path, 0o644).map_err(io_at(&manifest_path))?;
        f.write_all(manifest.as_bytes())
            .map_err(io_at(&manifest_path))?;
        drop(f);
        sync_tree(self.tmp.path()).map_err(io_at(self.tmp.path()))?;
        verify(self.tmp.path(), self.hashes.len())?;
        match self.format {
            BundleFormat::Dir => {
                let kept = self.tmp.keep();
                if let Err(e) = fs::rename(&kept, &self.dest) {
                    let _ = fs::remove_dir_all(&kept);
                    return Err(io_at(&self.dest)(e));
                }
            }
            BundleFormat::TarZst => {
                let archive = tempfile::Builder::new()
                    .prefix(PARTIAL_PREFIX)
                    .suffix(".tar.zst")
                    .tempfile_in(&self.dir)
                    .map_err(io_at(&self.dir))?;
                set_mode(archive.path(), 0o600).map_err(io_at(archive.path()))?;
                pack(self.tmp.path(), &self.hashes, archive.as_file())
                    .map_err(io_at(archive.path()))?;
                archive
                    .as_file()
                    .sync_all()
                    .map_err(io_at(archive.path()))?;
                verify(archive.path(), self.hashes.len())?;
                archive
                    .persist(&self.dest)
                    .map_err(|e| io_at(&self.dest)(e.error))?;
                // The folder (self.tmp) goes when it is dropped, here.
            }
        }
        sync_dir(&self.dir).map_err(io_at(&self.dir))?;
        Ok(self.dest)
    }
}

/// Reads the written bundle back as any command would, and checks it lists every file.
fn verify(path: &Path, files: usize) -> Result<(), WriteError> {
    let bundle = Bundle::open(path).map_err(WriteError::Verify)?;
    match bundle.manifest {
        crate::bundle::ManifestStatus::Verified { files: n } if n == files => Ok(()),
        other => Err(WriteError::Verify(BundleError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(format!(
                "expected a manifest of {files} file(s), found {other:?}"
            )),
        })),
    }
}

/// Packs the folder `root` (the files of `hashes` and the manifest, manifest first so
/// retention recognises the archive from its first entry) as a zstd-compressed tar.
fn pack(root: &Path, hashes: &BTreeMap<String, [u8; 32]>, out: &fs::File) -> io::Result<()> {
    let encoder = zstd::Encoder::new(io::BufWriter::with_capacity(256 * 1024, out), 3)?;
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut dirs: Vec<String> = Vec::new();
    for path in std::iter::once(MANIFEST).chain(hashes.keys().map(String::as_str)) {
        // Folders first, each once, so the archive unpacks with their modes too.
        let mut prefix = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, d)| d)
        {
            prefix.push_str(part);
            prefix.push('/');
            if !dirs.contains(&prefix) {
                tar.append_dir(&prefix, root.join(&prefix))?;
                dirs.push(prefix.clone());
            }
        }
        tar.append_path_with_name(root.join(path), path)?;
    }
    let encoder = tar.into_inner()?;
    let mut buffered = encoder.finish()?;
    buffered.flush()
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn write_two(format: BundleFormat) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = BundleWriter::create(tmp.path(), "b", format).unwrap();
        w.add_from("config/props/a.prop", 0o644, &mut &b"a=1\n"[..])
            .unwrap();
        w.add_from("files/etc/k/priv.key", 0o600, &mut &b"secret"[..])
            .unwrap();
        let path = w.finish().unwrap();
        (tmp, path)
    }

    #[test]
    fn a_folder_bundle_verifies_keeps_modes_and_leaves_nothing_else() {
        let (tmp, path) = write_two(BundleFormat::Dir);
        assert_eq!(names(tmp.path()), vec!["b"]);
        let b = Bundle::open(&path).unwrap();
        assert_eq!(
            b.manifest,
            crate::bundle::ManifestStatus::Verified { files: 2 }
        );
        assert_eq!(b.get("files/etc/k/priv.key").unwrap().mode & 0o777, 0o600);
    }

    #[test]
    fn a_tar_zst_bundle_verifies_and_starts_with_its_manifest() {
        let (tmp, path) = write_two(BundleFormat::TarZst);
        assert_eq!(names(tmp.path()), vec!["b.tar.zst"]);
        let b = Bundle::open(&path).unwrap();
        assert_eq!(
            b.manifest,
            crate::bundle::ManifestStatus::Verified { files: 2 }
        );
        assert_eq!(b.get("files/etc/k/priv.key").unwrap().mode & 0o777, 0o600);
        let dec = zstd::Decoder::new(fs::File::open(&path).unwrap()).unwrap();
        let mut ar = tar::Archive::new(dec);
        let first = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(first.path().unwrap().to_str(), Some(MANIFEST));
    }

    #[test]
    fn an_error_or_a_drop_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut w = BundleWriter::create(tmp.path(), "b", BundleFormat::Dir).unwrap();
            w.add_from("a", 0, &mut &b"x"[..]).unwrap();
            let e = w.add_with("c", 0, |_| {
                Err::<(), WriteError>(WriteError::Io {
                    path: "c".into(),
                    source: io::Error::other("disk full"),
                })
            });
            assert!(e.is_err());
            assert!(w.add_from("../x", 0, &mut &b""[..]).is_err());
            assert!(w.add_from("a", 0, &mut &b""[..]).is_err());
        }
        assert!(names(tmp.path()).is_empty());
    }
}
