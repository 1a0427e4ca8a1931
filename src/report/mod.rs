//! The diff-only report: what differs between the (migrated) bundle and the new cluster,
//! each difference classified (`compare::Class`). One document, rendered as text,
//! Markdown, JSON (schema `docs/report.schema.json`, versioned by `schema`) or a single
//! self-contained HTML page. All values in it are already redacted.

pub mod html;
pub mod markdown;
pub mod text;

use crate::compare::{Class, Comparison, FileComparison, FileStatus};
use crate::diff::unified;
use serde::Serialize;
use std::collections::BTreeMap;

/// The JSON schema identifier; bump the version on any incompatible change.
pub const SCHEMA: &str = "dh-migrate/report/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// True when applying the migration would change nothing in the target.
    pub clean: bool,
    /// Files whose target copy applying would change or add.
    pub files_changed: usize,
    pub files_only_in_bundle: usize,
    pub files_only_in_target: usize,
    pub installer_owned: usize,
    /// Differences per class (all classes present, zero included).
    pub by_class: BTreeMap<String, usize>,
    /// References rewritten by the mapping (0 without a mapping).
    pub references_rewritten: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    #[serde(flatten)]
    pub file: FileComparison,
    /// Unified diff target -> migrated (redacted, no colour), when both sides exist.
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDoc {
    pub schema: &'static str,
    pub bundle: String,
    pub target: String,
    pub mapping: Option<String>,
    pub summary: Summary,
    pub files: Vec<FileReport>,
}

pub const CLASSES: [Class; 5] = [
    Class::ExplainedByMapping,
    Class::SiteCustomization,
    Class::NewDefault,
    Class::RemovedByApply,
    Class::InstallerOwned,
];

/// Builds the report document.
pub fn build(
    bundle: &str,
    target: &str,
    mapping: Option<&str>,
    cmp: &Comparison,
    rewritten: usize,
) -> ReportDoc {
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
    let count = |s: FileStatus| cmp.files.iter().filter(|f| f.status == s).count();
    let files = cmp
        .files
        .iter()
        .map(|f| FileReport {
            file: f.clone(),
            diff: f.diff_texts().and_then(|(t, m)| {
                unified(
                    &t,
                    &m,
                    &format!("target/{}", f.path),
                    &format!("migrated/{}", f.path),
                    false,
                )
            }),
        })
        .collect();
    ReportDoc {
        schema: SCHEMA,
        bundle: bundle.to_string(),
        target: target.to_string(),
        mapping: mapping.map(str::to_string),
        summary: Summary {
            clean: cmp.is_clean(),
            files_changed: count(FileStatus::Changed),
            files_only_in_bundle: count(FileStatus::OnlyInBundle),
            files_only_in_target: count(FileStatus::OnlyInTarget),
            installer_owned: count(FileStatus::InstallerOwned),
            by_class,
            references_rewritten: rewritten,
        },
        files,
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
