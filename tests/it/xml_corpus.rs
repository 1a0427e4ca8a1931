//! The XML model against its corpus (`tests/corpus/xml/{valid,invalid}`) and against
//! generated documents: valid files render back byte for byte with consistent spans,
//! invalid files fail exactly where their hand-written `.expect` says, and nothing panics.

use dh_migrate::formats::xml::{
    check, check_with_max_depth, parse, parse_with_max_depth, XmlContext, XmlDoc, XmlError,
};
use dh_migrate::text::LineIndex;
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn corpus(kind: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/xml")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes XML references, written independently of the parser: the five predefined
/// entities and decimal/hex character references.
fn decode(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').expect("reference ends in ;") + amp;
        let name = &rest[amp + 1..semi];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match name.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => name[1..].parse(),
                };
                char::from_u32(code.expect("numeric reference")).expect("valid char")
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// Everything the model says about `src` agrees with `src` itself.
fn check_model(src: &str, doc: &XmlDoc) {
    assert_eq!(doc.render(src), src, "render");
    let mut at = 0;
    for part in doc.parts() {
        assert_eq!(part.span.start, at, "parts are contiguous");
        at = part.span.end;
    }
    assert_eq!(at, src.len(), "parts cover the source");
    for (i, el) in doc.elements().iter().enumerate() {
        assert_eq!(el.name_span.slice(src), el.name);
        let tag = el.span.slice(src);
        assert!(
            tag.starts_with('<') && tag.ends_with('>'),
            "start tag {tag:?}"
        );
        assert_eq!(el.self_closing, tag.ends_with("/>"));
        let expected_path = match el.parent {
            Some(p) => format!("{}/{}", doc.path(p), el.name),
            None => el.name.clone(),
        };
        assert_eq!(doc.path(i), expected_path);
        if let Some(end) = el.end_span {
            assert_eq!(
                end.slice(src)[2..].trim_end_matches(['>', ' ', '\t', '\r', '\n']),
                el.name
            );
        }
        assert_eq!(
            doc.context_at(el.name_span.start),
            XmlContext::TagName { element: i }
        );
        for (j, a) in el.attrs.iter().enumerate() {
            assert_eq!(a.name_span.slice(src), a.name);
            assert_eq!(
                decode(a.value_span.slice(src)),
                a.value,
                "attribute {}",
                a.name
            );
            let bytes = src.as_bytes();
            assert_eq!(bytes[a.value_span.start - 1] as char, a.quote);
            assert_eq!(bytes[a.value_span.end] as char, a.quote);
            let ctx = XmlContext::AttrName {
                element: i,
                attr: j,
            };
            assert_eq!(doc.context_at(a.name_span.start), ctx);
            if !a.value_span.is_empty() {
                let ctx = XmlContext::AttrValue {
                    element: i,
                    attr: j,
                };
                assert_eq!(doc.context_at(a.value_span.end - 1), ctx);
            }
            for e in &a.escapes {
                assert_eq!(decode(e.raw.slice(src)), a.value[e.value.clone()]);
            }
        }
    }
    for t in doc.texts() {
        let raw = t.span.slice(src);
        if t.cdata {
            assert_eq!(raw, t.value);
        } else {
            assert_eq!(decode(raw), t.value);
        }
        if !t.span.is_empty() {
            let ctx = XmlContext::Text { element: t.element };
            assert_eq!(doc.context_at(t.span.start), ctx);
        }
    }
    for c in doc.comments() {
        assert!(src[..c.start].ends_with("<!--") && src[c.end..].starts_with("-->"));
        if !c.is_empty() {
            assert_eq!(doc.context_at(c.start), XmlContext::Comment);
        }
    }
}

#[test]
fn valid_corpus_round_trips_byte_for_byte() {
    let files = corpus("valid", "xml");
    assert!(
        files.len() >= 8,
        "the valid corpus has {} files",
        files.len()
    );
    for path in files {
        let src = read(&path);
        let doc = parse(&src).unwrap_or_else(|e| {
            let at = LineIndex::new(&src).position(&src, e.offset);
            panic!("{}:{at}: {}", path.display(), e.kind)
        });
        assert!(!doc.elements().is_empty());
        check_model(&src, &doc);
        assert!(check(&src).is_ok(), "{}: check refused it", path.display());
    }
}

#[test]
fn invalid_corpus_fails_where_expected() {
    let files = corpus("invalid", "xml");
    assert!(
        files.len() >= 10,
        "the invalid corpus has {} files",
        files.len()
    );
    for path in files {
        let src = read(&path);
        let expect = read(&path.with_extension("expect"));
        let err = match parse(&src) {
            Ok(_) => panic!("{} parsed but should not", path.display()),
            Err(e) => e,
        };
        let at = LineIndex::new(&src).position(&src, err.offset);
        assert_eq!(
            format!("{at}: {}", err.kind),
            expect.trim_end(),
            "{}",
            path.display()
        );
        same_verdict(&src, dh_migrate::formats::xml::MAX_DEPTH);
    }
}

fn valid_doc(name: &str) -> (String, XmlDoc) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/xml/valid")
        .join(name);
    let src = read(&path);
    let doc = parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
    (src, doc)
}

#[test]
fn tailer_config_exposes_hosts_in_attributes_text_and_comments() {
    let (src, doc) = valid_doc("tailer-infra.xml");
    let logs: Vec<_> = doc
        .elements()
        .iter()
        .enumerate()
        .filter(|(i, _)| doc.path(*i) == "Processes/Process/Log")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(logs.len(), 5);
    let attr = |el: &dh_migrate::formats::xml::Element, name: &str| {
        el.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.clone())
    };
    assert_eq!(attr(logs[2], "sourceHost").as_deref(), Some("10.1.2.21"));
    assert_eq!(
        attr(logs[3], "internalPartitionRegex").as_deref(),
        Some(r"^Market\.Trades\.(?<host>dh-infra-1|dh-query-10)\..*$")
    );
    assert_eq!(
        attr(logs[4], "monitoringHost").as_deref(),
        Some("dh-infra-1.old.example.com:22020")
    );
    let description = doc
        .texts()
        .iter()
        .find(|t| t.value.starts_with("Infra logs"));
    assert_eq!(
        description.map(|t| t.value.as_str()),
        Some("Infra logs of dh-infra-1.old.example.com (10.1.2.11)")
    );
    assert!(doc.comments()[0]
        .slice(&src)
        .contains("dh-query-1 arrive by rsync"));
}

#[test]
fn dis_tailer_decodes_entities_in_single_quoted_values_and_text() {
    let (src, doc) = valid_doc("tailer-dis-node.xml");
    let process = &doc.elements()[1];
    assert_eq!(doc.path(1), "Processes/Process");
    assert_eq!(
        (process.attrs[1].name.as_str(), process.attrs[1].quote),
        ("maxKBps", '\'')
    );
    let note = doc
        .elements()
        .iter()
        .flat_map(|e| &e.attrs)
        .find(|a| a.name == "note");
    let note = note.expect("note attribute");
    assert_eq!(
        note.value,
        "owner: ops <ops@example.com>, copy of \"ca\" feed"
    );
    assert!(note
        .value_span
        .slice(&src)
        .contains("&lt;ops@example.com&gt;"));
    let hosts: Vec<&str> = doc
        .texts()
        .iter()
        .filter(|t| t.element.is_some_and(|e| doc.elements()[e].name == "Host"))
        .map(|t| t.value.as_str())
        .collect();
    assert_eq!(hosts, ["dh-query-1.old.example.com", "10.1.2.21"]);
}

#[test]
fn crlf_unicode_and_cdata_values() {
    let (_, doc) = valid_doc("crlf-tailer.xml");
    let description = doc
        .texts()
        .iter()
        .find(|t| t.value.starts_with("multi-line"));
    assert_eq!(
        description.map(|t| t.value.as_str()),
        Some("multi-line\r\n      text on dh-query-2\r\n    ")
    );

    let (_, doc) = valid_doc("unicode.xml");
    let log = doc
        .elements()
        .iter()
        .find(|e| e.name == "Log")
        .expect("Log");
    let last = log.attrs.last().expect("attributes");
    assert_eq!(
        (last.name.as_str(), last.value.as_str()),
        ("説明", "ログ 📈 é")
    );

    let (_, doc) = valid_doc("prolog-cdata-pi.xml");
    let cdata: Vec<&str> = doc
        .texts()
        .iter()
        .filter(|t| t.cdata)
        .map(|t| t.value.as_str())
        .collect();
    assert_eq!(cdata, ["raw <b>dh-query-1</b> & friends", ""]);
}

// ---- generated documents -------------------------------------------------------------

/// How one character of a value is written: literally, or as a reference.
#[derive(Debug, Clone)]
struct Ch {
    c: char,
    form: u8,
}

fn chars(alphabet: &'static [char], max: usize) -> impl Strategy<Value = Vec<Ch>> {
    prop::collection::vec(
        (prop::sample::select(alphabet), 0u8..4).prop_map(|(c, form)| Ch { c, form }),
        0..max,
    )
}

const VALUE_CHARS: &[char] = &[
    'a', 'Z', '0', '.', '-', ' ', '&', '<', '>', '"', '\'', 'ü', '東', '\t', '\r', '\n', '😀',
];
const CDATA_CHARS: &[char] = &['x', '<', '>', '&', ' ', '\r', '\n', 'é', ']'];
const COMMENT_CHARS: &[char] = &['c', ' ', '-', '<', '&', '\r', '\n', 'ß'];
const SPACE: &[&str] = &["", " ", "  ", "\t", "\r\n", "\n  ", " \r\n\t"];
const SOME_SPACE: &[&str] = &[" ", "  ", "\t", "\r\n", "\n    ", " \r\n\t"];
const NAMES: &[&str] = &[
    "Processes",
    "Process",
    "Log",
    "a",
    "_x.y-z",
    "Prozeß",
    "東京",
    "ns:Log",
];

/// Writes one character of a value; `quote` is the attribute's quote, if any.
fn write_char(out: &mut String, ch: &Ch, quote: Option<char>) {
    let must_escape = ch.c == '&' || ch.c == '<' || Some(ch.c) == quote;
    match (ch.form, must_escape) {
        (0, _) => out.push_str(&format!("&#{};", ch.c as u32)),
        (1, _) => out.push_str(&format!("&#x{:X};", ch.c as u32)),
        (_, true) => out.push_str(match ch.c {
            '&' => "&amp;",
            '<' => "&lt;",
            '"' => "&quot;",
            _ => "&apos;",
        }),
        (_, false) => out.push(ch.c),
    }
}

#[derive(Debug, Clone)]
struct GenAttr {
    lead: &'static str,
    before_eq: &'static str,
    after_eq: &'static str,
    double: bool,
    value: Vec<Ch>,
}

#[derive(Debug, Clone)]
enum Node {
    Element {
        name: &'static str,
        attrs: Vec<GenAttr>,
        tail: &'static str,
        children: Vec<Node>,
        self_close: bool,
    },
    Text(Vec<Ch>),
    CData(Vec<Ch>),
    Comment(Vec<Ch>),
    Pi,
}

fn attr_strategy() -> impl Strategy<Value = GenAttr> {
    (
        prop::sample::select(SOME_SPACE),
        prop::sample::select(SPACE),
        prop::sample::select(SPACE),
        any::<bool>(),
        chars(VALUE_CHARS, 8),
    )
        .prop_map(|(lead, before_eq, after_eq, double, value)| GenAttr {
            lead,
            before_eq,
            after_eq,
            double,
            value,
        })
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        chars(VALUE_CHARS, 10).prop_map(Node::Text),
        chars(CDATA_CHARS, 8).prop_map(Node::CData),
        chars(COMMENT_CHARS, 8).prop_map(Node::Comment),
        Just(Node::Pi),
    ];
    let element = |children: BoxedStrategy<Vec<Node>>| {
        (
            prop::sample::select(NAMES),
            prop::collection::vec(attr_strategy(), 0..4),
            prop::sample::select(SPACE),
            children,
            any::<bool>(),
        )
            .prop_map(|(name, attrs, tail, children, self_close)| Node::Element {
                name,
                attrs,
                tail,
                children,
                self_close,
            })
    };
    leaf.prop_recursive(3, 24, 5, move |inner| {
        element(prop::collection::vec(inner, 0..5).boxed())
    })
}

/// An attribute as written: name, decoded value, quote.
type ExpectedAttr = (String, String, char);

/// What the generator knows about the document it wrote: the model must say the same.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    /// Per element in document order: path, attributes (name, value, quote).
    elements: Vec<(String, Vec<ExpectedAttr>)>,
    /// All text and CDATA values, concatenated in document order.
    text: String,
    comments: Vec<String>,
}

fn write_node(node: &Node, path: &str, out: &mut String, exp: &mut Expected) {
    match node {
        Node::Element {
            name,
            attrs,
            tail,
            children,
            self_close,
        } => {
            let path = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            };
            out.push('<');
            out.push_str(name);
            let mut seen = Vec::new();
            for (i, a) in attrs.iter().enumerate() {
                // Attribute names are made unique by their index.
                let attr_name = format!("k{i}");
                let quote = if a.double { '"' } else { '\'' };
                out.push_str(a.lead);
                out.push_str(&attr_name);
                out.push_str(a.before_eq);
                out.push('=');
                out.push_str(a.after_eq);
                out.push(quote);
                for ch in &a.value {
                    write_char(out, ch, Some(quote));
                }
                out.push(quote);
                let value: String = a.value.iter().map(|ch| ch.c).collect();
                seen.push((attr_name, value, quote));
            }
            out.push_str(tail);
            exp.elements.push((path.clone(), seen));
            if children.is_empty() && *self_close {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for child in children {
                write_node(child, &path, out, exp);
            }
            out.push_str("</");
            out.push_str(name);
            out.push_str(tail);
            out.push('>');
        }
        Node::Text(text) => {
            for ch in text {
                write_char(out, ch, None);
                exp.text.push(ch.c);
            }
        }
        Node::CData(text) => {
            let mut body: String = text.iter().map(|ch| ch.c).collect();
            // `]]>` would end the section early.
            body = body.replace("]]>", "]] >");
            out.push_str("<![CDATA[");
            out.push_str(&body);
            out.push_str("]]>");
            exp.text.push_str(&body);
        }
        Node::Comment(text) => {
            let mut body: String = text.iter().map(|ch| ch.c).collect();
            // `--` is not allowed in a comment, nor a `-` right before `-->`.
            while body.contains("--") {
                body = body.replace("--", "-c");
            }
            if body.ends_with('-') {
                body.push('c');
            }
            out.push_str("<!--");
            out.push_str(&body);
            out.push_str("-->");
            exp.comments.push(body);
        }
        Node::Pi => out.push_str("<?app keep ?>"),
    }
}

#[derive(Debug, Clone)]
struct GenDoc {
    decl: Option<&'static str>,
    prolog: Vec<(&'static str, Option<Vec<Ch>>)>,
    root: Node,
    epilog: &'static str,
}

fn doc_strategy() -> impl Strategy<Value = GenDoc> {
    let root = (
        prop::sample::select(NAMES),
        prop::collection::vec(attr_strategy(), 0..4),
        prop::sample::select(SPACE),
        prop::collection::vec(node_strategy(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(name, attrs, tail, children, self_close)| Node::Element {
            name,
            attrs,
            tail,
            children,
            self_close,
        });
    (
        prop::option::of(prop::sample::select(
            &[
                "<?xml version=\"1.0\"?>",
                "<?xml version='1.0' encoding='UTF-8'?>",
                "\u{feff}<?xml version=\"1.0\" standalone=\"yes\"?>",
            ][..],
        )),
        prop::collection::vec(
            (
                prop::sample::select(SPACE),
                prop::option::of(chars(COMMENT_CHARS, 6)),
            ),
            0..3,
        ),
        root,
        prop::sample::select(SPACE),
    )
        .prop_map(|(decl, prolog, root, epilog)| GenDoc {
            decl,
            prolog,
            root,
            epilog,
        })
}

fn write_doc(doc: &GenDoc) -> (String, Expected) {
    let mut out = String::new();
    let mut exp = Expected::default();
    if let Some(decl) = doc.decl {
        out.push_str(decl);
    }
    for (space, comment) in &doc.prolog {
        out.push_str(space);
        exp.text.push_str(space);
        if let Some(comment) = comment {
            write_node(&Node::Comment(comment.clone()), "", &mut out, &mut exp);
        }
    }
    write_node(&doc.root, "", &mut out, &mut exp);
    out.push_str(doc.epilog);
    exp.text.push_str(doc.epilog);
    (out, exp)
}

/// XML-ish fragments for mutating valid documents into invalid ones.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "/",
    "&",
    ";",
    "'",
    "\"",
    "=",
    "!",
    "?",
    "-",
    "[",
    "]",
    " ",
    "a",
    "é",
    "\u{feff}",
    "&#x",
    "<!--",
    "-->",
    "]]>",
    "<![CDATA[",
    "</a>",
    "<a>",
    "<?",
    "?>",
    "<!DOCTYPE a>",
];

fn mutate(src: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut s = src.to_string();
    for &(at, delete, fragment) in edits {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + delete % 4).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s.replace_range(at..end, FRAGMENTS[fragment % FRAGMENTS.len()]);
    }
    s
}

/// `check` (the walk that builds no model) accepts exactly what `parse` accepts, and
/// refuses the rest with the same error at the same offset.
fn same_verdict(src: &str, max_depth: usize) {
    let parsed = parse_with_max_depth(src, max_depth).map(|_| ());
    let checked = check_with_max_depth(src, max_depth);
    assert_eq!(
        checked.map_err(|e| (e.offset, e.kind)),
        parsed.map_err(|e| (e.offset, e.kind)),
        "check and parse disagree on {src:?}"
    );
}

fn check_any(src: &str) {
    same_verdict(src, dh_migrate::formats::xml::MAX_DEPTH);
    match parse(src) {
        Ok(doc) => check_model(src, &doc),
        Err(e) => {
            assert!(
                e.offset <= src.len(),
                "error offset {} past the end",
                e.offset
            );
            // Every error has a printable position and message.
            let at = LineIndex::new(src).position(src, e.offset);
            assert!(!format!("{at}: {}", e.kind).is_empty());
        }
    }
}

proptest! {
    // 512 cases unless PROPTEST_CASES asks for more (a long local fuzzing run).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_documents_round_trip_and_match_the_generator(doc in doc_strategy()) {
        let (src, expected) = write_doc(&doc);
        let parsed = parse(&src).map_err(|e| {
            let at = LineIndex::new(&src).position(&src, e.offset);
            TestCaseError::fail(format!("{at}: {} in {src:?}", e.kind))
        })?;
        check_model(&src, &parsed);
        let got = Expected {
            elements: parsed
                .elements()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let attrs = e.attrs.iter().map(|a| (a.name.clone(), a.value.clone(), a.quote));
                    (parsed.path(i), attrs.collect())
                })
                .collect(),
            text: parsed.texts().iter().map(|t| t.value.as_str()).collect(),
            comments: parsed.comments().iter().map(|c| c.slice(&src).to_string()).collect(),
        };
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn mutated_documents_never_panic(
        doc in doc_strategy(),
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..4),
    ) {
        let (src, _) = write_doc(&doc);
        check_any(&mutate(&src, &edits));
    }

    #[test]
    fn arbitrary_input_never_panics(src in any::<String>()) {
        check_any(&src);
    }

    #[test]
    fn xml_like_noise_never_panics(
        pieces in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24),
    ) {
        check_any(&pieces.concat());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Nested elements (start tags with an attribute, or a self-closing innermost one)
    /// parse up to the depth limit and stop at the first tag past it.
    #[test]
    fn random_nesting_depths_parse_up_to_the_limit_and_no_further(
        depth in 1usize..400,
        limit in 1usize..300,
        empty_innermost in any::<bool>(),
    ) {
        let mut src = String::from("<?xml version=\"1.0\"?>\n");
        let mut tag_at = Vec::new();
        for i in 0..depth {
            tag_at.push(src.len());
            if i + 1 == depth && empty_innermost {
                src.push_str("<Log host=\"dh-infra-1\"/>");
            } else {
                src.push_str(&format!("<Process n=\"{i}\">"));
            }
        }
        let closing = if empty_innermost { depth - 1 } else { depth };
        src.push_str(&"</Process>".repeat(closing));
        same_verdict(&src, limit);
        match parse_with_max_depth(&src, limit) {
            Ok(doc) => {
                prop_assert!(depth <= limit, "{} deep parsed with limit {}", depth, limit);
                check_model(&src, &doc);
                prop_assert_eq!(doc.elements().len(), depth);
            }
            Err(e) => {
                prop_assert!(depth > limit, "{} deep refused with limit {}: {}", depth, limit, e.kind);
                prop_assert_eq!(e.kind, XmlError::TooDeep { limit });
                prop_assert_eq!(e.offset, tag_at[limit]);
            }
        }
    }
}
