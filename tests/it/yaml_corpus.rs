//! Corpus and property tests of the lossless YAML model (`dh_migrate::formats::yaml`).
//!
//! - `tests/corpus/yaml/valid/*.yaml` must round-trip byte for byte with every scalar's
//!   span decoding to its value; a sibling `*.paths` (hand-written `path = value` lines)
//!   lists every non-key scalar in source order.
//! - `tests/corpus/yaml/invalid/*.yaml` must fail with exactly the `line:col: code` of
//!   the sibling `*.expect`.
//! - proptest: generated YAML (block and flow collections, every flow quoting style,
//!   anchors, aliases, merges, comments, odd spacing, CRLF, unicode) parses, renders back
//!   identically and yields exactly the generated values; arbitrary input never panics.

use std::fs;
use std::path::{Path as FsPath, PathBuf};

use dh_migrate::formats::yaml::{
    decode, decode_block, parse, parse_stream, parse_with_max_depth, Node, ScalarStyle, YamlDoc,
    YamlError,
};
use dh_migrate::text::position_of;
use proptest::prelude::*;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/yaml")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(path: &FsPath) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The checks every successfully parsed text must pass.
fn check_lossless(src: &str, doc: &YamlDoc) {
    assert_eq!(doc.render(src), src, "render differs");
    let mut prev_end = 0;
    for s in doc.scalars() {
        assert!(
            s.span.start >= prev_end,
            "scalars overlap or are out of order"
        );
        prev_end = s.span.end;
        let token = src
            .get(s.span.range())
            .unwrap_or_else(|| panic!("span {:?} is not on char boundaries", s.span));
        let decoded = match s.block_indent {
            Some(indent) => decode_block(token, indent),
            None => decode(token, s.style),
        };
        assert_eq!(
            decoded.as_deref(),
            Some(s.value.as_str()),
            "token {token:?} does not decode to its value"
        );
    }
    for a in doc.anchors() {
        assert_eq!(&src[a.span.range()], format!("&{}", a.name));
    }
    for a in doc.aliases() {
        assert_eq!(&src[a.span.range()], format!("*{}", a.name));
        assert_eq!(doc.anchors()[a.anchor].name, a.name);
    }
    for c in doc.comments() {
        assert!(src[c.range()].starts_with('#'));
        assert!(!src[c.range()].contains(['\n', '\r']));
    }
}

#[test]
fn valid_corpus_round_trips() {
    let files = corpus("valid");
    assert!(
        files.len() >= 10,
        "the valid corpus needs at least 10 files"
    );
    for file in files {
        let src = read(&file);
        let doc = parse_stream(&src).unwrap_or_else(|e| {
            panic!(
                "{}:{}: {} ({})",
                file.display(),
                position_of(&src, e.offset),
                e.kind,
                e.kind.code()
            )
        });
        check_lossless(&src, &doc);
        let expected = file.with_extension("paths");
        if expected.exists() {
            let want: Vec<String> = read(&expected).lines().map(str::to_string).collect();
            let got: Vec<String> = doc
                .scalars()
                .iter()
                .filter(|s| !s.is_key)
                .map(|s| format!("{} = {}", s.path, escape(&s.value)))
                .collect();
            assert_eq!(got, want, "{}", file.display());
        }
    }
}

/// A value on one line of a `.paths` file: backslash, line feed and tab escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

#[test]
fn invalid_corpus_reports_exact_positions() {
    let files = corpus("invalid");
    assert!(files.len() >= 8);
    for file in files {
        let src = read(&file);
        let want = read(&file.with_extension("expect"));
        let got = match parse(&src) {
            Ok(_) => panic!("{} should be refused", file.display()),
            Err(e) => format!("{}: {}", position_of(&src, e.offset), e.kind.code()),
        };
        assert_eq!(got, want.trim_end(), "{}", file.display());
    }
}

fn routing() -> (String, YamlDoc) {
    let path =
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/yaml/valid/routing_full.yaml");
    let src = read(&path);
    let doc = parse(&src).unwrap_or_else(|e| panic!("routing_full.yaml: {e}"));
    (src, doc)
}

fn all_paths(doc: &YamlDoc, value: &str) -> Vec<String> {
    let i = doc
        .scalars()
        .iter()
        .position(|s| s.value == value && !s.is_key)
        .unwrap_or_else(|| panic!("no scalar {value:?}"));
    doc.paths_of(i).iter().map(|p| p.to_string()).collect()
}

#[test]
fn routing_anchor_hosts_reach_every_service_that_uses_them() {
    let (src, doc) = routing();
    assert_eq!(
        all_paths(&doc, "dh-infra-1.old.example.com"),
        vec![
            "anchors[0]",
            "logAggregatorServers.rta.host",
            "tableDataServices.db_ltds.host",
        ]
    );
    // Alias inside an anchored map, merged into an endpoint: two levels of indirection.
    assert_eq!(
        all_paths(&doc, "dh-dis-1.old.example.com"),
        vec![
            "anchors[1]",
            "anchors[2].host",
            "dataImportServers.db_dis.endpoint.host",
        ]
    );
    assert_eq!(
        all_paths(&doc, "22014"),
        vec!["anchors[3]", "tableDataServices.db_ltds.port"]
    );
    // The anchors list: names, tokens and what they are defined on.
    let anchors: Vec<(&str, &str)> = doc
        .anchors()
        .iter()
        .map(|a| (a.name.as_str(), &src[a.node_span.range()]))
        .collect();
    assert_eq!(
        anchors,
        vec![
            ("infra", "dh-infra-1.old.example.com"),
            ("dis-host", "dh-dis-1.old.example.com"),
            (
                "dis-endpoint",
                "host: *dis-host\n    tailerPort: 22021\n    tableDataPort: 22015"
            ),
            ("ltds-port", "22014"),
        ]
    );
    let aliases: Vec<(String, bool)> = doc
        .aliases()
        .iter()
        .map(|a| (a.path.to_string(), a.merge))
        .collect();
    assert_eq!(
        aliases,
        vec![
            ("anchors[2].host".to_string(), false),
            ("dataImportServers.db_dis.endpoint.<<".to_string(), true),
            ("logAggregatorServers.rta.host".to_string(), false),
            ("tableDataServices.db_ltds.host".to_string(), false),
            ("tableDataServices.db_ltds.port".to_string(), false),
        ]
    );
    assert_eq!(doc.comments().len(), 4);
    assert!(matches!(doc.root(), Some(Node::Map { .. })));
}

// ---------------------------------------------------------------------------------------
// Generated YAML.

/// A scalar to write: its value and how to quote it.
#[derive(Debug, Clone)]
struct GenScalar {
    value: String,
    style: ScalarStyle,
    /// For plain scalars with spaces: write the n-th space as a line fold.
    fold_at: Option<usize>,
}

#[derive(Debug, Clone)]
enum GenValue {
    Scalar(GenScalar),
    Map(Vec<GenValue>),
    Seq(Vec<GenValue>),
    FlowMap(Vec<GenScalar>),
    FlowSeq(Vec<GenScalar>),
    /// An alias to the n-th anchor defined so far (modulo); a scalar when none exists.
    Alias(usize, GenScalar),
    /// A map merging the n-th anchored map so far, plus its own entries.
    Merge(usize, Vec<GenValue>),
}

#[derive(Debug, Clone)]
struct GenEntry {
    value: GenValue,
    anchor: bool,
    comment: Option<String>,
    spaces: usize,
}

fn plain_word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._/-]{0,8}|[äöüéß][a-zé]{0,4}|dh-query-[0-9]{1,2}|10\\.1\\.2\\.[0-9]{1,2}"
}

fn gen_scalar() -> impl Strategy<Value = GenScalar> {
    prop_oneof![
        (
            prop::collection::vec(plain_word(), 1..4),
            any::<prop::sample::Index>(),
            any::<bool>()
        )
            .prop_map(|(words, i, fold)| {
                let spaces = words.len() - 1;
                GenScalar {
                    value: words.join(" "),
                    style: ScalarStyle::Plain,
                    fold_at: (fold && spaces > 0).then(|| i.index(spaces)),
                }
            }),
        "[a-z '\"#:\\\\é😀-]{0,12}".prop_map(|value| GenScalar {
            value,
            style: ScalarStyle::SingleQuoted,
            fold_at: None,
        }),
        "[a-z '\"#:\\\\\t\né😀-]{0,12}".prop_map(|value| GenScalar {
            value,
            style: ScalarStyle::DoubleQuoted,
            fold_at: None,
        }),
    ]
}

fn gen_value() -> impl Strategy<Value = GenValue> {
    let leaf = prop_oneof![
        4 => gen_scalar().prop_map(GenValue::Scalar),
        1 => prop::collection::vec(gen_scalar(), 0..4).prop_map(GenValue::FlowMap),
        1 => prop::collection::vec(gen_scalar(), 0..4).prop_map(GenValue::FlowSeq),
        1 => (any::<usize>(), gen_scalar()).prop_map(|(n, s)| GenValue::Alias(n, s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(GenValue::Map),
            prop::collection::vec(inner.clone(), 1..4).prop_map(GenValue::Seq),
            (any::<usize>(), prop::collection::vec(inner, 0..3))
                .prop_map(|(n, v)| GenValue::Merge(n, v)),
        ]
    })
}

fn gen_entry() -> impl Strategy<Value = GenEntry> {
    (
        gen_value(),
        any::<bool>(),
        prop::option::of("[a-z :#'\"&*é😀]{0,10}"),
        1usize..4,
    )
        .prop_map(|(value, anchor, comment, spaces)| GenEntry {
            value,
            anchor,
            comment,
            spaces,
        })
}

/// Writes generated YAML and records the values of non-key scalars in source order.
struct Writer {
    out: String,
    nl: &'static str,
    step: usize,
    values: Vec<String>,
    anchors: Vec<String>,
    map_anchors: Vec<String>,
    counter: usize,
}

impl Writer {
    fn scalar(&mut self, s: &GenScalar, indent: usize) -> String {
        self.values.push(s.value.clone());
        match s.style {
            ScalarStyle::Plain => match s.fold_at {
                Some(n) => {
                    let mut parts = s.value.splitn(n + 2, ' ').collect::<Vec<_>>();
                    let rest = parts.split_off(n + 1).join(" ");
                    let head = parts.join(" ");
                    let pad = " ".repeat(indent + self.step + 1);
                    format!("{head}{}{pad}{rest}", self.nl)
                }
                None => s.value.clone(),
            },
            ScalarStyle::SingleQuoted => format!("'{}'", s.value.replace('\'', "''")),
            _ => {
                let mut t = String::from("\"");
                for c in s.value.chars() {
                    match c {
                        '"' => t.push_str("\\\""),
                        '\\' => t.push_str("\\\\"),
                        '\n' => t.push_str("\\n"),
                        '\t' => t.push_str("\\t"),
                        'é' => t.push_str("\\u00e9"),
                        c => t.push(c),
                    }
                }
                t.push('"');
                t
            }
        }
    }

    fn anchor_name(&mut self) -> String {
        self.counter += 1;
        format!("a{}é", self.counter)
    }

    fn key(&mut self) -> String {
        self.counter += 1;
        format!("k{}", self.counter)
    }

    fn flow(&mut self, items: &[GenScalar], map: bool, indent: usize) -> String {
        let mut parts = Vec::new();
        for s in items {
            let text = self.scalar(s, indent);
            if map {
                let k = self.key();
                parts.push(format!("{k}: {text}"));
            } else {
                parts.push(text);
            }
        }
        if map {
            format!("{{{}}}", parts.join(", "))
        } else {
            format!("[ {} ]", parts.join(" ,"))
        }
    }

    /// Writes `value` after `head` ("key:" or "-") at `indent`.
    fn entry(&mut self, head: &str, e: &GenEntry, indent: usize) {
        let pad = " ".repeat(indent);
        let sp = " ".repeat(e.spaces);
        let nl = self.nl;
        let comment = e
            .comment
            .as_ref()
            .map(|c| format!("  #{c}"))
            .unwrap_or_default();
        let mut anchor = String::new();
        let mut defined = None;
        if e.anchor && !matches!(e.value, GenValue::Alias(..)) {
            let name = self.anchor_name();
            anchor = format!("&{name} ");
            defined = Some(name);
        }
        match &e.value {
            GenValue::Scalar(s) => {
                let t = self.scalar(s, indent);
                self.out
                    .push_str(&format!("{pad}{head}{sp}{anchor}{t}{comment}{nl}"));
            }
            GenValue::FlowMap(items) | GenValue::FlowSeq(items) => {
                let t = self.flow(items, matches!(e.value, GenValue::FlowMap(_)), indent);
                self.out
                    .push_str(&format!("{pad}{head}{sp}{anchor}{t}{comment}{nl}"));
            }
            GenValue::Alias(n, fallback) => {
                if self.anchors.is_empty() {
                    let t = self.scalar(fallback, indent);
                    self.out
                        .push_str(&format!("{pad}{head}{sp}{t}{comment}{nl}"));
                } else {
                    let name = self.anchors[n % self.anchors.len()].clone();
                    self.out
                        .push_str(&format!("{pad}{head}{sp}*{name}{comment}{nl}"));
                }
            }
            GenValue::Map(children) | GenValue::Seq(children) | GenValue::Merge(_, children) => {
                let is_seq = matches!(e.value, GenValue::Seq(_));
                self.out
                    .push_str(&format!("{pad}{head}{sp}{anchor}{comment}{nl}"));
                let inner = indent + self.step;
                if let GenValue::Merge(n, _) = &e.value {
                    if let Some(name) = (!self.map_anchors.is_empty())
                        .then(|| self.map_anchors[n % self.map_anchors.len()].clone())
                    {
                        let ipad = " ".repeat(inner);
                        self.out.push_str(&format!("{ipad}<<: *{name}{nl}"));
                    }
                }
                if children.is_empty() {
                    let k = self.key();
                    self.values.push("x".into());
                    self.out
                        .push_str(&format!("{}{k}: x{nl}", " ".repeat(inner)));
                }
                for (i, child) in children.iter().enumerate() {
                    let ce = GenEntry {
                        value: child.clone(),
                        // Anchor every other child: anchors inside anchored nodes.
                        anchor: i % 2 == 1,
                        comment: None,
                        spaces: 1,
                    };
                    if is_seq {
                        self.entry("-", &ce, inner);
                    } else {
                        let k = format!("{}:", self.key());
                        self.entry(&k, &ce, inner);
                    }
                }
            }
        }
        // Registered only now: an alias inside its own anchored node is refused.
        if let Some(name) = defined {
            if matches!(
                e.value,
                GenValue::Map(_) | GenValue::FlowMap(_) | GenValue::Merge(..)
            ) {
                self.map_anchors.push(name.clone());
            }
            self.anchors.push(name);
        }
    }
}

fn render_generated(
    entries: &[GenEntry],
    crlf: bool,
    step: usize,
    header: bool,
) -> (String, Vec<String>) {
    let mut w = Writer {
        out: String::new(),
        nl: if crlf { "\r\n" } else { "\n" },
        step,
        values: Vec::new(),
        anchors: Vec::new(),
        map_anchors: Vec::new(),
        counter: 0,
    };
    if header {
        w.out.push_str(&format!("# généré 😀 : dh-query-1{}", w.nl));
    }
    for e in entries {
        let k = format!("{}:", w.key());
        w.entry(&k, e, 0);
    }
    (w.out, w.values)
}

// 256 cases each by default; set PROPTEST_CASES for a longer run.
proptest! {
    #[test]
    fn generated_yaml_round_trips_with_exact_values(
        entries in prop::collection::vec(gen_entry(), 1..6),
        crlf in any::<bool>(),
        step in 2usize..5,
        header in any::<bool>(),
    ) {
        let (src, values) = render_generated(&entries, crlf, step, header);
        let doc = match parse(&src) {
            Ok(d) => d,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "{}: {} in\n{src}", position_of(&src, e.offset), e.kind
                )))
            }
        };
        check_lossless(&src, &doc);
        let got: Vec<String> = doc
            .scalars()
            .iter()
            .filter(|s| !s.is_key)
            .map(|s| s.value.clone())
            .collect();
        prop_assert_eq!(got, values, "values differ in\n{}", src);
        // Every alias resolves to a path list that includes the alias's own use site
        // for the anchored scalar it names.
        for a in doc.aliases().iter().filter(|a| !a.merge) {
            let anchor = &doc.anchors()[a.anchor];
            if let Some(i) = doc.scalars().iter().position(|s| s.anchor == Some(a.anchor)) {
                let paths = doc.paths_of(i);
                prop_assert!(paths.contains(&a.path), "{} not in paths of {}", a.path, anchor.name);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,64}") {
        if let Ok(doc) = parse(&src) {
            check_lossless(&src, &doc);
        }
    }

    #[test]
    fn yaml_alphabet_never_panics(src in "[-:#&*!|>'\"{}\\[\\],? \n\r\t\\\\a-c0-1é<]{0,60}") {
        if let Ok(doc) = parse(&src) {
            check_lossless(&src, &doc);
            for offset in 0..=src.len() + 1 {
                let _ = doc.context_at(offset);
                let _ = doc.scalar_at(offset);
            }
            for i in 0..doc.scalars().len() {
                let _ = doc.paths_of(i);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generated block scalars and nesting depths.

/// A block scalar to write: content lines (words, no leading blank), with the number of
/// empty lines before each, and how it is written and placed.
#[derive(Debug, Clone)]
struct GenBlock {
    lines: Vec<(usize, String)>,
    literal: bool,
    /// '-', ' ' (clip) or '+'.
    chomp: char,
    trailing_empty: usize,
    /// Spaces the content is indented beyond the enclosing collection.
    extra: usize,
    explicit: bool,
    /// 0: top-level map value, 1: nested map value, 2: sequence item.
    place: u8,
    anchor: bool,
    crlf: bool,
}

fn gen_block() -> impl Strategy<Value = GenBlock> {
    let line = (0usize..3, "[a-z0-9.-]{1,12}( [a-z0-9.#:-]{1,12}){0,3}");
    (
        prop::collection::vec(line, 1..5),
        any::<bool>(),
        prop::sample::select(vec!['-', ' ', '+']),
        0usize..3,
        1usize..5,
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(lines, literal, chomp, trailing_empty, extra, explicit, place, anchor, crlf)| {
                GenBlock {
                    lines,
                    literal,
                    chomp,
                    trailing_empty,
                    extra,
                    explicit,
                    place,
                    anchor,
                    crlf,
                }
            },
        )
}

/// The text of a file holding `b`, followed by a sibling entry, and the value the block
/// scalar must decode to (YAML 1.2 section 8.1, written independently of the parser).
fn write_block(b: &GenBlock) -> (String, String) {
    let (prefix, parent) = match b.place {
        0 => ("k: ".to_string(), 0),
        1 => ("outer:\n  k: ".to_string(), 2),
        _ => ("list:\n  - ".to_string(), 2),
    };
    let nl = if b.crlf { "\r\n" } else { "\n" };
    let mut src = prefix.replace('\n', nl);
    if b.anchor {
        src.push_str("&a ");
    }
    src.push(if b.literal { '|' } else { '>' });
    if b.explicit {
        src.push_str(&b.extra.to_string());
    }
    if b.chomp != ' ' {
        src.push(b.chomp);
    }
    src.push_str(nl);
    let indent = " ".repeat(parent + b.extra);
    let mut value = String::new();
    for (i, (empty_before, text)) in b.lines.iter().enumerate() {
        let empty_before = if i == 0 { 0 } else { *empty_before };
        for _ in 0..empty_before {
            src.push_str(nl);
        }
        if i > 0 {
            // Between two content lines: literal keeps the break and each empty line;
            // folded turns a lone break into a space and keeps only the empty lines.
            if b.literal {
                value.push('\n');
                value.push_str(&"\n".repeat(empty_before));
            } else if empty_before == 0 {
                value.push(' ');
            } else {
                value.push_str(&"\n".repeat(empty_before));
            }
        }
        src.push_str(&indent);
        src.push_str(text);
        src.push_str(nl);
        value.push_str(text);
    }
    for _ in 0..b.trailing_empty {
        src.push_str(nl);
    }
    match b.chomp {
        '-' => {}
        ' ' => value.push('\n'),
        _ => {
            value.push('\n');
            value.push_str(&"\n".repeat(b.trailing_empty));
        }
    }
    // A sibling at the collection's indentation ends the scalar.
    // (Upper case: the generated lines are lower case.)
    src.push_str(match b.place {
        0 => "NEXT: X",
        1 => "  NEXT: X",
        _ => "  - NEXT",
    });
    src.push_str(nl);
    (src, value)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_block_scalars_locate_exactly_and_decode(b in gen_block()) {
        let (src, value) = write_block(&b);
        let doc = parse(&src).map_err(|e| {
            TestCaseError::fail(format!("{}: {} in\n{src}", position_of(&src, e.offset), e.kind))
        })?;
        check_lossless(&src, &doc);
        let block = doc.scalars().iter().find(|s| s.block_indent.is_some());
        let block = block.ok_or_else(|| TestCaseError::fail(format!("no block in\n{src}")))?;
        prop_assert_eq!(&block.value, &value, "in\n{}", src);
        // The token starts at the header and ends at the last content line (keep: at the
        // last empty line's break), so the sibling after it is outside.
        let token = block.span.slice(&src);
        prop_assert!(token.starts_with(['|', '>']), "{:?}", token);
        prop_assert!(!token.contains("NEXT"), "{:?}", token);
        let last = &b.lines.last().expect("a line").1;
        prop_assert!(token.trim_end_matches(['\r', '\n']).ends_with(last.as_str()), "{:?}", token);
    }

    #[test]
    fn random_nesting_depths_parse_up_to_the_limit_and_no_further(
        depth in 1usize..300,
        limit in 1usize..200,
        flow in any::<bool>(),
    ) {
        let src = if flow {
            format!("{}x{}\n", "[".repeat(depth), "]".repeat(depth))
        } else {
            (0..depth).map(|i| format!("{}k:\n", "  ".repeat(i))).collect::<String>()
        };
        match parse_with_max_depth(&src, limit) {
            Ok(doc) => {
                prop_assert!(depth <= limit, "{} deep parsed with limit {}", depth, limit);
                check_lossless(&src, &doc);
            }
            Err(e) => {
                prop_assert!(depth > limit, "{} deep refused with limit {}: {}", depth, limit, e.kind);
                prop_assert_eq!(e.kind, YamlError::TooDeep { limit });
            }
        }
    }
}
