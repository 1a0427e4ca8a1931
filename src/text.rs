//! Byte spans and positions in source text: the vocabulary every lossless model shares.
//!
//! All spans are byte offsets into the original file text. Lines and columns are 1-based;
//! a column counts characters (not bytes) from the start of its line, which is what an
//! editor shows.

use std::fmt;
use std::ops::Range;

/// A half-open byte range `[start, end)` into a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span {start}..{end} is reversed");
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// True when `other` lies entirely inside this span.
    pub fn contains_span(&self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The text this span covers in `src`.
    pub fn slice<'a>(&self, src: &'a str) -> &'a str {
        &src[self.range()]
    }
}

impl From<Range<usize>> for Span {
    fn from(r: Range<usize>) -> Span {
        Span::new(r.start, r.end)
    }
}

/// A line and column, both 1-based; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Maps byte offsets of one text to line/column positions.
///
/// A line ends after `\n`; a lone `\r` is not a line end (so CRLF files count lines like
/// LF files, and the `\r` is the last character of its line).
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { line_starts }
    }

    /// The position of byte `offset` in `src` (the text this index was built from).
    /// An offset past the end maps to the end; an offset inside a UTF-8 sequence counts
    /// as the character it belongs to.
    pub fn position(&self, src: &str, offset: usize) -> Position {
        let offset = offset.min(src.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = src.as_bytes()[start..offset]
            .iter()
            .filter(|b| (**b & 0xC0) != 0x80)
            .count();
        Position {
            line: line + 1,
            col: col + 1,
        }
    }

    /// The byte offset where 1-based `line` starts, if the text has that line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        line.checked_sub(1)
            .and_then(|i| self.line_starts.get(i).copied())
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// Convenience: the position of `offset` in `src` without keeping an index.
pub fn position_of(src: &str, offset: usize) -> Position {
    LineIndex::new(src).position(src, offset)
}

/// A syntax error from one of the format parsers: where (byte offset into the parsed
/// text) and what (the parser's own typed error kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<K> {
    pub offset: usize,
    pub kind: K,
}

impl<K> Located<K> {
    pub fn new(offset: usize, kind: K) -> Located<K> {
        Located { offset, kind }
    }
}

impl<K: fmt::Display> fmt::Display for Located<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.kind)
    }
}

impl<K: fmt::Debug + fmt::Display> std::error::Error for Located<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines() {
        let src = "ab\nçd\r\nx";
        let idx = LineIndex::new(src);
        assert_eq!(idx.position(src, 0), Position { line: 1, col: 1 });
        assert_eq!(idx.position(src, 2), Position { line: 1, col: 3 });
        assert_eq!(idx.position(src, 3), Position { line: 2, col: 1 });
        // 'ç' is two bytes; 'd' is the second character.
        assert_eq!(idx.position(src, 5), Position { line: 2, col: 2 });
        assert_eq!(idx.position(src, 8), Position { line: 3, col: 1 });
        assert_eq!(idx.position(src, 99), Position { line: 3, col: 2 });
        assert_eq!(idx.line_start(2), Some(3));
        assert_eq!(idx.line_count(), 3);
    }
}

/// Makes text from a file safe to print on a terminal: control characters (other than
/// tab) become visible escapes, so a crafted file cannot move the cursor or recolour the
/// screen.
pub fn escape_for_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod escape_tests {
    use super::escape_for_terminal;

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(escape_for_terminal("plain\ttext"), "plain\ttext");
        assert_eq!(
            escape_for_terminal("a\u{1b}[31mred\r\n"),
            "a\\u{1b}[31mred\\r\\n"
        );
    }
}

/// Runs a view that writes into a `String` with `?` (views never discard a write result).
/// Writing into a `String` cannot fail, so the view's result is always `Ok` here.
pub fn render(view: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut out = String::new();
    match view(&mut out) {
        Ok(()) | Err(std::fmt::Error) => out,
    }
}

/// Builds a `String` with a writer that uses `write!`/`writeln!` with `?`. Writing into a
/// `String` cannot fail; an error here can only come from a `Display` implementation that
/// reports one, which is a bug worth stopping on rather than a message quietly cut short.
pub fn build(write: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut out = String::new();
    write(&mut out).expect("a Display implementation failed while writing into a String");
    out
}
