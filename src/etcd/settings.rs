//! Resolution of etcd connection settings: where the cluster is, which TLS files and which
//! credentials to use, and how long to wait.
//!
//! The resolver is pure apart from reading the files it is pointed at: the command-line
//! edge passes the parsed flags, a snapshot of the environment taken once, and (optionally)
//! a Deephaven etcd client directory. Precedence, per setting: **flags > env > client dir >
//! default**.
//!
//! | setting | flag (`EtcdFlags`) | environment | client directory file |
//! |---|---|---|---|
//! | endpoints | `endpoints` | `ETCDCTL_ENDPOINTS` (comma separated) | `endpoints` (comma and/or whitespace separated) |
//! | CA bundle | `cacert` | `ETCDCTL_CACERT` | `cacert.pem`, else `ca.pem` |
//! | client certificate | `cert` | `ETCDCTL_CERT` | `cert.pem` |
//! | client key | `key` | `ETCDCTL_KEY` | `key.pem` |
//! | user | `user` | `ETCDCTL_USER` (`user` or `user:password`) | `user` |
//! | password | `password_file` | `ETCDCTL_USER`'s `:password` part, else `ETCDCTL_PASSWORD` | `password` |
//! | connect timeout | `connect_timeout` | `ETCDCTL_DIAL_TIMEOUT` (`2s`, `500ms`, `1m30s`) | - (default 5 s) |
//! | request timeout | `request_timeout` | - | - (default 30 s) |
//!
//! Credentials are resolved as a pair: the user comes from the first source that names one,
//! and a password is only taken from a source that names the same user (or names no user,
//! like `ETCDCTL_PASSWORD` and `--password-file`). So `--user alice` never sends the client
//! directory's `root` password. A Deephaven client directory is e.g.
//! `/etc/sysconfig/deephaven/etcd/client/root/`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connect timeout when none is given: long enough for a TLS handshake across a WAN.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-request timeout when none is given: a 128-op transaction of large values can take
/// a few seconds on a slow disk.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The client-directory file names accepted for the CA bundle, in order of preference.
pub const CLIENT_DIR_CACERT_NAMES: &[&str] = &["cacert.pem", "ca.pem"];
/// The client-directory file name of the client certificate.
pub const CLIENT_DIR_CERT_NAME: &str = "cert.pem";
/// The client-directory file name of the client key.
pub const CLIENT_DIR_KEY_NAME: &str = "key.pem";

/// A password. Its value never appears in `Debug` or `Display`; read it with
/// [`Secret::expose`] only where it is handed to the etcd client.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value. Call only to hand it to the etcd client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Fully resolved connection settings, ready for [`crate::etcd::RealEtcd::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl EtcdSettings {
    /// Plain settings for the given endpoints with default timeouts and no TLS or user.
    pub fn new(endpoints: Vec<String>) -> EtcdSettings {
        EtcdSettings {
            endpoints,
            cacert: None,
            cert: None,
            key: None,
            user: None,
            password: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The etcd-related command-line flags, as parsed by the CLI (which owns their spelling).
/// `None`/empty means "not given".
#[derive(Debug, Clone, Default)]
pub struct EtcdFlags {
    /// `--endpoints`; each entry may itself be comma separated.
    pub endpoints: Vec<String>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `--user`: `user` or `user:password` (as etcdctl accepts).
    pub user: Option<String>,
    /// `--password-file`: its content, minus one trailing newline, is the password.
    pub password_file: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not UTF-8 text")]
    NotText { path: PathBuf },
    #[error(
        "no etcd endpoints: give --endpoints, set ETCDCTL_ENDPOINTS, or point to a Deephaven etcd client directory"
    )]
    NoEndpoints,
    #[error("a password was given ({origin}) but no user")]
    PasswordWithoutUser { origin: &'static str },
    #[error("the user name is empty ({origin})")]
    EmptyUser { origin: &'static str },
    #[error("a client certificate ({cert}) was given without its key")]
    CertWithoutKey { cert: PathBuf },
    #[error("a client key ({key}) was given without its certificate")]
    KeyWithoutCert { key: PathBuf },
    #[error("{origin}={value:?} is not a duration (like 2s, 500ms or 1m30s)")]
    BadDuration { origin: &'static str, value: String },
    #[error("etcd endpoint {value:?} (from {origin}) is not valid: {why}; write it as https://host:2379 or host:port")]
    BadEndpoint {
        origin: &'static str,
        value: String,
        why: String,
    },
}

/// Resolve settings from the flags, an environment snapshot and an optional Deephaven
/// client directory (see the module docs for the precedence table).
pub fn resolve(
    flags: &EtcdFlags,
    env: &HashMap<String, String>,
    client_dir: Option<&Path>,
) -> Result<EtcdSettings, SettingsError> {
    let dir = match client_dir {
        Some(d) => Some(ClientDir::read(d)?),
        None => None,
    };
    let env_value = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let env_path = |name: &str| env_value(name).map(PathBuf::from);

    // Endpoints.
    let mut endpoints = split_list(flags.endpoints.iter().map(String::as_str));
    let mut origin = "--endpoints";
    if endpoints.is_empty() {
        endpoints = split_list(env_value("ETCDCTL_ENDPOINTS"));
        origin = "ETCDCTL_ENDPOINTS";
    }
    if endpoints.is_empty() {
        if let Some(d) = &dir {
            endpoints = d.endpoints.clone();
            origin = "the client directory's endpoints file";
        }
    }
    if endpoints.is_empty() {
        return Err(SettingsError::NoEndpoints);
    }
    for e in &endpoints {
        check_endpoint(e).map_err(|why| SettingsError::BadEndpoint {
            origin,
            value: e.clone(),
            why,
        })?;
    }

    // TLS files, each on its own.
    let cacert = flags
        .cacert
        .clone()
        .or_else(|| env_path("ETCDCTL_CACERT"))
        .or_else(|| dir.as_ref().and_then(|d| d.cacert.clone()));
    let cert = flags
        .cert
        .clone()
        .or_else(|| env_path("ETCDCTL_CERT"))
        .or_else(|| dir.as_ref().and_then(|d| d.cert.clone()));
    let key = flags
        .key
        .clone()
        .or_else(|| env_path("ETCDCTL_KEY"))
        .or_else(|| dir.as_ref().and_then(|d| d.key.clone()));
    match (&cert, &key) {
        (Some(c), None) => return Err(SettingsError::CertWithoutKey { cert: c.clone() }),
        (None, Some(k)) => return Err(SettingsError::KeyWithoutCert { key: k.clone() }),
        _ => {}
    }

    // Credentials, as a pair.
    let flag_password = match &flags.password_file {
        Some(p) => Some(read_password_file(p)?),
        None => None,
    };
    let env_password = env
        .get("ETCDCTL_PASSWORD")
        .filter(|p| !p.is_empty())
        .cloned();
    let (user, password) = if let Some(spec) = &flags.user {
        let (user, inline) = split_user(spec, "--user")?;
        let password = flag_password.or(inline).or(env_password);
        (Some(user), password)
    } else if let Some(spec) = env.get("ETCDCTL_USER").filter(|u| !u.is_empty()) {
        let (user, inline) = split_user(spec, "ETCDCTL_USER")?;
        let password = flag_password.or(inline).or(env_password);
        (Some(user), password)
    } else if let Some(d) = dir.as_ref().filter(|d| d.user.is_some()) {
        let password = flag_password
            .or(env_password)
            .or_else(|| d.password.clone());
        (d.user.clone(), password)
    } else {
        if flag_password.is_some() {
            return Err(SettingsError::PasswordWithoutUser {
                origin: "--password-file",
            });
        }
        if env_password.is_some() {
            return Err(SettingsError::PasswordWithoutUser {
                origin: "ETCDCTL_PASSWORD",
            });
        }
        // A client directory holding a password but no user is treated as holding no
        // credentials: Deephaven's query-node directories can carry stray files.
        (None, None)
    };

    Ok(EtcdSettings {
        endpoints,
        cacert,
        cert,
        key,
        user,
        password: password.map(Secret::new),
        connect_timeout: match (flags.connect_timeout, env_value("ETCDCTL_DIAL_TIMEOUT")) {
            (Some(t), _) => t,
            (None, Some(v)) => go_duration(v).filter(|d| !d.is_zero()).ok_or_else(|| {
                SettingsError::BadDuration {
                    origin: "ETCDCTL_DIAL_TIMEOUT",
                    value: v.to_string(),
                }
            })?,
            (None, None) => DEFAULT_CONNECT_TIMEOUT,
        },
        request_timeout: flags.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    })
}

/// Check one endpoint's shape: an optional `http://` or `https://` scheme, a host (name,
/// IPv4, or `[IPv6]`), and a port from 1 to 65535, nothing else. A typo such as
/// `127.0.0.1:2379x` must be a usage error: the gRPC client would otherwise read it as a
/// URL without a port and silently dial port 80.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            if scheme != "http" && scheme != "https" {
                return Err(format!("the scheme {scheme:?} is neither http nor https"));
            }
            rest
        }
        None => endpoint,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(
            "it has a path, query or user part; only scheme, host and port are allowed".into(),
        );
    }
    let port = match rest.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 address is missing its closing ]".to_string())?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{addr:?} is not an IPv6 address"));
            }
            after
                .strip_prefix(':')
                .ok_or_else(|| "it has no :port".to_string())?
        }
        None => {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| "it has no :port".to_string())?;
            if host.is_empty() {
                return Err("the host is empty".into());
            }
            let name_like = host.starts_with(|c: char| c.is_ascii_alphanumeric())
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !name_like {
                return Err(format!("{host:?} is not a host name or address"));
            }
            port
        }
    };
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("the port {port:?} is not a number from 1 to 65535")),
    }
}

/// A duration as etcdctl's flags and variables take it (Go's syntax): one or more
/// decimal numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `2s`,
/// `1.5s`, `1m30s`; `0` alone is zero.
fn go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// What a Deephaven etcd client directory provides.
struct ClientDir {
    endpoints: Vec<String>,
    user: Option<String>,
    password: Option<String>,
    cacert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl ClientDir {
    fn read(dir: &Path) -> Result<ClientDir, SettingsError> {
        // The directory itself must be readable: a mistyped path should not silently
        // resolve to "no settings".
        std::fs::read_dir(dir).map_err(|source| SettingsError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let endpoints = read_optional(&dir.join("endpoints"))?
            .map(|text| split_list(std::iter::once(text.as_str())))
            .unwrap_or_default();
        let user = read_optional(&dir.join("user"))?
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        let password = read_optional(&dir.join("password"))?.map(strip_one_newline);
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Ok(ClientDir {
            endpoints,
            user,
            password,
            cacert: CLIENT_DIR_CACERT_NAMES.iter().find_map(|n| existing(n)),
            cert: existing(CLIENT_DIR_CERT_NAME),
            key: existing(CLIENT_DIR_KEY_NAME),
        })
    }
}

/// Read a text file that may be absent.
fn read_optional(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| SettingsError::NotText {
                path: path.to_path_buf(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_password_file(path: &Path) -> Result<String, SettingsError> {
    let bytes = std::fs::read(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SettingsError::NotText {
        path: path.to_path_buf(),
    })?;
    Ok(strip_one_newline(text))
}

/// Passwords may legitimately end in spaces; only the newline an editor adds is dropped.
fn strip_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// `user` or `user:password` (split at the first colon, as etcdctl does).
fn split_user(spec: &str, origin: &'static str) -> Result<(String, Option<String>), SettingsError> {
    let (user, password) = match spec.split_once(':') {
        Some((u, p)) => (u, Some(p.to_owned())),
        None => (spec, None),
    };
    let user = user.trim();
    if user.is_empty() {
        return Err(SettingsError::EmptyUser { origin });
    }
    Ok((user.to_owned(), password))
}

/// Split comma and/or whitespace separated lists, dropping empty entries.
fn split_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items
        .into_iter()
        .flat_map(|item| item.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A Deephaven-style client directory with endpoints, user, password and TLS files.
    fn client_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let w =
            |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        w(
            "endpoints",
            "https://10.0.0.1:2379,https://10.0.0.2:2379\n https://10.0.0.3:2379\n",
        );
        w("user", "root\n");
        w("password", "dir-secret\n");
        w("ca.pem", "ca");
        w("cert.pem", "cert");
        w("key.pem", "key");
        dir
    }

    #[test]
    fn client_dir_alone_supplies_everything() {
        let dir = client_dir();
        let s = resolve(&EtcdFlags::default(), &env(&[]), Some(dir.path())).expect("resolve");
        assert_eq!(
            s.endpoints,
            vec![
                "https://10.0.0.1:2379",
                "https://10.0.0.2:2379",
                "https://10.0.0.3:2379"
            ]
        );
        assert_eq!(s.user.as_deref(), Some("root"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("dir-secret"));
        assert_eq!(s.cacert, Some(dir.path().join("ca.pem")));
        assert_eq!(s.cert, Some(dir.path().join("cert.pem")));
        assert_eq!(s.key, Some(dir.path().join("key.pem")));
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(s.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    }

    #[test]
    fn cacert_pem_is_preferred_over_ca_pem() {
        let dir = client_dir();
        std::fs::write(dir.path().join("cacert.pem"), "ca2").expect("write");
        let s = resolve(&EtcdFlags::default(), &env(&[]), Some(dir.path())).expect("resolve");
        assert_eq!(s.cacert, Some(dir.path().join("cacert.pem")));
    }

    #[test]
    fn env_beats_client_dir() {
        let dir = client_dir();
        let e = env(&[
            ("ETCDCTL_ENDPOINTS", "http://e1:2379, http://e2:2379"),
            ("ETCDCTL_CACERT", "/env/ca.pem"),
            ("ETCDCTL_CERT", "/env/cert.pem"),
            ("ETCDCTL_KEY", "/env/key.pem"),
            ("ETCDCTL_USER", "alice:env-secret"),
        ]);
        let s = resolve(&EtcdFlags::default(), &e, Some(dir.path())).expect("resolve");
        assert_eq!(s.endpoints, vec!["http://e1:2379", "http://e2:2379"]);
        assert_eq!(s.cacert, Some(PathBuf::from("/env/ca.pem")));
        assert_eq!(s.cert, Some(PathBuf::from("/env/cert.pem")));
        assert_eq!(s.key, Some(PathBuf::from("/env/key.pem")));
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("env-secret"));
    }

    #[test]
    fn flags_beat_env_and_client_dir() {
        let dir = client_dir();
        let pw = dir.path().join("pw.txt");
        std::fs::write(&pw, "flag secret \n").expect("write");
        let flags = EtcdFlags {
            endpoints: vec!["http://f1:2379,http://f2:2379".into()],
            cacert: Some("/flag/ca.pem".into()),
            cert: Some("/flag/cert.pem".into()),
            key: Some("/flag/key.pem".into()),
            user: Some("bob".into()),
            password_file: Some(pw),
            connect_timeout: Some(Duration::from_millis(300)),
            request_timeout: Some(Duration::from_secs(2)),
        };
        let e = env(&[
            ("ETCDCTL_ENDPOINTS", "http://e1:2379"),
            ("ETCDCTL_CACERT", "/env/ca.pem"),
            ("ETCDCTL_USER", "alice:env-secret"),
        ]);
        let s = resolve(&flags, &e, Some(dir.path())).expect("resolve");
        assert_eq!(s.endpoints, vec!["http://f1:2379", "http://f2:2379"]);
        assert_eq!(s.cacert, Some(PathBuf::from("/flag/ca.pem")));
        assert_eq!(s.cert, Some(PathBuf::from("/flag/cert.pem")));
        assert_eq!(s.key, Some(PathBuf::from("/flag/key.pem")));
        assert_eq!(s.user.as_deref(), Some("bob"));
        // One trailing newline dropped; the trailing space is part of the password.
        assert_eq!(
            s.password.as_ref().map(Secret::expose),
            Some("flag secret ")
        );
        assert_eq!(s.connect_timeout, Duration::from_millis(300));
        assert_eq!(s.request_timeout, Duration::from_secs(2));
    }

    #[test]
    fn password_file_drops_exactly_one_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "p\n\n").expect("write");
        let flags = EtcdFlags {
            endpoints: vec!["http://h:1".into()],
            user: Some("u".into()),
            password_file: Some(pw),
            ..EtcdFlags::default()
        };
        let s = resolve(&flags, &env(&[]), None).expect("resolve");
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("p\n"));
    }

    #[test]
    fn flag_user_never_takes_the_client_dir_password_of_another_user() {
        let dir = client_dir();
        let flags = EtcdFlags {
            user: Some("alice".into()),
            ..EtcdFlags::default()
        };
        let s = resolve(&flags, &env(&[]), Some(dir.path())).expect("resolve");
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.password, None);
    }

    #[test]
    fn env_password_pairs_with_a_user_without_inline_password() {
        let e = env(&[
            ("ETCDCTL_ENDPOINTS", "http://h:1"),
            ("ETCDCTL_USER", "carol"),
            ("ETCDCTL_PASSWORD", "pw"),
        ]);
        let s = resolve(&EtcdFlags::default(), &e, None).expect("resolve");
        assert_eq!(s.user.as_deref(), Some("carol"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("pw"));
    }

    #[test]
    fn missing_pieces_are_typed_errors() {
        assert!(matches!(
            resolve(&EtcdFlags::default(), &env(&[]), None),
            Err(SettingsError::NoEndpoints)
        ));
        let e = env(&[
            ("ETCDCTL_ENDPOINTS", "http://h:1"),
            ("ETCDCTL_CERT", "/c.pem"),
        ]);
        assert!(matches!(
            resolve(&EtcdFlags::default(), &e, None),
            Err(SettingsError::CertWithoutKey { .. })
        ));
        let e = env(&[
            ("ETCDCTL_ENDPOINTS", "http://h:1"),
            ("ETCDCTL_PASSWORD", "x"),
        ]);
        assert!(matches!(
            resolve(&EtcdFlags::default(), &e, None),
            Err(SettingsError::PasswordWithoutUser {
                origin: "ETCDCTL_PASSWORD"
            })
        ));
        let e = env(&[("ETCDCTL_ENDPOINTS", "http://h:1"), ("ETCDCTL_USER", ":pw")]);
        assert!(matches!(
            resolve(&EtcdFlags::default(), &e, None),
            Err(SettingsError::EmptyUser {
                origin: "ETCDCTL_USER"
            })
        ));
        let missing = Path::new("/nonexistent/dh-migrate/client/root");
        assert!(matches!(
            resolve(&EtcdFlags::default(), &env(&[]), Some(missing)),
            Err(SettingsError::Read { .. })
        ));
    }

    #[test]
    fn password_never_shows_in_debug_or_display() {
        let dir = client_dir();
        let s = resolve(&EtcdFlags::default(), &env(&[]), Some(dir.path())).expect("resolve");
        let debug = format!("{s:?}");
        assert!(!debug.contains("dir-secret"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
        let secret = Secret::new("dir-secret");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "dir-secret");
    }

    #[test]
    fn dial_timeout_comes_from_the_flag_then_etcdctl_dial_timeout() {
        let base = [("ETCDCTL_ENDPOINTS", "http://h:1")];
        let dial = |v: &str| {
            let e = env(&[base[0], ("ETCDCTL_DIAL_TIMEOUT", v)]);
            resolve(&EtcdFlags::default(), &e, None).map(|s| s.connect_timeout)
        };
        assert_eq!(dial("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(dial("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(dial("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(dial("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["5", "2 s", "s", "1x", "-1s", "0"] {
            match dial(bad) {
                Err(SettingsError::BadDuration { origin, value }) => {
                    assert_eq!((origin, value.as_str()), ("ETCDCTL_DIAL_TIMEOUT", bad));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let e = env(&[base[0], ("ETCDCTL_DIAL_TIMEOUT", "2s")]);
        let flags = EtcdFlags {
            connect_timeout: Some(Duration::from_secs(7)),
            ..EtcdFlags::default()
        };
        assert_eq!(
            resolve(&flags, &e, None).unwrap().connect_timeout,
            Duration::from_secs(7),
            "the flag wins"
        );
        let e = env(&base);
        assert_eq!(
            resolve(&EtcdFlags::default(), &e, None)
                .unwrap()
                .connect_timeout,
            DEFAULT_CONNECT_TIMEOUT
        );
    }

    #[test]
    fn endpoints_are_validated() {
        for good in [
            "http://127.0.0.1:2379",
            "https://infra-a.new.example.com:2379",
            "127.0.0.1:2379",
            "infra-a:2379",
            "https://[::1]:2379",
            "http://h:1/",
            "h:65535",
        ] {
            assert_eq!(check_endpoint(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("127.0.0.1:2379x", "port"),
            ("127.0.0.1:99999", "port"),
            ("127.0.0.1:0", "port"),
            ("127.0.0.1", "no :port"),
            ("http://127.0.0.1", "no :port"),
            ("ftp://h:2379", "scheme"),
            ("http://:2379", "host is empty"),
            ("http://h:2379/v3", "path"),
            ("http://u@h:2379", "user"),
            ("[::1:2379", "closing"),
            ("h:+2379", "port"),
        ] {
            let why = check_endpoint(bad).expect_err(bad);
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn a_bad_endpoint_is_a_settings_error_naming_its_origin() {
        let flags = EtcdFlags {
            endpoints: vec!["http://127.0.0.1:2379,127.0.0.1:99999".into()],
            ..EtcdFlags::default()
        };
        let err = resolve(&flags, &HashMap::new(), None).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SettingsError::BadEndpoint { .. }), "{text}");
        assert!(
            text.contains("127.0.0.1:99999") && text.contains("--endpoints"),
            "{text}"
        );
        let mut env = HashMap::new();
        env.insert("ETCDCTL_ENDPOINTS".to_string(), "h:2379x".to_string());
        let text = resolve(&EtcdFlags::default(), &env, None)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("ETCDCTL_ENDPOINTS") && text.contains("2379x"),
            "{text}"
        );
    }
}
