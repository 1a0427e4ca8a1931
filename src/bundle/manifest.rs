//! `MANIFEST.sha256`: parsing it (the `sha256sum` output format), checking a bundle's files
//! against it, and writing one ([`manifest_for`]).
//!
//! Accepted lines: `<64 hex>  <path>` (text mode) and `<64 hex> *<path>` (binary mode),
//! blank lines, `#` comments, CRLF line ends, and GNU's escaped form (a leading `\`, with
//! `\\` and `\n` in the path) for names holding a backslash or a newline.

use std::collections::{BTreeMap, HashMap};

use super::error::Problem;
use super::{BundleFile, MANIFEST};

/// One parsed listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub path: String,
    pub sha256: [u8; 32],
    pub line: usize,
}

/// Parses the manifest text, returning the listings in file order and a problem for every
/// malformed or duplicate line.
pub(crate) fn parse(content: &[u8]) -> (Vec<Listing>, Vec<Problem>) {
    let mut listings = Vec::new();
    let mut problems = Vec::new();
    // Hashed with foldhash: one lookup per line of a manifest of thousands of lines.
    let mut first_line_of: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
    for (index, raw) in content.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let valid = std::str::from_utf8(raw).ok();
        let text = valid.map_or_else(|| String::from_utf8_lossy(raw), std::borrow::Cow::Borrowed);
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = valid.and_then(parse_line);
        let Some((path, sha256)) = parsed else {
            problems.push(Problem::ManifestSyntax {
                line,
                text: text.into_owned(),
            });
            continue;
        };
        if first_line_of.contains_key(&path) {
            problems.push(Problem::ManifestDuplicate { path, line });
            continue;
        }
        first_line_of.insert(path.clone(), line);
        listings.push(Listing { path, sha256, line });
    }
    (listings, problems)
}

/// Parses one non-blank, non-comment line into its normalized path and hash.
fn parse_line(line: &str) -> Option<(String, [u8; 32])> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hash = line.get(..64)?;
    let rest = line.get(64..)?;
    let path = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(hash, &mut sha256).ok()?;
    let path = if escaped {
        unescape(path)?
    } else {
        path.to_owned()
    };
    Some((normalize(&path)?, sha256))
}

/// Undoes GNU `sha256sum`'s escaping of `\` and newline in file names.
fn unescape(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// A listed path as the bundle keys it: `./` and doubled `/` dropped. Absolute paths and
/// `..` cannot name a file of the bundle, so they make the line malformed.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    // Most paths are already in the bundle's form: kept as they are.
    let plain = !path.is_empty()
        && !path.ends_with('/')
        && path.split('/').all(|p| !matches!(p, "" | "." | ".."));
    if plain {
        return Some(path.to_owned());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            _ => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Checks the bundle's files against the listings: each listed file exists with its hash,
/// and each regular file other than the manifest is listed. Returns the problems, ordered
/// by path.
pub(crate) fn verify(listings: &[Listing], files: &BTreeMap<String, BundleFile>) -> Vec<Problem> {
    use std::cmp::Ordering;
    // Listed paths are unique (`parse` reports the duplicates): both sides sorted by path
    // are walked together once.
    let mut sorted: Vec<&Listing> = listings.iter().collect();
    sorted.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut problems = Vec::new();
    let mut unlisted = Vec::new();
    let (mut listed, mut held) = (sorted.into_iter().peekable(), files.iter().peekable());
    loop {
        let order = match (listed.peek(), held.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(l), Some((path, _))) => l.path.as_str().cmp(path.as_str()),
        };
        match order {
            Ordering::Less => {
                if let Some(l) = listed.next() {
                    problems.push(Problem::Missing {
                        path: l.path.clone(),
                    });
                }
            }
            Ordering::Greater => {
                if let Some((path, _)) = held.next() {
                    if path != MANIFEST {
                        unlisted.push(Problem::Unlisted { path: path.clone() });
                    }
                }
            }
            Ordering::Equal => {
                if let (Some(l), Some((_, file))) = (listed.next(), held.next()) {
                    if file.sha256 != l.sha256 {
                        problems.push(Problem::ChecksumMismatch {
                            path: l.path.clone(),
                            expected: hex::encode(l.sha256),
                            actual: hex::encode(file.sha256),
                        });
                    }
                }
            }
        }
    }
    // The listings' problems in path order, then the unlisted files in path order.
    problems.extend(unlisted);
    problems
}

/// Writes a manifest in `sha256sum` format for the given files, sorted by path: one
/// `<hex>  <path>` line each. Names holding `\` or a newline use GNU's escaped form.
pub fn manifest_for<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8; 32])>) -> String {
    let mut sorted: Vec<(&str, &[u8; 32])> = files.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (path, sha256) in sorted {
        if path.contains(['\\', '\n']) {
            out.push('\\');
            out.push_str(&hex::encode(sha256));
            out.push_str("  ");
            out.push_str(&path.replace('\\', "\\\\").replace('\n', "\\n"));
        } else {
            out.push_str(&hex::encode(sha256));
            out.push_str("  ");
            out.push_str(path);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_walks_both_sides_once_and_reports_listings_then_unlisted_in_path_order() {
        let file = |path: &str, byte: u8| {
            let mut f = BundleFile::for_test(None);
            f.path = path.to_string();
            f.sha256 = [byte; 32];
            (path.to_string(), f)
        };
        let files: BTreeMap<String, BundleFile> = [
            file("a", 1),
            file("b", 9),
            file("c", 3),
            file(MANIFEST, 0),
            file("e", 5),
            file("z", 7),
        ]
        .into_iter()
        .collect();
        let listing = |path: &str, byte: u8, line| Listing {
            path: path.to_string(),
            sha256: [byte; 32],
            line,
        };
        // In manifest order, not path order.
        let listings = [
            listing("d", 4, 1),
            listing("c", 3, 2),
            listing("b", 2, 3),
            listing("a", 1, 4),
            listing("y", 6, 5),
        ];
        assert_eq!(
            verify(&listings, &files),
            vec![
                Problem::ChecksumMismatch {
                    path: "b".into(),
                    expected: hex::encode([2u8; 32]),
                    actual: hex::encode([9u8; 32]),
                },
                Problem::Missing { path: "d".into() },
                Problem::Missing { path: "y".into() },
                Problem::Unlisted { path: "e".into() },
                Problem::Unlisted { path: "z".into() },
            ]
        );
        let missing: Vec<Problem> = ["a", "b", "c", "d", "y"]
            .map(|p| Problem::Missing { path: p.into() })
            .into();
        assert_eq!(verify(&listings, &BTreeMap::new()), missing);
        let unlisted: Vec<Problem> = ["a", "b", "c", "e", "z"]
            .map(|p| Problem::Unlisted { path: p.into() })
            .into();
        assert_eq!(verify(&[], &files), unlisted);
    }

    const H1: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn accepts_text_and_binary_mode_comments_and_crlf() {
        let text = format!(
            "# made by backup.sh\n\n{H1}  config/a.prop\r\n{}  ./files/b\n{H1} *c d\n",
            H1.to_uppercase()
        );
        let (listings, problems) = parse(text.as_bytes());
        assert_eq!(problems, vec![]);
        let paths: Vec<(&str, usize)> =
            listings.iter().map(|l| (l.path.as_str(), l.line)).collect();
        assert_eq!(
            paths,
            vec![("config/a.prop", 3), ("files/b", 4), ("c d", 5)]
        );
        assert_eq!(hex::encode(listings[1].sha256), H1);
    }

    #[test]
    fn listed_paths_are_normalized_and_escaping_ones_refused() {
        for (given, expected) in [
            ("config/a.prop", Some("config/a.prop")),
            ("./config//a.prop", Some("config/a.prop")),
            ("config/./a.prop/", Some("config/a.prop")),
            ("a..b/.c", Some("a..b/.c")),
            ("/etc/passwd", None),
            ("config/../../x", None),
            ("..", None),
            (".", None),
            ("", None),
        ] {
            assert_eq!(normalize(given).as_deref(), expected, "{given:?}");
        }
    }

    #[test]
    fn malformed_lines_are_reported_with_numbers() {
        let text = format!(
            "{H1}  ok\n{H1} one-space\nnothex  x\n{}  short\n{H1}  /abs\n{H1}  a/../b\n",
            &H1[..60]
        );
        let (listings, problems) = parse(text.as_bytes());
        assert_eq!(listings.len(), 1);
        let lines: Vec<usize> = problems
            .iter()
            .map(|p| match p {
                Problem::ManifestSyntax { line, .. } => *line,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn escaped_names_round_trip() {
        let hash = [7u8; 32];
        let text = manifest_for([("we\\ird\nname", &hash)]);
        assert!(text.starts_with('\\'));
        let (listings, problems) = parse(text.as_bytes());
        assert_eq!(problems, vec![]);
        assert_eq!(listings[0].path, "we\\ird\nname");
    }
}
