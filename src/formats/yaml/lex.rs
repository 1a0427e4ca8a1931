//! Exact token lexing for the YAML model: where a scalar's bytes start and end, how its
//! text decodes, and what lies in the gaps between scalars (comments, anchors, aliases,
//! tags, indicators).
//!
//! saphyr-parser decides the structure and the decoded values, but its spans are not the
//! token bytes we need to edit (they count characters, include `&anchor`/`!tag`, and may run
//! over a trailing comment). So every token is re-lexed here from the parser's start hint
//! and checked against the parser's decoded value; any disagreement is reported instead of
//! guessed.

use crate::text::Span;

use super::ScalarStyle;

/// Maps the parser's character indices to byte offsets.
pub(super) struct CharOffsets {
    byte_of_char: Vec<usize>,
}

impl CharOffsets {
    pub(super) fn new(src: &str) -> CharOffsets {
        let mut byte_of_char: Vec<usize> = src.char_indices().map(|(i, _)| i).collect();
        byte_of_char.push(src.len());
        CharOffsets { byte_of_char }
    }

    /// Byte offset of character `index`; indices past the end map to the end.
    pub(super) fn byte(&self, index: usize) -> usize {
        let last = self.byte_of_char.len() - 1;
        self.byte_of_char[index.min(last)]
    }
}

pub(super) fn is_break(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_flow_indicator(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '{' | '}')
}

/// The character at byte `pos`, if any.
fn char_at(src: &str, pos: usize) -> Option<char> {
    src.get(pos..).and_then(|s| s.chars().next())
}

/// Length in bytes of the line break starting at `pos` (`\r\n` counts as one break).
fn break_len(src: &str, pos: usize) -> usize {
    let b = src.as_bytes();
    match b.get(pos) {
        Some(b'\r') if b.get(pos + 1) == Some(&b'\n') => 2,
        Some(b'\r') | Some(b'\n') => 1,
        _ => 0,
    }
}

fn skip_blanks(src: &str, mut pos: usize) -> usize {
    let b = src.as_bytes();
    while matches!(b.get(pos), Some(b' ') | Some(b'\t')) {
        pos += 1;
    }
    pos
}

/// End of the line that `pos` is on (the offset of its line break, or the end of text).
fn line_end(src: &str, pos: usize) -> usize {
    src[pos..].find(['\n', '\r']).map_or(src.len(), |i| pos + i)
}

/// End of an anchor, alias or tag token that starts at `pos` (which holds `&`, `*` or `!`).
/// Anchor names run to the next blank, break or flow indicator, as in YAML 1.2.
pub(super) fn property_end(src: &str, pos: usize) -> usize {
    let rest = &src[pos..];
    if rest.starts_with("!<") {
        // A verbatim tag: `!<tag:yaml.org,2002:str>`; it may hold flow indicators.
        return rest.find('>').map_or(src.len(), |i| pos + i + 1);
    }
    let mut end = pos;
    for (i, c) in rest.char_indices() {
        if i > 0 && (is_blank(c) || is_break(c) || is_flow_indicator(c)) {
            break;
        }
        end = pos + i + c.len_utf8();
    }
    end
}

/// Where a node's content starts, given the parser's start hint `pos`: skips the node's
/// properties (`&anchor`, `!tag`) and the blanks, breaks and comments around them.
/// Returns (content start, end of the last property, or `pos` when there is none).
pub(super) fn skip_properties(src: &str, pos: usize) -> (usize, usize) {
    let mut last_prop_end = pos;
    let mut p = pos;
    loop {
        let q = skip_space_and_comments(src, p);
        match char_at(src, q) {
            Some('&') | Some('!') => {
                p = property_end(src, q);
                last_prop_end = p;
            }
            _ => return (if last_prop_end == pos { pos } else { q }, last_prop_end),
        }
    }
}

/// From `pos`, skips a trailing `,`, blanks, breaks and comments: where a flow
/// collection's closing bracket should be.
pub(super) fn skip_to_flow_close(src: &str, pos: usize) -> usize {
    let mut p = skip_space_and_comments(src, pos);
    if char_at(src, p) == Some(',') {
        p = skip_space_and_comments(src, p + 1);
    }
    p
}

/// Skips blanks, line breaks and `#` comments (a `#` after a blank or at a line start).
fn skip_space_and_comments(src: &str, mut pos: usize) -> usize {
    loop {
        match char_at(src, pos) {
            Some(c) if is_blank(c) || is_break(c) => pos += 1,
            Some('#') => pos = line_end(src, pos),
            _ => return pos,
        }
    }
}

/// The exact span of a scalar whose parser event starts at byte `hint`, checked to decode
/// to `value`. `None` means the source text and the parser disagree.
pub(super) fn locate_scalar(
    src: &str,
    hint: usize,
    value: &str,
    style: ScalarStyle,
) -> Option<Span> {
    let (start, last_prop_end) = skip_properties(src, hint);
    let end = match style {
        ScalarStyle::Plain if value.is_empty() => {
            // An implicit null (`key:` with nothing after it) has no token: give it an
            // empty span right after its properties, so it splits nothing.
            return Some(Span::new(last_prop_end, last_prop_end));
        }
        ScalarStyle::Plain => match_plain(src, start, value)?,
        ScalarStyle::SingleQuoted => single_quoted_end(src, start)?,
        ScalarStyle::DoubleQuoted => double_quoted_end(src, start)?,
        ScalarStyle::Literal | ScalarStyle::Folded => return None,
    };
    let span = Span::new(start, end);
    (decode(span.slice(src), style).as_deref() == Some(value)).then_some(span)
}

/// Finds the end of a plain scalar starting at `start` by walking its decoded `value`
/// over the source: characters match one for one, and a folded line break in the value
/// (one space, or n-1 newlines for n breaks) matches trailing blanks, the breaks and the
/// next line's indentation.
fn match_plain(src: &str, start: usize, value: &str) -> Option<usize> {
    let mut pos = start;
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        let here = char_at(src, pos)?;
        let blank_run_end = skip_blanks(src, pos);
        let folds = break_len(src, blank_run_end) > 0;
        if here == c && !is_break(here) && !(folds && is_blank(here)) {
            pos += c.len_utf8();
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if !folds {
            return None;
        }
        // A fold: count the line breaks (empty lines add one each).
        let mut p = blank_run_end;
        let mut breaks = 0usize;
        loop {
            let n = break_len(src, p);
            if n == 0 {
                break;
            }
            breaks += 1;
            p = skip_blanks(src, p + n);
        }
        let expected = if breaks == 1 {
            " ".to_string()
        } else {
            "\n".repeat(breaks - 1)
        };
        rest = rest.strip_prefix(expected.as_str())?;
        pos = p;
    }
    Some(pos)
}

fn single_quoted_end(src: &str, start: usize) -> Option<usize> {
    if char_at(src, start)? != '\'' {
        return None;
    }
    let mut pos = start + 1;
    loop {
        let i = pos + src[pos..].find('\'')?;
        if src.as_bytes().get(i + 1) == Some(&b'\'') {
            pos = i + 2;
        } else {
            return Some(i + 1);
        }
    }
}

fn double_quoted_end(src: &str, start: usize) -> Option<usize> {
    if char_at(src, start)? != '"' {
        return None;
    }
    let mut chars = src[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some(start + 1 + i + 1),
            _ => {}
        }
    }
    None
}

/// Decodes a scalar token (quotes included for quoted styles) the way a YAML 1.2 parser
/// does: escapes, `''`, and line folding. Block styles are not decoded (the model refuses
/// them). `None` when the token is malformed.
pub fn decode(token: &str, style: ScalarStyle) -> Option<String> {
    match style {
        ScalarStyle::Plain => fold(token, Quoting::Plain),
        ScalarStyle::SingleQuoted => {
            let inner = token.strip_prefix('\'')?.strip_suffix('\'')?;
            fold(inner, Quoting::Single)
        }
        ScalarStyle::DoubleQuoted => {
            let inner = token.strip_prefix('"')?.strip_suffix('"')?;
            fold(inner, Quoting::Double)
        }
        ScalarStyle::Literal | ScalarStyle::Folded => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Plain,
    Single,
    Double,
}

/// Line folding shared by the flow styles, plus the escapes of the quoted ones.
fn fold(inner: &str, quoting: Quoting) -> Option<String> {
    let chars: Vec<char> = inner.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    // Consumes line breaks and the indentation after each; returns how many breaks.
    let consume_breaks = |i: &mut usize| -> usize {
        let mut count = 0;
        while *i < n && is_break(chars[*i]) {
            *i += if chars[*i] == '\r' && chars.get(*i + 1) == Some(&'\n') {
                2
            } else {
                1
            };
            count += 1;
            while *i < n && is_blank(chars[*i]) {
                *i += 1;
            }
        }
        count
    };
    while i < n {
        let c = chars[i];
        if is_blank(c) {
            let mut j = i;
            while j < n && is_blank(chars[j]) {
                j += 1;
            }
            if j == n || !is_break(chars[j]) {
                out.extend(&chars[i..j]);
            }
            // Blanks before a line break are dropped by folding.
            i = j;
        } else if is_break(c) {
            let breaks = consume_breaks(&mut i);
            if breaks == 1 {
                out.push(' ');
            } else {
                out.extend(std::iter::repeat_n('\n', breaks - 1));
            }
        } else if quoting == Quoting::Single && c == '\'' {
            if chars.get(i + 1) != Some(&'\'') {
                return None;
            }
            out.push('\'');
            i += 2;
        } else if quoting == Quoting::Double && c == '\\' {
            let e = *chars.get(i + 1)?;
            if is_break(e) {
                // An escaped line break joins the lines without a space; empty lines
                // after it still count as newlines.
                i += 1;
                let breaks = consume_breaks(&mut i);
                out.extend(std::iter::repeat_n('\n', breaks.saturating_sub(1)));
                continue;
            }
            let (decoded, used) = double_escape(&chars[i + 1..])?;
            out.push(decoded);
            i += 1 + used;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes the escape after a `\`; returns the character and how many chars it used.
fn double_escape(rest: &[char]) -> Option<(char, usize)> {
    let simple = match *rest.first()? {
        '0' => '\0',
        'a' => '\x07',
        'b' => '\x08',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\x0b',
        'f' => '\x0c',
        'r' => '\r',
        'e' => '\x1b',
        ' ' => ' ',
        '"' => '"',
        '/' => '/',
        '\\' => '\\',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        'x' => return hex_escape(rest, 2),
        'u' => return hex_escape(rest, 4),
        'U' => return hex_escape(rest, 8),
        _ => return None,
    };
    Some((simple, 1))
}

/// The byte offset of the first invalid escape in the double-quoted scalar starting at
/// `quote` (the parser reports the opening quote; the escape itself is more useful).
pub(super) fn first_bad_escape(src: &str, quote: usize) -> Option<usize> {
    if char_at(src, quote)? != '"' {
        return None;
    }
    let body = &src[quote + 1..];
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        match c {
            '"' => return None,
            '\\' => {
                let rest: Vec<char> = chars[i + 1..].iter().take(9).map(|&(_, c)| c).collect();
                if rest.first().is_some_and(|&e| is_break(e)) {
                    i += 2;
                    continue;
                }
                match double_escape(&rest) {
                    Some((_, used)) => i += 1 + used,
                    None => return Some(quote + 1 + at),
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn hex_escape(rest: &[char], digits: usize) -> Option<(char, usize)> {
    let hex = rest.get(1..=digits)?;
    let mut value = 0u32;
    for c in hex {
        value = (value << 4) | c.to_digit(16)?;
    }
    Some((char::from_u32(value)?, 1 + digits))
}

/// One token found in the text between scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GapToken {
    Comment(Span),
    Anchor(Span),
    Alias(Span),
    Tag(Span),
    /// `-`, `?`, `:`, `,`, `[`, `]`, `{`, `}` at this byte.
    Indicator(usize, u8),
    /// `|` or `>`: a block scalar header.
    BlockHeader(usize),
}

/// Lexes `src[from..to]`, a stretch that holds no scalar content. Returns, as the error,
/// the byte of the first character that cannot appear between scalars (which means a
/// scalar span is wrong).
pub(super) fn lex_gap(
    src: &str,
    from: usize,
    to: usize,
    out: &mut Vec<GapToken>,
) -> Result<(), usize> {
    let bytes = src.as_bytes();
    let mut pos = from;
    while pos < to {
        let line_start = pos == 0 || matches!(bytes[pos - 1], b'\n' | b'\r');
        let c = bytes[pos];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => pos += 1,
            b'#' => {
                let end = line_end(src, pos).min(to);
                out.push(GapToken::Comment(Span::new(pos, end)));
                pos = end;
            }
            b'%' if line_start => pos = line_end(src, pos).min(to),
            b'-' | b'.' if line_start && is_document_marker(src, pos) => pos += 3,
            b'&' | b'*' | b'!' => {
                let end = property_end(src, pos).min(to);
                let span = Span::new(pos, end);
                out.push(match c {
                    b'&' => GapToken::Anchor(span),
                    b'*' => GapToken::Alias(span),
                    _ => GapToken::Tag(span),
                });
                pos = end;
            }
            b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' => {
                out.push(GapToken::Indicator(pos, c));
                pos += 1;
            }
            b'|' | b'>' => {
                out.push(GapToken::BlockHeader(pos));
                pos += 1;
            }
            // A byte-order mark at the very start of the text.
            0xEF if pos == 0 && src.starts_with('\u{feff}') => pos += 3,
            _ => return Err(pos),
        }
    }
    Ok(())
}

fn is_document_marker(src: &str, pos: usize) -> bool {
    let rest = &src[pos..];
    (rest.starts_with("---") || rest.starts_with("..."))
        && rest[3..]
            .chars()
            .next()
            .is_none_or(|c| is_blank(c) || is_break(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quoted_and_plain_tokens() {
        assert_eq!(
            decode(r#""a\"b\x41\u00e9\t""#, ScalarStyle::DoubleQuoted).as_deref(),
            Some("a\"bAé\t")
        );
        assert_eq!(
            decode("'it''s'", ScalarStyle::SingleQuoted).as_deref(),
            Some("it's")
        );
        assert_eq!(
            decode("a  \n   b\n\n  c", ScalarStyle::Plain).as_deref(),
            Some("a b\nc")
        );
        assert_eq!(
            decode("\"x \\\n   y\"", ScalarStyle::DoubleQuoted).as_deref(),
            Some("x y")
        );
        assert_eq!(decode(r#""\q""#, ScalarStyle::DoubleQuoted), None);
        assert_eq!(decode("'a'b'", ScalarStyle::SingleQuoted), None);
    }

    #[test]
    fn plain_scalar_end_follows_the_value_over_folds() {
        let src = "k: one  \r\n   two # c\n";
        assert_eq!(match_plain(src, 3, "one two"), Some(16));
        assert_eq!(match_plain(src, 3, "one  two"), None);
        // An empty line folds to a newline, which must not be matched literally.
        let src = "k: a\n\n  b\n";
        assert_eq!(match_plain(src, 3, "a\nb"), Some(9));
    }

    #[test]
    fn properties_are_skipped_up_to_the_content() {
        let src = "&a !!str # c\n  'v'";
        assert_eq!(skip_properties(src, 0), (15, 8));
        assert_eq!(skip_properties("plain", 0), (0, 0));
    }
}
