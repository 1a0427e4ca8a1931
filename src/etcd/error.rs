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

/// Everything the etcd seam reports. Each variant carries enough structure for a useful
/// message and hint; `detail` strings hold the underlying library text (password-free).
/// The classification happens once, in [`ErrorContext::classify`]: batching and retries
/// match on these variants, never on message text.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered: connection refused, DNS failure, or the connect deadline passed.
    /// `maybe_applied`: the connection was lost after a request went out, so a write may
    /// have been applied (its outcome must be checked before it is sent again).
    #[error("etcd is unreachable at {}: {detail}", endpoints.join(", "))]
    Unreachable {
        endpoints: Vec<String>,
        detail: String,
        maybe_applied: bool,
    },
    /// etcd refused the credentials or the permission (wrong password, unknown user, no
    /// user given while auth is enabled, permission denied, invalid/expired token).
    #[error("etcd refused the credentials of user {}: {detail}", user.as_deref().unwrap_or("(none)"))]
    Auth {
        user: Option<String>,
        endpoints: Vec<String>,
        detail: String,
    },
    /// TLS handshake or certificate problem (untrusted server, client certificate missing or
    /// rejected, unreadable PEM files, https/http mismatch).
    #[error("TLS problem talking to etcd: {detail}")]
    Tls {
        endpoints: Vec<String>,
        detail: String,
    },
    /// A compare-and-swap guard failed: these keys no longer match what the plan expected.
    /// Nothing of the transaction was written.
    #[error("etcd keys changed since they were read (nothing written): {}", keys.join(", "))]
    Conflict { keys: Vec<String> },
    /// One operation is larger than a single etcd request may be.
    #[error("etcd write of key {key} needs {bytes} bytes, more than one etcd request allows")]
    TooLarge { key: String, bytes: usize },
    /// One item's operations (which must go in one transaction) are more than a
    /// transaction may hold.
    #[error("etcd write of item {key} needs {ops} operations in one transaction, more than the {max_ops} allowed (--max-txn-ops)")]
    TooManyOps {
        key: String,
        ops: usize,
        max_ops: usize,
    },
    /// The server refused a request whole as over one of its own limits (nothing of it was
    /// applied): a smaller request may pass.
    #[error("etcd refused the request as over its limits ({limit}): {detail}")]
    OverLimit { limit: ServerLimit, detail: String },
    /// A request to an otherwise reachable etcd did not finish in time (no leader, overload).
    #[error("etcd did not answer in time: {what}")]
    Timeout {
        what: String,
        endpoints: Vec<String>,
    },
    /// A transient server state (no leader, leader changed, too many requests, a proposal
    /// that timed out inside etcd): worth retrying. `maybe_applied` as for `Unreachable`.
    #[error("etcd is busy or between leaders at {}: {detail}", endpoints.join(", "))]
    Retryable {
        endpoints: Vec<String>,
        detail: String,
        maybe_applied: bool,
    },
    /// etcd answered with an error that fits none of the above.
    #[error("etcd error: {detail}")]
    Server { detail: String },
}

/// Which of etcd's own limits a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLimit {
    /// More operations in one transaction than `--max-txn-ops`.
    TxnOps,
    /// A request larger than `--max-request-bytes`.
    RequestBytes,
    /// A gRPC message larger than the client or server accepts (a write or a read page).
    MessageBytes,
}

impl std::fmt::Display for ServerLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServerLimit::TxnOps => "operations per transaction",
            ServerLimit::RequestBytes => "request size",
            ServerLimit::MessageBytes => "message size",
        })
    }
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The request cannot have reached etcd (no connection was made): retry freely.
    NotSent,
    /// The request may have been applied (connection lost mid-request, leader changed):
    /// retry, but a write's outcome must then be checked rather than assumed.
    MaybeApplied,
    /// Final.
    No,
}

impl EtcdError {
    /// Whether the request that failed with this error may be retried.
    pub fn retry(&self) -> Retry {
        match self {
            EtcdError::Unreachable { maybe_applied, .. }
            | EtcdError::Retryable { maybe_applied, .. } => {
                if *maybe_applied {
                    Retry::MaybeApplied
                } else {
                    Retry::NotSent
                }
            }
            _ => Retry::No,
        }
    }

    /// The endpoints the failed request went to, where the error knows them.
    pub fn endpoints(&self) -> &[String] {
        match self {
            EtcdError::Unreachable { endpoints, .. }
            | EtcdError::Auth { endpoints, .. }
            | EtcdError::Tls { endpoints, .. }
            | EtcdError::Timeout { endpoints, .. }
            | EtcdError::Retryable { endpoints, .. } => endpoints,
            _ => &[],
        }
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
    /// The connection uses TLS, and whether a client certificate was given: a TLS 1.3
    /// server that rejects the client shows up as a closed connection.
    pub tls: bool,
    pub client_cert: bool,
}

impl ErrorContext<'_> {
    pub(crate) fn unreachable(&self, detail: impl Into<String>) -> EtcdError {
        self.unreachable_after(detail, false)
    }

    fn unreachable_after(&self, detail: impl Into<String>, maybe_applied: bool) -> EtcdError {
        EtcdError::Unreachable {
            endpoints: self.endpoints.to_vec(),
            detail: self.mask(detail.into()),
            maybe_applied,
        }
    }

    pub(crate) fn auth(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Auth {
            user: self.user.map(str::to_owned),
            endpoints: self.endpoints.to_vec(),
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn tls(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Tls {
            endpoints: self.endpoints.to_vec(),
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn server(&self, detail: impl Into<String>) -> EtcdError {
        EtcdError::Server {
            detail: self.mask(detail.into()),
        }
    }

    pub(crate) fn timeout(&self, what: impl Into<String>) -> EtcdError {
        EtcdError::Timeout {
            what: what.into(),
            endpoints: self.endpoints.to_vec(),
        }
    }

    fn retryable(&self, detail: impl Into<String>, maybe_applied: bool) -> EtcdError {
        EtcdError::Retryable {
            endpoints: self.endpoints.to_vec(),
            detail: self.mask(detail.into()),
            maybe_applied,
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

    /// Classify an etcd-client error. `what` names the operation for timeouts. This is
    /// the one place that reads error text; everything downstream matches on variants.
    pub(crate) fn classify(&self, err: &etcd_client::Error, phase: Phase, what: &str) -> EtcdError {
        let chain = error_chain(err);
        let lower = chain.to_lowercase();
        if let Some(limit) = over_limit(&lower) {
            return EtcdError::OverLimit {
                limit,
                detail: self.mask(chain),
            };
        }
        let class = self.classify_rest(err, phase, what, &chain, &lower);
        match class {
            EtcdError::Unreachable { .. }
                if self.tls && phase == Phase::Connect && lower.contains("connection closed") =>
            {
                // A TLS 1.3 server that rejects the client certificate does so after the
                // client considers the handshake done: the client only sees the new
                // connection being closed. A fresh connection that opens and is closed
                // before any answer is that, not a network problem.
                let hint = if self.client_cert {
                    "the server probably rejected the client certificate"
                } else {
                    "no client certificate was given; the server probably requires one"
                };
                self.tls(format!(
                    "the server closed the connection right after the TLS handshake ({hint}): {err}"
                ))
            }
            other => other,
        }
    }

    fn classify_rest(
        &self,
        err: &etcd_client::Error,
        phase: Phase,
        what: &str,
        chain: &str,
        lower: &str,
    ) -> EtcdError {
        // Failures where the request cannot have reached etcd.
        let not_sent = NOT_SENT_WORDS.iter().any(|w| lower.contains(w));
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
                if looks_like_tls(lower) {
                    return self.tls(chain);
                }
                if message.contains("etcdserver: no leader") {
                    return self.retryable(chain, false);
                }
                if MAYBE_APPLIED_MESSAGES.iter().any(|m| lower.contains(m)) {
                    return match phase {
                        Phase::Connect => self.unreachable(format!("no answer in time ({chain})")),
                        Phase::Request => self.retryable(chain, true),
                    };
                }
                if code == GRPC_DEADLINE_EXCEEDED
                    || (code == GRPC_CANCELLED && lower.contains("timeout expired"))
                {
                    return match phase {
                        Phase::Connect => self.unreachable(format!("no answer in time ({chain})")),
                        Phase::Request => self.timeout(what),
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
                    return self.unreachable_after(chain, !not_sent);
                }
                self.server(chain)
            }
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                if looks_like_tls(lower) {
                    self.tls(chain)
                } else {
                    self.unreachable_after(chain, !not_sent && phase == Phase::Request)
                }
            }
            etcd_client::Error::InvalidUri(_) | etcd_client::Error::EndpointError(_) => {
                self.unreachable(format!("invalid endpoint: {chain}"))
            }
            etcd_client::Error::InvalidArgs(_) if looks_like_tls(lower) => self.tls(chain),
            _ => self.server(chain),
        }
    }
}

/// Which server limit an error text reports, if any (etcd's and gRPC's own wording).
fn over_limit(lower: &str) -> Option<ServerLimit> {
    if lower.contains("too many operations in txn request") {
        Some(ServerLimit::TxnOps)
    } else if lower.contains("request is too large") || lower.contains("larger than max") {
        Some(ServerLimit::RequestBytes)
    } else if lower.contains("message length too large") {
        Some(ServerLimit::MessageBytes)
    } else {
        None
    }
}

/// Signs that no connection was made, so the request never reached etcd.
const NOT_SENT_WORDS: &[&str] = &["tcp connect error", "connection refused", "dns error"];

/// etcd's transient states after which a write may or may not have been applied.
const MAYBE_APPLIED_MESSAGES: &[&str] = &[
    "etcdserver: leader changed",
    "etcdserver: request timed out",
    "too many requests",
];

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
            tls: false,
            client_cert: false,
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
    fn limits_and_transient_states_become_variants_once() {
        let eps = vec!["http://127.0.0.1:2379".to_owned()];
        let c = ctx(&eps, None);
        let over = etcd_client::Error::Internal(
            "etcdserver: too many operations in txn request".to_owned(),
        );
        assert!(matches!(
            c.classify(&over, Phase::Request, "txn"),
            EtcdError::OverLimit {
                limit: ServerLimit::TxnOps,
                ..
            }
        ));
        let big = etcd_client::Error::Internal("etcdserver: request is too large".to_owned());
        assert!(matches!(
            c.classify(&big, Phase::Request, "txn"),
            EtcdError::OverLimit {
                limit: ServerLimit::RequestBytes,
                ..
            }
        ));
        // A refused connection never reached etcd; a reset one may have.
        let refused = etcd_client::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(
            c.classify(&refused, Phase::Request, "get").retry(),
            Retry::NotSent
        );
        let reset = etcd_client::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
        assert_eq!(
            c.classify(&reset, Phase::Request, "txn").retry(),
            Retry::MaybeApplied
        );
        let odd = etcd_client::Error::Internal("something odd".to_owned());
        assert_eq!(c.classify(&odd, Phase::Request, "txn").retry(), Retry::No);
    }

    #[test]
    fn a_closed_tls_connection_at_connect_is_a_tls_problem() {
        let eps = vec!["https://127.0.0.1:2379".to_owned()];
        let mut c = ctx(&eps, None);
        c.tls = true;
        let closed = etcd_client::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "connection closed before message completed",
        ));
        match c.classify(&closed, Phase::Connect, "connect") {
            EtcdError::Tls { detail, .. } => assert!(detail.contains("client certificate")),
            other => panic!("expected Tls, got {other:?}"),
        }
    }
}
