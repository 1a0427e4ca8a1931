//! Lossless model of the YAML files dh-migrate edits: the data routing file
//! (`routing.yaml`), separately stored DIS configs, and the mapping file.
//!
//! It owns: the exact byte span of every scalar (keys included), comment, anchor and alias;
//! the tree of maps and sequences with each scalar's path; and the resolution of every path
//! a scalar is reachable at through aliases and `<<` merges. Nothing is ever expanded: the
//! rewriter edits the anchor's definition in place, because a host written once in an
//! anchor is used by many entries.
//!
//! saphyr-parser supplies the events and decoded values. Its markers count characters, and
//! its spans may include `&anchor`/`!tag` or run over a trailing comment, so every token is
//! re-lexed from the source ([`lex`]) and checked to decode to the parser's value; a
//! disagreement is an error ([`YamlError::Unlocated`]), never a guess.
//!
//! Supported: block and flow maps and sequences, plain/single/double-quoted scalars
//! (multi-line included), block scalars (`|`, `>`, with indentation and chomping
//! indicators: [`block`]), anchors, aliases, merge keys (`<<: *a`, `<<: [*a, *b]`), tags
//! (kept, not interpreted), comments, CRLF, a BOM, and with [`parse_stream`] several
//! documents in one file (each with its own root and anchors; paths start at each
//! document's root). Refused with a typed error: more than one document where one is
//! expected ([`parse`]: the mapping file, layouts), non-scalar keys, duplicate keys (two
//! empty keys, `: a` and `: b`, are implicit nulls and not compared), aliases inside the
//! node they refer to, merges of anything but aliased maps, and nesting deeper than
//! [`MAX_DEPTH`] ([`parse_with_max_depth`] sets another limit).

mod block;
mod lex;
mod paths;

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScanError};

use crate::text::{Located, Span};

pub use block::decode_block;
pub use lex::decode;
pub use paths::MAX_PATHS;
use paths::{Graph, Parent};

/// Deepest nesting of maps and sequences accepted (keeps every walk of the tree cheap and
/// bounded; real configuration files nest a handful of levels). Every scalar carries its
/// path, so the model costs up to this many path steps per scalar: the limit is what keeps
/// a deep hostile file's model a small multiple of its size.
pub const MAX_DEPTH: usize = 32;

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl From<saphyr_parser::ScalarStyle> for ScalarStyle {
    fn from(s: saphyr_parser::ScalarStyle) -> ScalarStyle {
        match s {
            saphyr_parser::ScalarStyle::Plain => ScalarStyle::Plain,
            saphyr_parser::ScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
            saphyr_parser::ScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
            saphyr_parser::ScalarStyle::Literal => ScalarStyle::Literal,
            saphyr_parser::ScalarStyle::Folded => ScalarStyle::Folded,
        }
    }
}

/// One step of a path: a map key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Where a node sits: `dataImportServers.db_dis.endpoint.host`, `storage[0].dbRoot`.
/// The root's path is empty. Keys are shown as written (a key holding `.` is not escaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathSeg>);

impl Path {
    /// This path extended by one step.
    pub fn child(&self, seg: PathSeg) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }

    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(PathSeg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// True when the path starts with the key `first` (a top-level section).
    pub fn in_section(&self, first: &str) -> bool {
        matches!(self.0.first(), Some(PathSeg::Key(k)) if k == first)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A scalar as written in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The decoded value.
    pub value: String,
    /// The exact token bytes, quotes included; never the anchor, tag or a comment. An
    /// implicit null (`key:` with no value) has an empty span: after its properties if it
    /// has any, else where the parser reports it (right after the key).
    pub span: Span,
    pub style: ScalarStyle,
    pub is_key: bool,
    /// The path of the entry or item; a key's path is the path of the entry it names.
    pub path: Path,
    /// The anchor defined directly on this scalar (index into [`YamlDoc::anchors`]).
    pub anchor: Option<usize>,
    /// For a block scalar: the spaces its content lines are indented by (the span runs
    /// from the `|`/`>` header; [`decode_block`] decodes it with this).
    pub block_indent: Option<usize>,
}

/// An anchor definition `&name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub name: String,
    /// The `&name` token.
    pub span: Span,
    /// The span of the node it is defined on (without the anchor itself).
    pub node_span: Span,
    /// The path of that node.
    pub path: Path,
}

/// An alias `*name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    /// The `*name` token.
    pub span: Span,
    /// Where the alias is used.
    pub path: Path,
    /// True when the alias is (an item of) the value of a `<<` merge key.
    pub merge: bool,
    /// The anchor it refers to (index into [`YamlDoc::anchors`]).
    pub anchor: usize,
}

/// The document tree. Scalars and aliases are indices into [`YamlDoc::scalars`] and
/// [`YamlDoc::aliases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Map {
        span: Span,
        entries: Vec<(Node, Node)>,
    },
    Seq {
        span: Span,
        items: Vec<Node>,
    },
    Scalar(usize),
    Alias(usize),
}

/// What a byte offset falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlContext {
    Scalar(usize),
    Comment,
    AnchorName,
    AliasName,
    Other,
}

/// A node kind, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Map,
    Seq,
    Alias,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Map => "a mapping",
            NodeKind::Seq => "a sequence",
            NodeKind::Alias => "an alias",
        })
    }
}

/// What the YAML syntax error is about, classified from saphyr-parser's diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxProblem {
    UnterminatedQuote,
    InvalidEscape,
    Indentation,
    Tab,
    /// An unbalanced or malformed `{...}` / `[...]`.
    FlowCollection,
    /// A `: ` where no mapping value may start.
    UnexpectedColon,
    /// A block mapping line that is not `key: value`.
    ExpectedKey,
    /// A line in a block sequence that does not start with `-`.
    ExpectedDash,
    /// A `#` comment in the middle of a multi-line plain scalar.
    CommentInScalar,
    Directive,
    Tag,
    /// A `&` or `*` without a name.
    EmptyAnchorName,
    /// A node was expected (e.g. end of input after `key: &a` in flow context).
    MissingNode,
    /// A diagnostic not classified above; the parser's own words.
    Other {
        detail: String,
    },
}

impl SyntaxProblem {
    fn classify(info: &str) -> SyntaxProblem {
        let has = |s: &str| info.contains(s);
        if has("quoted scalar, found unexpected end of stream") {
            SyntaxProblem::UnterminatedQuote
        } else if has("escape") || has("hexadecimal") {
            SyntaxProblem::InvalidEscape
        } else if has("comment intercepting") {
            SyntaxProblem::CommentInScalar
        } else if has("tab") {
            SyntaxProblem::Tab
        } else if has("indentation") {
            SyntaxProblem::Indentation
        } else if has("flow mapping") || has("flow sequence") || has("misplaced bracket") {
            SyntaxProblem::FlowCollection
        } else if has("mapping values are not allowed") {
            SyntaxProblem::UnexpectedColon
        } else if has("block mapping, did not find expected key") {
            SyntaxProblem::ExpectedKey
        } else if has("did not find expected '-'") {
            SyntaxProblem::ExpectedDash
        } else if has("directive") {
            SyntaxProblem::Directive
        } else if has("tag") || has("handle") {
            SyntaxProblem::Tag
        } else if has("anchor or alias") {
            SyntaxProblem::EmptyAnchorName
        } else if has("expected node content") || has("unexpected eof") {
            SyntaxProblem::MissingNode
        } else {
            SyntaxProblem::Other {
                detail: info.to_string(),
            }
        }
    }

    /// Stable short name (used in test expectations and JSON output).
    pub fn code(&self) -> &'static str {
        match self {
            SyntaxProblem::UnterminatedQuote => "unterminated-quote",
            SyntaxProblem::InvalidEscape => "invalid-escape",
            SyntaxProblem::Indentation => "indentation",
            SyntaxProblem::Tab => "tab",
            SyntaxProblem::FlowCollection => "flow-collection",
            SyntaxProblem::UnexpectedColon => "unexpected-colon",
            SyntaxProblem::ExpectedKey => "expected-key",
            SyntaxProblem::ExpectedDash => "expected-dash",
            SyntaxProblem::CommentInScalar => "comment-in-scalar",
            SyntaxProblem::Directive => "directive",
            SyntaxProblem::Tag => "tag",
            SyntaxProblem::EmptyAnchorName => "empty-anchor-name",
            SyntaxProblem::MissingNode => "missing-node",
            SyntaxProblem::Other { .. } => "other",
        }
    }
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::UnterminatedQuote => f.write_str("quoted scalar is not closed"),
            SyntaxProblem::InvalidEscape => f.write_str("invalid escape in double-quoted scalar"),
            SyntaxProblem::Indentation => f.write_str("invalid indentation"),
            SyntaxProblem::Tab => f.write_str("tab where YAML does not allow one"),
            SyntaxProblem::FlowCollection => f.write_str("unbalanced or malformed `{}`/`[]`"),
            SyntaxProblem::UnexpectedColon => f.write_str("mapping value not allowed here"),
            SyntaxProblem::ExpectedKey => f.write_str("expected a `key: value` line"),
            SyntaxProblem::ExpectedDash => f.write_str("expected a `- ` sequence entry"),
            SyntaxProblem::CommentInScalar => {
                f.write_str("comment inside a multi-line plain scalar")
            }
            SyntaxProblem::Directive => f.write_str("malformed `%` directive"),
            SyntaxProblem::Tag => f.write_str("malformed or undeclared tag"),
            SyntaxProblem::EmptyAnchorName => f.write_str("anchor or alias without a name"),
            SyntaxProblem::MissingNode => f.write_str("expected a value"),
            SyntaxProblem::Other { detail } => f.write_str(detail),
        }
    }
}

/// Why a YAML file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("YAML syntax error: {problem}")]
    Syntax { problem: SyntaxProblem },
    #[error("duplicate key `{key}` in one mapping")]
    DuplicateKey { key: String },
    #[error("alias `*{name}` refers to no anchor defined before it")]
    UndefinedAlias { name: String },
    #[error("alias `*{name}` is used inside the node its anchor is defined on")]
    RecursiveAlias { name: String },
    #[error("more than one YAML document in a file that must hold one")]
    MultipleDocuments,
    #[error("a mapping key must be a scalar, found {found}")]
    ComplexKey { found: NodeKind },
    #[error("the value of a `<<` merge key must be an alias of a mapping, or a list of them")]
    BadMerge,
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// The parser's reading of a token could not be matched to the source bytes; editing
    /// such a file in place would be unsafe.
    #[error("cannot locate the exact text of this {token} in the source")]
    Unlocated { token: TokenKind },
}

/// A kind of token, for [`YamlError::Unlocated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Scalar,
    Anchor,
    Alias,
    Collection,
    Text,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::Scalar => "scalar",
            TokenKind::Anchor => "anchor",
            TokenKind::Alias => "alias",
            TokenKind::Collection => "collection",
            TokenKind::Text => "text",
        })
    }
}

impl YamlError {
    /// Stable short name (used in test expectations and JSON output).
    pub fn code(&self) -> String {
        match self {
            YamlError::Syntax { problem } => format!("syntax/{}", problem.code()),
            YamlError::DuplicateKey { .. } => "duplicate-key".into(),
            YamlError::UndefinedAlias { .. } => "undefined-alias".into(),
            YamlError::RecursiveAlias { .. } => "recursive-alias".into(),
            YamlError::MultipleDocuments => "multiple-documents".into(),
            YamlError::ComplexKey { .. } => "complex-key".into(),
            YamlError::BadMerge => "bad-merge".into(),
            YamlError::TooDeep { .. } => "too-deep".into(),
            YamlError::Unlocated { .. } => "unlocated".into(),
        }
    }
}

/// A parsed YAML file. It borrows nothing: methods that need the text take it again.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// One per document that has content, in order.
    roots: Vec<Node>,
    scalars: Vec<Scalar>,
    anchors: Vec<Anchor>,
    aliases: Vec<Alias>,
    comments: Vec<Span>,
    graph: Graph,
    /// Graph node id of each scalar.
    scalar_node: Vec<usize>,
}

impl YamlDoc {
    /// Gives back the spare capacity the parser's growing vectors left.
    pub fn shrink_to_fit(&mut self) {
        self.scalars.shrink_to_fit();
        self.anchors.shrink_to_fit();
        self.aliases.shrink_to_fit();
        self.comments.shrink_to_fit();
        self.scalar_node.shrink_to_fit();
    }

    /// The text rebuilt from its parts: every scalar token and the text between them.
    /// Equals the parsed source; the rewriter builds edits the same way.
    pub fn render(&self, src: &str) -> String {
        let mut out = String::with_capacity(src.len());
        let mut at = 0;
        for s in &self.scalars {
            out.push_str(&src[at..s.span.start]);
            out.push_str(s.span.slice(src));
            at = s.span.end;
        }
        out.push_str(&src[at..]);
        out
    }

    /// The (first) document's root node; `None` for an empty file.
    pub fn root(&self) -> Option<&Node> {
        self.roots.first()
    }

    /// The root of every document that has content, in order ([`parse_stream`]).
    pub fn roots(&self) -> &[Node] {
        &self.roots
    }

    /// Every scalar, map keys included, in source order.
    pub fn scalars(&self) -> &[Scalar] {
        &self.scalars
    }

    /// Every anchor definition in source order.
    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// Every alias in source order.
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    /// Each `# ...` comment's bytes (up to, not including, the line break).
    pub fn comments(&self) -> &[Span] {
        &self.comments
    }

    /// Every path scalar `scalar` is reachable at: its own path first, then each path it
    /// is reached by through aliases and `<<` merges (recursively; a merged key that the
    /// merging map overrides is not reached). At most [`MAX_PATHS`]; empty for an index
    /// out of range.
    pub fn paths_of(&self, scalar: usize) -> Vec<Path> {
        match self.scalar_node.get(scalar) {
            // Most scalars are reached through no alias or merge: their own path is
            // their only one, without building a path for each ancestor.
            Some(&node) if self.graph.single_path.get(node) == Some(&true) => {
                vec![self.scalars[scalar].path.clone()]
            }
            Some(&node) => self.graph.paths(node),
            None => Vec::new(),
        }
    }

    /// Index of the scalar whose (non-empty) span contains byte `offset`.
    pub fn scalar_at(&self, offset: usize) -> Option<usize> {
        let i = self.scalars.partition_point(|s| s.span.end <= offset);
        let s = self.scalars.get(i)?;
        (s.span.start <= offset && offset < s.span.end).then_some(i)
    }

    /// What byte `offset` falls on.
    pub fn context_at(&self, offset: usize) -> YamlContext {
        // Each list is in source order without overlaps: bisect, so that asking for every
        // reference of a file stays linear in the file.
        fn hit<T>(items: &[T], span: impl Fn(&T) -> Span, offset: usize) -> bool {
            let i = items.partition_point(|t| span(t).end <= offset);
            items.get(i).is_some_and(|t| span(t).start <= offset)
        }
        if let Some(i) = self.scalar_at(offset) {
            YamlContext::Scalar(i)
        } else if hit(&self.comments, |c| *c, offset) {
            YamlContext::Comment
        } else if hit(&self.anchors, |a| a.span, offset) {
            YamlContext::AnchorName
        } else if hit(&self.aliases, |a| a.span, offset) {
            YamlContext::AliasName
        } else {
            YamlContext::Other
        }
    }
}

/// Parses one YAML document (an empty file has no root); a second document is a
/// [`YamlError::MultipleDocuments`]. Errors carry the byte offset of the offending token.
pub fn parse(src: &str) -> Result<YamlDoc, Located<YamlError>> {
    Builder::new(src, MAX_DEPTH, false).run()
}

/// Parses a YAML stream: any number of documents (`---`), each with its own root.
pub fn parse_stream(src: &str) -> Result<YamlDoc, Located<YamlError>> {
    parse_with_max_depth(src, MAX_DEPTH)
}

/// [`parse_stream`] with maps and sequences nested at most `max_depth` deep.
pub fn parse_with_max_depth(src: &str, max_depth: usize) -> Result<YamlDoc, Located<YamlError>> {
    Builder::new(src, max_depth, true).run()
}

/// A node of the arena the events are collected into before the public tree is built.
#[derive(Debug, Clone)]
enum Kind {
    Map {
        entries: Vec<(usize, usize)>,
        flow: Option<Span>,
    },
    Seq {
        items: Vec<usize>,
        flow: Option<Span>,
    },
    Scalar(usize),
    Alias(usize),
}

#[derive(Debug, Clone)]
struct ArenaNode {
    kind: Kind,
    span: Span,
    path: Path,
    anchor: Option<usize>,
}

/// An open map or sequence.
#[derive(Debug)]
struct Frame {
    node: usize,
    /// For maps: the key scalar waiting for its value, and whether it is a plain `<<`.
    pending_key: Option<(usize, String, bool)>,
    keys: HashMap<String, usize>,
    /// For a sequence that is the value of `<<`: its items are merge sources.
    merge_list: bool,
    /// For a block map: the column of its keys (where its first key, with any
    /// properties, starts); block scalar indentation indicators count from it.
    key_column: Option<usize>,
}

/// How a new node relates to the open collection.
enum Role {
    Root,
    Key,
    Value { key: String, merge: bool },
    Item { index: usize, merge: bool },
}

struct Builder<'s> {
    src: &'s str,
    offsets: lex::CharOffsets,
    nodes: Vec<ArenaNode>,
    graph: Graph,
    stack: Vec<Frame>,
    scalars: Vec<Scalar>,
    scalar_node: Vec<usize>,
    anchors: Vec<Anchor>,
    anchor_node: Vec<usize>,
    anchor_by_id: HashMap<usize, usize>,
    aliases: Vec<Alias>,
    roots: Vec<usize>,
    documents: usize,
    /// Whether more than one document is accepted.
    stream: bool,
    max_depth: usize,
    /// Byte offsets of every `-` indicator, from the gap lexing (block sequence starts).
    dashes: Vec<usize>,
}

type BuildResult<T> = Result<T, Located<YamlError>>;

fn err<T>(offset: usize, kind: YamlError) -> BuildResult<T> {
    Err(Located::new(offset, kind))
}

/// A scalar whose exact token could not be matched to the parser's value.
fn unlocated_scalar(offset: usize) -> Located<YamlError> {
    Located::new(
        offset,
        YamlError::Unlocated {
            token: TokenKind::Scalar,
        },
    )
}

impl<'s> Builder<'s> {
    fn new(src: &'s str, max_depth: usize, stream: bool) -> Builder<'s> {
        Builder {
            src,
            offsets: lex::CharOffsets::new(src),
            nodes: Vec::new(),
            graph: Graph::default(),
            stack: Vec::new(),
            scalars: Vec::new(),
            scalar_node: Vec::new(),
            anchors: Vec::new(),
            anchor_node: Vec::new(),
            anchor_by_id: HashMap::new(),
            aliases: Vec::new(),
            roots: Vec::new(),
            documents: 0,
            stream,
            max_depth,
            dashes: Vec::new(),
        }
    }

    fn run(mut self) -> BuildResult<YamlDoc> {
        let mut parser = Parser::new_from_str(self.src);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| self.scan_error(&e))?;
            let start = self.offsets.byte(span.start.index());
            let end = self.offsets.byte(span.end.index());
            self.event(event, Span::new(start, end.max(start)))?;
        }
        self.finish()
    }

    fn scan_error(&self, e: &ScanError) -> Located<YamlError> {
        let offset = self.offsets.byte(e.marker().index());
        if e.info().contains("recursion limit") {
            // The parser's own guard against deep flow nesting, met while it scans ahead.
            let limit = self.max_depth;
            return Located::new(offset, YamlError::TooDeep { limit });
        }
        if e.info().contains("unknown anchor") {
            let end = lex::property_end(self.src, offset);
            let name = self.src[offset..end].trim_start_matches('*').to_string();
            return Located::new(offset, YamlError::UndefinedAlias { name });
        }
        let problem = SyntaxProblem::classify(e.info());
        let offset = match problem {
            SyntaxProblem::InvalidEscape => {
                lex::first_bad_escape(self.src, offset).unwrap_or(offset)
            }
            _ => offset,
        };
        Located::new(offset, YamlError::Syntax { problem })
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> BuildResult<()> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 && !self.stream {
                    return err(span.start, YamlError::MultipleDocuments);
                }
                // Anchors are local to their document.
                self.anchor_by_id.clear();
            }
            Event::Scalar(value, style, anchor_id, _tag) => {
                let style = ScalarStyle::from(style);
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    self.block_scalar(value.into_owned(), style, anchor_id, span)?;
                } else {
                    self.scalar(value.into_owned(), style, anchor_id, span)?;
                }
            }
            Event::Alias(id) => self.alias(id, span)?,
            Event::MappingStart(anchor_id, _) | Event::SequenceStart(anchor_id, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                self.open(is_map, anchor_id, span)?;
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(span)?,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Works out the role of a node starting at `at` and rejects non-scalar keys.
    fn role(&self, at: usize, kind: Option<NodeKind>) -> BuildResult<Role> {
        let Some(top) = self.stack.last() else {
            return Ok(Role::Root);
        };
        match &self.nodes[top.node].kind {
            Kind::Map { .. } => match &top.pending_key {
                None => match kind {
                    None => Ok(Role::Key),
                    Some(found) => err(at, YamlError::ComplexKey { found }),
                },
                Some((_, key, merge)) => Ok(Role::Value {
                    key: key.clone(),
                    merge: *merge,
                }),
            },
            Kind::Seq { items, .. } => Ok(Role::Item {
                index: items.len(),
                merge: top.merge_list,
            }),
            Kind::Scalar(_) | Kind::Alias(_) => err(
                at,
                YamlError::Unlocated {
                    token: TokenKind::Collection,
                },
            ),
        }
    }

    /// Adds an arena node for `role`, returning its id.
    fn add_node(&mut self, kind: Kind, span: Span, role: &Role, key_text: Option<&str>) -> usize {
        let parent_frame = self.stack.last().map(|f| f.node);
        let (parent, path) = match (role, parent_frame) {
            (Role::Root, _) | (_, None) => (Parent::Root, Path::default()),
            (Role::Key, Some(map)) => {
                let key = key_text.unwrap_or_default().to_string();
                let path = self.nodes[map].path.child(PathSeg::Key(key.clone()));
                (Parent::Entry { map, key }, path)
            }
            (Role::Value { key, .. }, Some(map)) => (
                Parent::Entry {
                    map,
                    key: key.clone(),
                },
                self.nodes[map].path.child(PathSeg::Key(key.clone())),
            ),
            (Role::Item { index, .. }, Some(seq)) => (
                Parent::Item { seq, index: *index },
                self.nodes[seq].path.child(PathSeg::Index(*index)),
            ),
        };
        let id = self.graph.push_node(parent);
        self.nodes.push(ArenaNode {
            kind,
            span,
            path,
            anchor: None,
        });
        id
    }

    fn define_anchor(&mut self, anchor_id: usize, node: usize) {
        if anchor_id == 0 {
            return;
        }
        let index = self.anchors.len();
        // Name and token span come from the source text once all scalars are located.
        self.anchors.push(Anchor {
            name: String::new(),
            span: Span::default(),
            node_span: Span::default(),
            path: self.nodes[node].path.clone(),
        });
        self.anchor_node.push(node);
        self.anchor_by_id.insert(anchor_id, index);
        self.nodes[node].anchor = Some(index);
    }

    fn scalar(
        &mut self,
        value: String,
        style: ScalarStyle,
        anchor_id: usize,
        span: Span,
    ) -> BuildResult<()> {
        let token = lex::locate_scalar(self.src, span.start, &value, style)
            .ok_or_else(|| unlocated_scalar(span.start))?;
        self.add_scalar(value, style, anchor_id, span.start, token, None)
    }

    /// A block scalar: its token runs from the `|`/`>` header, which the parser's span
    /// (the first content line) does not include.
    fn block_scalar(
        &mut self,
        value: String,
        style: ScalarStyle,
        anchor_id: usize,
        span: Span,
    ) -> BuildResult<()> {
        let unlocated = || unlocated_scalar(span.start);
        let (header, dash) = self.block_header_before(span.start);
        let header = header.ok_or_else(unlocated)?;
        // Indentation indicators count from the enclosing block collection: a map's key
        // column, or the `-` of a sequence item.
        let parent_indent = match self.stack.last() {
            None => -1,
            Some(frame) => match &self.nodes[frame.node].kind {
                Kind::Map { .. } => frame.key_column.map_or(-1, |c| c as isize),
                Kind::Seq { .. } => dash.map_or(-1, |d| self.column(d) as isize),
                _ => -1,
            },
        };
        let block = block::locate(self.src, header, parent_indent)
            .filter(|b| b.value == value)
            .ok_or_else(unlocated)?;
        self.add_scalar(
            value,
            style,
            anchor_id,
            span.start,
            block.span,
            Some(block.indent),
        )
    }

    /// The column (in characters) of byte `offset`.
    fn column(&self, offset: usize) -> usize {
        let line_start = self.src[..offset].rfind(['\n', '\r']).map_or(0, |i| i + 1);
        self.src[line_start..offset].chars().count()
    }

    /// Records a located scalar token.
    fn add_scalar(
        &mut self,
        value: String,
        style: ScalarStyle,
        anchor_id: usize,
        event_start: usize,
        token: Span,
        block_indent: Option<usize>,
    ) -> BuildResult<()> {
        let span = Span::new(event_start, event_start);
        let role = self.role(span.start, None)?;
        if let Some(prev) = self.scalars.last() {
            if token.start < prev.span.end {
                return err(
                    span.start,
                    YamlError::Unlocated {
                        token: TokenKind::Scalar,
                    },
                );
            }
        }
        let index = self.scalars.len();
        let node = self.add_node(Kind::Scalar(index), token, &role, Some(&value));
        self.define_anchor(anchor_id, node);
        let is_key = matches!(role, Role::Key);
        self.scalars.push(Scalar {
            value: value.clone(),
            span: token,
            style,
            is_key,
            // A scalar has no children: its arena node need not keep a copy of the path.
            path: std::mem::take(&mut self.nodes[node].path),
            anchor: self.nodes[node].anchor,
            block_indent,
        });
        self.scalar_node.push(node);
        if is_key {
            let column = self.column(event_start);
            let frame = self.stack.last_mut().ok_or(Located::new(
                token.start,
                YamlError::Unlocated {
                    token: TokenKind::Scalar,
                },
            ))?;
            frame.key_column.get_or_insert(column);
            // An empty plain key is an implicit null, not a string: `: a` and `: b` are
            // not compared (nor with a quoted `""`).
            let implicit_null = style == ScalarStyle::Plain && value.is_empty();
            if !implicit_null {
                if frame.keys.contains_key(&value) {
                    return err(token.start, YamlError::DuplicateKey { key: value });
                }
                frame.keys.insert(value.clone(), node);
            }
            let merge = style == ScalarStyle::Plain && value == "<<";
            frame.pending_key = Some((node, value, merge));
            Ok(())
        } else {
            self.attach(node, &role, token.start)
        }
    }

    /// Where the `|`/`>` header of a block scalar whose parser span starts at `content`
    /// is, and the last `-` before it (the item's dash when the scalar is one).
    fn block_header_before(&self, content: usize) -> (Option<usize>, Option<usize>) {
        let from = self.scalars.last().map_or(0, |s| s.span.end).min(content);
        let mut tokens = Vec::new();
        // Lexing stops at the header's indentation digits or chomping sign (or, for an
        // empty block scalar, at whatever follows); the header has been seen by then.
        let _ = lex::lex_gap(self.src, from, content, &mut tokens);
        let header = tokens
            .iter()
            .rposition(|t| matches!(t, lex::GapToken::BlockHeader(_)));
        let dash = tokens[..header.unwrap_or(tokens.len())]
            .iter()
            .rev()
            .find_map(|t| match t {
                lex::GapToken::Indicator(at, b'-') => Some(*at),
                _ => None,
            });
        match header.map(|h| tokens[h]) {
            Some(lex::GapToken::BlockHeader(at)) => (Some(at), dash),
            _ => {
                // With an anchor or tag the parser's span starts at them, before the
                // header rather than after it.
                let (at, _) = lex::skip_properties(self.src, content);
                let is_header = matches!(self.src.as_bytes().get(at), Some(b'|' | b'>'));
                (is_header.then_some(at), dash)
            }
        }
    }

    fn alias(&mut self, id: usize, span: Span) -> BuildResult<()> {
        let name = self.src[span.range()].trim_start_matches('*').to_string();
        let Some(&anchor) = self.anchor_by_id.get(&id) else {
            return err(span.start, YamlError::UndefinedAlias { name });
        };
        let target = self.anchor_node[anchor];
        if self.stack.iter().any(|f| f.node == target) {
            return err(span.start, YamlError::RecursiveAlias { name });
        }
        let role = self.role(span.start, Some(NodeKind::Alias))?;
        let merge = matches!(
            role,
            Role::Value { merge: true, .. } | Role::Item { merge: true, .. }
        );
        let index = self.aliases.len();
        let node = self.add_node(Kind::Alias(index), span, &role, None);
        if merge {
            if !matches!(self.nodes[target].kind, Kind::Map { .. }) {
                return err(span.start, YamlError::BadMerge);
            }
        } else {
            self.graph.aliased_at[target].push(node);
        }
        self.aliases.push(Alias {
            name,
            span,
            path: self.nodes[node].path.clone(),
            merge,
            anchor,
        });
        self.attach(node, &role, span.start)
    }

    fn open(&mut self, is_map: bool, anchor_id: usize, span: Span) -> BuildResult<()> {
        let kind = if is_map { NodeKind::Map } else { NodeKind::Seq };
        let role = self.role(span.start, Some(kind))?;
        let merge_list = match role {
            Role::Value { merge: true, .. } if !is_map => true,
            Role::Value { merge: true, .. } | Role::Item { merge: true, .. } => {
                return err(span.start, YamlError::BadMerge)
            }
            _ => false,
        };
        if self.stack.len() >= self.max_depth {
            let limit = self.max_depth;
            return err(span.start, YamlError::TooDeep { limit });
        }
        // A flow collection's span starts at its bracket, after any properties.
        let (content, _) = lex::skip_properties(self.src, span.start);
        let bracket = if is_map { b'{' } else { b'[' };
        let flow = (self.src.as_bytes().get(content) == Some(&bracket))
            .then(|| Span::new(content, content + 1));
        let kind = if is_map {
            Kind::Map {
                entries: Vec::new(),
                flow,
            }
        } else {
            Kind::Seq {
                items: Vec::new(),
                flow,
            }
        };
        let node = self.add_node(kind, Span::new(content, content), &role, None);
        self.define_anchor(anchor_id, node);
        self.stack.push(Frame {
            node,
            pending_key: None,
            keys: HashMap::new(),
            merge_list,
            key_column: None,
        });
        Ok(())
    }

    fn close(&mut self, span: Span) -> BuildResult<()> {
        let unlocated = Located::new(
            span.start,
            YamlError::Unlocated {
                token: TokenKind::Collection,
            },
        );
        let frame = self.stack.pop().ok_or(unlocated.clone())?;
        let node = frame.node;
        // A flow collection ends at its closing bracket; a block one at its last child
        // (computed once every span is known).
        let flow_end = match &self.nodes[node].kind {
            Kind::Map {
                flow: Some(open), ..
            }
            | Kind::Seq {
                flow: Some(open), ..
            } => {
                let close = if matches!(self.nodes[node].kind, Kind::Map { .. }) {
                    b'}'
                } else {
                    b']'
                };
                // The parser's end event may start at a trailing `,` and run over comments.
                let at = lex::skip_to_flow_close(self.src, span.start);
                if self.src.as_bytes().get(at) != Some(&close) {
                    return Err(unlocated);
                }
                Some(Span::new(open.start, at + 1))
            }
            _ => None,
        };
        if let Some(s) = flow_end {
            self.nodes[node].span = s;
        }
        let role = if self.stack.is_empty() {
            Role::Root
        } else {
            self.role_of_closed(node)
        };
        self.attach(node, &role, span.start)
    }

    /// The role a just-closed collection played in its parent (recorded at open time in
    /// the graph).
    fn role_of_closed(&self, node: usize) -> Role {
        match &self.graph.parent[node] {
            Parent::Root => Role::Root,
            Parent::Entry { key, .. } => Role::Value {
                key: key.clone(),
                merge: false,
            },
            Parent::Item { index, .. } => Role::Item {
                index: *index,
                merge: false,
            },
        }
    }

    /// Records a finished value node in its parent.
    fn attach(&mut self, node: usize, role: &Role, at: usize) -> BuildResult<()> {
        let Some(frame) = self.stack.last_mut() else {
            self.roots.push(node);
            return Ok(());
        };
        let parent = frame.node;
        match role {
            Role::Root | Role::Key => Ok(()),
            Role::Value { key, .. } => {
                let Some((key_node, _, is_merge)) = frame.pending_key.take() else {
                    return err(
                        at,
                        YamlError::Unlocated {
                            token: TokenKind::Collection,
                        },
                    );
                };
                if is_merge {
                    self.record_merge(parent, node, at)?;
                } else {
                    self.graph.explicit_keys[parent].insert(key.clone());
                }
                if let Kind::Map { entries, .. } = &mut self.nodes[parent].kind {
                    entries.push((key_node, node));
                }
                Ok(())
            }
            Role::Item { .. } => {
                if let Kind::Seq { items, .. } = &mut self.nodes[parent].kind {
                    items.push(node);
                }
                Ok(())
            }
        }
    }

    /// `map` has `<<: value`; the value is an alias or a list of aliases of maps (each
    /// alias was checked when it was read).
    fn record_merge(&mut self, map: usize, value: usize, at: usize) -> BuildResult<()> {
        let sources: Vec<usize> = match &self.nodes[value].kind {
            Kind::Alias(a) => vec![*a],
            Kind::Seq { items, .. } => {
                let mut v = Vec::new();
                for &item in items {
                    match self.nodes[item].kind {
                        Kind::Alias(a) => v.push(a),
                        _ => return err(self.nodes[item].span.start, YamlError::BadMerge),
                    }
                }
                v
            }
            _ => return err(at, YamlError::BadMerge),
        };
        for a in sources {
            let target = self.anchor_node[self.aliases[a].anchor];
            self.graph.merges[map].push(target);
            self.graph.merged_by[target].push(map);
        }
        Ok(())
    }

    fn finish(mut self) -> BuildResult<YamlDoc> {
        let comments = self.lex_gaps()?;
        self.block_spans();
        for (anchor, &node) in self.anchors.iter_mut().zip(&self.anchor_node) {
            anchor.node_span = self.nodes[node].span;
        }
        self.graph.mark_single_paths();
        let roots = self.roots.iter().map(|&r| self.public_node(r)).collect();
        Ok(YamlDoc {
            roots,
            scalars: self.scalars,
            anchors: self.anchors,
            aliases: self.aliases,
            comments,
            graph: self.graph,
            scalar_node: self.scalar_node,
        })
    }

    /// Lexes the text between scalars: collects comments, names the anchors, checks the
    /// aliases, and proves that nothing but YAML punctuation lies outside the scalars.
    fn lex_gaps(&mut self) -> BuildResult<Vec<Span>> {
        let mut tokens = Vec::new();
        let mut at = 0;
        let bounds: Vec<Span> = self.scalars.iter().map(|s| s.span).collect();
        let gap = |from: usize, to: usize, tokens: &mut Vec<lex::GapToken>| {
            lex::lex_gap(self.src, from, to, tokens).map_err(|offset| {
                Located::new(
                    offset,
                    YamlError::Unlocated {
                        token: TokenKind::Text,
                    },
                )
            })
        };
        for s in bounds {
            gap(at, s.start, &mut tokens)?;
            at = s.end;
        }
        gap(at, self.src.len(), &mut tokens)?;

        let mut comments = Vec::new();
        let mut anchors = self.anchors.iter_mut();
        let mut aliases = self.aliases.iter();
        self.dashes.clear();
        for t in tokens {
            match t {
                lex::GapToken::Comment(s) => comments.push(s),
                lex::GapToken::Anchor(s) => {
                    let Some(anchor) = anchors.next() else {
                        return err(
                            s.start,
                            YamlError::Unlocated {
                                token: TokenKind::Anchor,
                            },
                        );
                    };
                    anchor.span = s;
                    anchor.name = self.src[s.start + 1..s.end].to_string();
                }
                lex::GapToken::Alias(s) => {
                    if aliases.next().map(|a| a.span) != Some(s) {
                        return err(
                            s.start,
                            YamlError::Unlocated {
                                token: TokenKind::Alias,
                            },
                        );
                    }
                }
                lex::GapToken::Indicator(at, b'-') => self.dashes.push(at),
                // Every block scalar's token starts at its header: one found between
                // scalars means a span is wrong.
                lex::GapToken::BlockHeader(at) => {
                    return err(
                        at,
                        YamlError::Unlocated {
                            token: TokenKind::Scalar,
                        },
                    )
                }
                lex::GapToken::Indicator(..) | lex::GapToken::Tag(_) => {}
            }
        }
        if anchors.next().is_some() || aliases.next().is_some() {
            return err(
                self.src.len(),
                YamlError::Unlocated {
                    token: TokenKind::Anchor,
                },
            );
        }
        // Every alias must name the anchor it resolved to.
        for alias in &self.aliases {
            if self.anchors[alias.anchor].name != alias.name {
                return err(
                    alias.span.start,
                    YamlError::Unlocated {
                        token: TokenKind::Alias,
                    },
                );
            }
        }
        Ok(comments)
    }

    /// Spans of block collections: a block map runs from its first key to the end of its
    /// last value; a block sequence from its first `-` to the end of its last item.
    /// Children have larger ids than their parents, so one reverse pass suffices.
    fn block_spans(&mut self) {
        for id in (0..self.nodes.len()).rev() {
            let (children, is_seq): (Vec<usize>, bool) = match &self.nodes[id].kind {
                Kind::Map {
                    entries,
                    flow: None,
                } => (entries.iter().flat_map(|&(k, v)| [k, v]).collect(), false),
                Kind::Seq { items, flow: None } => (items.clone(), true),
                _ => continue,
            };
            let Some(&first) = children.first() else {
                continue;
            };
            let mut start = self.nodes[first].span.start;
            if is_seq {
                let i = self.dashes.partition_point(|&d| d < start);
                if let Some(&dash) = i.checked_sub(1).and_then(|i| self.dashes.get(i)) {
                    start = dash;
                }
            }
            let end = children
                .iter()
                .map(|&c| self.nodes[c].span.end)
                .max()
                .unwrap_or(start)
                .max(start);
            self.nodes[id].span = Span::new(start, end);
        }
    }

    fn public_node(&self, id: usize) -> Node {
        let n = &self.nodes[id];
        match &n.kind {
            Kind::Map { entries, .. } => Node::Map {
                span: n.span,
                entries: entries
                    .iter()
                    .map(|&(k, v)| (self.public_node(k), self.public_node(v)))
                    .collect(),
            },
            Kind::Seq { items, .. } => Node::Seq {
                span: n.span,
                items: items.iter().map(|&i| self.public_node(i)).collect(),
            },
            Kind::Scalar(i) => Node::Scalar(*i),
            Kind::Alias(i) => Node::Alias(*i),
        }
    }
}

#[cfg(test)]
mod tests;
