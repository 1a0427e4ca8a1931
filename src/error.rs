//! The one error type of the command line edge: a kind that decides the exit code, a
//! message, and optional hints. Core modules have their own typed errors and convert here.

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

/// An error ready to be shown to the user and turned into an exit status.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T> = Result<T, CliError>;
