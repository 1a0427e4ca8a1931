//! The one error edge of the command line: [`CliError`] is a kind that decides the exit
//! code, a message, optional one-line hints, and the core error it came from (its source
//! chain kept for the message). Every core error type converts here, in this file and
//! nowhere else; core modules only ever return their own typed errors.

use crate::apply::ApplyError;
use crate::bundle::BundleError;
use crate::etcd::EtcdError;
use crate::export::ExportError;
use crate::ops::{FileRole, OpsError};
use crate::plan::PlanError;
use crate::target::TargetError;
use crate::tree::TreeError;
use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

/// What went wrong, as far as a script calling dh-migrate needs to know. The numbers are
/// part of the documented interface (README, "Exit codes"); never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command-line usage (clap's own errors use this code too).
    Usage,
    /// The bundle is corrupt, unsafe, or fails its checksums.
    Bundle,
    /// A configuration file in the bundle or target does not parse.
    Parse,
    /// The mapping file is invalid.
    Mapping,
    /// Unresolved or ambiguous old-node references: the plan is incomplete.
    Coverage,
    /// The target (directory or cluster export) cannot be read.
    Target,
    /// etcd cannot be reached (connection refused, timeout, DNS).
    EtcdUnreachable,
    /// etcd refused the credentials (user/password or permission).
    EtcdAuth,
    /// TLS handshake or certificate problem talking to etcd.
    EtcdTls,
    /// The target changed since planning (compare failed, stale plan): nothing written.
    Conflict,
    /// The user declined, or confirmation was needed but there is no terminal.
    Declined,
    /// Writing an output file failed.
    Io,
    /// The command needs a terminal and has none.
    NoTerminal,
    /// An apply stopped between transactions (see the run record to finish or undo).
    Interrupted,
    /// Another run holds the lock of the backup folder: nothing was written.
    Busy,
    /// A program a backup or restore part needs (`mysqldump`, `mysql`) is missing or failed.
    Tool,
    /// `-u USER`: the command cannot run as that account (no such user, sudo refused).
    SwitchUser,
    /// A bug or an etcd error that fits none of the above.
    Internal,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Bundle => 3,
            ErrorKind::Parse => 4,
            ErrorKind::Mapping => 5,
            ErrorKind::Coverage => 6,
            ErrorKind::Target => 7,
            ErrorKind::EtcdUnreachable => 8,
            ErrorKind::EtcdAuth => 9,
            ErrorKind::EtcdTls => 10,
            ErrorKind::Conflict => 11,
            ErrorKind::Declined => 12,
            ErrorKind::Io => 13,
            ErrorKind::NoTerminal => 14,
            ErrorKind::Interrupted => 15,
            ErrorKind::Busy => 20,
            ErrorKind::Tool => 21,
            ErrorKind::SwitchUser => 22,
            ErrorKind::Internal => 70,
        }
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error ready to be shown to the user and turned into an exit status.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// The core error this came from; its `source()` chain is shown where the message
    /// does not already say it.
    pub source: Option<Source>,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    /// A CLI error of `kind` whose message is `err`'s, keeping `err` as the source.
    pub fn from_error(kind: ErrorKind, err: impl StdError + Send + Sync + 'static) -> CliError {
        CliError {
            kind,
            message: err.to_string(),
            hints: Vec::new(),
            source: Some(Box::new(err)),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }

    /// The causes below the message that it does not already include, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut next = self.source.as_deref().and_then(|s| s.source());
        while let Some(e) = next {
            let text = e.to_string();
            if !self.message.contains(&text) && !out.iter().any(|o| o.contains(&text)) {
                out.push(text);
            }
            next = e.source();
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl StdError for CliError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

pub type CliResult<T> = Result<T, CliError>;

impl From<EtcdError> for CliError {
    fn from(e: EtcdError) -> CliError {
        let endpoints = e.endpoints().join(",");
        let (kind, hint) = match &e {
            EtcdError::Unreachable { .. } => (
                ErrorKind::EtcdUnreachable,
                Some(format!("check that etcd is running and reachable at {endpoints} (--endpoints, firewall, https vs http)")),
            ),
            EtcdError::Timeout { .. } | EtcdError::Retryable { .. } => (
                ErrorKind::EtcdUnreachable,
                Some(format!("check the health of the etcd cluster at {endpoints} (etcdctl endpoint health: a leader, a quorum of members)")),
            ),
            EtcdError::Auth { .. } => (
                ErrorKind::EtcdAuth,
                Some(format!("check the user and password for {endpoints} (--user, --password-file or --etcd-client-dir) and the user's role")),
            ),
            EtcdError::Tls { .. } => (
                ErrorKind::EtcdTls,
                Some(format!("check --cacert, --cert and --key for {endpoints}, and that the server's certificate names that host")),
            ),
            EtcdError::Conflict { .. } => (ErrorKind::Conflict, None),
            EtcdError::TooLarge { .. }
            | EtcdError::TooManyOps { .. }
            | EtcdError::OverLimit { .. }
            | EtcdError::Server { .. } => {
                (ErrorKind::Internal, None)
            }
        };
        let mut out = CliError::from_error(kind, e);
        if let Some(h) = hint {
            out = out.hint(h);
        }
        out
    }
}

impl From<BundleError> for CliError {
    fn from(e: BundleError) -> CliError {
        let kind = match &e {
            BundleError::NotUtf8 { .. } => ErrorKind::Parse,
            _ => ErrorKind::Bundle,
        };
        CliError::from_error(kind, e)
    }
}

impl From<crate::snapshot_db::SnapshotError> for CliError {
    fn from(e: crate::snapshot_db::SnapshotError) -> CliError {
        // A snapshot that cannot be read is an invalid bundle part (exit 3), whatever failed.
        CliError::from_error(ErrorKind::Bundle, e)
    }
}

impl From<TreeError> for CliError {
    fn from(e: TreeError) -> CliError {
        match e {
            TreeError::Bundle(b) => b.into(),
            e @ TreeError::Parse { .. } => CliError::from_error(ErrorKind::Parse, e),
        }
    }
}

impl From<ExportError> for CliError {
    fn from(e: ExportError) -> CliError {
        match e {
            ExportError::Etcd(e) => e.into(),
            e => CliError::from_error(ErrorKind::Target, e),
        }
    }
}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> CliError {
        match e {
            TargetError::Export(e) => e.into(),
            e @ TargetError::ClusterCnf { .. } => CliError::from_error(ErrorKind::Parse, e),
            TargetError::Parse { path, source } => {
                // A parse error in the target is a parse error; anything else about
                // reading it is the target's.
                let kind = match &source {
                    TreeError::Parse { .. } | TreeError::Bundle(BundleError::NotUtf8 { .. }) => {
                        ErrorKind::Parse
                    }
                    TreeError::Bundle(_) => ErrorKind::Target,
                };
                CliError::from_error(kind, TargetError::Parse { path, source })
            }
            TargetError::Bundle { path, source } => {
                let kind = match &source {
                    BundleError::NotUtf8 { .. } => ErrorKind::Parse,
                    _ => ErrorKind::Target,
                };
                CliError::from_error(kind, TargetError::Bundle { path, source })
            }
            e @ (TargetError::NotADirectory(_) | TargetError::Snapshot(_)) => {
                CliError::from_error(ErrorKind::Target, e)
            }
        }
    }
}

/// `{what}, nothing was written: N problem(s)` and one escaped line per problem.
fn problem_list(what: &str, lines: &[String]) -> String {
    let mut msg = format!("{what}, nothing was written: {} problem(s)", lines.len());
    for l in lines {
        msg.push_str("\n  ");
        msg.push_str(&crate::ui::esc(l));
    }
    msg
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> CliError {
        match e {
            PlanError::Incomplete(lines) => {
                CliError::new(ErrorKind::Coverage, problem_list("the plan is incomplete", &lines))
                    .hint("map each reference's host in the mapping file, or list it under keep: if it must stay")
            }
            e @ PlanError::Broke(_) => CliError::from_error(ErrorKind::Internal, e),
            PlanError::NotNewNodes(lines) => {
                let msg = problem_list("the mapping does not name the new cluster", &lines);
                CliError::new(ErrorKind::Mapping, msg).hint(
                    "map each old node to a node of the new cluster, or pass --allow-unknown-hosts for a target that does not list its nodes",
                )
            }
            PlanError::MergeRules(lines) => {
                let msg = problem_list("the mapping's merge: section names what is not there", &lines);
                CliError::new(ErrorKind::Mapping, msg).hint(
                    "correct the names (property keys as in the file, YAML paths like a.b[0].c), or remove the entries",
                )
            }
            PlanError::Merge(e) => {
                let kind = match &e {
                    crate::merge::MergeError::Unsound { .. } => ErrorKind::Internal,
                    crate::merge::MergeError::Parse { .. } => ErrorKind::Parse,
                    _ => ErrorKind::Coverage,
                };
                CliError::from_error(kind, e)
            }
            e @ PlanError::Encode(_) => CliError::from_error(ErrorKind::Internal, e),
        }
    }
}

impl From<ApplyError> for CliError {
    fn from(e: ApplyError) -> CliError {
        let kind = match &e {
            ApplyError::Etcd(_) => ErrorKind::Internal,
            ApplyError::Record { .. } => ErrorKind::Io,
            ApplyError::BadRecord(_) | ApplyError::OutsidePrefix { .. } => ErrorKind::Usage,
            ApplyError::RolledBack { .. } | ApplyError::RollbackConflict(_) => ErrorKind::Conflict,
            // Cut off between transactions (etcd stopped or lost mid-apply, or stopped on
            // purpose): some transactions are written, the run record says which.
            ApplyError::Partial { .. } | ApplyError::Stopped { .. } => ErrorKind::Interrupted,
        };
        match e {
            ApplyError::Etcd(inner) => inner.into(),
            other => CliError::from_error(kind, other),
        }
    }
}

impl From<crate::atomic::WriteError> for CliError {
    fn from(e: crate::atomic::WriteError) -> CliError {
        CliError::from_error(ErrorKind::Io, e)
    }
}

impl From<crate::ui::UiError> for CliError {
    fn from(e: crate::ui::UiError) -> CliError {
        CliError::from_error(ErrorKind::Io, e)
    }
}

impl From<OpsError> for CliError {
    fn from(e: OpsError) -> CliError {
        match e {
            OpsError::Read { role, .. } => {
                let kind = match role {
                    FileRole::Option => ErrorKind::Usage,
                    FileRole::Mapping => ErrorKind::Mapping,
                    FileRole::Target => ErrorKind::Target,
                };
                CliError::from_error(kind, e)
            }
            OpsError::Mapping(e) => CliError::from_error(ErrorKind::Mapping, e),
            OpsError::Contexts(e) => CliError::from_error(ErrorKind::Usage, e),
            OpsError::Layout(e) => CliError::from_error(ErrorKind::Usage, e),
            OpsError::Bundle(e) => e.into(),
            OpsError::Snapshot(e) => e.into(),
            e @ OpsError::SnapshotCopy { .. } => CliError::from_error(ErrorKind::Bundle, e),
            OpsError::Tree(e) => e.into(),
            OpsError::Target(e) => e.into(),
            OpsError::Etcd(e) => e.into(),
            OpsError::Plan(e) => e.into(),
            OpsError::Apply(e) => e.into(),
            OpsError::Write(e) => e.into(),
            e @ OpsError::Stale { .. } => {
                CliError::from_error(ErrorKind::Conflict, e).hint("make a new plan")
            }
            e @ (OpsError::BadPlanFile { .. } | OpsError::Missing(_) | OpsError::Usage(_)) => {
                CliError::from_error(ErrorKind::Usage, e)
            }
        }
    }
}

/// What no new bundle means for the operator: said with every backup error.
const NOTHING_KEPT: &str = "no new bundle was kept (nothing that looks like a bundle was left)";

impl From<crate::backup::BackupError> for CliError {
    fn from(e: crate::backup::BackupError) -> CliError {
        use crate::backup::{BackupError as B, LockError, SourceError, WriteError};
        let e = match e {
            B::Etcd(e) | B::Export(ExportError::Etcd(e)) => {
                return CliError::from(e).hint(NOTHING_KEPT)
            }
            other => other,
        };
        let kind = match &e {
            B::Lock(LockError::Held { .. }) => ErrorKind::Busy,
            B::Source(SourceError::Tool(_)) => ErrorKind::Tool,
            B::Snapshot(_) | B::Export(_) | B::Write(WriteError::Verify(_)) => ErrorKind::Bundle,
            B::NoEtcd => ErrorKind::Internal,
            _ => ErrorKind::Io,
        };
        let message = format!("backup failed: {e}");
        CliError {
            kind,
            message,
            hints: vec![NOTHING_KEPT.to_string()],
            source: Some(Box::new(e)),
        }
    }
}

impl From<crate::ops::restore::RestoreOpsError> for CliError {
    fn from(e: crate::ops::restore::RestoreOpsError) -> CliError {
        use crate::backup::restore::RestoreError as R;
        use crate::ops::restore::RestoreOpsError as E;
        match e {
            E::Ops(e) => e.into(),
            e @ E::NoDump => CliError::from_error(ErrorKind::Usage, e),
            E::Restore(e) => {
                let kind = match &e {
                    R::Source(crate::backup::SourceError::Tool(_)) => ErrorKind::Tool,
                    R::Changed { .. } | R::Missing { .. } => ErrorKind::Bundle,
                    _ => ErrorKind::Io,
                };
                CliError::from_error(kind, e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_classes_pick_the_exit_code_and_name_the_endpoint_in_a_hint() {
        let eps = vec!["http://127.0.0.1:1".to_string()];
        let e: CliError = EtcdError::Unreachable {
            endpoints: eps.clone(),
            detail: "tcp connect error".into(),
            maybe_applied: false,
        }
        .into();
        assert_eq!(e.kind, ErrorKind::EtcdUnreachable);
        assert_eq!(e.hints.len(), 1);
        assert!(e.hints[0].contains("http://127.0.0.1:1"), "{:?}", e.hints);
        let e: CliError = EtcdError::Tls {
            endpoints: eps.clone(),
            detail: "x".into(),
        }
        .into();
        assert_eq!(e.kind, ErrorKind::EtcdTls);
        let e: CliError = EtcdError::Auth {
            user: None,
            endpoints: eps,
            detail: "x".into(),
        }
        .into();
        assert_eq!(e.kind, ErrorKind::EtcdAuth);
        let e: CliError = EtcdError::Conflict {
            keys: vec!["/k".into()],
        }
        .into();
        assert_eq!(e.kind, ErrorKind::Conflict);
    }

    #[test]
    fn an_apply_cut_off_between_transactions_exits_15() {
        let e: CliError = ApplyError::Partial {
            batch: 2,
            total: 3,
            cause: Box::new(EtcdError::Unreachable {
                endpoints: vec![],
                detail: "connection reset".into(),
                maybe_applied: true,
            }),
            rollback: "unreachable".into(),
            record: "run.json".into(),
        }
        .into();
        assert_eq!(e.kind.exit_code(), 15);
    }

    #[test]
    fn the_source_chain_is_kept_without_repeating_the_message() {
        let io = std::io::Error::other("disk full");
        let e = CliError::from(crate::atomic::WriteError::Io {
            path: "x".into(),
            source: io,
        });
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(e.message.contains("disk full"));
        assert!(e.causes().is_empty(), "{:?}", e.causes());
        assert!(e.source.is_some());
    }
}
