//! The diff-only report: what differs between the (migrated) bundle and the new cluster,
//! each difference classified (`compare::Class`), every reference the mapping rewrites in
//! each file (those inside persistent-query scripts as a class of their own, for review),
//! the node files and where they are copied, and the restart step. One document, rendered
//! as text, Markdown, JSON (schema `docs/report.schema.json`, versioned by `schema`) or a
//! single self-contained HTML page meant to be printed and signed. All values in it are
//! already redacted; nothing here reads the clock, the environment or a file (the caller
//! gives the title block).

pub mod html;
pub mod markdown;
pub mod text;

use crate::compare::{Class, Comparison, FileComparison, FileStatus};
use crate::diff::unified;
use crate::mapping::resolve::Outcome;
use crate::migrate::Migration;
use crate::restart::RestartStep;
use crate::roles::Role;
use crate::scan::refs::{Context, Reference};
use crate::secrets::{is_secret_file, is_secret_name, SecretPolicy};
use serde::Serialize;
use std::collections::BTreeMap;

/// The JSON schema identifier; bump the version on any incompatible change.
/// v2: title block (`document`), per-file `rewrites`, node files (`node`, `mode`),
/// `restart`, `summary.rewrites_in_scripts`, files in reading order.
pub const SCHEMA: &str = "dh-migrate/report/v2";

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// True when applying the migration would change nothing in the target.
    pub clean: bool,
    /// Files whose target copy applying would change or add.
    pub files_changed: usize,
    pub files_only_in_bundle: usize,
    pub files_only_in_target: usize,
    /// Files only in the bundle that apply does not write (the vendor's import brings
    /// them in); not among `files_only_in_bundle`.
    pub files_not_written: usize,
    pub installer_owned: usize,
    /// Differences per class (all classes present, zero included).
    pub by_class: BTreeMap<String, usize>,
    /// References rewritten by the mapping (0 without a mapping).
    pub references_rewritten: usize,
    /// Of those, the ones inside persistent-query scripts: to be reviewed by a person.
    pub rewrites_in_scripts: usize,
    /// Of the files changed or only in the bundle, the node files: copied to their nodes by
    /// hand (`apply --files-out`), never put into etcd.
    pub node_files_to_copy: usize,
}

/// One reference the mapping rewrites, where it is and what decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    pub line: usize,
    pub column: usize,
    /// The property key (with scopes), YAML path, XML element/attribute or comment.
    pub place: String,
    /// The token as written in the bundle, and what it becomes (fingerprints when the
    /// place holds a secret).
    pub before: String,
    pub after: String,
    /// The role that decided the new value; None when the host alone decided it.
    pub role: Option<Role>,
    /// Inside a persistent query's script: rewritten like any other reference, but a
    /// script may build host names in ways no tool sees, so a person reviews it.
    pub in_script: bool,
}

impl Rewrite {
    /// The deciding role (or the script class) in words.
    pub fn why(&self) -> String {
        if self.in_script {
            "in a script: review".to_string()
        } else {
            match self.role {
                Some(r) => format!("role {r}"),
                None => "by host".to_string(),
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    #[serde(flatten)]
    pub file: FileComparison,
    /// For a file-system part (not an etcd item): the new node it is copied to (None when
    /// no node could be decided), never written by `apply` into etcd.
    pub node: Option<String>,
    /// Its mode as in the bundle, octal (`0644`); None for etcd items.
    pub mode: Option<String>,
    /// Every reference rewritten in this file, in file order.
    pub rewrites: Vec<Rewrite>,
    /// Unified diff target -> migrated (redacted, no colour), when both sides exist.
    pub diff: Option<String>,
    /// For a file apply does not write (layout version 2: a new persistent query, a
    /// `config/` file no layout item holds): why, and the vendor's command that brings
    /// it in instead.
    pub not_written: Option<String>,
}

impl FileReport {
    /// The rewritten references in their two classes, each with its title, the empty
    /// ones left out: the ordinary ones, then those inside scripts ("in a script:
    /// review"). Every format lists them this way.
    pub fn rewrite_groups(&self) -> Vec<(&'static str, bool, Vec<&Rewrite>)> {
        let (script, plain): (Vec<&Rewrite>, Vec<&Rewrite>) =
            self.rewrites.iter().partition(|r| r.in_script);
        [
            ("Rewritten references", false, plain),
            ("In a script: review", true, script),
        ]
        .into_iter()
        .filter(|(_, _, list)| !list.is_empty())
        .collect()
    }

    /// True for a file-system part, copied to a node by hand rather than put into etcd.
    pub fn is_node_file(&self) -> bool {
        self.mode.is_some()
    }

    /// The status in words; node files say where they go instead of "apply adds it",
    /// and files apply does not write say so.
    pub fn status_words(&self) -> String {
        if let (Some(why), FileStatus::OnlyInBundle) = (&self.not_written, self.file.status) {
            return format!("only in the bundle: apply does not write it ({why})");
        }
        match (&self.node, &self.mode, self.file.status) {
            (_, Some(_), FileStatus::OnlyInTarget | FileStatus::InstallerOwned) | (_, None, _) => {
                status_words(self.file.status).to_string()
            }
            (Some(n), Some(m), _) => format!("copied to node {n} with mode {m}"),
            (None, Some(m), _) => format!("node file (mode {m}): no new node decided"),
        }
    }
}

/// Where the target is: a directory (absolute path) or a live etcd.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetInfo {
    Directory {
        path: String,
    },
    Etcd {
        endpoints: Vec<String>,
        revision: i64,
    },
}

/// The title block: what was compared, when and by which tool, with hashes so a signed
/// document names exactly what it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct TitleBlock {
    /// Generation time, UTC, ISO 8601 (`2026-12-03T09:30:00Z`).
    pub generated_at: String,
    pub tool_version: String,
    /// SHA-256 of the bundle: of the archive file (as `sha256sum` prints it), or for a
    /// directory the content hash a saved plan binds (every file's path and SHA-256).
    pub bundle_sha256: String,
    /// `archive` or `contents`: what `bundle_sha256` is the hash of.
    pub bundle_sha256_of: String,
    /// SHA-256 of the mapping file's bytes.
    pub mapping_sha256: Option<String>,
    pub target: TargetInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDoc {
    pub schema: &'static str,
    pub document: TitleBlock,
    pub bundle: String,
    pub target: String,
    pub mapping: Option<String>,
    pub summary: Summary,
    /// Changed files first, then added ones, then the rest; each group in path order.
    pub files: Vec<FileReport>,
    /// The restart step (per new node, infra first); None without a mapping.
    pub restart: Option<Vec<RestartStep>>,
}

pub const CLASSES: [Class; 5] = [
    Class::ExplainedByMapping,
    Class::SiteCustomization,
    Class::NewDefault,
    Class::RemovedByApply,
    Class::InstallerOwned,
];

/// A file-system part of the bundle: where it goes and with which mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    pub node: Option<String>,
    pub mode: u32,
}

/// What a report is made of.
pub struct Inputs<'a> {
    pub title: TitleBlock,
    pub bundle: &'a str,
    pub target: &'a str,
    pub mapping: Option<&'a str>,
    pub comparison: &'a Comparison,
    pub migration: &'a Migration,
    /// Node files by bundle path (everything that is not an etcd item).
    pub node_files: &'a BTreeMap<String, NodeFile>,
    pub restart: Option<&'a [RestartStep]>,
    pub secrets: SecretPolicy,
    /// Files apply does not write, with why (see [`FileReport::not_written`]).
    pub not_written: &'a BTreeMap<String, String>,
}

/// Builds the report document.
pub fn build(inp: &Inputs<'_>) -> ReportDoc {
    let cmp = inp.comparison;
    let by_class = CLASSES
        .iter()
        .map(|c| {
            (
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                cmp.count(*c),
            )
        })
        .collect();
    let count = |s: FileStatus| {
        cmp.files
            .iter()
            .filter(|f| f.status == s && !inp.not_written.contains_key(&f.path))
            .count()
    };
    let not_written = cmp
        .files
        .iter()
        .filter(|f| f.status == FileStatus::OnlyInBundle && inp.not_written.contains_key(&f.path))
        .count();
    let mut rewrites = rewrites_by_file(inp.migration, inp.secrets);
    let mut files: Vec<FileReport> = cmp
        .files
        .iter()
        .map(|f| {
            let node = inp.node_files.get(&f.path);
            FileReport {
                file: f.clone(),
                node: node.and_then(|n| n.node.clone()),
                mode: node.map(|n| format!("{:04o}", n.mode)),
                rewrites: rewrites.remove(&f.path).unwrap_or_default(),
                not_written: inp.not_written.get(&f.path).cloned(),
                diff: f.diff_texts().and_then(|(t, m)| {
                    unified(
                        &t,
                        &m,
                        &format!("target/{}", f.path),
                        &format!("migrated/{}", f.path),
                        false,
                    )
                }),
            }
        })
        .collect();
    // A sort that keeps path order within each group.
    files.sort_by_key(|f| reading_rank(f.file.status));
    let counts = inp.migration.counts();
    ReportDoc {
        schema: SCHEMA,
        document: inp.title.clone(),
        bundle: inp.bundle.to_string(),
        target: inp.target.to_string(),
        mapping: inp.mapping.map(str::to_string),
        summary: Summary {
            clean: cmp.is_clean(),
            files_changed: count(FileStatus::Changed),
            files_only_in_bundle: count(FileStatus::OnlyInBundle),
            files_only_in_target: count(FileStatus::OnlyInTarget),
            files_not_written: not_written,
            installer_owned: count(FileStatus::InstallerOwned),
            by_class,
            references_rewritten: if inp.mapping.is_some() {
                counts.rewritten
            } else {
                0
            },
            rewrites_in_scripts: files
                .iter()
                .flat_map(|f| &f.rewrites)
                .filter(|r| r.in_script)
                .count(),
            node_files_to_copy: files
                .iter()
                .filter(|f| f.is_node_file() && f.file.counts())
                .count(),
        },
        files,
        restart: inp.restart.map(<[RestartStep]>::to_vec),
    }
}

/// Changed files first (what a reviewer must read), then added ones, then the rest.
fn reading_rank(s: FileStatus) -> u8 {
    match s {
        FileStatus::Changed => 0,
        FileStatus::OnlyInBundle => 1,
        _ => 2,
    }
}

/// True when a reference sits inside a persistent query's script: the text of an element
/// of a PQ definition named `Script` or starting or ending with it (`ScriptCode`,
/// `InitScript`; not `Description`).
pub fn in_script(r: &Reference) -> bool {
    let Context::Xml {
        element,
        attr: None,
    } = &r.context
    else {
        return false;
    };
    let name = element
        .rsplit('/')
        .next()
        .unwrap_or(element)
        .to_ascii_lowercase();
    r.file.starts_with("config/pq/") && (name.starts_with("script") || name.ends_with("script"))
}

/// True when the reference's place holds a secret value (its token is then shown as a
/// fingerprint, like every other secret value).
fn secret_place(r: &Reference) -> bool {
    if is_secret_file(&r.file) {
        return true;
    }
    match &r.context {
        Context::Property { key, .. } => is_secret_name(key),
        Context::Yaml { paths } => paths
            .first()
            .and_then(|p| p.rsplit('.').next())
            .is_some_and(is_secret_name),
        Context::Xml { element, attr } => {
            is_secret_name(element) || attr.as_deref().is_some_and(is_secret_name)
        }
        Context::Comment { .. } | Context::ScopeHeader { .. } | Context::Text => false,
    }
}

/// Every rewrite of the migration, per file, in file order.
pub fn rewrites_by_file(m: &Migration, secrets: SecretPolicy) -> BTreeMap<String, Vec<Rewrite>> {
    let mut out: BTreeMap<String, Vec<Rewrite>> = BTreeMap::new();
    for (r, o) in m.rewrites() {
        let Outcome::Rewrite { new, role, .. } = o else {
            continue;
        };
        let secret = secret_place(r);
        out.entry(r.file.clone()).or_default().push(Rewrite {
            line: r.pos.line,
            column: r.pos.col,
            place: r.context.to_string(),
            before: secrets.value(&r.text, secret),
            after: secrets.value(new, secret),
            role: *role,
            in_script: in_script(r),
        });
    }
    out
}

/// Seconds since the epoch as UTC ISO 8601 (`YYYY-MM-DDThh:mm:ssZ`), by the civil-from-days
/// algorithm (proleptic Gregorian), so no date crate is needed for one timestamp.
pub fn utc_iso8601(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The title block as text lines (`Generated`, hashes, target), for the formats that
/// print it as a list.
pub fn title_lines(doc: &ReportDoc) -> Vec<(&'static str, String)> {
    let d = &doc.document;
    let mut v = vec![
        ("Generated", format!("{} (UTC)", d.generated_at)),
        ("Tool", format!("dh-migrate {}", d.tool_version)),
        (
            "Bundle",
            format!(
                "{}  SHA-256 ({}) {}",
                doc.bundle, d.bundle_sha256_of, d.bundle_sha256
            ),
        ),
    ];
    v.push((
        "Mapping",
        match (&doc.mapping, &d.mapping_sha256) {
            (Some(m), Some(h)) => format!("{m}  SHA-256 {h}"),
            (Some(m), None) => m.clone(),
            _ => "none (the bundle is compared as backed up)".to_string(),
        },
    ));
    v.push((
        "Target",
        match &d.target {
            TargetInfo::Directory { path } => format!("directory {path}"),
            TargetInfo::Etcd {
                endpoints,
                revision,
            } => format!("etcd {} at revision {revision}", endpoints.join(",")),
        },
    ));
    v
}

/// The result in one sentence (without the leading "Result:").
pub fn result_words(s: &Summary) -> String {
    if s.clean {
        return "no differences: applying would change nothing in the new cluster.".to_string();
    }
    let nodes = match s.node_files_to_copy {
        0 => String::new(),
        n => format!(" ({n} of them node file(s), copied to their nodes, not into etcd)"),
    };
    format!(
        "differences: applying would change {} file(s) and add {}{nodes}.{}",
        s.files_changed,
        s.files_only_in_bundle,
        not_written_words(s)
    )
}

/// The sentence (with a leading space) on files only in the bundle that apply does not
/// write; empty when there are none.
pub fn not_written_words(s: &Summary) -> String {
    match s.files_not_written {
        0 => String::new(),
        n => format!(" {n} more file(s) only in the bundle are not written by apply: import them with the vendor's tool (see each file)."),
    }
}

/// A status in words.
pub fn status_words(s: FileStatus) -> &'static str {
    match s {
        FileStatus::Same => "same",
        FileStatus::Changed => "changed by apply",
        FileStatus::OnlyInBundle => "only in the bundle: apply adds it",
        FileStatus::OnlyInTarget => "only in the new cluster: apply leaves it",
        FileStatus::InstallerOwned => "installer-owned: never migrated",
    }
}

#[cfg(test)]
mod tests {
    use super::utc_iso8601;

    #[test]
    fn iso8601_from_epoch_seconds() {
        assert_eq!(utc_iso8601(0), "1970-01-01T00:00:00Z");
        // `date -u -d @951782400` : the leap day of a year divisible by 400.
        assert_eq!(utc_iso8601(951_782_400), "2000-02-29T00:00:00Z");
        // `date -u -d @1796290200`
        assert_eq!(utc_iso8601(1_796_290_200), "2026-12-03T09:30:00Z");
        assert_eq!(utc_iso8601(-1), "1969-12-31T23:59:59Z");
    }
}
