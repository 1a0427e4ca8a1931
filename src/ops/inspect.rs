//! `inspect`: verify a bundle and list its parts and every old-node reference. It works
//! on the bundle alone, streaming (each file parsed, scanned and dropped), so it takes a
//! bundle rather than the full [`super::Inputs`].

use super::OpsError;
use crate::bundle::Bundle;
use crate::contexts::RoleContexts;
use crate::inspect::InspectReport;

/// The inspection report of an opened (and so verified) bundle.
pub fn inspect(bundle: &Bundle, contexts: &RoleContexts) -> Result<InspectReport, OpsError> {
    Ok(crate::inspect::inspect_streaming(bundle, contexts)?)
}
