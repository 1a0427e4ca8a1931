//! The saved plan (`plan --out PLAN.json`, `apply --plan PLAN.json`): what a later apply
//! needs to refuse a stale plan. It binds the bundle's hash, the mapping's hash, the
//! layout and the target's state (for etcd: every key's revision as read when planning).
//! It holds no configuration values, so no secret.

use crate::plan::EtcdState;
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "dh-migrate/plan/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub path: String,
    /// The etcd key, for etcd items.
    pub key: Option<String>,
    pub before_sha256: String,
    pub after_sha256: String,
    /// True when applying writes it (it differs from the target).
    pub writes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub schema: String,
    pub bundle: String,
    pub bundle_sha256: String,
    pub mapping: String,
    pub mapping_sha256: String,
    pub layout_sha256: String,
    pub target: String,
    pub target_sha256: String,
    /// For an etcd target: the revisions read when planning.
    pub etcd: Option<EtcdState>,
    pub items: Vec<PlanItem>,
}

/// SHA-256 of text, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("the plan file is not a dh-migrate plan ({0})")]
    Format(String),
    #[error("the bundle changed since the plan was made (hash {planned} then, {now} now)")]
    Bundle { planned: String, now: String },
    #[error("the mapping file changed since the plan was made")]
    Mapping,
    #[error("the etcd layout changed since the plan was made")]
    Layout,
    #[error("the target changed since the plan was made: {0}")]
    Target(String),
}

impl PlanFile {
    pub fn parse(text: &str) -> Result<PlanFile, Stale> {
        let p: PlanFile = serde_json::from_str(text).map_err(|e| Stale::Format(e.to_string()))?;
        if p.schema != SCHEMA {
            return Err(Stale::Format(format!(
                "schema {} (expected {SCHEMA})",
                p.schema
            )));
        }
        Ok(p)
    }

    /// Checks the plan against the present bundle, mapping, layout and target state.
    pub fn check(
        &self,
        bundle_sha: &str,
        mapping_sha: &str,
        layout_sha: &str,
        target: Option<&EtcdState>,
    ) -> Result<(), Stale> {
        if self.bundle_sha256 != bundle_sha {
            return Err(Stale::Bundle {
                planned: self.bundle_sha256.clone(),
                now: bundle_sha.to_string(),
            });
        }
        if self.mapping_sha256 != mapping_sha {
            return Err(Stale::Mapping);
        }
        if self.layout_sha256 != layout_sha {
            return Err(Stale::Layout);
        }
        if let (Some(planned), Some(now)) = (&self.etcd, target) {
            let mut changed: Vec<String> = Vec::new();
            for (k, r) in &planned.revisions {
                if now.revisions.get(k) != Some(r) {
                    changed.push(k.clone());
                }
            }
            for k in now.revisions.keys() {
                if !planned.revisions.contains_key(k) {
                    changed.push(k.clone());
                }
            }
            if !changed.is_empty() {
                return Err(Stale::Target(format!(
                    "{} key(s) changed: {}",
                    changed.len(),
                    changed.join(", ")
                )));
            }
        }
        Ok(())
    }
}
