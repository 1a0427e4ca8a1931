//! `report`: the diff-only comparison of the (migrated) bundle with the target. Never
//! writes anything.

use super::{Inputs, OpsError};
use crate::compare::{compare, Comparison, Inputs as CompareInputs};
use crate::mapping::Mapping;
use crate::migrate::{migrate, Migration};
use crate::plan::PlanError;
use crate::report::{build, ReportDoc};
use crate::secrets::SecretPolicy;

/// The report document, and what it was built from (kept for the caller to release).
#[derive(Debug)]
pub struct Reported {
    pub doc: ReportDoc,
    pub comparison: Comparison,
    pub migration: Migration,
}

impl Reported {
    /// No differences.
    pub fn clean(&self) -> bool {
        self.doc.summary.clean
    }
}

/// Without a mapping the bundle is compared as backed up.
pub fn report(inputs: &Inputs, secrets: SecretPolicy) -> Result<Reported, OpsError> {
    let none = Mapping {
        file: "(none)".into(),
        ..Mapping::default()
    };
    let mapping = inputs.mapping.as_ref().map_or(&none, |m| &m.mapping);
    let migration = migrate(&inputs.tree, mapping, &inputs.contexts).map_err(PlanError::Broke)?;
    if inputs.mapping.is_some() && !migration.is_complete() {
        return Err(PlanError::Incomplete(migration.problem_lines(&mapping.file)).into());
    }
    let in_scope = |p: &str| inputs.target.in_scope(p, &inputs.layout);
    let comparison = compare(&CompareInputs {
        migrated: &migration.files,
        bundle: &inputs.tree,
        target: &inputs.target.tree,
        in_scope: &in_scope,
        secrets,
    });
    let doc = build(
        &inputs.bundle_label(),
        &inputs.target.label,
        inputs
            .mapping
            .as_ref()
            .map(|m| m.path.display().to_string())
            .as_deref(),
        &comparison,
        migration.counts().rewritten,
    );
    Ok(Reported {
        doc,
        comparison,
        migration,
    })
}
