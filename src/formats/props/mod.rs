//! Deephaven property files (`iris-environment.prop`, ...): a lossless model of the whole
//! grammar (docs: /work/shared/deephaven.md section 2).
//!
//! [`parse`] turns the text into an ordered list of typed [`Part`]s that tile the source
//! exactly (so [`PropsFile::render`] rebuilds it byte for byte) plus the semantic view:
//! declarations with decoded values, scope blocks, `includefiles`, `final`/`finalize`
//! locks and comments, each with byte spans, so a rewrite can change one token and leave
//! every other byte alone.
//!
//! Decisions where the reference grammar is silent (kept here so callers can rely on them):
//! - Line endings are `\n` and `\r\n`; the `\r` of a CRLF ending is never part of a value
//!   or comment (it is kept in the line-ending part). A lone `\r` is ordinary text.
//! - Whitespace means space, tab and form feed (Java's property whitespace).
//! - Comment lines never continue: a `#`/`!` line ending in `\` ends at its line end
//!   (Java's reader does the same). A comment that follows `]`, `{` or `}` on a logical
//!   line runs to the end of that logical line.
//! - Structure (`=`, `:`, `[`, `]`, `,`, `|`) is found on the raw text: an escaped
//!   character (`\=`, and also `\u003d`) never splits. Keys, values, scope items and
//!   `finalize` names are then decoded.
//! - `\uXXXX` escapes of a UTF-16 surrogate pair decode to one character; a lone
//!   surrogate is an error (Rust strings cannot hold one).
//! - An empty key (`=x`) is accepted, as Java does.
//! - Where Deephaven's own parser (`ParsedProperties.java`) is lenient, so is this one:
//!   trailing empty scope items are dropped (`[a=b,]`, as Java's `String.split` drops
//!   them; an empty item before another stays an error), and a scope item may have an
//!   empty key (`[=b]`) or an empty value (`[a=]`), which names no alternative and
//!   matches no process. `final final = x` stays an error: Deephaven throws "is a
//!   reserved keyword" for it as well. Deephaven skips every line inside a scope block
//!   that does not apply to the running process, so it accepts anything there; this
//!   parser checks every line, because a migrated file must be valid for every process
//!   of the new cluster that reads it.
//! - `includefiles` is also a [`Declaration`] (its entries are exposed by
//!   [`PropsFile::includefiles`]); empty entries between commas are skipped.
//! - A final key (from `final` or a `finalize` pattern, `*` matching any run of
//!   characters) may not be declared again by a later declaration whose scope chain is a
//!   prefix of, or extends, the lock's scope chain (one then applies wherever the other
//!   does). Sibling scopes may be disjoint, so they are not flagged.
//! - Scope blocks nest at most [`MAX_DEPTH`] deep ([`parse_with_max_depth`] sets another
//!   limit); a deeper `{` is a [`PropsError::TooDeep`] at its header. Every reference
//!   reported from a file names its whole scope chain (measured: 20,000 references 32
//!   blocks deep made a 60 MB report and a 276 MiB peak, 16 deep 32 MB and 158 MiB), so
//!   the limit is what keeps a hostile file's report a small multiple of its size; real
//!   files nest two or three levels.
//!   Parsing itself is iterative (a stack of open blocks), never recursive.

mod lines;
mod parser;
pub use parser::glob_match;
#[cfg(test)]
mod tests;

use crate::text::{Located, Span};
use std::ops::Range;

/// Index into [`PropsFile::scopes`].
pub type ScopeId = usize;

/// What went wrong; the [`Located`] offset says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropsError {
    #[error("bad unicode escape: expected four hex digits after `\\u`")]
    BadUnicodeEscape,
    #[error("unpaired UTF-16 surrogate escape: expected a high `\\uD800`-`\\uDBFF` escape followed by a low `\\uDC00`-`\\uDFFF` one")]
    UnpairedSurrogate,
    #[error("`includefiles` must be the first non-comment line of the file")]
    IncludefilesNotFirst,
    #[error("`{keyword}` is a keyword and cannot be used as a key: expected `{keyword} key=value` or `finalize name[, name...]`")]
    KeywordAsKey { keyword: String },
    #[error("expected a name between the commas of `finalize`")]
    EmptyFinalizeName,
    #[error("key `{key}` was made final on line {final_line} and cannot be declared again")]
    FinalRedefined { key: String, final_line: usize },
    #[error("expected `]` to close the scope header")]
    MissingCloseBracket,
    #[error("expected a `key=value` scope item (commas separate items)")]
    EmptyScopeItem,
    #[error("expected `=` in scope item (`key=value|value`)")]
    ScopeItemWithoutEquals,
    #[error("expected a key before `=` in scope item")]
    EmptyScopeKey,
    #[error("expected a value in scope item (alternatives are separated by `|`)")]
    EmptyScopeValue,
    #[error("expected `{{` to open the block of the scope header above (on the header line or starting the next non-comment line)")]
    ExpectedOpenBrace,
    #[error("unexpected `{{`: a block must follow a `[...]` scope header")]
    UnexpectedOpenBrace,
    #[error("unexpected `}}`: no scope block is open")]
    UnmatchedCloseBrace,
    #[error("scope block opened by this header is not closed: expected `}}` before end of file")]
    UnclosedScope,
    #[error("scope blocks nested deeper than {limit} levels")]
    TooDeep { limit: usize },
}

impl PropsError {
    /// The variant's name, stable for test corpora and machine-readable reports.
    pub fn name(&self) -> &'static str {
        match self {
            PropsError::BadUnicodeEscape => "BadUnicodeEscape",
            PropsError::UnpairedSurrogate => "UnpairedSurrogate",
            PropsError::IncludefilesNotFirst => "IncludefilesNotFirst",
            PropsError::KeywordAsKey { .. } => "KeywordAsKey",
            PropsError::EmptyFinalizeName => "EmptyFinalizeName",
            PropsError::FinalRedefined { .. } => "FinalRedefined",
            PropsError::MissingCloseBracket => "MissingCloseBracket",
            PropsError::EmptyScopeItem => "EmptyScopeItem",
            PropsError::ScopeItemWithoutEquals => "ScopeItemWithoutEquals",
            PropsError::EmptyScopeKey => "EmptyScopeKey",
            PropsError::EmptyScopeValue => "EmptyScopeValue",
            PropsError::ExpectedOpenBrace => "ExpectedOpenBrace",
            PropsError::UnexpectedOpenBrace => "UnexpectedOpenBrace",
            PropsError::UnmatchedCloseBrace => "UnmatchedCloseBrace",
            PropsError::UnclosedScope => "UnclosedScope",
            PropsError::TooDeep { .. } => "TooDeep",
        }
    }
}

/// The kind of one piece of source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// Spaces, tabs and form feeds: indentation and padding between tokens.
    Whitespace,
    /// `\n` or `\r\n`.
    LineEnd,
    /// A continuation between two tokens: backslash, line ending, next line's indentation.
    Continuation,
    /// A `#`/`!` comment without its line ending.
    Comment,
    /// `final` or `finalize` (any case).
    Keyword,
    Key,
    /// `=` or `:` of a declaration.
    Separator,
    /// A declaration's raw value (may span continuation lines).
    Value,
    FinalizeName,
    /// `,` between `finalize` names or scope items.
    Comma,
    OpenBracket,
    ScopeKey,
    /// `=` inside a scope item.
    ScopeEquals,
    ScopeValue,
    /// `|` between scope item alternatives.
    Pipe,
    CloseBracket,
    OpenBrace,
    CloseBrace,
}

/// One typed piece of the source; the parts of a file tile it without gap or overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub kind: PartKind,
    pub span: Span,
    pub context: PropsContext,
}

/// What a byte of the file is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropsContext {
    /// A `#`/`!` comment.
    Comment,
    /// Declaration `index` (into [`PropsFile::declarations`]): its key, or the rest
    /// (keyword, separator, value).
    Declaration { index: usize, in_key: bool },
    /// The header of `scope`; `item` is the index of the scope item when the byte is in one.
    ScopeHeader { scope: ScopeId, item: Option<usize> },
    /// Whitespace, line endings, braces, `finalize` lists, end of file.
    Other,
}

/// `key=value` (or `final key=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// Decoded, trimmed key.
    pub key: String,
    /// Raw bytes of the trimmed key.
    pub key_span: Span,
    /// Decoded value: left-trimmed, trailing whitespace kept.
    pub value: String,
    /// Raw bytes of the value (may cover continuation lines; empty for an empty value).
    pub value_span: Span,
    pub is_final: bool,
    /// Innermost enclosing scope block.
    pub scope: Option<ScopeId>,
    /// 1-based line where the declaration (its `final` keyword or key) starts.
    pub line: usize,
    /// For each byte of `value`, the source bytes of the character or escape that
    /// produced it; `None` when the value is its source bytes as they are (no escape,
    /// no continuation line), so byte `i` comes from `value_span.start + i`.
    origin: Option<Vec<(usize, usize)>>,
}

impl Declaration {
    /// The source byte where decoded value byte `decoded_byte` comes from (the start of
    /// its escape or character); `value.len()` (or more) maps to the end of the value.
    pub fn raw_offset(&self, decoded_byte: usize) -> usize {
        match &self.origin {
            Some(origin) => origin
                .get(decoded_byte)
                .map_or(self.value_span.end, |o| o.0),
            // The start of the character holding that byte.
            None if decoded_byte < self.value.len() => {
                let mut at = decoded_byte;
                while !self.value.is_char_boundary(at) {
                    at -= 1;
                }
                self.value_span.start + at
            }
            None => self.value_span.end,
        }
    }

    /// The source byte after the character or escape that produced decoded byte `b`.
    fn raw_end_of(&self, b: usize) -> usize {
        match &self.origin {
            Some(origin) => origin.get(b).map_or(self.value_span.end, |o| o.1),
            None if b < self.value.len() => {
                let mut end = b + 1;
                while !self.value.is_char_boundary(end) {
                    end += 1;
                }
                self.value_span.start + end
            }
            None => self.value_span.end,
        }
    }

    /// The source bytes of the decoded value range `decoded` (for replacing a token found
    /// in the decoded value). An empty range maps to an empty span at its position.
    pub fn raw_span(&self, decoded: Range<usize>) -> Span {
        let start = self.raw_offset(decoded.start);
        if decoded.end <= decoded.start {
            return Span::new(start, start);
        }
        let end = self.raw_end_of(decoded.end - 1);
        Span::new(start, end.max(start))
    }
}

/// A `[key=a|b, key2=c] { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// From `[` to `]` inclusive.
    pub header_span: Span,
    pub items: Vec<ScopeItem>,
    pub parent: Option<ScopeId>,
    /// The `{`.
    pub open_span: Span,
    /// The `}` (always present in a successfully parsed file).
    pub close_span: Option<Span>,
}

/// `key=value|value` inside a scope header (items AND, alternatives OR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeItem {
    pub key: String,
    pub key_span: Span,
    /// Decoded, trimmed alternatives with their raw spans.
    pub values: Vec<(String, Span)>,
}

/// `includefiles=a.prop,b.prop` (the first non-comment line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeFiles {
    /// Index of the `includefiles` declaration.
    pub declaration: usize,
    /// File names, trimmed, with their raw spans.
    pub files: Vec<(String, Span)>,
}

/// One name of a `finalize` list (may hold `*` wildcards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalize {
    pub name: String,
    pub span: Span,
    pub scope: Option<ScopeId>,
    pub line: usize,
}

/// A parsed property file.
#[derive(Debug, Clone)]
pub struct PropsFile {
    parts: Vec<Part>,
    declarations: Vec<Declaration>,
    scopes: Vec<Scope>,
    includefiles: Option<IncludeFiles>,
    finalized: Vec<Finalize>,
    comments: Vec<Span>,
}

/// Deepest nesting of scope blocks [`parse`] accepts.
pub const MAX_DEPTH: usize = 16;

/// Parses a whole property file.
pub fn parse(src: &str) -> Result<PropsFile, Located<PropsError>> {
    parse_with_max_depth(src, MAX_DEPTH)
}

/// Parses a whole property file whose scope blocks nest at most `max_depth` deep.
pub fn parse_with_max_depth(src: &str, max_depth: usize) -> Result<PropsFile, Located<PropsError>> {
    parser::Parser::new(src, max_depth).run()
}

impl PropsFile {
    /// Gives back the spare capacity the parser's growing vectors left.
    pub fn shrink_to_fit(&mut self) {
        self.parts.shrink_to_fit();
        self.declarations.shrink_to_fit();
        self.scopes.shrink_to_fit();
        self.finalized.shrink_to_fit();
        self.comments.shrink_to_fit();
    }

    /// The text rebuilt by concatenating every part's bytes of `src`, in order; equals
    /// `src` when `src` is the text this file was parsed from.
    pub fn render(&self, src: &str) -> String {
        let mut out = String::with_capacity(src.len());
        for p in &self.parts {
            out.push_str(src.get(p.span.range()).unwrap_or(""));
        }
        out
    }

    /// Every typed piece of the source, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// All declarations in file order (later ones win over earlier ones of the same key
    /// in the same scope).
    pub fn declarations(&self) -> &[Declaration] {
        &self.declarations
    }

    /// Scope blocks in order of their headers; a [`ScopeId`] indexes this slice.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    pub fn includefiles(&self) -> Option<&IncludeFiles> {
        self.includefiles.as_ref()
    }

    /// Every `finalize` name, in file order.
    pub fn finalized(&self) -> &[Finalize] {
        &self.finalized
    }

    /// `#`/`!` comments (without line endings), in file order.
    pub fn comments(&self) -> &[Span] {
        &self.comments
    }

    /// The last declaration of `key` outside any scope block (the one that wins for
    /// every process).
    pub fn get(&self, key: &str) -> Option<&Declaration> {
        self.declarations
            .iter()
            .rev()
            .find(|d| d.scope.is_none() && d.key == key)
    }

    /// What byte `offset` is part of ([`PropsContext::Other`] past the end).
    pub fn context_at(&self, offset: usize) -> PropsContext {
        let i = self.parts.partition_point(|p| p.span.end <= offset);
        match self.parts.get(i) {
            Some(p) if p.span.start <= offset => p.context,
            _ => PropsContext::Other,
        }
    }

    /// `id` and its enclosing scopes, outermost first.
    pub fn scope_chain(&self, id: ScopeId) -> Vec<ScopeId> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur.filter(|c| *c < self.scopes.len()) {
            chain.push(c);
            cur = self.scopes[c].parent;
        }
        chain.reverse();
        chain
    }

    /// The alternatives of the `service.name` items of scope `id` itself (not of its
    /// parents), in order.
    pub fn services(&self, id: ScopeId) -> Vec<&str> {
        self.scopes
            .get(id)
            .into_iter()
            .flat_map(|s| &s.items)
            .filter(|it| it.key == "service.name")
            .flat_map(|it| it.values.iter().map(|(v, _)| v.as_str()))
            .collect()
    }
}
