//! Block scalars (`|` literal, `>` folded): where their bytes end and what they decode to.
//!
//! The parser decides the value; this module finds the exact token from the header on, so
//! a host written inside a block scalar is edited in place like any other scalar. The
//! token runs from the `|`/`>` header (with its indentation and chomping indicators and
//! any comment after them) to the end of the last content line; with keep chomping (`+`)
//! the empty lines after it are content too, and the token runs over them up to the last
//! line break. Decoding follows YAML 1.2 section 8.1: content lines lose `indent` spaces,
//! literal scalars keep their line breaks, folded ones fold a break between two lines that
//! do not start with white space, and chomping strips, clips or keeps the final breaks.
//! The caller checks the decoded token against the parser's value and refuses the file on
//! any disagreement.

use crate::text::Span;

/// How the final line breaks of a block scalar are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chomp {
    /// `-`: none.
    Strip,
    /// no indicator: one.
    Clip,
    /// `+`: all, with the empty lines after the content.
    Keep,
}

/// A block scalar header `|2-  # comment`.
#[derive(Debug, Clone, Copy)]
struct Header {
    literal: bool,
    /// The explicit indentation indicator (1-9).
    increment: Option<usize>,
    chomp: Chomp,
    /// Where the first line after the header starts (or the end of the text).
    body: usize,
}

fn parse_header(src: &str, at: usize) -> Option<Header> {
    let b = src.as_bytes();
    let literal = match b.get(at)? {
        b'|' => true,
        b'>' => false,
        _ => return None,
    };
    let mut p = at + 1;
    let mut increment = None;
    let mut chomp = Chomp::Clip;
    // At most one indicator of each kind, in either order.
    for _ in 0..2 {
        match b.get(p) {
            Some(d @ b'1'..=b'9') if increment.is_none() => increment = Some(usize::from(d - b'0')),
            Some(b'-') if chomp == Chomp::Clip => chomp = Chomp::Strip,
            Some(b'+') if chomp == Chomp::Clip => chomp = Chomp::Keep,
            _ => break,
        }
        p += 1;
    }
    // Then blanks, an optional comment (after a blank), and the line break.
    let blanks_end = p + src[p..]
        .bytes()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    let line_end = src[p..].find(['\n', '\r']).map_or(src.len(), |i| p + i);
    if blanks_end < line_end && !(b[blanks_end] == b'#' && blanks_end > p) {
        return None;
    }
    let body = line_end + line_break_len(src, line_end);
    Some(Header {
        literal,
        increment,
        chomp,
        body,
    })
}

fn line_break_len(src: &str, at: usize) -> usize {
    match src.as_bytes().get(at) {
        Some(b'\r') if src.as_bytes().get(at + 1) == Some(&b'\n') => 2,
        Some(b'\r' | b'\n') => 1,
        _ => 0,
    }
}

/// A located block scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block {
    pub span: Span,
    /// The content indentation: spaces removed from each content line.
    pub indent: usize,
    pub value: String,
}

/// The block scalar whose header is at `at`, in a block collection indented
/// `parent_indent` columns (-1 at the top level).
pub(super) fn locate(src: &str, at: usize, parent_indent: isize) -> Option<Block> {
    let header = parse_header(src, at)?;
    let indent = match header.increment {
        // The indicator counts from the enclosing collection's indentation.
        Some(inc) if parent_indent >= 0 => parent_indent as usize + inc,
        Some(inc) => inc,
        None => auto_indent(src, header.body, parent_indent),
    };
    let (end, value) = content(src, &header, indent);
    Some(Block {
        span: Span::new(at, end.max(at + 1)),
        indent,
        value,
    })
}

/// The indentation of a block scalar without an indicator: that of its first non-empty
/// line, or of the longest leading empty line when that is longer; at least one more
/// than the parent's (and at least 1 inside an indented collection).
fn auto_indent(src: &str, mut pos: usize, parent_indent: isize) -> usize {
    let mut max = 0;
    loop {
        let spaces = src[pos..].bytes().take_while(|c| *c == b' ').count();
        max = max.max(spaces);
        let after = pos + spaces;
        let brk = line_break_len(src, after);
        if brk == 0 {
            break;
        }
        pos = after + brk;
    }
    let mut indent = max.max((parent_indent + 1).max(0) as usize);
    if parent_indent > 0 {
        indent = indent.max(1);
    }
    indent
}

/// Walks the content lines from the header's end: returns where the token ends and the
/// decoded value.
fn content(src: &str, header: &Header, indent: usize) -> (usize, String) {
    let b = src.as_bytes();
    let mut value = String::new();
    let mut leading_break = String::new();
    let mut trailing_breaks = String::new();
    let mut leading_blank = false;
    let mut pos = header.body;
    // The end of the token: the header's own line, until content is found.
    let header_line_end = header.body - line_break_len_before(src, header.body);
    let mut end = header_line_end;
    // Where the empty lines after the last content line end (keep chomping).
    let mut breaks_end = end;
    let mut ended_at_eof_without_break = false;
    loop {
        // Indentation: up to `indent` spaces; a line holding no more is empty.
        let spaces = b[pos..]
            .iter()
            .take(indent)
            .take_while(|c| **c == b' ')
            .count();
        let at = pos + spaces;
        let brk = line_break_len(src, at);
        if brk > 0 {
            trailing_breaks.push('\n');
            pos = at + brk;
            breaks_end = pos;
            continue;
        }
        if at >= src.len() {
            // Spaces at the end of the text without a break: the parser counts a final
            // line break when they reach the indentation.
            ended_at_eof_without_break = spaces > 0 && spaces >= indent.max(1);
            break;
        }
        if spaces < indent || (indent == 0 && is_document_marker(&src[at..])) {
            break;
        }
        // A content line.
        let trailing_blank = matches!(b[at], b' ' | b'\t');
        if !header.literal && !leading_break.is_empty() && !leading_blank && !trailing_blank {
            if trailing_breaks.is_empty() {
                value.push(' ');
            }
        } else {
            value.push_str(&leading_break);
        }
        value.push_str(&trailing_breaks);
        leading_break.clear();
        trailing_breaks.clear();
        leading_blank = trailing_blank;
        let line_end = src[at..].find(['\n', '\r']).map_or(src.len(), |i| at + i);
        value.push_str(&src[at..line_end]);
        end = line_end;
        breaks_end = line_end;
        let brk = line_break_len(src, line_end);
        if brk == 0 {
            ended_at_eof_without_break = true;
            break;
        }
        leading_break.push('\n');
        pos = line_end + brk;
    }
    if header.chomp != Chomp::Strip {
        value.push_str(&leading_break);
        if ended_at_eof_without_break {
            value.push('\n');
        }
    }
    if header.chomp == Chomp::Keep {
        value.push_str(&trailing_breaks);
        end = end.max(breaks_end);
    }
    (end, value)
}

/// Length of the line break that ends right before `pos` (0 when none does).
fn line_break_len_before(src: &str, pos: usize) -> usize {
    let b = src.as_bytes();
    match pos.checked_sub(1).map(|i| b[i]) {
        Some(b'\n') if pos >= 2 && b[pos - 2] == b'\r' => 2,
        Some(b'\n' | b'\r') => 1,
        _ => 0,
    }
}

fn is_document_marker(rest: &str) -> bool {
    (rest.starts_with("---") || rest.starts_with("..."))
        && rest[3..]
            .chars()
            .next()
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Decodes a block scalar token (header included, as [`super::Scalar::span`] gives it)
/// whose content is indented `indent` spaces ([`super::Scalar::block_indent`]). `None`
/// when the token does not start with a valid header.
pub fn decode_block(token: &str, indent: usize) -> Option<String> {
    let header = parse_header(token, 0)?;
    Some(content(token, &header, indent).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, parent: isize) -> (String, usize, String) {
        let h = src.find(['|', '>']).expect("header");
        let b = locate(src, h, parent).expect("block");
        (b.span.slice(src).to_string(), b.indent, b.value)
    }

    #[test]
    fn literal_keeps_breaks_and_clips_by_default() {
        let src = "k: |\n  a\n   b\n\n  c\n\nnext: 1\n";
        assert_eq!(
            at(src, 0),
            ("|\n  a\n   b\n\n  c".into(), 2, "a\n b\n\nc\n".into())
        );
    }

    #[test]
    fn folded_folds_only_between_unindented_lines() {
        let src = "k: >\n  one\n  two\n\n  three\n    more\n  four\n";
        assert_eq!(at(src, 0).2, "one two\nthree\n  more\nfour\n");
    }

    #[test]
    fn chomping_and_explicit_indentation() {
        assert_eq!(at("k: |-\n  a\n\n", 0).2, "a");
        let keep = "k: |+\n  a\n\n\nx: 1\n";
        assert_eq!(at(keep, 0), ("|+\n  a\n\n\n".into(), 2, "a\n\n\n".into()));
        // `2` counts from the map's indentation (0): the first line keeps a space.
        assert_eq!(at("k: |2\n   a\n  b\n", 0).2, " a\nb\n");
        assert_eq!(at("k: >-2 # c\n   a\n  b\n", 0).2, " a\nb");
        assert_eq!(at("- |1\n  x\n", 0).2, " x\n");
    }

    #[test]
    fn end_of_text_without_break_still_clips_to_one() {
        assert_eq!(at("k: |\n  a", 0), ("|\n  a".into(), 2, "a\n".into()));
        assert_eq!(at("k: |\n", 0), ("|".into(), 1, "".into()));
        assert_eq!(decode_block("|\n  a", 2).as_deref(), Some("a\n"));
        assert_eq!(decode_block("|+\n  a\n\n", 2).as_deref(), Some("a\n\n"));
        assert_eq!(decode_block("| x\n  a", 2), None);
    }
}
