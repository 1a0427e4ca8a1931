//! Secrets: which values and files are secret, and how they are shown. A secret value never
//! appears in a plan, report, diff or log: it is replaced by a short fingerprint (the
//! first 8 hex digits of its SHA-256), enough to see that it changed and nothing more.
//! Emitted and applied files keep the real values.

use crate::contexts::glob_match;
use crate::formats::yaml::PathSeg;
use crate::rewrite::{apply, Edit};
use crate::tree::Parsed;
use sha2::{Digest, Sha256};

/// Words that make a key, attribute or element name secret (compared lower-case, with
/// `.`, `-` and `_` removed, so `private.key`, `privateKey` and `PRIVATE_KEY` all match).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "privatekey",
    "credential",
    "apikey",
];

/// Files whose whole content is secret, each with a piece of text every path it matches
/// contains: paths without it are ruled out without running the glob (which splits and
/// allocates), and almost every path of a cluster is.
const SECRET_FILES: &[(&str, &str)] = &[
    ("**/auth/priv-*", "priv-"),
    ("**/dsakeys.txt", "dsakeys.txt"),
    ("**/authusers.txt", "authusers.txt"),
    ("**/etcd/client/*/password", "etcd/client/"),
    ("**/*.key", ".key"),
    ("**/*.p12", ".p12"),
    ("**/*.pfx", ".pfx"),
    ("**/*.jks", ".jks"),
    ("**/*password*", "password"),
    ("**/*secret*", "secret"),
    ("**/*token*", "token"),
];

/// True when a key, attribute or element name says its value is secret.
pub fn is_secret_name(name: &str) -> bool {
    // Called for every key of every file compared or redacted: ASCII names (nearly all)
    // are folded into a buffer on the stack. Others take the general path, where
    // lower-casing may turn a non-ASCII letter into ASCII ones (the Kelvin sign into `k`).
    let mut buf = [0u8; 128];
    if name.is_ascii() && name.len() <= buf.len() {
        let mut n = 0;
        for b in name.bytes().filter(|b| !matches!(b, b'.' | b'-' | b'_')) {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        let folded = &buf[..n];
        return SECRET_WORDS
            .iter()
            .any(|w| folded.windows(w.len()).any(|x| x == w.as_bytes()));
    }
    let folded: String = name
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|w| folded.contains(w))
}

/// True when the whole file at `path` (bundle layout) is secret.
pub fn is_secret_file(path: &str) -> bool {
    SECRET_FILES
        .iter()
        .any(|(g, piece)| path.contains(piece) && glob_match(g, path))
        || (path.ends_with(".pem") && path.contains("priv"))
}

/// A short, non-reversible stand-in for a secret value.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("<secret sha256:{}>", &hex::encode(digest)[..8])
}

/// Whether output shows secrets: redacted (the default) or, with `--show-secrets`, as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretPolicy {
    #[default]
    Redact,
    Show,
}

impl SecretPolicy {
    /// A file's text for output.
    pub fn text(self, path: &str, text: &str, parsed: Option<&Parsed>) -> String {
        match self {
            SecretPolicy::Redact => redact(path, text, parsed),
            SecretPolicy::Show => text.to_string(),
        }
    }

    /// One value for output, `secret` saying whether it is one.
    pub fn value(self, value: &str, secret: bool) -> String {
        if secret && self == SecretPolicy::Redact {
            fingerprint(value)
        } else {
            value.to_string()
        }
    }
}

/// `text` with every secret value replaced by its fingerprint. `parsed` is the file's model
/// (it says where keys and values are); a wholly secret file becomes one fingerprint.
pub fn redact(path: &str, text: &str, parsed: Option<&Parsed>) -> String {
    if is_secret_file(path) {
        return format!("{}\n", fingerprint(text));
    }
    let mut edits = Vec::new();
    match parsed {
        Some(Parsed::Props(p)) => {
            for d in p.declarations().iter().filter(|d| is_secret_name(&d.key)) {
                if !d.value_span.is_empty() {
                    edits.push(Edit {
                        span: d.value_span,
                        new: fingerprint(&d.value),
                    });
                }
            }
        }
        Some(Parsed::Yaml(y)) => {
            for s in y.scalars().iter().filter(|s| !s.is_key) {
                if matches!(s.path.0.last(), Some(PathSeg::Key(k)) if is_secret_name(k)) {
                    edits.push(Edit {
                        span: s.span,
                        new: fingerprint(&s.value),
                    });
                }
            }
        }
        Some(Parsed::Xml(x)) => {
            for e in x.elements() {
                for a in e.attrs.iter().filter(|a| is_secret_name(&a.name)) {
                    edits.push(Edit {
                        span: a.value_span,
                        new: fingerprint(&a.value),
                    });
                }
            }
            for t in x.texts() {
                let secret = t
                    .element
                    .is_some_and(|e| is_secret_name(&x.elements()[e].name));
                if secret && !t.value.trim().is_empty() {
                    edits.push(Edit {
                        span: t.span,
                        new: fingerprint(&t.value),
                    });
                }
            }
        }
        Some(Parsed::Cnf(c)) => {
            for a in c.assignments().iter().filter(|a| is_secret_name(&a.name)) {
                edits.push(Edit {
                    span: a.value_span,
                    new: fingerprint(&a.value),
                });
            }
        }
        Some(Parsed::Text) | None => edits.extend(redact_plain_lines(text)),
    }
    apply(text, &edits)
}

/// For unstructured text: `NAME=value` / `NAME: value` lines (shell, env files) whose
/// name is secret.
fn redact_plain_lines(text: &str) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if let Some(i) = body.find(['=', ':']) {
            let name = body[..i].trim().trim_start_matches("export ").trim();
            let value = body[i + 1..].trim();
            if is_secret_name(name) && !value.is_empty() {
                let start = at + i + 1 + (body[i + 1..].len() - body[i + 1..].trim_start().len());
                edits.push(Edit {
                    span: crate::text::Span::new(start, start + value.len()),
                    new: fingerprint(value),
                });
            }
        }
        at += line.len();
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{parse_file, Format};

    #[test]
    fn names_that_say_secret() {
        for n in [
            "authentication.server.password",
            "smtp.PASSWORD",
            "private.key.passphrase",
            "api_token",
            "clientSecret",
            "privateKey",
            "db.credentials",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        assert!(!is_secret_name("configuration.server.host"));
        assert!(is_secret_file(
            "files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt"
        ));
        assert!(is_secret_file(
            "files/etc/sysconfig/deephaven/etcd/client/root/password"
        ));
        assert!(!is_secret_file(
            "files/etc/sysconfig/deephaven/etcd/client/root/endpoints"
        ));
    }

    #[test]
    fn secret_names_fold_case_and_separators_beyond_ascii_and_the_stack_buffer() {
        assert!(is_secret_name("Private-Key"));
        assert!(is_secret_name("db.Pass_Word"));
        assert!(!is_secret_name("db.pass.host.word"));
        // Lower-casing the Kelvin sign gives an ASCII `k`.
        assert!(is_secret_name("api.to\u{212A}en"));
        assert!(!is_secret_name("caf\u{e9}.host"));
        // Longer than the folding buffer: the general path, same answers.
        let long = format!("{}.password", "a".repeat(200));
        assert!(is_secret_name(&long));
        assert!(!is_secret_name(&"a.".repeat(100)));
    }

    #[test]
    fn secret_file_globs_match_at_any_depth_including_the_top() {
        assert!(is_secret_file("auth/priv-iris.base64.txt"));
        assert!(is_secret_file("nodes/n1/files/etc/ssl/server.key"));
        assert!(is_secret_file("etcd/client/root/password"));
        assert!(is_secret_file("files/etc/x/dsakeys.txt"));
        assert!(is_secret_file("files/etc/x/app-token.conf"));
        assert!(!is_secret_file("files/etc/x/keys.txt"));
        assert!(!is_secret_file("files/etc/auth/public-iris.txt"));
        assert!(!is_secret_file("files/etc/x/server.keystore.xml"));
    }

    #[test]
    fn props_secrets_are_fingerprinted_and_the_rest_kept() {
        let src = "a.host=h1\nsmtp.password=hunter2\n# password=notparsed\n";
        let parsed = parse_file("x.prop", src, Format::Props).unwrap();
        let out = redact("config/props/x.prop", src, Some(&parsed));
        assert!(!out.contains("hunter2"));
        assert!(out.starts_with("a.host=h1\nsmtp.password=<secret sha256:"));
        assert_eq!(fingerprint("hunter2"), fingerprint("hunter2"));
        assert_ne!(fingerprint("hunter2"), fingerprint("hunter3"));
    }

    #[test]
    fn yaml_xml_and_text_secrets_are_fingerprinted() {
        let y = "user: admin\npassword: 's3cret'\n";
        let out = redact(
            "config/routing/dis/a.yaml",
            y,
            Some(&parse_file("a.yaml", y, Format::Yaml).unwrap()),
        );
        assert!(
            !out.contains("s3cret") && out.contains("user: admin"),
            "{out}"
        );
        let x = "<a token=\"tok123\" host=\"h\"><Password>pw9</Password></a>";
        let out = redact(
            "config/acls/a.xml",
            x,
            Some(&parse_file("a.xml", x, Format::Xml).unwrap()),
        );
        assert!(
            !out.contains("tok123") && !out.contains("pw9") && out.contains("host=\"h\""),
            "{out}"
        );
        let t = "HOST=h\nexport DB_PASSWORD = abc def\n";
        let out = redact("files/etc/x.conf", t, None);
        assert!(
            !out.contains("abc def") && out.starts_with("HOST=h\n"),
            "{out}"
        );
        let out = redact(
            "files/etc/sysconfig/deephaven/etcd/client/root/password",
            "pw\n",
            None,
        );
        assert!(
            !out.contains("pw\n") && out.starts_with("<secret sha256:"),
            "{out}"
        );
    }
}
