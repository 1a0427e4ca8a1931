//! Physical and logical lines of a property file, and Java escape decoding.
//!
//! A logical line is one or more physical lines joined by continuations (a line whose
//! content ends in an odd number of backslashes). The parser works on the logical text
//! (the joined content, continuation markers and the next lines' indentation removed) and
//! maps every logical offset back to a source byte through [`LogicalLine`].

use super::PropsError;
use crate::text::Span;

/// Whitespace that the format ignores at the start of a line and around keys: the set
/// Java's property reader uses (space, tab, form feed).
pub(super) fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// One physical line: `start..content_end` is its text, `content_end..end` its line
/// ending (`\n`, `\r\n`, or nothing on a last line without one). A lone `\r` is text, like
/// in [`crate::text::LineIndex`].
#[derive(Debug, Clone, Copy)]
pub(super) struct PhysLine {
    pub start: usize,
    pub content_end: usize,
    pub end: usize,
}

pub(super) fn physical_lines(src: &str) -> Vec<PhysLine> {
    let bytes = src.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    while start < src.len() {
        let (content_end, end) = match src[start..].find('\n') {
            Some(rel) => {
                let nl = start + rel;
                let content_end = if nl > start && bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (content_end, nl + 1)
            }
            None => (src.len(), src.len()),
        };
        lines.push(PhysLine {
            start,
            content_end,
            end,
        });
        start = end;
    }
    lines
}

/// Byte length of the leading whitespace of `text`.
pub(super) fn indent_len(text: &str) -> usize {
    text.len() - text.trim_start_matches(is_ws).len()
}

/// True when `text` ends in an odd number of backslashes, i.e. the last one is not
/// itself escaped and marks a continuation.
pub(super) fn ends_with_continuation(text: &str) -> bool {
    let n = text.bytes().rev().take_while(|b| *b == b'\\').count();
    n % 2 == 1
}

/// A logical line and the map from its text back to source bytes.
#[derive(Debug)]
pub(super) struct LogicalLine {
    /// Leading whitespace of the first physical line.
    pub indent: Span,
    /// Source spans of the text pieces; their concatenation is `text`.
    pub segs: Vec<Span>,
    /// Logical offset where each segment starts.
    pub seg_starts: Vec<usize>,
    /// `conts[i]` lies between `segs[i]` and `segs[i + 1]`: the continuation backslash,
    /// the line ending and the next line's indentation.
    pub conts: Vec<Span>,
    /// A continuation on the last line of the file, which has nothing to join.
    pub dangling: Option<Span>,
    /// The line ending that ends this logical line (empty at end of file).
    pub line_end: Span,
    pub text: String,
}

impl LogicalLine {
    /// Joins physical lines from `lines[first]` on; returns the line and the index of the
    /// first physical line after it. `lines[first]` must have content after its indent.
    pub fn join(src: &str, lines: &[PhysLine], first: usize) -> (LogicalLine, usize) {
        let l0 = lines[first];
        let ind = indent_len(&src[l0.start..l0.content_end]);
        let mut ll = LogicalLine {
            indent: Span::new(l0.start, l0.start + ind),
            segs: Vec::new(),
            seg_starts: Vec::new(),
            conts: Vec::new(),
            dangling: None,
            line_end: Span::new(l0.content_end, l0.end),
            text: String::new(),
        };
        let mut i = first;
        let mut seg_start = l0.start + ind;
        loop {
            let line = lines[i];
            let content = &src[seg_start..line.content_end];
            let continues = ends_with_continuation(content);
            let seg_end = if continues {
                line.content_end - 1
            } else {
                line.content_end
            };
            ll.seg_starts.push(ll.text.len());
            ll.segs.push(Span::new(seg_start, seg_end));
            ll.text.push_str(&src[seg_start..seg_end]);
            i += 1;
            if !continues {
                ll.line_end = Span::new(line.content_end, line.end);
                return (ll, i);
            }
            match lines.get(i) {
                Some(next) => {
                    let next_ind = indent_len(&src[next.start..next.content_end]);
                    seg_start = next.start + next_ind;
                    ll.conts.push(Span::new(seg_end, seg_start));
                }
                None => {
                    ll.dangling = Some(Span::new(seg_end, line.end));
                    ll.line_end = Span::new(line.end, line.end);
                    return (ll, i);
                }
            }
        }
    }

    /// The source byte where the text starting at logical offset `a` begins. At a segment
    /// boundary this is the start of the later segment (after the continuation).
    pub fn src_start(&self, a: usize) -> usize {
        let j = self
            .seg_starts
            .partition_point(|s| *s <= a)
            .saturating_sub(1);
        // Among segments starting at or before `a`, the last one wins: empty segments
        // (blank continuation lines) share their logical start with the next.
        self.segs[j].start + (a - self.seg_starts[j])
    }

    /// The source byte where text ending at logical offset `b` ends. At a segment
    /// boundary this is the end of the earlier segment (before the continuation).
    pub fn src_end(&self, b: usize) -> usize {
        let k = self
            .seg_starts
            .partition_point(|s| *s < b)
            .saturating_sub(1);
        self.segs[k].start + (b - self.seg_starts[k])
    }

    /// Logical offsets at which the continuations sit (`conts[i]` is at `cont_at(i)`).
    pub fn cont_at(&self, i: usize) -> usize {
        self.seg_starts[i + 1]
    }
}

/// One lexical unit of logical text: an escape (`\x`, with `\u` counted as two bytes for
/// structure) or a single character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unit {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
    /// The character (the escaped one for an escape).
    pub ch: char,
}

/// Splits `text[from..to]` into units; structural characters are found by looking for
/// unescaped units.
pub(super) fn units(text: &str, from: usize, to: usize) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut it = text[from..to].char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let start = from + i;
        if c == '\\' {
            if let Some((j, e)) = it.next() {
                out.push(Unit {
                    start,
                    end: from + j + e.len_utf8(),
                    escaped: true,
                    ch: e,
                });
                continue;
            }
        }
        out.push(Unit {
            start,
            end: start + c.len_utf8(),
            escaped: false,
            ch: c,
        });
    }
    out
}

/// The first unescaped occurrence in `text[from..to]` of a character `pred` accepts.
pub(super) fn find_unescaped(
    text: &str,
    from: usize,
    to: usize,
    pred: impl Fn(char) -> bool,
) -> Option<usize> {
    // A lazy scan (not `units`): splitting calls this once per separator.
    let mut it = text[from..to].char_indices();
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            it.next();
        } else if pred(c) {
            return Some(from + i);
        }
    }
    None
}

/// `[from, to)` with unescaped whitespace trimmed from both ends.
pub(super) fn trim_range(text: &str, from: usize, to: usize) -> (usize, usize) {
    let us = units(text, from, to);
    let first = us.iter().position(|u| u.escaped || !is_ws(u.ch));
    match first {
        None => (to, to),
        Some(f) => {
            let last = us
                .iter()
                .rposition(|u| u.escaped || !is_ws(u.ch))
                .unwrap_or(f);
            (us[f].start, us[last].end)
        }
    }
}

/// Start of the first non-whitespace character at or after `from`.
pub(super) fn skip_ws(text: &str, from: usize, to: usize) -> usize {
    from + indent_len(&text[from..to])
}

/// A decoded string and, for each of its bytes, the logical range of the escape or
/// character that produced it; `None` when the text holds no backslash, so the decoded
/// string is the logical text itself (most keys and values: no per-byte table is built).
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub text: String,
    pub origin: Option<Vec<(usize, usize)>>,
}

/// For each byte of `text[from..to]`, the range of the character holding it (the table
/// [`decode`] builds for text that has escapes).
pub(super) fn per_character(text: &str, from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(to - from);
    for (i, c) in text[from..to].char_indices() {
        let start = from + i;
        out.extend(std::iter::repeat_n(
            (start, start + c.len_utf8()),
            c.len_utf8(),
        ));
    }
    out
}

/// Decodes Java escapes in `text[from..to]`. An error carries the logical offset of the
/// offending backslash.
pub(super) fn decode(text: &str, from: usize, to: usize) -> Result<Decoded, (usize, PropsError)> {
    if !text.as_bytes()[from..to].contains(&b'\\') {
        return Ok(Decoded {
            text: text[from..to].to_string(),
            origin: None,
        });
    }
    let mut out = Decoded {
        text: String::new(),
        origin: Some(Vec::new()),
    };
    let push = |out: &mut Decoded, c: char, start: usize, end: usize| {
        out.text.push(c);
        if let Some(origin) = out.origin.as_mut() {
            origin.extend(std::iter::repeat_n((start, end), c.len_utf8()));
        }
    };
    let us = units(text, from, to);
    let mut i = 0;
    while i < us.len() {
        let u = us[i];
        i += 1;
        if !u.escaped {
            push(&mut out, u.ch, u.start, u.end);
            continue;
        }
        let c = match u.ch {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            'u' => {
                let (code, end) =
                    hex4(text, u.end, to).ok_or((u.start, PropsError::BadUnicodeEscape))?;
                // The four hex digits were read from the text: skip their units.
                while i < us.len() && us[i].start < end {
                    i += 1;
                }
                match code {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low one; together
                        // they are one character.
                        let low = (i < us.len() && us[i].escaped && us[i].ch == 'u')
                            .then(|| hex4(text, us[i].end, to))
                            .flatten()
                            .filter(|(l, _)| (0xDC00..=0xDFFF).contains(l));
                        let Some((low, low_end)) = low else {
                            return Err((u.start, PropsError::UnpairedSurrogate));
                        };
                        while i < us.len() && us[i].start < low_end {
                            i += 1;
                        }
                        let cp = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        let c =
                            char::from_u32(cp).ok_or((u.start, PropsError::UnpairedSurrogate))?;
                        push(&mut out, c, u.start, low_end);
                        continue;
                    }
                    0xDC00..=0xDFFF => return Err((u.start, PropsError::UnpairedSurrogate)),
                    _ => {
                        let c =
                            char::from_u32(code).ok_or((u.start, PropsError::BadUnicodeEscape))?;
                        push(&mut out, c, u.start, end);
                        continue;
                    }
                }
            }
            other => other,
        };
        push(&mut out, c, u.start, u.end);
    }
    Ok(out)
}

/// Four hex digits at `text[at..]` (within `to`): their value and the offset after them.
fn hex4(text: &str, at: usize, to: usize) -> Option<(u32, usize)> {
    let digits = text.get(at..at + 4).filter(|_| at + 4 <= to)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok().map(|v| (v, at + 4))
}
