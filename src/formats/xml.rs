//! Lossless model of the XML files a bundle holds: tailer configurations, table schemas
//! (`.schema`), persistent-query definitions and ACL exports.
//!
//! Host names can sit in any attribute value, text node or comment, so the model keeps the
//! exact byte span of every element name, attribute name, attribute value (the raw bytes
//! between the quotes), text run, CDATA section and comment, next to the decoded value.
//! A rewrite edits those spans and leaves every other byte alone.
//!
//! Tokenising is quick-xml's (str-based reader, byte positions); this module adds what the
//! reader leaves to its caller: element nesting and end-tag matching, the single-root rule,
//! attribute and entity decoding with exact spans, and name checks. Deliberate choices:
//! - A DOCTYPE is kept as an opaque part; entities it declares are not expanded, so a
//!   reference to one is a [`XmlError::UnexpandedEntity`] (an undeclared one is a
//!   [`XmlError::BadEntity`]).
//! - Well-formedness errors in the document itself are refused (XML 1.0, 5th edition):
//!   characters outside `Char` (NUL, form feed, ...), a malformed XML declaration, `]]>`
//!   in text, attributes without white space between them, a processing instruction
//!   named `xml` in any case, and a UTF-8 byte-order mark with a declared encoding
//!   other than UTF-8 (the text handed in is the file read as UTF-8).
//! - Elements nest at most [`MAX_DEPTH`] deep ([`parse_with_max_depth`] sets another
//!   limit): a deeper start tag is a [`XmlError::TooDeep`]. The walk is iterative (a
//!   stack of open elements), and an element's path is computed when asked for, never
//!   stored, so memory stays linear in the file at any depth.
//! - Values are decoded (`&amp;`, `&#65;`, ...) but not normalised: a CRLF or tab stays in
//!   the value as written, so a value and its raw span differ only by escapes.
//! - A leading byte-order mark is kept as its own part.

use crate::text::{Located, Span};
use quick_xml::errors::{Error as QxError, IllFormedError, SyntaxError};
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use std::fmt;
use std::ops::Range;

/// A parsed XML document: its parts in order plus indexes of elements, texts and comments.
#[derive(Debug, Clone)]
pub struct XmlDoc {
    parts: Vec<Part>,
    elements: Vec<Element>,
    texts: Vec<Text>,
    comments: Vec<Span>,
}

/// One contiguous piece of the source; the parts of a document cover it end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub kind: PartKind,
    pub span: Span,
}

/// What a [`Part`] is. Indexes point into [`XmlDoc::elements`], [`XmlDoc::texts`] and
/// [`XmlDoc::comments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    ByteOrderMark,
    /// `<?xml ...?>`
    Declaration,
    /// `<!DOCTYPE ...>`, kept as written.
    Doctype,
    /// `<?target ...?>`
    ProcessingInstruction,
    /// `<!--...-->`; the index is into [`XmlDoc::comments`].
    Comment(usize),
    /// `<name ...>`
    StartTag(usize),
    /// `<name .../>`
    EmptyTag(usize),
    /// `</name>`
    EndTag(usize),
    /// A text run (with its entity references) or a CDATA section.
    Text(usize),
}

/// An element, identified by its start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub name_span: Span,
    /// The start tag, `<` to `>` (or `/>`).
    pub span: Span,
    /// The end tag, `</` to `>`; `None` for a self-closing tag.
    pub end_span: Option<Span>,
    pub self_closing: bool,
    pub parent: Option<usize>,
    pub attrs: Vec<Attr>,
}

/// An attribute of a start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub name_span: Span,
    /// The decoded value (entity and character references replaced).
    pub value: String,
    /// The raw bytes between the quotes.
    pub value_span: Span,
    /// `'` or `"`.
    pub quote: char,
    /// Where the raw value holds references, and what each decodes to.
    pub escapes: Vec<Escape>,
}

/// A text run or CDATA section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The innermost open element; `None` for whitespace outside the root.
    pub element: Option<usize>,
    /// The decoded text (CDATA content as written).
    pub value: String,
    /// The raw text; for CDATA the content between `<![CDATA[` and `]]>`.
    pub span: Span,
    pub cdata: bool,
    pub escapes: Vec<Escape>,
}

/// One entity or character reference inside a raw value: its raw bytes (`&amp;`) and the
/// byte range of what it decodes to in the decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escape {
    pub raw: Span,
    pub value: Range<usize>,
}

/// What lies at a byte offset of the source, for reporting where a reference was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlContext {
    AttrValue { element: usize, attr: usize },
    AttrName { element: usize, attr: usize },
    Text { element: Option<usize> },
    Comment,
    TagName { element: usize },
    Other,
}

/// A syntax error; the [`Located`] offset says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("end tag </{found}> does not match the open element <{expected}>")]
    MismatchedEndTag { expected: String, found: String },
    #[error("element <{name}> is not closed before the end of the input")]
    UnclosedElement { name: String },
    #[error("end tag </{name}> has no open element to close")]
    UnexpectedEndTag { name: String },
    #[error("malformed attribute in <{element}>: {problem}")]
    MalformedAttribute {
        element: String,
        problem: AttrProblem,
    },
    #[error("attribute {name} appears twice in <{element}>")]
    DuplicateAttribute { element: String, name: String },
    #[error("unknown entity or invalid character reference &{entity};")]
    BadEntity { entity: String },
    #[error("entity &{entity}; is declared in the DTD, and an entity declared in the DTD is not expanded (write its text instead)")]
    UnexpandedEntity { entity: String },
    #[error("character U+{code:04X} is not allowed in XML")]
    IllegalCharacter { code: u32 },
    #[error("`]]>` is not allowed in text (write `]]&gt;`)")]
    CdataEndInText,
    #[error("expected white space before attribute {name} in <{element}>")]
    NoSpaceBetweenAttributes { element: String, name: String },
    #[error("processing instruction target {target:?} is reserved: `xml` in any case may only open the XML declaration (`<?xml`, lower case, first in the file)")]
    ReservedPiTarget { target: String },
    #[error("the XML declaration is malformed: {problem}")]
    MalformedDeclaration { problem: &'static str },
    #[error("the XML declaration names encoding {declared:?}, but the file starts with a UTF-8 byte-order mark")]
    EncodingContradictsBom { declared: String },
    #[error("elements nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("`&` starts no reference ending in `;` (write &amp; for a literal &)")]
    UnterminatedEntity,
    #[error("text before the root element")]
    TextBeforeRoot,
    #[error("text after the root element")]
    TextAfterRoot,
    #[error("element <{name}> after the root element (a document has one root)")]
    ElementAfterRoot { name: String },
    #[error("no root element")]
    NoRootElement,
    #[error("invalid XML name {name:?}")]
    InvalidName { name: String },
    #[error("{markup} is not closed before the end of the input")]
    Unclosed { markup: Markup },
    #[error("unknown markup after `<!` (expected a comment, CDATA section or DOCTYPE)")]
    UnknownMarkup,
    #[error("`--` inside a comment")]
    DoubleHyphenInComment,
    #[error("the XML declaration must be the first thing in the file")]
    MisplacedDeclaration,
    #[error("the XML declaration needs version=\"1.0\" or \"1.1\" first")]
    InvalidDeclaration,
    #[error("the DOCTYPE must come once, before the root element")]
    MisplacedDoctype,
    #[error("DOCTYPE without a document type name")]
    DoctypeWithoutName,
    /// Failures the reader can only report for byte input; kept typed for completeness.
    #[error("the XML reader failed ({0})")]
    Reader(ReaderFailure),
}

/// What is wrong with an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrProblem {
    MissingEquals,
    MissingValue,
    UnquotedValue,
    UnclosedQuote { quote: char },
    LessThanInValue,
}

impl fmt::Display for AttrProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrProblem::MissingEquals => write!(f, "expected `=` after the attribute name"),
            AttrProblem::MissingValue => write!(f, "expected a quoted value after `=`"),
            AttrProblem::UnquotedValue => write!(f, "the value must be in quotes"),
            AttrProblem::UnclosedQuote { quote } => {
                write!(f, "the value's closing {quote} is missing")
            }
            AttrProblem::LessThanInValue => write!(f, "`<` in a value must be written &lt;"),
        }
    }
}

/// Markup that can be left open at the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    Tag,
    AttributeValue { quote: char },
    Comment,
    CData,
    ProcessingInstruction,
    Declaration,
    Doctype,
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Markup::Tag => write!(f, "tag"),
            Markup::AttributeValue { quote } => write!(f, "attribute value opened with {quote}"),
            Markup::Comment => write!(f, "comment"),
            Markup::CData => write!(f, "CDATA section"),
            Markup::ProcessingInstruction => write!(f, "processing instruction"),
            Markup::Declaration => write!(f, "XML declaration"),
            Markup::Doctype => write!(f, "DOCTYPE"),
        }
    }
}

/// Reader failures that cannot happen on `&str` input with the events this module reads
/// (I/O, decoding, namespaces, attribute errors outside an attribute iterator, attribute
/// slices not borrowed from their tag). Typed so that a future reader change shows up as
/// an error, never as a panic or a wrong span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderFailure {
    Io,
    Encoding,
    Escape,
    Namespace,
    Attribute,
    DetachedAttribute,
}

impl fmt::Display for ReaderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderFailure::Io => write!(f, "I/O"),
            ReaderFailure::Encoding => write!(f, "encoding"),
            ReaderFailure::Escape => write!(f, "escape"),
            ReaderFailure::Namespace => write!(f, "namespace"),
            ReaderFailure::Attribute => write!(f, "attribute"),
            ReaderFailure::DetachedAttribute => write!(f, "attribute outside its tag"),
        }
    }
}

const BOM: &str = "\u{feff}";

/// An XML file's model, built when first asked for. A tree of thousands of schemas only
/// needs to know that each one parses (checked when it is read) and the model of the few
/// whose text holds a host name, an entity or a secret; keeping every model for the whole
/// run cost most of a large migration's memory, and the page faults that came with it.
#[derive(Debug, Clone, Default)]
pub struct LazyDoc(std::sync::OnceLock<XmlDoc>);

impl LazyDoc {
    /// A model for `src` that was checked to parse (see [`check`]).
    pub fn checked() -> LazyDoc {
        LazyDoc::default()
    }

    /// The model of `src`, the text that was checked (parsing is deterministic, so the
    /// second parse gives what the first did).
    pub fn get(&self, src: &str) -> &XmlDoc {
        self.0.get_or_init(|| match parse(src) {
            Ok(doc) => doc,
            // Only reachable if the text changed since it was checked: a bug.
            Err(e) => panic!("XML that parsed once failed the second time: {e:?}"),
        })
    }
}

/// Checks that `src` parses as [`parse`] does, keeping nothing: the same walk with every
/// check, building no model (no names, values or spans are stored), so a file is accepted
/// or refused, with the same error at the same place, exactly as by [`parse`].
pub fn check(src: &str) -> Result<LazyDoc, Located<XmlError>> {
    check_with_max_depth(src, MAX_DEPTH).map(|()| LazyDoc::checked())
}

/// [`check`] with another nesting limit.
pub fn check_with_max_depth(src: &str, max_depth: usize) -> Result<(), Located<XmlError>> {
    check_characters(src)?;
    Builder::<false>::new(src, max_depth).run().map(|_| ())
}

/// Deepest nesting of elements [`parse`] accepts.
pub const MAX_DEPTH: usize = 32;

/// Parses an XML document, keeping the span of everything it recognises.
pub fn parse(src: &str) -> Result<XmlDoc, Located<XmlError>> {
    parse_with_max_depth(src, MAX_DEPTH)
}

/// Parses an XML document whose elements nest at most `max_depth` deep.
pub fn parse_with_max_depth(src: &str, max_depth: usize) -> Result<XmlDoc, Located<XmlError>> {
    check_characters(src)?;
    Builder::<true>::new(src, max_depth).run()
}

/// Refuses the first character outside XML 1.0's `Char`.
fn check_characters(src: &str) -> Result<(), Located<XmlError>> {
    // Most configuration is ASCII: its bytes are checked without decoding characters, up
    // to the first control or non-ASCII byte; characters are decoded only from there.
    let first = first_not_plain_ascii(src.as_bytes());
    let illegal = first.and_then(|from| {
        src[from..]
            .char_indices()
            .find(|&(_, c)| !is_xml_char(c))
            .map(|(at, c)| (from + at, c))
    });
    if let Some((at, c)) = illegal {
        let code = c as u32;
        return Err(Located::new(at, XmlError::IllegalCharacter { code }));
    }
    Ok(())
}

/// The first byte that is a control character (other than tab, line feed, carriage
/// return) or not ASCII. Looked at 32 bytes at a time without stopping inside a block (a
/// loop the compiler turns into vector instructions), then byte by byte in the block that
/// has one.
fn first_not_plain_ascii(bytes: &[u8]) -> Option<usize> {
    // Outside 0x20..=0x7f and not one of the three: no branches, so it vectorizes.
    let odd = |b: u8| (b.wrapping_sub(0x20) >= 0x60) & (b != b'\t') & (b != b'\n') & (b != b'\r');
    let mut blocks = bytes.chunks_exact(32);
    let mut base = 0;
    for block in &mut blocks {
        if block.iter().fold(0u8, |any, &b| any | u8::from(odd(b))) != 0 {
            return block.iter().position(|&b| odd(b)).map(|i| base + i);
        }
        base += 32;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| odd(b))
        .map(|i| base + i)
}

impl XmlDoc {
    /// Gives back the spare capacity the parser's growing vectors and strings left.
    pub fn shrink_to_fit(&mut self) {
        self.parts.shrink_to_fit();
        self.elements.shrink_to_fit();
        for e in &mut self.elements {
            e.attrs.shrink_to_fit();
        }
        self.texts.shrink_to_fit();
        for t in &mut self.texts {
            t.value.shrink_to_fit();
        }
        self.comments.shrink_to_fit();
    }

    /// The source rebuilt from the model: element and attribute names and escape-free values
    /// come from the model, everything else from the spans. Equals `src` for the text the
    /// document was parsed from.
    pub fn render(&self, src: &str) -> String {
        let mut out = String::with_capacity(src.len());
        for part in &self.parts {
            match part.kind {
                PartKind::StartTag(i) | PartKind::EmptyTag(i) => {
                    render_start_tag(&self.elements[i], part.span, src, &mut out)
                }
                PartKind::EndTag(i) => {
                    let el = &self.elements[i];
                    out.push_str("</");
                    out.push_str(&el.name);
                    out.push_str(&src[part.span.start + 2 + el.name.len()..part.span.end]);
                }
                PartKind::Text(i) => {
                    let text = &self.texts[i];
                    let body = if text.escapes.is_empty() {
                        text.value.as_str()
                    } else {
                        text.span.slice(src)
                    };
                    if text.cdata {
                        out.push_str("<![CDATA[");
                        out.push_str(body);
                        out.push_str("]]>");
                    } else {
                        out.push_str(body);
                    }
                }
                PartKind::Comment(i) => {
                    out.push_str("<!--");
                    out.push_str(self.comments[i].slice(src));
                    out.push_str("-->");
                }
                PartKind::ByteOrderMark
                | PartKind::Declaration
                | PartKind::Doctype
                | PartKind::ProcessingInstruction => out.push_str(part.span.slice(src)),
            }
        }
        out
    }

    /// The document's parts in source order; their spans cover the source end to end.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Elements in document order (the order of their start tags); index 0 is the root.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// Text runs and CDATA sections in document order, whitespace-only ones included.
    pub fn texts(&self) -> &[Text] {
        &self.texts
    }

    /// Comment contents (between `<!--` and `-->`) in document order.
    pub fn comments(&self) -> &[Span] {
        &self.comments
    }

    /// Names from the root down to element `element` joined by `/`, e.g.
    /// `Processes/Process/Log` (empty for an index out of range). Computed on demand: a
    /// stored path per element would cost memory quadratic in the nesting depth.
    pub fn path(&self, element: usize) -> String {
        let mut names = Vec::new();
        let mut cur = self.elements.get(element);
        while let Some(el) = cur {
            names.push(el.name.as_str());
            cur = el.parent.and_then(|p| self.elements.get(p));
        }
        names.reverse();
        names.join("/")
    }

    /// What the byte at `offset` belongs to. Delimiters (`<`, quotes, `<!--`) are `Other`.
    pub fn context_at(&self, offset: usize) -> XmlContext {
        let idx = self.parts.partition_point(|p| p.span.start <= offset);
        let Some(part) = idx.checked_sub(1).map(|i| self.parts[i]) else {
            return XmlContext::Other;
        };
        if offset >= part.span.end {
            return XmlContext::Other;
        }
        let inside = |s: Span| s.start <= offset && offset < s.end;
        match part.kind {
            PartKind::StartTag(element) | PartKind::EmptyTag(element) => {
                let el = &self.elements[element];
                if inside(el.name_span) {
                    return XmlContext::TagName { element };
                }
                // Attributes are in source order: bisect (a tag may hold thousands).
                let attr = el.attrs.partition_point(|a| a.value_span.end <= offset);
                match el.attrs.get(attr) {
                    Some(a) if inside(a.name_span) => XmlContext::AttrName { element, attr },
                    Some(a) if inside(a.value_span) => XmlContext::AttrValue { element, attr },
                    _ => XmlContext::Other,
                }
            }
            PartKind::EndTag(element) => {
                let start = part.span.start + 2;
                let name = Span::new(start, start + self.elements[element].name.len());
                if inside(name) {
                    XmlContext::TagName { element }
                } else {
                    XmlContext::Other
                }
            }
            PartKind::Text(i) if inside(self.texts[i].span) => XmlContext::Text {
                element: self.texts[i].element,
            },
            PartKind::Comment(i) if inside(self.comments[i]) => XmlContext::Comment,
            _ => XmlContext::Other,
        }
    }
}

impl Attr {
    /// The raw span holding the decoded bytes `value_range` of [`Attr::value`]; `None` when
    /// the range cuts through a reference.
    pub fn raw_span_of(&self, value_range: Range<usize>) -> Option<Span> {
        raw_span_of(self.value_span, &self.escapes, value_range)
    }
}

impl Text {
    /// The raw span holding the decoded bytes `value_range` of [`Text::value`]; `None` when
    /// the range cuts through a reference.
    pub fn raw_span_of(&self, value_range: Range<usize>) -> Option<Span> {
        raw_span_of(self.span, &self.escapes, value_range)
    }
}

fn raw_span_of(raw: Span, escapes: &[Escape], value: Range<usize>) -> Option<Span> {
    // A decoded position maps to raw by adding what every earlier reference grew by; a
    // position strictly inside a reference's decoded text has no raw equivalent. The
    // references are in order, so the last one before `pos` is found by bisection and
    // the growth up to it read off its two ends (a value with thousands of references
    // and thousands of hosts stays linear to scan).
    let map = |pos: usize| -> Option<usize> {
        let i = escapes.partition_point(|e| e.value.end <= pos);
        if escapes
            .get(i)
            .is_some_and(|e| e.value.start < pos && pos < e.value.end)
        {
            return None;
        }
        let shift = match i.checked_sub(1).map(|j| &escapes[j]) {
            Some(e) => (e.raw.end - raw.start) - e.value.end,
            None => 0,
        };
        Some(raw.start + pos + shift)
    };
    if value.start > value.end {
        return None;
    }
    let span = Span::new(map(value.start)?, map(value.end)?);
    raw.contains_span(span).then_some(span)
}

fn render_start_tag(el: &Element, span: Span, src: &str, out: &mut String) {
    out.push('<');
    out.push_str(&el.name);
    let mut cursor = el.name_span.end;
    for a in &el.attrs {
        out.push_str(&src[cursor..a.name_span.start]);
        out.push_str(&a.name);
        out.push_str(&src[a.name_span.end..a.value_span.start]);
        if a.escapes.is_empty() {
            out.push_str(&a.value);
        } else {
            out.push_str(a.value_span.slice(src));
        }
        out.push(a.quote);
        cursor = a.value_span.end + 1;
    }
    out.push_str(&src[cursor..span.end]);
}

/// Escapes text for an attribute value in either quote style: `& < > " '` as entities and
/// tab, LF and CR as character references (a parser would turn them into spaces).
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            _ => push_escaped(&mut out, c),
        }
    }
    out
}

/// Escapes text for a text node: `& < > " '` as entities.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        _ => out.push(c),
    }
}

/// Decodes the body of a reference (`amp`, `#65`, `#x41`); `None` when it is not one of
/// the five predefined entities or a character reference to a legal XML character.
fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let (digits, radix) = if let Some(hex) = name.strip_prefix("#x") {
                (hex, 16)
            } else {
                (name.strip_prefix('#')?, 10)
            };
            // from_str_radix accepts a sign; a reference does not.
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            let code = u32::from_str_radix(digits, radix).ok()?;
            char::from_u32(code).filter(|c| is_xml_char(*c))
        }
    }
}

/// XML 1.0 `Char`: what a character reference may name.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// For each ASCII byte: 2 when it may start a `Name`, 1 when it may only follow, 0 when
/// neither (the ASCII part of [`is_name_start_char`] and [`is_name_char`]).
const ASCII_NAME: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c == b':' || c == b'_' || c.is_ascii_alphabetic() {
            2
        } else if c == b'-' || c == b'.' || c.is_ascii_digit() {
            1
        } else {
            0
        };
        b += 1;
    }
    t
};

/// XML 1.0 `Name`.
fn is_xml_name(name: &str) -> bool {
    // Names in configuration are ASCII: checked byte by byte (a table), without decoding.
    if name.is_ascii() {
        let b = name.as_bytes();
        return b.first().is_some_and(|&c| ASCII_NAME[usize::from(c)] == 2)
            && b.iter().all(|&c| ASCII_NAME[usize::from(c)] != 0);
    }
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Decodes a raw attribute value that starts at byte `base` of the source (with `MODEL`
/// false, only checks its references and returns nothing).
fn decode_attr_value<const MODEL: bool>(
    raw: &str,
    base: usize,
    declared: &[String],
) -> Result<(String, Vec<Escape>), Located<XmlError>> {
    let mut value = String::with_capacity(if MODEL { raw.len() } else { 0 });
    let mut escapes = Vec::new();
    let mut rest = 0;
    while let Some(rel) = raw[rest..].find('&') {
        let amp = rest + rel;
        if MODEL {
            value.push_str(&raw[rest..amp]);
        }
        let Some(semi) = raw[amp..].find(';').map(|i| amp + i) else {
            return Err(Located::new(base + amp, XmlError::UnterminatedEntity));
        };
        let name = &raw[amp + 1..semi];
        let Some(c) = resolve_reference(name) else {
            let entity = name.to_string();
            let kind = if declared.iter().any(|d| d == name) {
                XmlError::UnexpandedEntity { entity }
            } else {
                XmlError::BadEntity { entity }
            };
            return Err(Located::new(base + amp, kind));
        };
        if MODEL {
            let at = value.len();
            value.push(c);
            escapes.push(Escape {
                raw: Span::new(base + amp, base + semi + 1),
                value: at..value.len(),
            });
        }
        rest = semi + 1;
    }
    if MODEL {
        value.push_str(&raw[rest..]);
    }
    Ok((value, escapes))
}

/// Where `]]>` starts in `text`: a search for `]` (most text runs are the white space
/// between tags, where building a substring searcher cost more than the search).
fn find_cdata_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b']') {
        let at = from + i;
        if b[at..].starts_with(b"]]>") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The byte offset of `part` inside `outer`, when `part` is a slice of it.
fn offset_within(outer: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + part.len() <= outer.len()).then_some(start)
}

/// A text run being collected: quick-xml reports entity references as separate events,
/// and the model keeps a run of text and references as one [`Text`].
struct PendingText {
    span: Span,
    value: String,
    escapes: Vec<Escape>,
}

/// An element whose end tag has not been read yet.
struct OpenElement<'s> {
    /// Its index in the model's elements (counted also when no model is built).
    index: usize,
    name: &'s str,
    /// Where its start tag begins.
    start: usize,
}

/// The walk over a document. With `MODEL`, it builds the [`XmlDoc`]; without, it makes
/// every check and stores nothing (see [`check`]): the two differ only in what they keep.
struct Builder<'s, const MODEL: bool> {
    src: &'s str,
    max_depth: usize,
    /// General entities the DOCTYPE's internal subset declares (never expanded).
    declared_entities: Vec<String>,
    /// Where the reader's input starts in `src` (after a byte-order mark).
    base: usize,
    doc: XmlDoc,
    /// Elements seen so far (the model's count when one is built).
    elements: usize,
    open: Vec<OpenElement<'s>>,
    root_done: bool,
    doctype_seen: bool,
    pending: Option<PendingText>,
}

impl<'s, const MODEL: bool> Builder<'s, MODEL> {
    fn new(src: &'s str, max_depth: usize) -> Builder<'s, MODEL> {
        Builder {
            src,
            max_depth,
            declared_entities: Vec::new(),
            base: 0,
            doc: XmlDoc {
                parts: Vec::new(),
                elements: Vec::new(),
                texts: Vec::new(),
                comments: Vec::new(),
            },
            elements: 0,
            open: Vec::new(),
            root_done: false,
            doctype_seen: false,
            pending: None,
        }
    }

    fn run(mut self) -> Result<XmlDoc, Located<XmlError>> {
        // quick-xml skips a byte-order mark without counting it; feed it the rest so its
        // positions stay plain offsets plus `base`.
        if self.src.starts_with(BOM) {
            self.base = BOM.len();
            self.push_part(PartKind::ByteOrderMark, Span::new(0, BOM.len()));
        }
        let body = &self.src[self.base..];
        if body.starts_with(BOM) {
            // A second mark is U+FEFF as text before the root, and quick-xml would skip it
            // uncounted too, shifting every later position.
            return Err(Located::new(self.base, XmlError::TextBeforeRoot));
        }
        let mut reader = Reader::from_str(body);
        let config = reader.config_mut();
        // End tags are matched here, to report both names and where.
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        loop {
            let start = self.base + reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(err) => {
                    let at = self.base + reader.error_position() as usize;
                    return Err(Located::new(at, reader_error(err)));
                }
            };
            let span = Span::new(start, self.base + reader.buffer_position() as usize);
            match event {
                Event::Text(text) => self.add_text(span, &text),
                Event::GeneralRef(reference) => self.add_reference(span, &reference)?,
                Event::Eof => {
                    self.flush_text()?;
                    return self.finish();
                }
                other => {
                    self.flush_text()?;
                    self.add_markup(span, other)?;
                }
            }
        }
    }

    fn push_part(&mut self, kind: PartKind, span: Span) {
        if !MODEL {
            return;
        }
        debug_assert_eq!(
            self.doc.parts.last().map_or(0, |p| p.span.end),
            span.start,
            "parts must be contiguous"
        );
        self.doc.parts.push(Part { kind, span });
    }

    fn pending(&mut self, at: usize) -> &mut PendingText {
        self.pending.get_or_insert_with(|| PendingText {
            span: Span::new(at, at),
            value: String::new(),
            escapes: Vec::new(),
        })
    }

    fn add_text(&mut self, span: Span, text: &str) {
        let pending = self.pending(span.start);
        if MODEL {
            pending.value.push_str(text);
        }
        pending.span.end = span.end;
    }

    /// The error for a reference `&name;` that is not predefined or a character.
    fn unresolved(&self, name: &str) -> XmlError {
        let entity = name.to_string();
        if self.declared_entities.iter().any(|e| e == name) {
            XmlError::UnexpandedEntity { entity }
        } else {
            XmlError::BadEntity { entity }
        }
    }

    fn add_reference(&mut self, span: Span, name: &str) -> Result<(), Located<XmlError>> {
        let Some(c) = resolve_reference(name) else {
            return Err(Located::new(span.start, self.unresolved(name)));
        };
        let pending = self.pending(span.start);
        if MODEL {
            let at = pending.value.len();
            pending.value.push(c);
            pending.escapes.push(Escape {
                raw: span,
                value: at..pending.value.len(),
            });
        }
        pending.span.end = span.end;
        Ok(())
    }

    fn flush_text(&mut self) -> Result<(), Located<XmlError>> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        // Entity references split a run, so `]]>` is looked for in each raw piece; a
        // reference between the brackets (`]]&gt;`) is the legal spelling.
        if let Some(i) = find_cdata_end(pending.span.slice(self.src)) {
            return Err(Located::new(
                pending.span.start + i,
                XmlError::CdataEndInText,
            ));
        }
        if self.open.is_empty() {
            let raw = pending.span.slice(self.src);
            if let Some(i) = raw.bytes().position(|b| !is_xml_space(b)) {
                return Err(Located::new(
                    pending.span.start + i,
                    self.outside_root_text(),
                ));
            }
        }
        self.push_text(pending.span, pending.value, false, pending.escapes);
        Ok(())
    }

    fn outside_root_text(&self) -> XmlError {
        if self.root_done {
            XmlError::TextAfterRoot
        } else {
            XmlError::TextBeforeRoot
        }
    }

    fn push_text(&mut self, span: Span, value: String, cdata: bool, escapes: Vec<Escape>) {
        if !MODEL {
            return;
        }
        let index = self.doc.texts.len();
        self.doc.texts.push(Text {
            element: self.open.last().map(|o| o.index),
            value,
            span,
            cdata,
            escapes,
        });
        let part_span = if cdata {
            Span::new(span.start - "<![CDATA[".len(), span.end + "]]>".len())
        } else {
            span
        };
        self.push_part(PartKind::Text(index), part_span);
    }

    fn add_markup(&mut self, span: Span, event: Event<'_>) -> Result<(), Located<XmlError>> {
        match event {
            Event::Start(tag) => {
                if self.open.len() >= self.max_depth {
                    let limit = self.max_depth;
                    return Err(Located::new(span.start, XmlError::TooDeep { limit }));
                }
                let (element, name) = self.add_element(span, &tag, false)?;
                self.open.push(OpenElement {
                    index: element,
                    name,
                    start: span.start,
                });
                self.push_part(PartKind::StartTag(element), span);
            }
            Event::Empty(tag) => {
                if self.open.len() >= self.max_depth {
                    let limit = self.max_depth;
                    return Err(Located::new(span.start, XmlError::TooDeep { limit }));
                }
                let (element, _) = self.add_element(span, &tag, true)?;
                if self.open.is_empty() {
                    self.root_done = true;
                }
                self.push_part(PartKind::EmptyTag(element), span);
            }
            Event::End(tag) => {
                let found = tag.name().0;
                let Some(open) = self.open.last() else {
                    let name = found.to_string();
                    return Err(Located::new(
                        span.start,
                        XmlError::UnexpectedEndTag { name },
                    ));
                };
                if open.name != found {
                    let kind = XmlError::MismatchedEndTag {
                        expected: open.name.to_string(),
                        found: found.to_string(),
                    };
                    return Err(Located::new(span.start, kind));
                }
                let element = open.index;
                self.open.pop();
                if MODEL {
                    self.doc.elements[element].end_span = Some(span);
                }
                if self.open.is_empty() {
                    self.root_done = true;
                }
                self.push_part(PartKind::EndTag(element), span);
            }
            Event::CData(cdata) => {
                let inner = Span::new(span.start + "<![CDATA[".len(), span.end - "]]>".len());
                if self.open.is_empty() {
                    return Err(Located::new(span.start, self.outside_root_text()));
                }
                if MODEL {
                    let value = inner.slice(self.src).to_string();
                    debug_assert_eq!(value, &*cdata.into_inner());
                    self.push_text(inner, value, true, Vec::new());
                }
            }
            Event::Comment(_) => {
                if MODEL {
                    let index = self.doc.comments.len();
                    self.doc
                        .comments
                        .push(Span::new(span.start + "<!--".len(), span.end - "-->".len()));
                    self.push_part(PartKind::Comment(index), span);
                }
            }
            Event::Decl(decl) => {
                if span.start != self.base {
                    return Err(Located::new(span.start, XmlError::MisplacedDeclaration));
                }
                let version_ok = decl.version().is_ok_and(|v| matches!(&*v, "1.0" | "1.1"));
                if !version_ok {
                    return Err(Located::new(span.start, XmlError::InvalidDeclaration));
                }
                let encoding = check_declaration(span.slice(self.src))
                    .map_err(|(at, kind)| Located::new(span.start + at, kind))?;
                if let Some((at, name)) = encoding {
                    let utf8 =
                        name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("utf8");
                    if self.base > 0 && !utf8 {
                        let declared = name.to_string();
                        let kind = XmlError::EncodingContradictsBom { declared };
                        return Err(Located::new(span.start + at, kind));
                    }
                }
                self.push_part(PartKind::Declaration, span);
            }
            Event::PI(_) => {
                let raw = span.slice(self.src);
                let body = &raw[2..raw.len() - 2];
                let target_len = body
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(body.len());
                let target = &body[..target_len];
                if target.eq_ignore_ascii_case("xml") {
                    let target = target.to_string();
                    let kind = XmlError::ReservedPiTarget { target };
                    return Err(Located::new(span.start + 2, kind));
                }
                if !is_xml_name(target) {
                    let name = target.to_string();
                    return Err(Located::new(span.start + 2, XmlError::InvalidName { name }));
                }
                self.push_part(PartKind::ProcessingInstruction, span);
            }
            Event::DocType(_) => {
                if self.doctype_seen || self.elements > 0 {
                    return Err(Located::new(span.start, XmlError::MisplacedDoctype));
                }
                self.doctype_seen = true;
                self.declared_entities = declared_entities(span.slice(self.src));
                self.push_part(PartKind::Doctype, span);
            }
            // Text, references and the end of input are handled by the caller.
            Event::Text(_) | Event::GeneralRef(_) | Event::Eof => {}
        }
        Ok(())
    }

    /// Records the element of a start or empty tag spanning `span`: its index and name.
    fn add_element(
        &mut self,
        span: Span,
        tag: &BytesStart<'_>,
        self_closing: bool,
    ) -> Result<(usize, &'s str), Located<XmlError>> {
        // The tag borrows from the source: its name is a slice of it.
        let Some(at) = offset_within(self.src, tag.name().0) else {
            let kind = XmlError::Reader(ReaderFailure::DetachedAttribute);
            return Err(Located::new(span.start, kind));
        };
        let src = self.src;
        let name: &'s str = &src[at..at + tag.name().0.len()];
        let name_start = span.start + 1;
        if !is_xml_name(name) {
            let name = name.to_string();
            return Err(Located::new(name_start, XmlError::InvalidName { name }));
        }
        if self.open.is_empty() && self.root_done {
            let name = name.to_string();
            return Err(Located::new(
                span.start,
                XmlError::ElementAfterRoot { name },
            ));
        }
        // The tag's content (between `<` and `>` or `/>`) starts right after the `<`;
        // attribute names and values are slices of it.
        let content: &str = tag;
        let attrs = self.attributes(tag, content, name_start, name)?;
        let index = self.elements;
        self.elements += 1;
        if MODEL {
            let parent = self.open.last().map(|o| o.index);
            self.doc.elements.push(Element {
                name: name.to_string(),
                name_span: Span::new(name_start, name_start + name.len()),
                span,
                end_span: None,
                self_closing,
                parent,
                attrs,
            });
        }
        Ok((index, name))
    }

    fn attributes(
        &self,
        tag: &BytesStart<'_>,
        content: &str,
        content_start: usize,
        element: &str,
    ) -> Result<Vec<Attr>, Located<XmlError>> {
        let mut attrs: Vec<Attr> = Vec::new();
        // Names seen so far: compared one by one while there are few (most tags, kept on
        // the stack), then through a set, so a tag with many attributes is still checked
        // in linear time.
        let mut few: [&str; 16] = [""; 16];
        let mut seen = 0;
        let mut many: Option<std::collections::HashSet<&str>> = None;
        let mut iter = tag.attributes();
        // Duplicates are checked below, where the name and its span are at hand.
        iter.with_checks(false);
        for attr in iter {
            let attr = attr.map_err(|e| attr_error(e, content, content_start, element))?;
            let name = attr.key.0;
            let located = offset_within(content, name).zip(offset_within(content, &attr.value));
            let Some((name_at, value_at)) = located else {
                // quick-xml's attributes borrow from the tag; refuse rather than guess.
                let kind = XmlError::Reader(ReaderFailure::DetachedAttribute);
                return Err(Located::new(content_start, kind));
            };
            let name_span = Span::new(
                content_start + name_at,
                content_start + name_at + name.len(),
            );
            let value_span = Span::new(
                content_start + value_at,
                content_start + value_at + attr.value.len(),
            );
            if !is_xml_name(name) {
                let name = name.to_string();
                return Err(Located::new(
                    name_span.start,
                    XmlError::InvalidName { name },
                ));
            }
            // After the tag name and after each value's closing quote, white space must
            // separate attributes (`<a x="1"y="2">` is not well-formed).
            let before = self.src[..name_span.start].chars().next_back();
            if !before.is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                let kind = XmlError::NoSpaceBetweenAttributes {
                    element: element.to_string(),
                    name: name.to_string(),
                };
                return Err(Located::new(name_span.start, kind));
            }
            let duplicate = match &mut many {
                Some(set) => !set.insert(name),
                None if seen < few.len() => {
                    let again = few[..seen].contains(&name);
                    few[seen] = name;
                    seen += 1;
                    again
                }
                None => {
                    let mut set: std::collections::HashSet<&str> = few.iter().copied().collect();
                    let again = !set.insert(name);
                    many = Some(set);
                    again
                }
            };
            if duplicate {
                let kind = XmlError::DuplicateAttribute {
                    element: element.to_string(),
                    name: name.to_string(),
                };
                return Err(Located::new(name_span.start, kind));
            }
            let raw = value_span.slice(self.src);
            // Most values hold neither `<` nor a reference: one pass over the bytes says so.
            let plain = !raw.bytes().any(|b| (b == b'<') | (b == b'&'));
            if let Some(lt) = raw.find('<').filter(|_| !plain) {
                let kind = XmlError::MalformedAttribute {
                    element: element.to_string(),
                    problem: AttrProblem::LessThanInValue,
                };
                return Err(Located::new(value_span.start + lt, kind));
            }
            let quote = match self.src.as_bytes().get(value_span.end) {
                Some(b'\'') => '\'',
                _ => '"',
            };
            if !MODEL {
                if !plain {
                    decode_attr_value::<MODEL>(raw, value_span.start, &self.declared_entities)?;
                }
                continue;
            }
            let (value, escapes) =
                decode_attr_value::<MODEL>(raw, value_span.start, &self.declared_entities)?;
            attrs.push(Attr {
                name: name.to_string(),
                name_span,
                value,
                value_span,
                quote,
                escapes,
            });
        }
        Ok(attrs)
    }

    fn finish(self) -> Result<XmlDoc, Located<XmlError>> {
        if let Some(innermost) = self.open.last() {
            let kind = XmlError::UnclosedElement {
                name: innermost.name.to_string(),
            };
            return Err(Located::new(innermost.start, kind));
        }
        if self.elements == 0 {
            return Err(Located::new(self.src.len(), XmlError::NoRootElement));
        }
        Ok(self.doc)
    }
}

/// Checks an XML declaration `<?xml ...?>` against XML 1.0's `XMLDecl`: `version`, then
/// optionally `encoding` (an `EncName`), then optionally `standalone` (`yes`/`no`), each
/// preceded by white space, quoted alike on both sides. Returns the declared encoding
/// and its offset in `decl`, or the offset and kind of the first problem.
#[allow(clippy::type_complexity)]
fn check_declaration(decl: &str) -> Result<Option<(usize, &str)>, (usize, XmlError)> {
    let bad = |at: usize, problem: &'static str| (at, XmlError::MalformedDeclaration { problem });
    let body_end = decl.len() - "?>".len();
    let b = decl.as_bytes();
    let mut p = "<?xml".len();
    let mut seen: Vec<&str> = Vec::new();
    let mut encoding = None;
    loop {
        let ws_start = p;
        while p < body_end && is_xml_space(b[p]) {
            p += 1;
        }
        if p == body_end {
            break;
        }
        if p == ws_start {
            return Err(bad(p, "expected white space before each pseudo-attribute"));
        }
        let name_start = p;
        while p < body_end && b[p].is_ascii_alphabetic() {
            p += 1;
        }
        let name = &decl[name_start..p];
        let order = ["version", "encoding", "standalone"];
        let Some(rank) = order.iter().position(|o| *o == name) else {
            return Err(bad(name_start, "expected version, encoding or standalone"));
        };
        if seen
            .iter()
            .any(|s| order.iter().position(|o| o == s) >= Some(rank))
        {
            return Err(bad(
                name_start,
                "pseudo-attributes must come once, in the order version, encoding, standalone",
            ));
        }
        if rank > 0 && seen.is_empty() {
            return Err(bad(name_start, "version must come first"));
        }
        seen.push(name);
        while p < body_end && is_xml_space(b[p]) {
            p += 1;
        }
        if p >= body_end || b[p] != b'=' {
            return Err(bad(p, "expected `=` after the pseudo-attribute name"));
        }
        p += 1;
        while p < body_end && is_xml_space(b[p]) {
            p += 1;
        }
        let quote = match b.get(p) {
            Some(&q @ (b'"' | b'\'')) if p < body_end => q,
            _ => return Err(bad(p, "expected a quoted value")),
        };
        let value_start = p + 1;
        let Some(len) = decl[value_start..body_end].find(quote as char) else {
            return Err(bad(p, "the value's closing quote is missing"));
        };
        let value = &decl[value_start..value_start + len];
        p = value_start + len + 1;
        let ok = match name {
            "version" => value
                .strip_prefix("1.")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())),
            "encoding" => {
                encoding = Some((value_start, value));
                let mut chars = value.chars();
                chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                    && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            }
            _ => matches!(value, "yes" | "no"),
        };
        if !ok {
            let problem = match name {
                "version" => "version must be 1. followed by digits",
                "encoding" => "the encoding name must be a letter followed by letters, digits, `.`, `_` or `-`",
                _ => "standalone must be yes or no",
            };
            return Err(bad(value_start, problem));
        }
    }
    if seen.first() != Some(&"version") {
        return Err(bad("<?xml".len(), "version must come first"));
    }
    Ok(encoding)
}

/// The names of the general entities an internal DTD subset declares
/// (`<!ENTITY name ...>`, not parameter entities `<!ENTITY % name ...>`).
fn declared_entities(doctype: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = doctype;
    while let Some(i) = rest.find("<!ENTITY") {
        rest = &rest[i + "<!ENTITY".len()..];
        let after = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if after.len() == rest.len() || after.starts_with('%') {
            continue;
        }
        let name: String = after.chars().take_while(|c| is_name_char(*c)).collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn attr_error(
    err: AttrError,
    content: &str,
    content_start: usize,
    element: &str,
) -> Located<XmlError> {
    let element = element.to_string();
    let (pos, problem) = match err {
        AttrError::ExpectedEq(pos) => (pos, AttrProblem::MissingEquals),
        AttrError::ExpectedValue(pos) => (pos, AttrProblem::MissingValue),
        AttrError::UnquotedValue(pos) => (pos, AttrProblem::UnquotedValue),
        AttrError::ExpectedQuote(pos, quote) => (
            pos,
            AttrProblem::UnclosedQuote {
                quote: quote as char,
            },
        ),
        // Duplicates are checked by the caller (the iterator's check is off); this arm
        // only names the attribute should that change.
        AttrError::Duplicated(pos, _) => {
            let rest = content.get(pos..).unwrap_or_default();
            let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
            let kind = XmlError::DuplicateAttribute { element, name };
            return Located::new(content_start + pos, kind);
        }
    };
    let kind = XmlError::MalformedAttribute { element, problem };
    Located::new(content_start + pos, kind)
}

fn reader_error(err: QxError) -> XmlError {
    match err {
        QxError::Syntax(syntax) => match syntax {
            SyntaxError::InvalidBangMarkup => XmlError::UnknownMarkup,
            SyntaxError::UnclosedPI => XmlError::Unclosed {
                markup: Markup::ProcessingInstruction,
            },
            SyntaxError::UnclosedXmlDecl => XmlError::Unclosed {
                markup: Markup::Declaration,
            },
            SyntaxError::UnclosedComment => XmlError::Unclosed {
                markup: Markup::Comment,
            },
            SyntaxError::UnclosedDoctype => XmlError::Unclosed {
                markup: Markup::Doctype,
            },
            SyntaxError::UnclosedCData => XmlError::Unclosed {
                markup: Markup::CData,
            },
            SyntaxError::UnclosedTag => XmlError::Unclosed {
                markup: Markup::Tag,
            },
            SyntaxError::UnclosedSingleQuotedAttributeValue => XmlError::Unclosed {
                markup: Markup::AttributeValue { quote: '\'' },
            },
            SyntaxError::UnclosedDoubleQuotedAttributeValue => XmlError::Unclosed {
                markup: Markup::AttributeValue { quote: '"' },
            },
        },
        QxError::IllFormed(ill) => match ill {
            IllFormedError::MissingDeclVersion(_) | IllFormedError::UnknownVersion => {
                XmlError::InvalidDeclaration
            }
            IllFormedError::MissingDoctypeName => XmlError::DoctypeWithoutName,
            IllFormedError::MissingEndTag(name) => XmlError::UnclosedElement { name },
            IllFormedError::UnmatchedEndTag(name) => XmlError::UnexpectedEndTag { name },
            IllFormedError::MismatchedEndTag { expected, found } => {
                XmlError::MismatchedEndTag { expected, found }
            }
            IllFormedError::DoubleHyphenInComment => XmlError::DoubleHyphenInComment,
            IllFormedError::UnclosedReference => XmlError::UnterminatedEntity,
        },
        // Only attribute iterators produce this, never `read_event`.
        QxError::InvalidAttr(_) => XmlError::Reader(ReaderFailure::Attribute),
        QxError::Io(_) => XmlError::Reader(ReaderFailure::Io),
        QxError::Encoding(_) => XmlError::Reader(ReaderFailure::Encoding),
        QxError::Escape(_) => XmlError::Reader(ReaderFailure::Escape),
        QxError::Namespace(_) => XmlError::Reader(ReaderFailure::Namespace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> XmlDoc {
        let doc = parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"));
        assert!(
            check(src).is_ok(),
            "{src:?}: check must accept what parse accepts"
        );
        assert_eq!(doc.render(src), src, "render must give back the source");
        doc
    }

    fn err(src: &str) -> (usize, XmlError) {
        match parse(src) {
            Ok(_) => panic!("{src:?} should not parse"),
            Err(e) => {
                // The walk without a model refuses it the same way.
                let checked = check(src).err().map(|c| (c.offset, c.kind));
                assert_eq!(checked, Some((e.offset, e.kind.clone())), "{src:?}");
                (e.offset, e.kind)
            }
        }
    }

    fn sp(start: usize, end: usize) -> Span {
        Span::new(start, end)
    }

    #[test]
    fn attributes_in_both_quote_styles_with_entities() {
        //         0         1         2
        //         012345678901234567890123
        let src = "<a x='1' y = \"v&amp;w\"/>";
        let d = doc(src);
        let a = &d.elements()[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.name_span, sp(1, 2));
        assert_eq!(a.span, sp(0, 24));
        assert!(a.self_closing);
        assert_eq!(a.end_span, None);
        assert_eq!(a.attrs.len(), 2);
        let x = &a.attrs[0];
        assert_eq!((x.name.as_str(), x.name_span), ("x", sp(3, 4)));
        assert_eq!(
            (x.value.as_str(), x.value_span, x.quote),
            ("1", sp(6, 7), '\'')
        );
        assert!(x.escapes.is_empty());
        let y = &a.attrs[1];
        assert_eq!((y.name.as_str(), y.name_span), ("y", sp(9, 10)));
        // Decoded and raw differ: the raw span still holds `&amp;`.
        assert_eq!(y.value, "v&w");
        assert_eq!(y.value_span, sp(14, 21));
        assert_eq!(y.value_span.slice(src), "v&amp;w");
        assert_eq!(y.quote, '"');
        assert_eq!(
            y.escapes,
            vec![Escape {
                raw: sp(15, 20),
                value: 1..2
            }]
        );
        // `w` is byte 2 of the value and byte 20 of the source.
        assert_eq!(y.raw_span_of(2..3), Some(sp(20, 21)));
        assert_eq!(y.raw_span_of(0..3), Some(sp(14, 21)));
    }

    #[test]
    fn attribute_values_keep_spacing_newlines_and_gt() {
        //         0          1          2
        //         0123 4 5678901 2345678901 234
        let src = "<a\r\n\tk\r\n=\r\n'p>q\r\n' />";
        let d = doc(src);
        let k = &d.elements()[0].attrs[0];
        assert_eq!(k.name_span, sp(5, 6));
        assert_eq!(k.value_span, sp(12, 17));
        assert_eq!(k.value, "p>q\r\n");
    }

    #[test]
    fn text_with_entities_is_one_run() {
        //         0         1         2         3
        //         0123456789012345678901234567890
        let src = "<t>a &lt;b&gt; &#x41;&#66;</t>";
        let d = doc(src);
        assert_eq!(d.texts().len(), 1);
        let t = &d.texts()[0];
        assert_eq!(t.value, "a <b> AB");
        assert_eq!(t.span, sp(3, 26));
        assert_eq!(t.element, Some(0));
        assert!(!t.cdata);
        assert_eq!(
            t.escapes,
            vec![
                Escape {
                    raw: sp(5, 9),
                    value: 2..3
                },
                Escape {
                    raw: sp(10, 14),
                    value: 4..5
                },
                Escape {
                    raw: sp(15, 21),
                    value: 6..7
                },
                Escape {
                    raw: sp(21, 26),
                    value: 7..8
                },
            ]
        );
        assert_eq!(t.raw_span_of(3..4), Some(sp(9, 10)), "the b");
        assert_eq!(
            t.raw_span_of(2..5),
            Some(sp(5, 14)),
            "<b> with both references"
        );
        assert_eq!(d.elements()[0].end_span, Some(sp(26, 30)));
    }

    #[test]
    fn the_first_odd_byte_is_found_at_every_offset_and_block_edge() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c >= 0x80)
        };
        for len in [0usize, 1, 31, 32, 33, 64, 95, 100] {
            let plain: Vec<u8> = (0..len).map(|i| b"ab\t\n\r <>~\x7f"[i % 10]).collect();
            assert_eq!(first_not_plain_ascii(&plain), None, "len {len}");
            for at in 0..len {
                for odd in [0x00u8, 0x1f, 0x80, 0xc3, 0xff] {
                    let mut b = plain.clone();
                    b[at] = odd;
                    // A second odd byte later must not win.
                    if at + 5 < len {
                        b[at + 5] = 0x01;
                    }
                    assert_eq!(first_not_plain_ascii(&b), Some(at), "len {len} at {at}");
                    assert_eq!(first_not_plain_ascii(&b), naive(&b));
                }
            }
        }
    }

    #[test]
    fn reference_ranges_cannot_be_split() {
        // "é" via a reference decodes to two bytes; half of it has no raw span.
        let src = "<t>&#xE9;x</t>";
        let d = doc(src);
        let t = &d.texts()[0];
        assert_eq!(t.value, "éx");
        assert_eq!(t.raw_span_of(1..3), None);
        assert_eq!(t.raw_span_of(2..3), Some(sp(9, 10)));
    }

    #[test]
    fn cdata_keeps_its_content_verbatim() {
        //         0         1         2         3
        //         0123456789012345678901234567890123
        let src = "<s><![CDATA[if (a<b) &amp;h1]]></s>";
        let d = doc(src);
        let t = &d.texts()[0];
        assert!(t.cdata);
        assert_eq!(t.value, "if (a<b) &amp;h1");
        assert_eq!(t.span, sp(12, 28));
        assert_eq!(t.element, Some(0));
        assert_eq!(
            d.parts()[1],
            Part {
                kind: PartKind::Text(0),
                span: sp(3, 31)
            }
        );
    }

    #[test]
    fn comments_are_their_content() {
        //         0         1         2
        //         01234567890123456789012345
        let src = "<!-- c1 --><r><!--x--></r>";
        let d = doc(src);
        assert_eq!(d.comments(), &[sp(4, 8), sp(18, 19)]);
        assert_eq!(d.comments()[1].slice(src), "x");
        assert_eq!(d.context_at(5), XmlContext::Comment);
        assert_eq!(d.context_at(18), XmlContext::Comment);
        assert_eq!(d.context_at(15), XmlContext::Other, "inside `<!--`");
    }

    #[test]
    fn nested_paths_parents_and_end_tags() {
        let src = "<Processes>\n  <Process name=\"p1\">\n    <Log ns=\"A\"/>\n    \
                   <Log ns=\"B\"></Log>\n  </Process>\n</Processes>\n";
        let d = doc(src);
        let els = d.elements();
        let summary: Vec<(&str, Option<usize>)> =
            els.iter().map(|e| (e.name.as_str(), e.parent)).collect();
        let paths: Vec<String> = (0..els.len()).map(|i| d.path(i)).collect();
        assert_eq!(
            paths,
            [
                "Processes",
                "Processes/Process",
                "Processes/Process/Log",
                "Processes/Process/Log"
            ]
        );
        assert_eq!(
            summary,
            vec![
                ("Processes", None),
                ("Process", Some(0)),
                ("Log", Some(1)),
                ("Log", Some(1)),
            ]
        );
        assert!(els[2].self_closing);
        assert!(!els[3].self_closing);
        // `<Log ns="B">` starts at 56, its end tag right after it at 68.
        assert_eq!(els[3].span, sp(56, 68));
        assert_eq!(els[3].end_span, Some(sp(68, 74)));
        assert_eq!(els[1].attrs[0].value, "p1");
        // The newline after the root is text outside every element.
        let last = d.texts().last().map(|t| (t.element, t.value.as_str()));
        assert_eq!(last, Some((None, "\n")));
    }

    #[test]
    fn self_closing_tags_with_space() {
        //         0         1
        //         01234567890123456
        let src = "<a><b/><c  /></a>";
        let d = doc(src);
        let els = d.elements();
        assert_eq!((els[1].span, els[1].self_closing), (sp(3, 7), true));
        assert_eq!((els[2].span, els[2].name_span), (sp(7, 13), sp(8, 9)));
        assert_eq!(els[0].end_span, Some(sp(13, 17)));
        let kinds: Vec<PartKind> = d.parts().iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![
                PartKind::StartTag(0),
                PartKind::EmptyTag(1),
                PartKind::EmptyTag(2),
                PartKind::EndTag(0)
            ]
        );
    }

    #[test]
    fn context_at_names_what_is_there() {
        //         0         1         2         3
        //         0123456789012345678901234567890123456
        let src = "<a x='h1' y=\"h2\">h3<!--h4--><b/></a>";
        let d = doc(src);
        assert_eq!(d.context_at(0), XmlContext::Other);
        assert_eq!(d.context_at(1), XmlContext::TagName { element: 0 });
        assert_eq!(
            d.context_at(3),
            XmlContext::AttrName {
                element: 0,
                attr: 0
            }
        );
        assert_eq!(d.context_at(5), XmlContext::Other, "the quote");
        assert_eq!(
            d.context_at(6),
            XmlContext::AttrValue {
                element: 0,
                attr: 0
            }
        );
        assert_eq!(
            d.context_at(7),
            XmlContext::AttrValue {
                element: 0,
                attr: 0
            }
        );
        assert_eq!(
            d.context_at(13),
            XmlContext::AttrValue {
                element: 0,
                attr: 1
            }
        );
        assert_eq!(d.context_at(17), XmlContext::Text { element: Some(0) });
        assert_eq!(d.context_at(23), XmlContext::Comment);
        assert_eq!(d.context_at(29), XmlContext::TagName { element: 1 });
        assert_eq!(
            d.context_at(34),
            XmlContext::TagName { element: 0 },
            "end tag name"
        );
        assert_eq!(d.context_at(99), XmlContext::Other);
    }

    #[test]
    fn prolog_parts_bom_crlf_and_unicode() {
        let src = "\u{feff}<?xml version=\"1.0\"?>\r\n<!DOCTYPE r>\r\n<?pi x?>\r\n<r k='ü'>ß</r>";
        let d = doc(src);
        let kinds: Vec<PartKind> = d.parts().iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![
                PartKind::ByteOrderMark,
                PartKind::Declaration,
                PartKind::Text(0),
                PartKind::Doctype,
                PartKind::Text(1),
                PartKind::ProcessingInstruction,
                PartKind::Text(2),
                PartKind::StartTag(0),
                PartKind::Text(3),
                PartKind::EndTag(0),
            ]
        );
        assert_eq!(d.parts()[0].span, sp(0, 3));
        assert_eq!(d.parts()[1].span, sp(3, 24));
        // BOM 3 + declaration 21 + CRLF 2 + DOCTYPE 12 + 2 + PI 8 + 2: "<r k='" starts
        // at 50, the value ü (2 bytes) is 56..58, then `'>` and the text ß at 60..62.
        let r = &d.elements()[0];
        assert_eq!(r.span.start, 50);
        assert_eq!(r.attrs[0].value_span, sp(56, 58));
        assert_eq!(d.texts()[3].span, sp(60, 62));
        assert_eq!(d.texts()[3].value, "ß");
    }

    #[test]
    fn escapes_cover_markup_characters() {
        assert_eq!(escape_text("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(escape_attr("h\t1\n\r&'"), "h&#9;1&#10;&#13;&amp;&apos;");
        // What escape_attr writes reads back as the same value in either quote style.
        let value = "x'y\"z&<>\tq";
        for q in ['\'', '"'] {
            let src = format!("<a v={q}{}{q}/>", escape_attr(value));
            assert_eq!(doc(&src).elements()[0].attrs[0].value, value);
        }
    }

    #[test]
    fn structural_errors_name_both_tags_and_the_place() {
        let mismatched = XmlError::MismatchedEndTag {
            expected: "b".into(),
            found: "a".into(),
        };
        assert_eq!(err("<a><b></a>"), (6, mismatched));
        assert_eq!(
            err("<a>\n<b>"),
            (4, XmlError::UnclosedElement { name: "b".into() })
        );
        assert_eq!(
            err("</a>"),
            (0, XmlError::UnexpectedEndTag { name: "a".into() })
        );
        assert_eq!(
            err("<a/></a>"),
            (4, XmlError::UnexpectedEndTag { name: "a".into() })
        );
        assert_eq!(
            err("<a/><b/>"),
            (4, XmlError::ElementAfterRoot { name: "b".into() })
        );
        assert_eq!(err("<a/>\n x"), (6, XmlError::TextAfterRoot));
        assert_eq!(err("<a/>&amp;"), (4, XmlError::TextAfterRoot));
        assert_eq!(err("x<a/>"), (0, XmlError::TextBeforeRoot));
        assert_eq!(err("<a/><![CDATA[x]]>"), (4, XmlError::TextAfterRoot));
        assert_eq!(err(" \n"), (2, XmlError::NoRootElement));
        assert_eq!(err("<!-- only -->"), (13, XmlError::NoRootElement));
        assert_eq!(
            err("<a/ >"),
            (1, XmlError::InvalidName { name: "a/".into() })
        );
        assert_eq!(
            err("<1a/>"),
            (1, XmlError::InvalidName { name: "1a".into() })
        );
        assert_eq!(
            err("<a>\n<?xml version='1.0'?></a>"),
            (4, XmlError::MisplacedDeclaration)
        );
        assert_eq!(
            err("<?xml encoding='x'?><a/>"),
            (0, XmlError::InvalidDeclaration)
        );
        assert_eq!(err("<a/><!DOCTYPE a>"), (4, XmlError::MisplacedDoctype));
        assert_eq!(
            err("<a><!-- x -- y --></a>"),
            (10, XmlError::DoubleHyphenInComment)
        );
        assert_eq!(err("<a><!foo></a>"), (3, XmlError::UnknownMarkup));
        assert_eq!(
            err("<a><!-- x"),
            (
                3,
                XmlError::Unclosed {
                    markup: Markup::Comment
                }
            )
        );
        assert_eq!(
            err("<a><b"),
            (
                3,
                XmlError::Unclosed {
                    markup: Markup::Tag
                }
            )
        );
    }

    #[test]
    fn attribute_errors_point_at_the_attribute() {
        let malformed = |problem| XmlError::MalformedAttribute {
            element: "a".into(),
            problem,
        };
        let dup = XmlError::DuplicateAttribute {
            element: "a".into(),
            name: "x".into(),
        };
        assert_eq!(err("<a x='1' x=\"2\"/>"), (9, dup));
        assert_eq!(err("<a x=1/>"), (5, malformed(AttrProblem::UnquotedValue)));
        assert_eq!(
            // Points where the `=` was expected.
            err("<a x y='1'/>"),
            (5, malformed(AttrProblem::MissingEquals))
        );
        assert_eq!(
            err("<a x='p<q'/>"),
            (7, malformed(AttrProblem::LessThanInValue))
        );
        assert_eq!(err("<a x='&amp'/>"), (6, XmlError::UnterminatedEntity));
        assert_eq!(
            err("<a x='&bogus;'/>"),
            (
                6,
                XmlError::BadEntity {
                    entity: "bogus".into()
                }
            )
        );
        assert_eq!(
            err("<a 1='x'/>"),
            (3, XmlError::InvalidName { name: "1".into() })
        );
    }

    #[test]
    fn entity_errors() {
        let bad = |e: &str| XmlError::BadEntity { entity: e.into() };
        assert_eq!(err("<a>x&nbsp;</a>"), (4, bad("nbsp")));
        assert_eq!(err("<a>&#0;</a>"), (3, bad("#0")));
        assert_eq!(err("<a>&#xD800;</a>"), (3, bad("#xD800")));
        assert_eq!(err("<a>&#x;</a>"), (3, bad("#x")));
        assert_eq!(err("<a>&#+65;</a>"), (3, bad("#+65")));
        assert_eq!(err("<a>&#X41;</a>"), (3, bad("#X41")));
        assert_eq!(err("<a>a & b</a>"), (5, XmlError::UnterminatedEntity));
    }

    #[test]
    fn doctype_entities_are_not_expanded() {
        let src = "<!DOCTYPE r [<!ENTITY h \"host\">]><r>&h;</r>";
        let unexpanded = XmlError::UnexpandedEntity { entity: "h".into() };
        assert_eq!(err(src), (36, unexpanded.clone()));
        let in_attr = "<!DOCTYPE r [<!ENTITY h \"host\">]><r a='&h;'/>";
        assert_eq!(err(in_attr), (39, unexpanded));
        // A parameter entity is not a general one; `&p;` stays unknown.
        let param = "<!DOCTYPE r [<!ENTITY % p \"x\">]><r>&p;</r>";
        assert_eq!(err(param), (35, XmlError::BadEntity { entity: "p".into() }));
        assert_eq!(
            doc("<!DOCTYPE r [<!ENTITY h \"host\">]><r/>").parts()[0].kind,
            PartKind::Doctype
        );
    }

    #[test]
    fn characters_outside_xml_char_are_refused() {
        let ill = |code: u32| XmlError::IllegalCharacter { code };
        assert_eq!(err("<a>x\u{c}y</a>"), (4, ill(0xC)));
        assert_eq!(err("<a b='\0'/>"), (6, ill(0)));
        assert_eq!(err("<!-- \u{1} --><a/>"), (5, ill(1)));
        assert_eq!(err("<a><![CDATA[\u{fffe}]]></a>"), (12, ill(0xFFFE)));
        // Tab, CR, LF and a leading byte-order mark are characters.
        doc("\u{feff}<a>\t\r\n</a>");
    }

    #[test]
    fn xml_declaration_must_follow_the_grammar() {
        let bad = |problem: &'static str| XmlError::MalformedDeclaration { problem };
        doc("<?xml version='1.0' encoding=\"UTF-8\" standalone='yes' ?><a/>");
        doc("<?xml version=\"1.0\"?><a/>");
        assert_eq!(
            err("<?xml version='1.0' standalone='yes' encoding='UTF-8'?><a/>").1,
            bad("pseudo-attributes must come once, in the order version, encoding, standalone")
        );
        assert_eq!(
            err("<?xml version='1.0'encoding='UTF-8'?><a/>"),
            (19, bad("expected white space before each pseudo-attribute"))
        );
        assert_eq!(
            err("<?xml version='1.0' standalone='maybe'?><a/>"),
            (32, bad("standalone must be yes or no"))
        );
        assert_eq!(
            err("<?xml version='1.0' encoding='8bit'?><a/>").1,
            bad("the encoding name must be a letter followed by letters, digits, `.`, `_` or `-`")
        );
        assert_eq!(
            err("<?xml version='1.0' foo='bar'?><a/>"),
            (20, bad("expected version, encoding or standalone"))
        );
        assert_eq!(
            err("<?xml version='1.0' encoding='UTF-8?><a/>").1,
            bad("the value's closing quote is missing")
        );
    }

    #[test]
    fn cdata_end_in_text_is_refused_but_its_escaped_form_is_not() {
        assert_eq!(err("<a>x]]>y</a>"), (4, XmlError::CdataEndInText));
        assert_eq!(doc("<a>x]]&gt;y ]] > </a>").texts()[0].value, "x]]>y ]] > ");
        assert_eq!(err("<a>]]&amp;]]></a>"), (10, XmlError::CdataEndInText));
        // A run of brackets: the `]]>` is its last two and the `>`.
        assert_eq!(err("<a>]]]></a>"), (4, XmlError::CdataEndInText));
        assert_eq!(doc("<a>] ]] ]</a>").texts()[0].value, "] ]] ]");
        assert_eq!(find_cdata_end("]]"), None);
        assert_eq!(find_cdata_end("x]]>"), Some(1));
    }

    #[test]
    fn attributes_need_white_space_between_them() {
        let kind = XmlError::NoSpaceBetweenAttributes {
            element: "a".into(),
            name: "y".into(),
        };
        assert_eq!(err("<a x='1'y='2'/>"), (8, kind));
        doc("<a x='1'\ty='2'\n z=\"3\"/>");
    }

    #[test]
    fn pi_named_xml_in_any_case_is_reserved() {
        let reserved = |t: &str| XmlError::ReservedPiTarget { target: t.into() };
        assert_eq!(err("<?XML version='1.0'?><a/>"), (2, reserved("XML")));
        assert_eq!(err("<a><?xMl x?></a>"), (5, reserved("xMl")));
        assert_eq!(
            doc("<?xml-stylesheet href='s'?><a><?xmlfoo?></a>").parts()[0].kind,
            PartKind::ProcessingInstruction
        );
    }

    #[test]
    fn encoding_that_contradicts_the_byte_order_mark_is_refused() {
        let src = "\u{feff}<?xml version='1.0' encoding='UTF-16'?><a/>";
        let kind = XmlError::EncodingContradictsBom {
            declared: "UTF-16".into(),
        };
        assert_eq!(err(src), (33, kind));
        doc("\u{feff}<?xml version='1.0' encoding='utf-8'?><a/>");
        // Without a mark the declaration is taken as written (files read as UTF-8).
        doc("<?xml version='1.0' encoding='ISO-8859-1'?><a/>");
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_where_it_starts() {
        let deep = |n: usize| format!("{}{}", "<e>".repeat(n), "</e>".repeat(n));
        let d = parse_with_max_depth(&deep(5), 5).expect("at the limit");
        assert_eq!(d.path(4), "e/e/e/e/e");
        let e = parse_with_max_depth(&deep(6), 5).expect_err("over the limit");
        assert_eq!((e.offset, e.kind), (15, XmlError::TooDeep { limit: 5 }));
        let empty = parse_with_max_depth("<e><e><e/></e></e>", 2).expect_err("empty tag too");
        assert_eq!(empty.offset, 6);
        // The default limit, far past any real file, at a cost linear in the depth.
        let e = parse(&deep(100_000)).expect_err("100,000 deep");
        assert_eq!(e.kind, XmlError::TooDeep { limit: MAX_DEPTH });
        assert_eq!(e.offset, 3 * MAX_DEPTH);
    }

    #[test]
    fn the_ascii_name_table_agrees_with_the_name_character_rules() {
        for b in 0..128u8 {
            let c = char::from(b);
            let expected = if is_name_start_char(c) {
                2
            } else if is_name_char(c) {
                1
            } else {
                0
            };
            assert_eq!(ASCII_NAME[usize::from(b)], expected, "{c:?}");
        }
        assert!(is_xml_name("a:b-c.d_1") && is_xml_name("_x") && is_xml_name("\u{e9}t\u{e9}"));
        assert!(
            !is_xml_name("1a") && !is_xml_name("-a") && !is_xml_name("a b") && !is_xml_name("")
        );
    }

    #[test]
    fn duplicate_attributes_are_found_on_either_side_of_sixteen() {
        let tag = |names: &[usize]| {
            let attrs: String = names.iter().map(|n| format!(" a{n}=\"v\"")).collect();
            format!("<t{attrs}/>")
        };
        for count in [1usize, 15, 16, 17, 40] {
            let distinct: Vec<usize> = (0..count).collect();
            doc(&tag(&distinct));
            // The last attribute repeats the first, or the one just before it.
            for repeated in [0, count.saturating_sub(1)] {
                let mut names = distinct.clone();
                names.push(repeated);
                let src = tag(&names);
                let (at, kind) = err(&src);
                let name = format!("a{repeated}");
                assert_eq!(at, src.rfind(&format!(" {name}=")).unwrap() + 1, "{src}");
                assert!(
                    matches!(&kind, XmlError::DuplicateAttribute { name: n, .. } if *n == name),
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn many_attributes_and_references_stay_linear() {
        // 50,000 attributes, the last a duplicate of the first: a pairwise check would
        // compare 1.25 billion names.
        let mut src = String::from("<a");
        for i in 0..50_000 {
            src.push_str(&format!(" a{i}='v'"));
        }
        src.push_str(" a0='w'/>");
        let (at, kind) = err(&src);
        assert_eq!(at, src.len() - " a0='w'/>".len() + 1);
        assert!(matches!(kind, XmlError::DuplicateAttribute { .. }));
        // A value of 20,000 `&amp;`-separated hosts maps every host back to its raw span.
        let value: Vec<String> = (0..20_000).map(|i| format!("h{i}")).collect();
        let src = format!("<a v='{}'/>", value.join("&amp;"));
        let d = doc(&src);
        let attr = &d.elements()[0].attrs[0];
        let last = attr.value.rfind('h').unwrap();
        let span = attr.raw_span_of(last..attr.value.len()).unwrap();
        assert_eq!(span.slice(&src), "h19999");
        assert_eq!(attr.raw_span_of(2..3).map(|s| s.slice(&src)), Some("&amp;"));
    }
}
