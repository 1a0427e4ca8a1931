//! The property-file parser: walks physical lines, joins logical lines, and turns each
//! into typed parts (in logical coordinates, then mapped to source spans with the
//! continuation bytes placed between them) and semantic records.

use super::lines::{
    decode, find_unescaped, indent_len, is_ws, per_character, physical_lines, skip_ws, trim_range,
    LogicalLine, PhysLine,
};
use super::{
    Declaration, Finalize, IncludeFiles, Part, PartKind, PropsContext, PropsError, PropsFile,
    Scope, ScopeId, ScopeItem,
};
use crate::text::{Located, Span};
use std::collections::HashMap;

type PResult<T> = Result<T, Located<PropsError>>;

/// A part in logical-line coordinates, before mapping to source bytes.
struct LPart {
    kind: PartKind,
    a: usize,
    b: usize,
    ctx: PropsContext,
}

/// A header whose `{` has not been seen yet.
struct Pending {
    header_span: Span,
    items: Vec<ScopeItem>,
}

/// A `final` key or `finalize` pattern: where it applies and where it was declared.
struct Lock {
    chain: Vec<ScopeId>,
    line: usize,
}

/// Every lock so far. Exact keys are looked up by key, so a file of many `final`
/// declarations is checked in linear time; only `*` patterns are matched one by one.
#[derive(Default)]
struct Locks {
    exact: HashMap<String, Vec<Lock>>,
    patterns: Vec<(String, Lock)>,
}

impl Locks {
    fn add(&mut self, pattern: String, lock: Lock) {
        if pattern.contains('*') {
            self.patterns.push((pattern, lock));
        } else {
            self.exact.entry(pattern).or_default().push(lock);
        }
    }

    /// The first lock (in declaration order) that `key` declared in scope chain `chain`
    /// would break.
    fn find(&self, key: &str, chain: &[ScopeId]) -> Option<&Lock> {
        let exact = self.exact.get(key).into_iter().flatten();
        let patterns = self
            .patterns
            .iter()
            .filter(|(p, _)| glob_match(p, key))
            .map(|(_, l)| l);
        exact
            .chain(patterns)
            .filter(|l| chains_overlap(&l.chain, chain))
            .min_by_key(|l| l.line)
    }
}

#[derive(Clone, Copy)]
enum Keyword {
    Final,
    Finalize,
}

pub(super) struct Parser<'a> {
    src: &'a str,
    lines: Vec<PhysLine>,
    file: PropsFile,
    /// Open blocks, outermost first: also the current scope chain.
    stack: Vec<ScopeId>,
    pending: Option<Pending>,
    seen_non_comment: bool,
    locks: Locks,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, max_depth: usize) -> Parser<'a> {
        Parser {
            src,
            lines: physical_lines(src),
            file: PropsFile {
                parts: Vec::new(),
                declarations: Vec::new(),
                scopes: Vec::new(),
                includefiles: None,
                finalized: Vec::new(),
                comments: Vec::new(),
            },
            stack: Vec::new(),
            pending: None,
            seen_non_comment: false,
            locks: Locks::default(),
            max_depth,
        }
    }

    pub fn run(mut self) -> PResult<PropsFile> {
        let src = self.src;
        let mut i = 0;
        while i < self.lines.len() {
            let l = self.lines[i];
            let content = &src[l.start..l.content_end];
            let body = l.start + indent_len(content);
            let rest = &src[body..l.content_end];
            if rest.is_empty() || rest.starts_with(['#', '!']) {
                // Blank and comment lines are whole physical lines: they never continue.
                self.part(PartKind::Whitespace, l.start, body, PropsContext::Other);
                if !rest.is_empty() {
                    let span = Span::new(body, l.content_end);
                    self.file.comments.push(span);
                    self.part(
                        PartKind::Comment,
                        body,
                        l.content_end,
                        PropsContext::Comment,
                    );
                }
                self.part(PartKind::LineEnd, l.content_end, l.end, PropsContext::Other);
                i += 1;
                continue;
            }
            let (ll, next) = LogicalLine::join(src, &self.lines, i);
            let mut lparts = Vec::new();
            self.parse_rest(&ll, 0, &mut lparts)?;
            self.emit(&ll, lparts);
            i = next;
        }
        if self.pending.is_some() {
            return Err(Located::new(src.len(), PropsError::ExpectedOpenBrace));
        }
        if let Some(open) = self.stack.last() {
            let at = self.file.scopes[*open].header_span.start;
            return Err(Located::new(at, PropsError::UnclosedScope));
        }
        Ok(self.file)
    }

    fn part(&mut self, kind: PartKind, start: usize, end: usize, context: PropsContext) {
        if start < end {
            self.file.parts.push(Part {
                kind,
                span: Span::new(start, end),
                context,
            });
        }
    }

    /// The 1-based line holding `offset`: the physical lines (split as
    /// [`crate::text::LineIndex`] splits them) that start at or before it.
    fn line_of(&self, offset: usize) -> usize {
        self.lines.partition_point(|l| l.start <= offset).max(1)
    }

    /// Maps a logical line's parts to source parts, placing each continuation that falls
    /// between two parts as its own part (one inside a part is covered by that part).
    fn emit(&mut self, ll: &LogicalLine, lparts: Vec<LPart>) {
        self.part(
            PartKind::Whitespace,
            ll.indent.start,
            ll.indent.end,
            PropsContext::Other,
        );
        let mut next_cont = 0;
        let mut ctx = PropsContext::Other;
        for lp in lparts.into_iter().filter(|p| p.a < p.b) {
            while next_cont < ll.conts.len() && ll.cont_at(next_cont) <= lp.a {
                let c = ll.conts[next_cont];
                self.part(PartKind::Continuation, c.start, c.end, ctx);
                next_cont += 1;
            }
            self.part(lp.kind, ll.src_start(lp.a), ll.src_end(lp.b), lp.ctx);
            while next_cont < ll.conts.len() && ll.cont_at(next_cont) < lp.b {
                next_cont += 1;
            }
            ctx = match lp.ctx {
                PropsContext::Declaration { index, .. } => PropsContext::Declaration {
                    index,
                    in_key: false,
                },
                other => other,
            };
        }
        for c in ll.conts[next_cont..].iter().copied() {
            self.part(PartKind::Continuation, c.start, c.end, ctx);
        }
        if let Some(d) = ll.dangling {
            self.part(PartKind::Continuation, d.start, d.end, ctx);
        }
        self.part(
            PartKind::LineEnd,
            ll.line_end.start,
            ll.line_end.end,
            PropsContext::Other,
        );
    }

    /// Parses `ll.text[from..]` as a line: after `]`, `{` and `}` the rest of the line is
    /// parsed again the same way; a declaration or comment takes the rest of the line.
    fn parse_rest(&mut self, ll: &LogicalLine, from: usize, out: &mut Vec<LPart>) -> PResult<()> {
        let text = ll.text.as_str();
        let len = text.len();
        let mut p = from;
        loop {
            let q = skip_ws(text, p, len);
            push(out, PartKind::Whitespace, p, q, PropsContext::Other);
            p = q;
            let Some(c) = text[p..].chars().next() else {
                return Ok(());
            };
            if self.pending.is_some() && !matches!(c, '{' | '#' | '!') {
                return Err(Located::new(ll.src_start(p), PropsError::ExpectedOpenBrace));
            }
            match c {
                '#' | '!' => {
                    self.file
                        .comments
                        .push(Span::new(ll.src_start(p), ll.src_end(len)));
                    push(out, PartKind::Comment, p, len, PropsContext::Comment);
                    return Ok(());
                }
                '[' => {
                    p = self.header(ll, p, out)?;
                    self.seen_non_comment = true;
                }
                '{' => {
                    let span = Span::new(ll.src_start(p), ll.src_end(p + 1));
                    let Some(pending) = self.pending.take() else {
                        return Err(Located::new(span.start, PropsError::UnexpectedOpenBrace));
                    };
                    if self.stack.len() >= self.max_depth {
                        let limit = self.max_depth;
                        let at = pending.header_span.start;
                        return Err(Located::new(at, PropsError::TooDeep { limit }));
                    }
                    let id = self.file.scopes.len();
                    self.file.scopes.push(Scope {
                        header_span: pending.header_span,
                        items: pending.items,
                        parent: self.stack.last().copied(),
                        open_span: span,
                        close_span: None,
                    });
                    self.stack.push(id);
                    push(out, PartKind::OpenBrace, p, p + 1, PropsContext::Other);
                    p += 1;
                }
                '}' => {
                    let span = Span::new(ll.src_start(p), ll.src_end(p + 1));
                    let Some(id) = self.stack.pop() else {
                        return Err(Located::new(span.start, PropsError::UnmatchedCloseBrace));
                    };
                    self.file.scopes[id].close_span = Some(span);
                    self.seen_non_comment = true;
                    push(out, PartKind::CloseBrace, p, p + 1, PropsContext::Other);
                    p += 1;
                }
                _ => {
                    self.statement(ll, p, out)?;
                    self.seen_non_comment = true;
                    return Ok(());
                }
            }
        }
    }

    /// `[key=a|b, key2=c]` starting at `p`; returns the offset after `]`.
    fn header(&mut self, ll: &LogicalLine, p: usize, out: &mut Vec<LPart>) -> PResult<usize> {
        let text = ll.text.as_str();
        let len = text.len();
        let at = |o: usize| ll.src_start(o);
        let close = find_unescaped(text, p + 1, len, |c| c == ']')
            .ok_or_else(|| Located::new(ll.src_end(len), PropsError::MissingCloseBracket))?;
        let scope = self.file.scopes.len();
        let outside = PropsContext::ScopeHeader { scope, item: None };
        push(out, PartKind::OpenBracket, p, p + 1, outside);
        let mut items = Vec::new();
        let mut pieces = split_unescaped(text, p + 1, close, ',');
        // Deephaven splits items with Java's `String.split`, which drops trailing empty
        // strings: `[a=b,]` and `[a=b,,]` are `[a=b]` (an empty item elsewhere is an error).
        let mut dropped_commas = Vec::new();
        while pieces.len() > 1 && pieces.last().is_some_and(|(s, e)| s == e) {
            if let Some((s, _)) = pieces.pop() {
                dropped_commas.push(s - 1);
            }
        }
        dropped_commas.reverse();
        for (n, (s, e)) in pieces.into_iter().enumerate() {
            let inside = PropsContext::ScopeHeader {
                scope,
                item: Some(n),
            };
            if n > 0 {
                push(out, PartKind::Comma, s - 1, s, outside);
            }
            let (is, ie) = trim_range(text, s, e);
            if is == ie {
                return Err(Located::new(at(e), PropsError::EmptyScopeItem));
            }
            let eq = find_unescaped(text, is, ie, |c| c == '=')
                .ok_or_else(|| Located::new(at(is), PropsError::ScopeItemWithoutEquals))?;
            // An empty key (`[=b]`) and an empty value (`[a=]`) are accepted, as
            // Deephaven does; such an item names no alternative and matches no process.
            let (ks, ke) = trim_range(text, is, eq);
            push(out, PartKind::Whitespace, s, is, outside);
            push(out, PartKind::ScopeKey, ks, ke, inside);
            push(out, PartKind::Whitespace, ke.min(eq), eq, inside);
            push(out, PartKind::ScopeEquals, eq, eq + 1, inside);
            let mut values = Vec::new();
            let value_blank = trim_range(text, eq + 1, ie).0 == ie;
            if value_blank {
                push(out, PartKind::Whitespace, eq + 1, ie, inside);
            }
            let alternatives = if value_blank {
                Vec::new()
            } else {
                split_unescaped(text, eq + 1, ie, '|')
            };
            for (m, (vs0, ve0)) in alternatives.into_iter().enumerate() {
                if m > 0 {
                    push(out, PartKind::Pipe, vs0 - 1, vs0, inside);
                }
                let (vs, ve) = trim_range(text, vs0, ve0);
                if vs == ve {
                    return Err(Located::new(at(ve0), PropsError::EmptyScopeValue));
                }
                push(out, PartKind::Whitespace, vs0, vs, inside);
                push(out, PartKind::ScopeValue, vs, ve, inside);
                push(out, PartKind::Whitespace, ve, ve0, inside);
                values.push((decode_at(ll, vs, ve)?, Span::new(at(vs), ll.src_end(ve))));
            }
            push(out, PartKind::Whitespace, ie, e, outside);
            let key_span = if ks == ke {
                Span::new(at(eq), at(eq))
            } else {
                Span::new(at(ks), ll.src_end(ke))
            };
            items.push(ScopeItem {
                key: decode_at(ll, ks, ke)?,
                key_span,
                values,
            });
        }
        for comma in dropped_commas {
            push(out, PartKind::Comma, comma, comma + 1, outside);
        }
        push(out, PartKind::CloseBracket, close, close + 1, outside);
        self.pending = Some(Pending {
            header_span: Span::new(at(p), ll.src_end(close + 1)),
            items,
        });
        Ok(close + 1)
    }

    /// A declaration, `final` declaration or `finalize` list starting at `p`; it takes the
    /// rest of the logical line.
    fn statement(&mut self, ll: &LogicalLine, p: usize, out: &mut Vec<LPart>) -> PResult<()> {
        let text = ll.text.as_str();
        let len = text.len();
        let word_end = p + text[p..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let word = &text[p..word_end];
        let keyword = if word.eq_ignore_ascii_case("finalize") {
            Some(Keyword::Finalize)
        } else if word.eq_ignore_ascii_case("final") {
            Some(Keyword::Final)
        } else {
            None
        };
        let after = text[word_end..].chars().next();
        let Some(keyword) =
            keyword.filter(|_| after.is_none_or(|c| is_ws(c) || c == '=' || c == ':'))
        else {
            return self.declaration(ll, p, p, false, out);
        };
        let q = skip_ws(text, word_end, len);
        if q == len || text[q..].starts_with(['=', ':']) {
            // `final=3`, `finalize: x`, a bare `final`: the keyword would be a key.
            let err = PropsError::KeywordAsKey {
                keyword: word.to_string(),
            };
            return Err(Located::new(ll.src_start(p), err));
        }
        match keyword {
            Keyword::Final => {
                let ctx = PropsContext::Declaration {
                    index: self.file.declarations.len(),
                    in_key: false,
                };
                push(out, PartKind::Keyword, p, word_end, ctx);
                push(out, PartKind::Whitespace, word_end, q, ctx);
                self.declaration(ll, q, p, true, out)
            }
            Keyword::Finalize => {
                push(out, PartKind::Keyword, p, word_end, PropsContext::Other);
                push(out, PartKind::Whitespace, word_end, q, PropsContext::Other);
                self.finalize(ll, q, out)
            }
        }
    }

    /// `key=value` from `p` (a non-whitespace character) to the end of the line.
    fn declaration(
        &mut self,
        ll: &LogicalLine,
        p: usize,
        start: usize,
        is_final: bool,
        out: &mut Vec<LPart>,
    ) -> PResult<()> {
        let text = ll.text.as_str();
        let len = text.len();
        let index = self.file.declarations.len();
        let key_ctx = PropsContext::Declaration {
            index,
            in_key: true,
        };
        let rest_ctx = PropsContext::Declaration {
            index,
            in_key: false,
        };
        let sep = find_unescaped(text, p, len, |c| c == '=' || c == ':');
        let key_end_region = sep.unwrap_or(len);
        let (ks, ke) = trim_range(text, p, key_end_region);
        let (ks, ke) = if ks == ke { (p, p) } else { (ks, ke) };
        push(out, PartKind::Key, ks, ke, key_ctx);
        push(out, PartKind::Whitespace, ke, key_end_region, rest_ctx);
        let vs = match sep {
            Some(sep) => {
                let vs = skip_ws(text, sep + 1, len);
                push(out, PartKind::Separator, sep, sep + 1, rest_ctx);
                push(out, PartKind::Whitespace, sep + 1, vs, rest_ctx);
                push(out, PartKind::Value, vs, len, rest_ctx);
                vs
            }
            None => len,
        };
        let key_span = if ks == ke {
            Span::new(ll.src_start(ks), ll.src_start(ks))
        } else {
            Span::new(ll.src_start(ks), ll.src_end(ke))
        };
        let key = decode_at(ll, ks, ke)?;
        if key.eq_ignore_ascii_case("final") || key.eq_ignore_ascii_case("finalize") {
            let err = PropsError::KeywordAsKey { keyword: key };
            return Err(Located::new(key_span.start, err));
        }
        let value_span = if vs == len {
            Span::new(ll.src_end(len), ll.src_end(len))
        } else {
            Span::new(ll.src_start(vs), ll.src_end(len))
        };
        let decoded = decode(text, vs, len).map_err(|(at, e)| Located::new(ll.src_start(at), e))?;
        // Without escapes the value is its logical text; that text is its source bytes
        // as they are unless it spans a continuation line (then each character's source
        // place is listed).
        let contiguous = vs == len || ll.src_end(len) - ll.src_start(vs) == len - vs;
        let origin = match decoded.origin {
            None if contiguous => None,
            logical => Some(
                logical
                    .unwrap_or_else(|| per_character(text, vs, len))
                    .iter()
                    .map(|&(a, b)| (ll.src_start(a), ll.src_end(b)))
                    .collect(),
            ),
        };
        let line = self.line_of(ll.src_start(start));
        let decl = Declaration {
            key,
            key_span,
            value: decoded.text,
            value_span,
            is_final,
            scope: self.stack.last().copied(),
            line,
            origin,
        };
        if decl.key == "includefiles" {
            if self.seen_non_comment {
                return Err(Located::new(
                    key_span.start,
                    PropsError::IncludefilesNotFirst,
                ));
            }
            self.file.includefiles = Some(IncludeFiles {
                declaration: index,
                files: include_list(&decl),
            });
        }
        if let Some(lock) = self.locks.find(&decl.key, &self.stack) {
            let err = PropsError::FinalRedefined {
                key: decl.key.clone(),
                final_line: lock.line,
            };
            return Err(Located::new(key_span.start, err));
        }
        if is_final {
            let lock = Lock {
                chain: self.stack.clone(),
                line,
            };
            self.locks.add(decl.key.clone(), lock);
        }
        self.file.declarations.push(decl);
        Ok(())
    }

    /// The names of `finalize a, b.*` from `p` to the end of the line.
    fn finalize(&mut self, ll: &LogicalLine, p: usize, out: &mut Vec<LPart>) -> PResult<()> {
        let text = ll.text.as_str();
        for (n, (s, e)) in split_unescaped(text, p, text.len(), ',')
            .into_iter()
            .enumerate()
        {
            if n > 0 {
                push(out, PartKind::Comma, s - 1, s, PropsContext::Other);
            }
            let (ns, ne) = trim_range(text, s, e);
            if ns == ne {
                return Err(Located::new(ll.src_start(e), PropsError::EmptyFinalizeName));
            }
            push(out, PartKind::Whitespace, s, ns, PropsContext::Other);
            push(out, PartKind::FinalizeName, ns, ne, PropsContext::Other);
            push(out, PartKind::Whitespace, ne, e, PropsContext::Other);
            let name = decode_at(ll, ns, ne)?;
            let span = Span::new(ll.src_start(ns), ll.src_end(ne));
            let line = self.line_of(span.start);
            let lock = Lock {
                chain: self.stack.clone(),
                line,
            };
            self.locks.add(name.clone(), lock);
            self.file.finalized.push(Finalize {
                name,
                span,
                scope: self.stack.last().copied(),
                line,
            });
        }
        Ok(())
    }
}

fn push(out: &mut Vec<LPart>, kind: PartKind, a: usize, b: usize, ctx: PropsContext) {
    if a < b {
        out.push(LPart { kind, a, b, ctx });
    }
}

/// Decodes `ll.text[a..b]`, reporting a bad escape at its source position.
fn decode_at(ll: &LogicalLine, a: usize, b: usize) -> PResult<String> {
    decode(&ll.text, a, b)
        .map(|d| d.text)
        .map_err(|(at, e)| Located::new(ll.src_start(at), e))
}

/// The ranges between unescaped `sep`s in `text[from..to]` (at least one range).
fn split_unescaped(text: &str, from: usize, to: usize, sep: char) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut s = from;
    while let Some(at) = find_unescaped(text, s, to, |c| c == sep) {
        ranges.push((s, at));
        s = at + sep.len_utf8();
    }
    ranges.push((s, to));
    ranges
}

/// The entries of an `includefiles` value, split at commas and trimmed.
fn include_list(decl: &Declaration) -> Vec<(String, Span)> {
    let mut files = Vec::new();
    let mut s = 0;
    for piece in decl.value.split(',') {
        let lead = piece.len() - piece.trim_start_matches(is_ws).len();
        let name = piece.trim_matches(is_ws);
        if !name.is_empty() {
            let a = s + lead;
            files.push((name.to_string(), decl.raw_span(a..a + name.len())));
        }
        s += piece.len() + 1;
    }
    files
}

/// True when one scope chain is a prefix of the other: a declaration in one then applies
/// wherever the other does.
fn chains_overlap(a: &[ScopeId], b: &[ScopeId]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// `*` matches any run of characters (also none); everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Position of the last `*` and the name index it was tried at (classic backtracking).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
