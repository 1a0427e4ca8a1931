//! The rules every bundle source shares, applied one entry at a time while streaming:
//! which entries are safe, how paths are normalized, which files are duplicates, whether
//! the tree sits under one top-level folder, and which files keep their content in memory.
//!
//! Archive and directory readers feed entries in; [`Collector::finish`] hands back the
//! files keyed by their bundle-relative path and every problem found.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::error::{Problem, UnsafeReason};
use super::limits::{LimitKind, Limits};
use super::{BundleFile, MANIFEST};

/// The top-level names of a bundle's parts: a folder with one of these names is part of
/// the bundle itself, never a wrapping folder to strip.
pub(crate) const PART_NAMES: &[&str] = &[
    MANIFEST,
    "etcd",
    "config",
    "files",
    "nodes",
    "workspace",
    "mysql",
    "cluster",
];

/// Parts whose files are parsed or scanned later and so are kept in memory (each file up
/// to `MAX_LOADED_SIZE`). The snapshot may be large and is only hashed; `workspace/` and
/// `mysql/` are scanned for old-node names (issue 9: no host hides).
const LOADED_PARTS: &[&str] = &["config", "files", "nodes", "cluster", "workspace", "mysql"];

/// Loaded parts whose files are configuration, held to the per-file limit itself.
const PARSED_PARTS: &[&str] = &["config", "cluster"];

/// The per-file limit of `files/` and `nodes/` when the configuration limit is lower: what
/// every file of those parts could be before the limits existed.
pub(crate) const NODE_FILE_LIMIT: u64 = 64 * 1024 * 1024;

/// An entry ran into a size limit: the reader stops at once (the problem is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

/// What a source says an entry is, before any path checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Rejected(UnsafeReason),
}

/// Normalizes a raw entry name (components joined with `/`, no `.` and no empty
/// components), reporting every reason it is unsafe. `None` when the name cannot be used
/// as a key.
fn normalize(raw: &[u8], reasons: &mut Vec<UnsafeReason>) -> Option<String> {
    let Ok(name) = std::str::from_utf8(raw) else {
        reasons.push(UnsafeReason::NotUtf8Name);
        return None;
    };
    if name.starts_with('/') {
        reasons.push(UnsafeReason::Absolute);
    }
    let mut path = String::with_capacity(name.len());
    let mut parent = false;
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => parent = true,
            _ => {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(part);
            }
        }
    }
    if parent {
        reasons.push(UnsafeReason::ParentDir);
    }
    reasons.is_empty().then_some(path)
}

/// A normalized path's first component.
fn first(path: &str) -> &str {
    path.split_once('/').map_or(path, |(first, _)| first)
}

/// Whether a bundle-relative path is the manifest or lies in one of `parts`.
fn in_parts(relative: &str, parts: &[&str]) -> bool {
    match relative.split_once('/') {
        None => relative == MANIFEST,
        Some((first, _)) => parts.contains(&first),
    }
}

/// Whether the whole tree sits under one wrapping folder, as far as the entries seen so far
/// tell.
#[derive(Debug)]
enum Prefix {
    /// No entry yet.
    Undecided,
    /// Every entry so far is this folder or lies under it.
    Candidate(String),
    /// The tree is not wrapped.
    No,
}

#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub prefix: Option<String>,
    /// Keyed by the bundle-relative path (prefix stripped).
    pub files: BTreeMap<String, BundleFile>,
    pub problems: Vec<Problem>,
    /// Reading stopped early at a size limit: `files` is incomplete.
    pub stopped: bool,
}

/// Accumulates entries from one source.
#[derive(Debug)]
pub(crate) struct Collector {
    prefix: Prefix,
    /// Normalized full paths (prefix included) of every accepted entry, files and
    /// directories, to find duplicates.
    seen: HashSet<String, foldhash::fast::RandomState>,
    /// Normalized full paths (prefix included) and files.
    files: Vec<(String, BundleFile)>,
    problems: Vec<Problem>,
    /// Top-level names that are folders (a directory entry, or a path through them).
    top_folders: BTreeSet<String>,
    limits: Limits,
    /// Declared sizes of the files accepted for loading so far.
    loaded: u64,
    stopped: bool,
}

/// The decision for one accepted regular file.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// Normalized full path (prefix included).
    path: String,
    /// Keep the content in memory (otherwise hash only).
    pub load: bool,
    /// `load` was decided with a wrapping folder assumed.
    stripped: bool,
}

impl Collector {
    pub fn new(limits: Limits) -> Collector {
        Collector {
            prefix: Prefix::Undecided,
            seen: HashSet::default(),
            files: Vec::new(),
            problems: Vec::new(),
            top_folders: BTreeSet::new(),
            limits,
            loaded: 0,
            stopped: false,
        }
    }

    /// Checks one entry. For a safe regular file, returns what to do with its content (the
    /// caller then reads it and calls [`Collector::add_file`]); for anything else records
    /// problems (if any) and returns `None`. `display` is the entry's name for messages.
    ///
    /// [`Stopped`] when the file runs into a size limit: the reader must stop reading.
    pub fn entry(
        &mut self,
        raw_name: &[u8],
        display: &str,
        kind: EntryKind,
        size: u64,
    ) -> Result<Option<Accepted>, Stopped> {
        let mut reasons = Vec::new();
        if let EntryKind::Rejected(reason) = kind {
            reasons.push(reason);
        }
        let normalized = normalize(raw_name, &mut reasons);
        if !reasons.is_empty() {
            self.problems
                .extend(reasons.into_iter().map(|reason| Problem::Unsafe {
                    entry: display.to_owned(),
                    reason,
                }));
            return Ok(None);
        }
        let Some(path) = normalized else {
            return Ok(None);
        };
        if path.is_empty() {
            // `./` (the root itself) is a harmless directory entry; a regular file with no
            // name is not.
            if kind == EntryKind::File {
                self.problems.push(Problem::Unsafe {
                    entry: display.to_owned(),
                    reason: UnsafeReason::EmptyName,
                });
            }
            return Ok(None);
        }
        if !self.seen.insert(path.clone()) {
            self.problems.push(Problem::Duplicate { entry: path });
            return Ok(None);
        }
        self.update_prefix(&path, kind == EntryKind::Dir);
        if kind != EntryKind::File {
            return Ok(None);
        }
        let stripped = matches!(self.prefix, Prefix::Candidate(_));
        // Under a candidate wrapping folder a file is never at the top level (that would
        // have ruled the folder out).
        let relative = if stripped {
            path.split_once('/').map_or("", |(_, rest)| rest)
        } else {
            &path
        };
        let load = wants_content(relative) && self.budget(relative, display, size)?;
        Ok(Some(Accepted {
            path,
            load,
            stripped,
        }))
    }

    /// Whether a file that wants loading fits the limits (and counts it if so): a file
    /// over its per-file limit, or one that would take the loaded total over the bundle
    /// limit, stops the read. Files under `files/` and `nodes/` (custom JARs, keystores,
    /// carried to the new nodes as they are) may be as large as [`NODE_FILE_LIMIT`] even
    /// when the configuration limit is lower.
    fn budget(&mut self, relative: &str, display: &str, size: u64) -> Result<bool, Stopped> {
        let parsed = in_parts(relative, PARSED_PARTS);
        let file_limit = if parsed {
            self.limits.file
        } else {
            self.limits.file.max(NODE_FILE_LIMIT)
        };
        let over = if size > file_limit {
            Some((LimitKind::File, file_limit))
        } else if self.loaded.saturating_add(size) > self.limits.bundle {
            Some((LimitKind::Bundle, self.limits.bundle))
        } else {
            None
        };
        if let Some((kind, limit)) = over {
            self.problems.push(Problem::TooLarge {
                entry: display.to_owned(),
                size,
                limit,
                kind,
            });
            self.stopped = true;
            return Err(Stopped);
        }
        self.loaded += size;
        Ok(true)
    }

    /// Records an entry that is unsafe for a reason only the reader can tell.
    pub fn reject(&mut self, display: &str, reason: UnsafeReason) {
        self.problems.push(Problem::Unsafe {
            entry: display.to_owned(),
            reason,
        });
    }

    fn update_prefix(&mut self, path: &str, is_dir: bool) {
        // A wrapping folder holds everything: a file at the top level, or a top-level name
        // that is itself a bundle part, means there is none.
        let first = first(path);
        let folder = is_dir || path.contains('/');
        if folder && !self.top_folders.contains(first) {
            self.top_folders.insert(first.to_owned());
        }
        let can_wrap = folder && !PART_NAMES.contains(&first);
        match &self.prefix {
            Prefix::Undecided => {
                self.prefix = if can_wrap {
                    Prefix::Candidate(first.to_owned())
                } else {
                    Prefix::No
                };
            }
            Prefix::Candidate(p) => {
                if !(can_wrap && p == first) {
                    // Files read so far were judged with the folder stripped. Unstripped,
                    // they all start with a non-part name, so none of them is parsed:
                    // drop any content kept on the wrong assumption.
                    for (_, file) in &mut self.files {
                        file.content = None;
                    }
                    self.prefix = Prefix::No;
                }
            }
            Prefix::No => {}
        }
    }

    /// Records a safe regular file after its content was read. A reader may check every
    /// entry before reading any: content kept on a wrapping-folder assumption that later
    /// entries disproved is dropped here, as [`Collector::entry`] drops it for files
    /// already added.
    pub fn add_file(&mut self, accepted: Accepted, mut file: BundleFile) {
        if accepted.stripped && !matches!(self.prefix, Prefix::Candidate(_)) {
            file.content = None;
        }
        self.files.push((accepted.path, file));
    }

    pub fn finish(mut self) -> Collected {
        let prefix = match self.prefix {
            Prefix::Candidate(p) => Some(p),
            _ => None,
        };
        if prefix.is_none() {
            // Not one wrapping folder, so every top-level folder must be a part: two
            // wrapping folders (or a stray one beside the parts) are not a bundle whose
            // files could be found, and must not read as an empty one.
            for name in &self.top_folders {
                if !PART_NAMES.contains(&name.as_str()) {
                    self.problems.push(Problem::NotAPart { name: name.clone() });
                }
            }
        }
        let manifest_full = match &prefix {
            Some(p) => format!("{p}/{MANIFEST}"),
            None => MANIFEST.to_owned(),
        };
        let files: BTreeMap<String, BundleFile> = self
            .files
            .into_iter()
            .map(|(full, mut file)| {
                // Under the wrapping folder: every full path is `prefix/...`.
                let path = match &prefix {
                    Some(p) => full[p.len() + 1..].to_owned(),
                    None => full,
                };
                file.path.clone_from(&path);
                (path, file)
            })
            .collect();
        // A `MANIFEST.sha256` folder is not "no manifest": the bundle would go unverified.
        let manifest_folder = format!("{MANIFEST}/");
        let manifest_is_folder = !files.contains_key(MANIFEST)
            && (self.seen.contains(&manifest_full)
                || files
                    .range(manifest_folder.clone()..)
                    .next()
                    .is_some_and(|(path, _)| path.starts_with(&manifest_folder)));
        if manifest_is_folder {
            self.problems.push(Problem::ManifestNotAFile);
        }
        Collected {
            prefix,
            files,
            problems: self.problems,
            stopped: self.stopped,
        }
    }
}

/// True for the files later stages parse: everything under the loaded parts, and the
/// manifest.
fn wants_content(relative: &str) -> bool {
    in_parts(relative, LOADED_PARTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons_of(raw: &str) -> Vec<UnsafeReason> {
        let mut reasons = Vec::new();
        normalize(raw.as_bytes(), &mut reasons);
        reasons
    }

    #[test]
    fn normalize_drops_dot_and_empty_components() {
        let mut r = Vec::new();
        assert_eq!(
            normalize(b"./config//props/./a.prop", &mut r),
            Some("config/props/a.prop".to_string())
        );
        assert_eq!(normalize(b"./", &mut r), Some(String::new()));
        assert_eq!(normalize(b"wrap/", &mut r), Some("wrap".to_string()));
        assert!(r.is_empty());
    }

    #[test]
    fn normalize_reports_absolute_and_parent_together() {
        assert_eq!(
            reasons_of("/etc/../passwd"),
            vec![UnsafeReason::Absolute, UnsafeReason::ParentDir]
        );
        assert_eq!(reasons_of("a/../../b"), vec![UnsafeReason::ParentDir]);
        // `..b` is an ordinary name, not a parent reference.
        assert!(reasons_of("a/..b/c").is_empty());
    }

    #[test]
    fn normalize_rejects_non_utf8() {
        let mut r = Vec::new();
        assert_eq!(normalize(b"config/\xff", &mut r), None);
        assert_eq!(r, vec![UnsafeReason::NotUtf8Name]);
    }

    #[test]
    fn prefix_dropped_when_a_second_top_level_name_appears() {
        let mut c = Collector::new(Limits::default());
        let a = c
            .entry(
                b"wrap/config/a.prop",
                "wrap/config/a.prop",
                EntryKind::File,
                3,
            )
            .expect("within limits")
            .expect("accepted");
        assert!(a.load, "judged under the candidate prefix");
        c.add_file(a, BundleFile::for_test(Some(b"abc".to_vec())));
        let b = c
            .entry(b"other/x", "other/x", EntryKind::File, 1)
            .expect("within limits")
            .expect("accepted");
        assert!(!b.load);
        c.add_file(b, BundleFile::for_test(None));
        let done = c.finish();
        assert_eq!(done.prefix, None);
        let kept = &done.files["wrap/config/a.prop"];
        assert_eq!(
            kept.content, None,
            "content kept on a wrong assumption is dropped"
        );
    }

    #[test]
    fn content_read_after_every_entry_was_checked_is_dropped_too() {
        // The directory reader checks all entries first, then reads the files.
        let mut c = Collector::new(Limits::default());
        let a = c
            .entry(
                b"wrap/config/a.prop",
                "wrap/config/a.prop",
                EntryKind::File,
                3,
            )
            .expect("within limits")
            .expect("accepted");
        assert!(a.load, "judged under the candidate prefix");
        let b = c
            .entry(b"other/x", "other/x", EntryKind::File, 1)
            .expect("within limits")
            .expect("accepted");
        c.add_file(a, BundleFile::for_test(Some(b"abc".to_vec())));
        c.add_file(b, BundleFile::for_test(None));
        let done = c.finish();
        assert_eq!(done.prefix, None);
        assert_eq!(done.files["wrap/config/a.prop"].content, None);
    }

    #[test]
    fn content_kept_when_the_wrapping_folder_holds() {
        let mut c = Collector::new(Limits::default());
        let a = c
            .entry(
                b"wrap/config/a.prop",
                "wrap/config/a.prop",
                EntryKind::File,
                3,
            )
            .expect("within limits")
            .expect("accepted");
        let b = c
            .entry(
                b"wrap/MANIFEST.sha256",
                "wrap/MANIFEST.sha256",
                EntryKind::File,
                1,
            )
            .expect("within limits")
            .expect("accepted");
        c.add_file(a, BundleFile::for_test(Some(b"abc".to_vec())));
        c.add_file(b, BundleFile::for_test(Some(b"m".to_vec())));
        let done = c.finish();
        assert_eq!(done.prefix.as_deref(), Some("wrap"));
        assert_eq!(
            done.files["config/a.prop"].content.as_deref(),
            Some(&b"abc"[..])
        );
    }

    #[test]
    fn part_name_is_never_a_prefix() {
        let mut c = Collector::new(Limits::default());
        let a = c
            .entry(
                b"config/props/a.prop",
                "config/props/a.prop",
                EntryKind::File,
                1,
            )
            .expect("within limits")
            .expect("accepted");
        c.add_file(a, BundleFile::for_test(None));
        assert_eq!(c.finish().prefix, None);
    }
}
