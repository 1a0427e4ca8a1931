//! [`EtcdError`]: what can go wrong talking to etcd, classified so that the command-line edge
//! can pick an exit code and a hint, plus the classifier that turns etcd-client / tonic
//! errors into it.
//!
//! Classification works on the gRPC status code where etcd sets a meaningful one, and on the
//! text of the error and its whole `source()` chain otherwise: tonic wraps rustls and I/O
//! errors several layers deep, and the layer that says "certificate" or "Connection refused"
//! is rarely the outermost one. No error text built here ever contains a password: the
//! classifier is handed the password (when there is one) and masks it in every detail string
//! it keeps, on top of never formatting it itself.

use std::error::Error as StdError;

use crate::error::{CliError, ErrorKind};

/// Everything the etcd seam reports. Each variant carries enough structure for a useful
/// message; `detail` strings hold the underlying library text (password-free).
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered: connection refused, DNS failure, or the connect deadline passed.
    #[error("etcd is unreachable at {}: {detail}", endpoints.join(", "))]
    Unreachable {
        endpoints: Vec<String>,
        detail: String,
    },
    /// etcd refused the credentials or the permission (wrong password, unknown user, no
    /// user given while auth is enabled, permission denied, invalid/expired token).
    #[error("etcd refused the credentials of user {}: {detail}", user.as_deref().unwrap_or("(none)"))]
    Auth {
        user: Option<String>,
        detail: String,
    },
    /// TLS handshake or certificate problem (untrusted server, client certificate missing or
    /// rejected, unreadable PEM files, https/http mismatch).
    #[error("TLS problem talking to etcd: {detail}")]
    Tls { detail: String },
    /// A compare-and-swap guard failed: these keys no longer match what the plan expected.
    /// Nothing of the transaction was written.
    #[error("etcd keys changed since they were read (nothing written): {}", keys.join(", "))]
    Conflict { keys: Vec<String> },
    /// One operation is larger than a single etcd request may be.
    #[error("etcd write of key {key} needs {bytes} bytes, more than one etcd request allows")]
    TooLarge { key: String, bytes: usize },
    /// A request to an otherwise reachable etcd did not finish in time (no leader, overload).
    #[error("etcd did not answer in time: {what}")]
    Timeout { what: String },
    /// etcd answered with an error that fits none of the above.
    #[error("etcd error: {detail}")]
    Server { detail: String },
}

impl From<EtcdError> for CliError {
    fn from(e: EtcdError) -> CliError {
        let kind = match &e {
            EtcdError::Unreachable { .. } | EtcdError::Timeout { .. } => ErrorKind::EtcdUnreachable,
            EtcdError::Auth { .. } => ErrorKind::EtcdAuth,
            EtcdError::Tls { .. } => ErrorKind::EtcdTls,
            EtcdError::Conflict { .. } => ErrorKind::Conflict,
            EtcdError::TooLarge { .. } | EtcdError::Server { .. } => ErrorKind::Internal,
        };
        CliError::new(kind, e.to_string())
    }
}

/// Render a key for messages: as text when it is UTF-8, with `\xNN` escapes otherwise.
pub fn key_display(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) => s.to_owned(),
        Err(_) => key.escape_ascii().to_string(),
    }
}

/// Which stage a failure happened in: a deadline while connecting means "unreachable",
/// a deadline on a later request of a reachable cluster means "timeout".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connect,
    Request,
}

/// What the classifier needs to know about the connection to word its errors.
pub(crate) struct ErrorContext<'a> {
    pub endpoints: &'a [String],
    pub user: Option<&'a str>,
    /// Masked out of every detail string. Never printed.
    pub password: Option<&'a str>,
}

impl ErrorContext<'_> {
    pub(crate) fn unreachable(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Unreachable {
            endpoints: self.endpoints.to_vec(),
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn auth(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Auth {
            user: self.user.map(str::to_owned),
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn tls(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Tls {
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn server(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Server {
            detail: self.mask(detail.into()),
        }
    }

    /// Replace the password wherever it occurs. Library errors should never echo it, but
    /// a password that happens to be a common word ("alert", "refused") must not leak
    /// through a message either way; an empty password masks nothing.
    fn mask(&self, text: String) -> String {
        match self.password {
            Some(p) if !p.is_empty() && text.contains(p) => text.replace(p, "***"),
            _ => text,
        }
    }

    /// Classify an etcd-client error. `what` names the operation for timeouts.
    pub(crate) fn classify(&self, err: &etcd_client::Error, phase: Phase, what: &str) -> EtcdError {
        let chain = error_chain(err);
        let lower = chain.to_lowercase();
        match err {
            etcd_client::Error::GRpcStatus(status) => {
                let code: i32 = status.code().into();
                let message = status.message().to_lowercase();
                if code == GRPC_UNAUTHENTICATED
                    || code == GRPC_PERMISSION_DENIED
                    || AUTH_MESSAGES.iter().any(|m| message.contains(m))
                {
                    return self.auth(status.message());
                }
                if looks_like_tls(&lower) {
                    return self.tls(chain);
                }
                if code == GRPC_DEADLINE_EXCEEDED
                    || (code == GRPC_CANCELLED && lower.contains("timeout expired"))
                    // etcd's own: a proposal not applied in time (e.g. the leader died).
                    || message.contains("etcdserver: request timed out")
                {
                    return match phase {
                        Phase::Connect => self.unreachable(format!("no answer in time ({chain})")),
                        Phase::Request => EtcdError::Timeout {
                            what: what.to_owned(),
                        },
                    };
                }
                if lower.contains("grpc-status header missing") {
                    // Something answers HTTP at that address, but it is not etcd (a proxy,
                    // a web server, a wrong port).
                    return self
                        .unreachable(format!("the endpoint does not answer as etcd: {chain}"));
                }
                let transport = TRANSPORT_WORDS.iter().any(|w| lower.contains(w));
                if (code == GRPC_UNAVAILABLE || transport) && !message.starts_with("etcdserver:") {
                    // Transport-level unavailability (refused, reset, DNS). etcd's own
                    // "etcdserver: ..." unavailability (no leader, stopped) is a server state.
                    return self.unreachable(chain);
                }
                self.server(chain)
            }
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                if looks_like_tls(&lower) {
                    self.tls(chain)
                } else {
                    self.unreachable(chain)
                }
            }
            etcd_client::Error::InvalidUri(_) | etcd_client::Error::EndpointError(_) => {
                self.unreachable(format!("invalid endpoint: {chain}"))
            }
            etcd_client::Error::InvalidArgs(_) if looks_like_tls(&lower) => self.tls(chain),
            _ => self.server(chain),
        }
    }
}

// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). tonic's
// `Code` converts to these numbers; naming them here saves a direct tonic dependency.
const GRPC_CANCELLED: i32 = 1;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_PERMISSION_DENIED: i32 = 7;
const GRPC_UNAVAILABLE: i32 = 14;
const GRPC_UNAUTHENTICATED: i32 = 16;

/// etcd's auth errors mostly arrive as InvalidArgument/FailedPrecondition, so the code
/// alone does not identify them; these are the (lower-cased) messages of etcd's
/// `rpctypes` auth errors.
const AUTH_MESSAGES: &[&str] = &[
    "authentication failed",
    "invalid auth token",
    "permission denied",
    "user name is empty",
    "user name not found",
    "authentication is not enabled",
    "invalid auth management",
    "role is not granted",
];

/// Signs, anywhere in the error chain, that the connection itself failed (tonic reports
/// a connection lost mid-request as code Unknown or Cancelled, not Unavailable).
const TRANSPORT_WORDS: &[&str] = &[
    "transport error",
    "tcp connect error",
    "connection refused",
    "connection reset",
    "connection closed",
    "broken pipe",
    "dns error",
];

fn looks_like_tls(lower: &str) -> bool {
    const TLS_WORDS: &[&str] = &[
        "certificate",
        "handshake",
        "tls",
        "x509",
        "unknownissuer",
        "received fatal alert",
    ];
    TLS_WORDS.iter().any(|w| lower.contains(w))
}

/// The error's message followed by each distinct message of its `source()` chain.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(endpoints: &'a [String], password: Option<&'a str>) -> ErrorContext<'a> {
        ErrorContext {
            endpoints,
            user: Some("root"),
            password,
        }
    }

    #[test]
    fn non_utf8_keys_are_escaped_in_messages() {
        assert_eq!(key_display(b"/a/b"), "/a/b");
        assert_eq!(key_display(b"k\xff\x00"), "k\\xff\\x00");
    }

    #[test]
    fn password_is_masked_in_details() {
        let eps = vec!["http://127.0.0.1:1".to_owned()];
        let c = ctx(&eps, Some("hunter2"));
        let e = c.server("server said hunter2 twice: hunter2");
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("***"), "{text}");
    }

    #[test]
    fn endpoint_errors_are_unreachable_and_name_endpoints() {
        let eps = vec!["http://bad host:1".to_owned()];
        let c = ctx(&eps, None);
        let err = etcd_client::Error::EndpointError("no such endpoint".to_owned());
        match c.classify(&err, Phase::Connect, "connect") {
            EtcdError::Unreachable { endpoints, .. } => assert_eq!(endpoints, eps),
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[test]
    fn io_errors_are_classified_by_their_text() {
        let eps = vec!["https://127.0.0.1:2379".to_owned()];
        let c = ctx(&eps, None);
        let refused = etcd_client::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert!(matches!(
            c.classify(&refused, Phase::Request, "get"),
            EtcdError::Unreachable { .. }
        ));
        let alert = etcd_client::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: BadCertificate",
        ));
        assert!(matches!(
            c.classify(&alert, Phase::Connect, "connect"),
            EtcdError::Tls { .. }
        ));
        let internal = etcd_client::Error::Internal("something odd".to_owned());
        assert!(matches!(
            c.classify(&internal, Phase::Request, "get"),
            EtcdError::Server { .. }
        ));
    }

    #[test]
    fn cli_kinds_follow_the_class() {
        let e: CliError = EtcdError::Conflict {
            keys: vec!["/k".into()],
        }
        .into();
        assert_eq!(e.kind, ErrorKind::Conflict);
        let e: CliError = EtcdError::Tls { detail: "x".into() }.into();
        assert_eq!(e.kind, ErrorKind::EtcdTls);
        let e: CliError = EtcdError::Auth {
            user: None,
            detail: "x".into(),
        }
        .into();
        assert_eq!(e.kind, ErrorKind::EtcdAuth);
    }
}
