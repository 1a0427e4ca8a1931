//! Secrets: which values and files are secret, and how they are shown. A secret value never
//! appears in a plan, report, diff or log: it is replaced by a short fingerprint (the
//! first 8 hex digits of its SHA-256), enough to see that it changed and nothing more.
//! Emitted and applied files keep the real values.
//!
//! The classifier (rules documented in the README, "Secrets"):
//! - names: a key, attribute, element or variable is secret when one of its words (split
//!   at `.`, `-`, `_`, spaces and camelCase, trailing digits dropped) is `pass`, `pwd`,
//!   `private` or `creds`, or when, folded (lower-case, separators removed), it contains
//!   `password`, `passwd`, `passphrase`, `secret`, `token`, `credential`, `apikey` or
//!   `privatekey`; a YAML value is secret when **any** key on its path is (so list items
//!   under `tokens:` and `credentials: {pass: X}` are);
//! - inside any text (values, comments, scripts, unknown files): URL userinfo passwords
//!   (`scheme://user:PASS@host`), `NAME=value` / `NAME: value` / `NAME = "value"` pairs
//!   with a secret NAME (JAAS `password="..."`, query strings, PQ script assignments), a
//!   secret name at the start of a line followed by a space and a value (`db.password2 X`),
//!   netrc's `password X`, and the body of every `-----BEGIN ... PRIVATE KEY-----` block;
//! - whole files: key material and credential stores by name (`auth/priv-*`, `*.key`,
//!   `.pgpass`, `.netrc`, ...).

use std::borrow::Cow;

use crate::contexts::glob_match;
use crate::formats::yaml::PathSeg;
use crate::rewrite::{apply, Edit};
use crate::text::Span;
use crate::tree::Parsed;
use sha2::{Digest, Sha256};

/// Pieces that make a name secret wherever they occur in it (compared lower-case, with
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

/// Words that make a name secret only as a whole word (trailing digits dropped): as
/// pieces they would catch `bypass`, `compass` or `privileges`.
const SECRET_WHOLE_WORDS: &[&str] = &["pass", "pwd", "private", "creds"];

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
    ("**/*pgpass*", "pgpass"),
    ("**/*netrc*", "netrc"),
    ("**/.my.cnf", ".my.cnf"),
];

/// True when a key, attribute or element name says its value is secret.
pub fn is_secret_name(name: &str) -> bool {
    folded_has_secret_piece(name) || has_secret_word(name)
}

fn folded_has_secret_piece(name: &str) -> bool {
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

/// Whether one word of `name` (split at non-alphanumerics and lower-to-upper case steps,
/// trailing digits dropped) is one of [`SECRET_WHOLE_WORDS`].
fn has_secret_word(name: &str) -> bool {
    let mut word = String::new();
    let mut prev_lower = false;
    let check = |word: &mut String| {
        let hit = SECRET_WHOLE_WORDS.contains(&word.trim_end_matches(|c: char| c.is_ascii_digit()));
        word.clear();
        hit
    };
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (prev_lower && c.is_uppercase());
        if boundary && check(&mut word) {
            return true;
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    check(&mut word)
}

/// True when a YAML value at `path` is secret: some key on the path is a secret name.
pub fn is_secret_path(path: &[PathSeg]) -> bool {
    path.iter()
        .any(|seg| matches!(seg, PathSeg::Key(k) if is_secret_name(k)))
}

/// [`is_secret_path`] for a path written out (`a.b[0].c`), as comparisons name items.
pub fn is_secret_path_text(path: &str) -> bool {
    path.split(['.', '[', ']']).any(is_secret_name)
}

/// True when the whole file at `path` (bundle layout) is secret.
pub fn is_secret_file(path: &str) -> bool {
    SECRET_FILES
        .iter()
        .any(|(g, piece)| path.contains(piece) && glob_match(g, path))
        || (path.ends_with(".pem") && path.contains("priv"))
}

/// A property key as output may show it: a key holding a space whose first word is a
/// secret name (`db.password2 X`: the grammar has no space separator, so the value went
/// into the key) shows that word and a fingerprint of the rest.
pub fn shown_key(key: &str) -> Cow<'_, str> {
    match key.split_once(char::is_whitespace) {
        Some((name, rest)) if is_secret_name(name) && !rest.trim().is_empty() => {
            Cow::Owned(format!("{name} {}", fingerprint(rest.trim())))
        }
        _ => Cow::Borrowed(key),
    }
}

/// True when a value holds a secret inside it (a URL password, a `password=` pair, a
/// private key block), though its own name is not secret.
pub fn has_inline_secret(value: &str) -> bool {
    !inline_secret_spans(value).is_empty()
}

/// Byte spans of the secrets found inside free text by the inline rules (module docs),
/// sorted and not overlapping.
pub fn inline_secret_spans(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    url_passwords(text, &mut spans);
    named_values(text, &mut spans);
    private_key_blocks(text, &mut spans);
    merge(spans)
}

/// Sorts spans and joins the ones that overlap or touch.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| !s.is_empty());
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// `scheme://user:PASSWORD@host`: the password part.
fn url_passwords(text: &str, out: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("://") {
        let start = at + 3;
        let end = bytes[start..]
            .iter()
            .position(|b| {
                matches!(b, b'@' | b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
                    || b.is_ascii_whitespace()
            })
            .map_or(bytes.len(), |n| start + n);
        if bytes.get(end) != Some(&b'@') {
            continue;
        }
        if let Some(colon) = bytes[start..end].iter().position(|&b| b == b':') {
            out.push(Span::new(start + colon + 1, end));
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

/// `NAME=value`, `NAME: value`, `NAME = "value"` with a secret NAME, anywhere; a secret NAME
/// at the start of a line followed by a space and a value; netrc's `password value`.
fn named_values(text: &str, out: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let name_start = i;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        let name = &text[name_start..i];
        if !is_secret_name(name) {
            continue;
        }
        let mut j = i;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
            j += 1;
        }
        let spaced = j > i;
        let separated = match bytes.get(j) {
            Some(b'=') if bytes.get(j + 1) != Some(&b'=') => true,
            Some(b':') if !text[j..].starts_with("://") && bytes.get(j + 1) != Some(&b':') => true,
            _ => false,
        };
        if separated {
            j += 1;
            while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
                j += 1;
            }
        } else {
            let line_start = text[..name_start].rfind('\n').map_or(0, |n| n + 1);
            let at_line_start = text[line_start..name_start].trim().is_empty();
            let netrc = matches!(name, "password" | "passwd")
                && name_start > 0
                && bytes[name_start - 1].is_ascii_whitespace();
            if !(spaced && (at_line_start || netrc)) {
                continue;
            }
        }
        let value = value_at(bytes, j);
        if !value.is_empty() {
            out.push(value);
            i = value.end;
        }
    }
}

/// The value starting at `at`: inside its quotes when quoted (to the closing quote or the
/// end of the line), else up to a space or a character that ends a value in a list, a
/// query string or a statement.
fn value_at(bytes: &[u8], at: usize) -> Span {
    match bytes.get(at) {
        Some(&q @ (b'"' | b'\'')) => {
            let start = at + 1;
            let mut k = start;
            while k < bytes.len() && bytes[k] != q && bytes[k] != b'\n' {
                k += if bytes[k] == b'\\' { 2 } else { 1 };
            }
            Span::new(start, k.min(bytes.len()))
        }
        Some(_) => {
            let end = bytes[at..]
                .iter()
                .position(|b| {
                    b.is_ascii_whitespace()
                        || matches!(
                            b,
                            b'"' | b'\'' | b';' | b',' | b'&' | b')' | b'<' | b'>' | b'}'
                        )
                })
                .map_or(bytes.len(), |n| at + n);
            Span::new(at, end)
        }
        None => Span::new(at, at),
    }
}

/// The body of each `-----BEGIN ... PRIVATE KEY-----` block (the markers stay, so output
/// still says what was there), to its `-----END` marker or the end of the text.
fn private_key_blocks(text: &str, out: &mut Vec<Span>) {
    let mut from = 0;
    while let Some(n) = text[from..].find("-----BEGIN ") {
        let begin = from + n;
        let line_end = text[begin..].find('\n').map_or(text.len(), |n| begin + n);
        let header = &text[begin..line_end];
        from = line_end;
        if !header.contains("PRIVATE KEY-----") {
            continue;
        }
        let end = text[line_end..]
            .find("-----END")
            .map_or(text.len(), |n| line_end + n);
        out.push(Span::new(line_end, end));
        from = end;
    }
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
/// Secrets the model places are fingerprinted by their decoded value (as comparisons show
/// them); the inline rules then cover what is left, anywhere in the text.
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
                if is_secret_path(&s.path.0) && !s.span.is_empty() {
                    edits.push(Edit {
                        span: s.span,
                        new: fingerprint(&s.value),
                    });
                }
            }
        }
        Some(Parsed::Xml(lazy)) => {
            let x = lazy.get(text);
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
        Some(Parsed::Text) | None => {}
    }
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let placed: Vec<Span> = edits.iter().map(|e| e.span).collect();
    for span in inline_secret_spans(text) {
        // A span the model already fingerprinted (or one overlapping it) stays as it is.
        let k = placed.partition_point(|p| p.end <= span.start);
        if placed.get(k).is_some_and(|p| p.start < span.end) {
            continue;
        }
        edits.push(Edit {
            span,
            new: fingerprint(span.slice(text)),
        });
    }
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    apply(text, &edits)
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
        // `pass` is a secret word on its own (`mail.smtp.pass`), not inside another word.
        assert!(is_secret_name("db.pass.host.word"));
        assert!(!is_secret_name("db.bypass.host"));
        assert!(!is_secret_name("compass.heading"));
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

    #[test]
    fn key_families_match_whole_words_and_pieces() {
        for n in [
            "mail.smtp.pass",
            "db.pwd",
            "db.password2",
            "DB_PWD",
            "tokens",
            "credentials",
            "creds",
            "ssl.private",
            "privateKeyFile",
            "apiKey",
            "sasl.jaas.config.password",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "passthrough",
            "privileges",
            "db.host",
            "keystore.type",
            "apikeys.url2x",
        ] {
            assert_eq!(is_secret_name(n), n == "apikeys.url2x", "{n}");
        }
    }

    fn inline(text: &str) -> Vec<&str> {
        inline_secret_spans(text)
            .into_iter()
            .map(|s| s.slice(text))
            .collect()
    }

    #[test]
    fn inline_rules_find_credentials_inside_values() {
        assert_eq!(
            inline("jdbc:mysql://dbuser:S3cr3t@db.example.com:3306/x"),
            vec!["S3cr3t"]
        );
        assert_eq!(
            inline("https://user@h/x and http://h:80/a@b"),
            Vec::<&str>::new()
        );
        assert_eq!(
            inline(r#"org.apache.kafka.PlainLoginModule required username="u" password="p w\"x";"#),
            vec![r#"p w\"x"#]
        );
        assert_eq!(inline("a?user=u&password=pw1&x=1"), vec!["pw1"]);
        assert_eq!(inline("pass=pw2,next=1"), vec!["pw2"]);
        assert_eq!(inline("  password = \"pq\"  # script"), vec!["pq"]);
        assert_eq!(inline("db.password2 X\nother line"), vec!["X"]);
        assert_eq!(inline("machine h login u password np\n"), vec!["np"]);
        assert_eq!(inline("# the token is rotated"), Vec::<&str>::new());
        assert_eq!(inline("a == password"), Vec::<&str>::new());
        let pem = "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(inline(pem), vec!["\nMIIB\n"]);
        assert_eq!(
            inline("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn yaml_secrets_on_any_path_segment_and_list_items() {
        let y = "credentials: {pass: X1, user: u1}\ntokens:\n  - T1\n  - T2\nhost: h\n";
        let out = redact(
            "config/routing/routing.yaml",
            y,
            Some(&parse_file("r.yaml", y, Format::Yaml).unwrap()),
        );
        for planted in ["X1", "u1", "T1", "T2"] {
            assert!(!out.contains(planted), "{planted} in {out}");
        }
        assert!(out.contains("host: h"), "{out}");
    }

    #[test]
    fn props_space_separated_secret_and_key_shown_without_it() {
        let src = "db.password2 X9\nurl=jdbc:pg://u:PW@h/db\n";
        let parsed = parse_file("x.prop", src, Format::Props).unwrap();
        let out = redact("config/props/x.prop", src, Some(&parsed));
        assert!(!out.contains("X9") && !out.contains("PW@"), "{out}");
        assert!(
            out.contains("u:<secret sha256:") && out.contains("@h/db"),
            "{out}"
        );
        assert!(!shown_key("db.password2 X9").contains("X9"));
        assert_eq!(shown_key("a.b"), "a.b");
    }

    #[test]
    fn credential_stores_are_secret_files() {
        assert!(is_secret_file("files/var/lib/pgsql/.pgpass"));
        assert!(is_secret_file("nodes/n/files/root/.netrc"));
        assert!(is_secret_file("files/root/.my.cnf"));
    }
}
