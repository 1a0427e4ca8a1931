//! Splitting text into host-name tokens, exactly as the contract defines a reference:
//! a maximal run of characters that can be part of a host name or IP (letters, digits,
//! `-`, `.`, `_`), without the leading or trailing dots that punctuation leaves (a host
//! that ends a sentence, an ellipsis). `dh-query-1` is therefore never found inside
//! `dh-query-10`, nor `10.1.2.1` inside `10.1.2.11`.

use crate::text::Span;

/// True for bytes that can be part of a host-name or IP token.
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

/// [`is_token_byte`] as a table: every byte of every file is asked.
const TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
        b += 1;
    }
    t
};

/// A token: its byte span in the scanned text and the text itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub span: Span,
    pub text: &'a str,
}

/// Iterates over the tokens of `text`, with spans relative to `text`.
pub fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || loop {
        while i < bytes.len() && !is_token_byte(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let mut start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        let mut end = i;
        while start < end && bytes[start] == b'.' {
            start += 1;
        }
        while end > start && bytes[end - 1] == b'.' {
            end -= 1;
        }
        if start < end {
            return Some(Token {
                span: Span::new(start, end),
                text: &text[start..end],
            });
        }
    })
}

/// True when `s` is a dotted-quad IPv4 address.
pub fn is_ipv4(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if part.len() > 1 && part.starts_with('0') {
            return false;
        }
        if part.parse::<u16>().map_or(true, |n| n > 255) {
            return false;
        }
    }
    parts == 4
}

/// True when `s` is a valid DNS host name (RFC 1123 labels: letters, digits and inner
/// hyphens, 1-63 characters each, 253 in all) that is not an IPv4 address. A dotted name
/// whose last label is all digits is refused too (RFC 3696: no numeric top-level
/// domain), so a mistyped IP such as `10.1.2.999` is not taken for a host name.
pub fn is_host_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 || is_ipv4(s) {
        return false;
    }
    if s.contains('.')
        && s.rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// True when `s` looks like a fully qualified host name: a valid host name with at least
/// two labels whose last label is alphabetic (so `priv-iris.base64` or `1.2` are not).
pub fn looks_like_fqdn(s: &str) -> bool {
    is_host_name(s)
        && s.contains('.')
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// The first label of a host name: its short name.
pub fn short_name(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<&str> {
        tokens(s).map(|t| t.text).collect()
    }

    #[test]
    fn token_bytes_are_letters_digits_dash_dot_and_underscore() {
        let yes: Vec<u8> = (0..=255u8).filter(|&b| is_token_byte(b)).collect();
        let mut expected: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .collect();
        expected.extend([b'-', b'.', b'_']);
        expected.sort_unstable();
        assert_eq!(yes, expected);
    }

    #[test]
    fn prefixes_never_match_inside_longer_tokens() {
        assert_eq!(
            texts("dh-query-10,dh-query-1"),
            vec!["dh-query-10", "dh-query-1"]
        );
        assert_eq!(texts("10.1.2.11 10.1.2.1"), vec!["10.1.2.11", "10.1.2.1"]);
    }

    #[test]
    fn urls_ports_and_lists_split_at_punctuation() {
        assert_eq!(
            texts("https://dh-infra-1.old.example.com:8000/iris/"),
            vec!["https", "dh-infra-1.old.example.com", "8000", "iris"]
        );
        assert_eq!(
            texts("h1:22015,h2:22015"),
            vec!["h1", "22015", "h2", "22015"]
        );
        assert_eq!(
            texts("[host=a|b.example.com] {"),
            vec!["host", "a", "b.example.com"]
        );
        assert_eq!(texts("user@dh-infra-1"), vec!["user", "dh-infra-1"]);
    }

    #[test]
    fn sentence_dots_are_not_part_of_the_token() {
        let s = "moved to dh-query-2. Then... dh-infra-1.old.example.com.";
        let toks: Vec<_> = tokens(s).collect();
        assert_eq!(toks[2].text, "dh-query-2");
        assert_eq!(toks[2].span, Span::new(9, 19));
        assert_eq!(
            toks.last().map(|t| t.text),
            Some("dh-infra-1.old.example.com")
        );
        assert_eq!(texts("...x..."), vec!["x"]);
        assert_eq!(texts("... ."), Vec::<&str>::new());
    }

    #[test]
    fn underscores_belong_to_tokens() {
        assert_eq!(
            texts("dh-query-1_backup dh_query_1"),
            vec!["dh-query-1_backup", "dh_query_1"]
        );
    }

    #[test]
    fn classifies_ips_and_host_names() {
        assert!(is_ipv4("10.1.2.11"));
        assert!(!is_ipv4("10.1.2"));
        assert!(!is_ipv4("10.1.2.256"));
        assert!(!is_ipv4("10.01.2.1"));
        assert!(is_host_name("dh-query-1"));
        assert!(is_host_name("query-a.new.example.com"));
        assert!(!is_host_name("-bad.example.com"));
        assert!(!is_host_name("bad_name.example.com"));
        assert!(!is_host_name("10.1.2.11"));
        assert!(!is_host_name("10.1.2.999"));
        assert!(is_host_name("db1"));
        assert!(looks_like_fqdn("a.example.com"));
        assert!(!looks_like_fqdn("priv-iris.base64"));
        assert!(!looks_like_fqdn("dh-query-1"));
        assert_eq!(short_name("dh-query-1.old.example.com"), "dh-query-1");
    }
}
