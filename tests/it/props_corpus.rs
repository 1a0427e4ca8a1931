//! Property-file parser against its corpus (`tests/corpus/props/`) and generated files.
//!
//! - every `valid/*.prop` parses, its parts tile the file, and it renders back byte for byte;
//! - every `invalid/*.prop` fails at exactly the `line:col: Kind` written in its `.expect`;
//! - files generated from the grammar parse to the declarations they were built from and
//!   render back identically; arbitrary text never panics.

use dh_migrate::formats::props::{parse, parse_with_max_depth, PropsError, PropsFile};
use dh_migrate::text::position_of;
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn corpus(dir: &str, ext: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/props")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parts must cover the text exactly, in order, without gap or overlap.
fn assert_tiles(f: &PropsFile, src: &str, what: &str) {
    let mut at = 0;
    for p in f.parts() {
        assert_eq!(p.span.start, at, "{what}: gap or overlap at {p:?}");
        at = p.span.end;
    }
    assert_eq!(at, src.len(), "{what}: parts stop at {at}");
}

#[test]
fn valid_corpus_round_trips() {
    let files = corpus("valid", "prop");
    assert!(
        files.len() >= 12,
        "valid corpus has only {} files",
        files.len()
    );
    for path in files {
        let src = read(&path);
        let what = path.display().to_string();
        let f = parse(&src)
            .unwrap_or_else(|e| panic!("{what}: {} {}", position_of(&src, e.offset), e.kind));
        assert_tiles(&f, &src, &what);
        assert_eq!(f.render(&src), src, "{what}: render differs");
    }
}

#[test]
fn invalid_corpus_fails_where_expected() {
    let files = corpus("invalid", "prop");
    assert!(
        files.len() >= 15,
        "invalid corpus has only {} files",
        files.len()
    );
    for path in files {
        let src = read(&path);
        let expect = read(&path.with_extension("expect")).trim().to_string();
        let what = path.display().to_string();
        match parse(&src) {
            Ok(_) => panic!("{what}: parsed, expected {expect}"),
            Err(e) => {
                let got = format!("{}: {}", position_of(&src, e.offset), e.kind.name());
                assert_eq!(got, expect, "{what}");
            }
        }
    }
}

/// Hand-checked meanings of a few corpus files (beyond the round trip).
#[test]
fn valid_corpus_semantics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/props/valid");
    let load = |name: &str| {
        let src = read(&dir.join(name));
        let f = parse(&src).expect(name);
        (src, f)
    };
    let value = |f: &PropsFile, key: &str| {
        f.declarations()
            .iter()
            .rev()
            .find(|d| d.key == key)
            .map(|d| d.value.clone())
    };

    let (_, f) = load("continuations.prop");
    assert_eq!(
        value(&f, "search.path").as_deref(),
        Some("/db/Systems,/db/Users,/db/Intraday")
    );
    assert_eq!(value(&f, "win.path").as_deref(), Some("C:\\dh\\"));
    assert_eq!(value(&f, "odd").as_deref(), Some("a\\b"));
    assert_eq!(value(&f, "key.split.across").as_deref(), Some("lines"));
    assert_eq!(value(&f, "empty.continued").as_deref(), Some(""));
    assert_eq!(
        value(&f, "between").as_deref(),
        Some("value on the next line")
    );
    assert_eq!(f.scopes()[0].items[1].key, "host");
    assert_eq!(f.declarations().last().map(|d| d.scope), Some(Some(0)));

    let (_, f) = load("escapes.prop");
    assert_eq!(value(&f, "unicode").as_deref(), Some("café été"));
    assert_eq!(value(&f, "emoji").as_deref(), Some("😀"));
    assert_eq!(value(&f, "escaped.equals=in.key").as_deref(), Some("v"));
    assert_eq!(value(&f, "leading.space").as_deref(), Some("  two spaces"));
    assert_eq!(value(&f, "other").as_deref(), Some("qwe"));

    let (_, f) = load("crlf.prop");
    assert_eq!(value(&f, "b").as_deref(), Some("two words "));
    assert_eq!(value(&f, "cont").as_deref(), Some("xy"));
    assert_eq!(value(&f, "last").as_deref(), Some("no newline"));

    let (_, f) = load("tabs.prop");
    assert_eq!(value(&f, "c").as_deref(), Some("keep\ttrailing\t"));
    assert_eq!(value(&f, "ff").as_deref(), Some("form feed indent"));

    let (_, f) = load("comments.prop");
    assert_eq!(
        value(&f, "url").as_deref(),
        Some("https://dh-infra-1.example.com:8000/x   # not a comment")
    );
    assert_eq!(value(&f, "real").as_deref(), Some("yes"));
    assert_eq!(f.comments().len(), 8);

    let (_, f) = load("includefiles.prop");
    let inc: Vec<&str> = f
        .includefiles()
        .expect("includefiles")
        .files
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        inc,
        vec![
            "iris-common.prop",
            "iris-endpoints.prop",
            "iris-defaults.prop"
        ]
    );

    let (_, f) = load("final.prop");
    let finals: Vec<&str> = f
        .declarations()
        .iter()
        .filter(|d| d.is_final)
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(
        finals,
        vec!["auth.server.host", "port", "colon.sep", "query.only"]
    );

    let (_, f) = load("finalize.prop");
    let names: Vec<&str> = f.finalized().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["a.b", "auth.*.secret", "*.password", "single", "x*y"]
    );

    let (_, f) = load("nested_scopes.prop");
    assert_eq!(f.scopes().len(), 4);
    assert_eq!(f.scope_chain(2), vec![0, 1, 2]);
    assert_eq!(
        f.services(0),
        vec!["iris_controller", "authentication_server"]
    );

    let (_, f) = load("close_then_decl.prop");
    let scopes: Vec<(&str, Option<usize>)> = f
        .declarations()
        .iter()
        .map(|d| (d.key.as_str(), d.scope))
        .collect();
    assert_eq!(
        scopes,
        vec![
            ("a", Some(0)),
            ("b", None),
            ("c", Some(1)),
            ("d", Some(2)),
            ("e", None),
            ("f", None)
        ]
    );

    let (_, f) = load("brace_value.prop");
    assert_eq!(value(&f, "k").as_deref(), Some("v }"));
    assert_eq!(value(&f, "inner").as_deref(), Some("still in the block"));
    assert_eq!(f.declarations()[1].scope, Some(0));
    assert_eq!(value(&f, "m").as_deref(), Some("n }"));

    let (src, f) = load("host_headers.prop");
    let hosts: Vec<&str> = f.scopes()[0].items[0]
        .values
        .iter()
        .map(|(v, s)| {
            assert_eq!(&src[s.range()], v.as_str());
            v.as_str()
        })
        .collect();
    assert_eq!(hosts, vec!["dh-query-2", "dh-query-2.example.com"]);
    let second: Vec<&str> = f.scopes()[1].items[0]
        .values
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    assert_eq!(second, vec!["10.1.2.11", "10.1.2.12"]);

    let (_, f) = load("iris_environment.prop");
    assert_eq!(
        value(&f, "jvm.args").as_deref(),
        Some("-Xmx8g -Dhost=dh-query-1 -Dfoo=bar")
    );
    assert_eq!(f.services(1), vec!["db_query_server"]);
}

// ---- generated files ----

/// One piece of a value: its raw text and what it decodes to.
#[derive(Debug, Clone)]
enum Atom {
    Plain(String),
    Escape(&'static str, &'static str),
    /// A continuation with the line ending and next-line indentation it is written with.
    Continuation(bool, String),
}

#[derive(Debug, Clone)]
struct Decl {
    indent: String,
    key: (String, String),
    pre_sep: String,
    sep: Option<char>,
    post_sep: String,
    value: Vec<Atom>,
}

#[derive(Debug, Clone)]
struct HeaderItem {
    pre: String,
    key: String,
    eq_ws: (String, String),
    values: Vec<String>,
    pipe_ws: String,
    post: String,
}

#[derive(Debug, Clone)]
struct ScopeGen {
    indent: String,
    header: Vec<HeaderItem>,
    /// 0: `{` on the header line, 1: on the next line, 2: after a comment line.
    open: u8,
    inline_first: bool,
    open_comment: Option<String>,
    body: Vec<Item>,
    close_tail: Option<Decl>,
}

#[derive(Debug, Clone)]
enum Item {
    Blank(String),
    Comment(String, char, String),
    Decl(Decl),
    Final(&'static str, String, Decl),
    Finalize(&'static str, Vec<(String, String)>),
    Scope(Box<ScopeGen>),
}

fn ws(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![4 => Just(' '), 2 => Just('\t'), 1 => Just('\x0c')],
        0..=max,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .:/=#!\\[\\]{}|,\t_-]{1,8}".prop_map(Atom::Plain),
        1 => "[a-z é✓😀ß]{1,4}".prop_map(Atom::Plain),
        2 => prop::sample::select(vec![
            ("\\\\", "\\"),
            ("\\t", "\t"),
            ("\\n", "\n"),
            ("\\u00e9", "é"),
            ("\\u00E9", "é"),
            ("\\uD83D\\uDE00", "😀"),
            ("\\=", "="),
            ("\\:", ":"),
            ("\\ ", " "),
            ("\\#", "#"),
            ("\\q", "q"),
        ])
        .prop_map(|(r, d)| Atom::Escape(r, d)),
        1 => (any::<bool>(), ws(3)).prop_map(|(crlf, i)| Atom::Continuation(crlf, i)),
    ]
}

fn key() -> impl Strategy<Value = (String, String)> {
    let esc = prop::sample::select(vec![
        ("", ""),
        ("\\ ", " "),
        ("\\=", "="),
        ("\\:", ":"),
        ("\\u00e9", "é"),
    ]);
    ("[a-k][a-z0-9._]{0,8}", esc, "[a-z]{0,3}")
        .prop_filter("keywords are not keys", |(h, _, t)| {
            let k = format!("{h}{t}");
            !k.eq_ignore_ascii_case("final") && !k.eq_ignore_ascii_case("finalize")
        })
        .prop_map(|(h, (r, d), t)| (format!("{h}{r}{t}"), format!("{h}{d}{t}")))
}

fn decl() -> impl Strategy<Value = Decl> {
    (
        ws(3),
        key(),
        ws(2),
        prop::option::weighted(0.9, prop::sample::select(vec!['=', ':'])),
        ws(2),
        prop::collection::vec(atom(), 0..6),
    )
        .prop_map(|(indent, key, pre_sep, sep, post_sep, mut value)| {
            // A continuation must join onto something of this value.
            if matches!(value.last(), Some(Atom::Continuation(..))) {
                value.push(Atom::Plain("x".into()));
            }
            Decl {
                indent,
                key,
                pre_sep,
                sep,
                post_sep,
                value,
            }
        })
}

fn header_item() -> impl Strategy<Value = HeaderItem> {
    (
        ws(2),
        "[a-z][a-z.]{0,10}",
        (ws(1), ws(1)),
        prop::collection::vec("[a-z0-9][a-z0-9.-]{0,12}", 1..3),
        ws(1),
        ws(2),
    )
        .prop_map(|(pre, key, eq_ws, values, pipe_ws, post)| HeaderItem {
            pre,
            key,
            eq_ws,
            values,
            pipe_ws,
            post,
        })
}

fn comment_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 =:{}\\[\\]é✓#!\t]{0,12}"
}

fn leaf() -> impl Strategy<Value = Item> {
    prop_oneof![
        1 => ws(3).prop_map(Item::Blank),
        2 => (ws(2), prop::sample::select(vec!['#', '!']), comment_text(), any::<bool>())
            .prop_map(|(i, m, t, bs)| Item::Comment(i, m, if bs { format!("{t}\\") } else { t })),
        6 => decl().prop_map(Item::Decl),
        1 => (prop::sample::select(vec!["final", "FINAL", "Final"]), "[ \t]{1,2}", decl())
            .prop_map(|(kw, sp, d)| Item::Final(kw, sp, d)),
        1 => (
            prop::sample::select(vec!["finalize", "FINALIZE", "Finalize"]),
            prop::collection::vec((ws(2), ws(2)), 1..4),
        )
            .prop_map(|(kw, names)| Item::Finalize(kw, names)),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    leaf().prop_recursive(3, 40, 6, |inner| {
        (
            ws(2),
            prop::collection::vec(header_item(), 1..3),
            0u8..3,
            any::<bool>(),
            prop::option::of(comment_text()),
            prop::collection::vec(inner, 0..5),
            prop::option::weighted(0.3, decl()),
        )
            .prop_map(
                |(indent, header, open, inline_first, open_comment, body, close_tail)| {
                    Item::Scope(Box::new(ScopeGen {
                        indent,
                        header,
                        open,
                        inline_first,
                        open_comment,
                        body,
                        close_tail,
                    }))
                },
            )
    })
}

/// A generated file being written, with what parsing it must give.
#[derive(Debug, Clone)]
struct Gen {
    src: String,
    /// (key, decoded value, is_final) of every declaration, in order.
    expected: Vec<(String, String, bool)>,
    scopes: usize,
    eols: Vec<bool>,
    line: usize,
    locks: usize,
}

impl Gen {
    fn eol(&mut self) {
        let crlf = self.eols[self.line % self.eols.len()];
        self.line += 1;
        self.src.push_str(if crlf { "\r\n" } else { "\n" });
    }

    /// Writes a declaration (without indentation or line end) and records its meaning.
    fn decl(&mut self, d: &Decl, key: Option<(String, String)>, is_final: bool) {
        let (raw_key, key) = key.unwrap_or_else(|| d.key.clone());
        self.src.push_str(&raw_key);
        self.src.push_str(&d.pre_sep);
        let mut value = String::new();
        if let Some(sep) = d.sep {
            self.src.push(sep);
            self.src.push_str(&d.post_sep);
            // Leading whitespace of the value and of each continued line is dropped.
            let mut skipping = true;
            for a in &d.value {
                match a {
                    Atom::Plain(p) => {
                        self.src.push_str(p);
                        for c in p.chars() {
                            if skipping && matches!(c, ' ' | '\t' | '\x0c') {
                                continue;
                            }
                            skipping = false;
                            value.push(c);
                        }
                    }
                    Atom::Escape(r, dec) => {
                        self.src.push_str(r);
                        value.push_str(dec);
                        skipping = false;
                    }
                    Atom::Continuation(crlf, indent) => {
                        self.src.push('\\');
                        self.src.push_str(if *crlf { "\r\n" } else { "\n" });
                        self.line += 1;
                        self.src.push_str(indent);
                        skipping = true;
                    }
                }
            }
        }
        self.expected.push((key, value, is_final));
    }

    fn item(&mut self, it: &Item) {
        match it {
            Item::Blank(w) => {
                self.src.push_str(w);
                self.eol();
            }
            Item::Comment(i, m, t) => {
                self.src.push_str(i);
                self.src.push(*m);
                self.src.push_str(t);
                self.eol();
            }
            Item::Decl(d) => {
                self.src.push_str(&d.indent);
                self.decl(d, None, false);
                self.eol();
            }
            Item::Final(kw, sp, d) => {
                // Final keys are unique and never match an ordinary key (those start a-k).
                self.locks += 1;
                let k = format!("zfin{}", self.locks);
                self.src.push_str(&d.indent);
                self.src.push_str(kw);
                self.src.push_str(sp);
                self.decl(d, Some((k.clone(), k)), true);
                self.eol();
            }
            Item::Finalize(kw, names) => {
                self.src.push_str(kw);
                self.src.push(' ');
                for (n, (pre, post)) in names.iter().enumerate() {
                    self.locks += 1;
                    if n > 0 {
                        self.src.push(',');
                    }
                    self.src.push_str(pre);
                    self.src.push_str(&format!("zlock{}.*", self.locks));
                    self.src.push_str(post);
                }
                self.eol();
            }
            Item::Scope(s) => self.scope(s),
        }
    }

    fn scope(&mut self, s: &ScopeGen) {
        self.scopes += 1;
        self.src.push_str(&s.indent);
        self.src.push('[');
        for (n, h) in s.header.iter().enumerate() {
            if n > 0 {
                self.src.push(',');
            }
            self.src.push_str(&h.pre);
            self.src.push_str(&h.key);
            self.src.push_str(&h.eq_ws.0);
            self.src.push('=');
            self.src.push_str(&h.eq_ws.1);
            let sep = format!("{}|{}", h.pipe_ws, h.pipe_ws);
            self.src.push_str(&h.values.join(&sep));
            self.src.push_str(&h.post);
        }
        self.src.push(']');
        let mut body = &s.body[..];
        match s.open {
            0 => {
                self.src.push_str(" {");
                match (s.inline_first, body.first()) {
                    (true, Some(Item::Decl(d))) => {
                        self.src.push(' ');
                        self.decl(d, None, false);
                        body = &body[1..];
                    }
                    _ => {
                        if let Some(c) = &s.open_comment {
                            self.src.push_str(" #");
                            self.src.push_str(c);
                        }
                    }
                }
                self.eol();
            }
            n => {
                self.eol();
                if n == 2 {
                    self.src.push_str("# between header and brace");
                    self.eol();
                }
                self.src.push_str(&s.indent);
                self.src.push('{');
                self.eol();
            }
        }
        for it in body {
            self.item(it);
        }
        self.src.push_str(&s.indent);
        self.src.push('}');
        if let Some(d) = &s.close_tail {
            self.src.push(' ');
            self.decl(d, None, false);
        }
        self.eol();
    }
}

fn file() -> impl Strategy<Value = (Gen, Vec<Item>)> {
    (
        prop::collection::vec(item(), 0..10),
        prop::collection::vec(any::<bool>(), 1..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(items, eols, include, trim_last_eol)| {
            let mut g = Gen {
                src: String::new(),
                expected: Vec::new(),
                scopes: 0,
                eols,
                line: 0,
                locks: 0,
            };
            if include {
                g.src.push_str("# head\nincludefiles = a.prop,\tb.prop");
                g.expected
                    .push(("includefiles".into(), "a.prop,\tb.prop".into(), false));
                g.eol();
            }
            for it in &items {
                g.item(it);
            }
            // Sometimes drop the final line ending (the last line then ends at EOF).
            if trim_last_eol {
                let cut = g
                    .src
                    .strip_suffix('\n')
                    .map(|s| s.strip_suffix('\r').unwrap_or(s).len());
                if let Some(cut) = cut {
                    g.src.truncate(cut);
                }
            }
            (g, items)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_files_parse_to_their_model_and_round_trip((g, _items) in file()) {
        let f = match parse(&g.src) {
            Ok(f) => f,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "{:?}: {} {}", g.src, position_of(&g.src, e.offset), e.kind
                )));
            }
        };
        assert_tiles(&f, &g.src, "generated");
        prop_assert_eq!(f.render(&g.src), g.src.clone());
        let got: Vec<(String, String, bool)> = f
            .declarations()
            .iter()
            .map(|d| (d.key.clone(), d.value.clone(), d.is_final))
            .collect();
        prop_assert_eq!(got, g.expected.clone());
        prop_assert_eq!(f.scopes().len(), g.scopes);
        prop_assert!(f.scopes().iter().all(|s| s.close_span.is_some()));
        // Every value span holds bytes that decode to the value's first character.
        for d in f.declarations() {
            prop_assert!(d.value_span.end <= g.src.len());
            if !d.value.is_empty() {
                prop_assert_eq!(d.raw_offset(0), d.value_span.start);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        if let Ok(f) = parse(&src) {
            prop_assert_eq!(f.render(&src), src.clone());
        }
    }

    #[test]
    fn grammar_alphabet_text_never_panics_and_round_trips(
        src in "[a-fu0-9\\\\=:#! \t\r\n\\[\\]{}|,.*é]{0,80}"
    ) {
        if let Ok(f) = parse(&src) {
            assert_tiles(&f, &src, "alphabet");
            prop_assert_eq!(f.render(&src), src.clone());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Nested scope blocks (the `{` on the header line or on the next line, with a
    /// declaration inside each) parse up to the depth limit and stop at the first header
    /// past it, in time and memory linear in the depth.
    #[test]
    fn random_nesting_depths_parse_up_to_the_limit_and_no_further(
        depth in 1usize..400,
        limit in 1usize..300,
        brace_next_line in any::<bool>(),
    ) {
        let mut src = String::new();
        let mut header_at = Vec::new();
        for i in 0..depth {
            header_at.push(src.len());
            src.push_str("[service.name=db_dis|iris_controller]");
            src.push_str(if brace_next_line { "\n{\n" } else { " {\n" });
            src.push_str(&format!("k{i}=dh-infra-1:{i}\n"));
        }
        src.push_str(&"}\n".repeat(depth));
        match parse_with_max_depth(&src, limit) {
            Ok(f) => {
                prop_assert!(depth <= limit, "{} deep parsed with limit {}", depth, limit);
                assert_tiles(&f, &src, "generated");
                prop_assert_eq!(f.scope_chain(depth - 1).len(), depth);
            }
            Err(e) => {
                prop_assert!(depth > limit, "{} deep refused with limit {}: {}", depth, limit, e.kind);
                prop_assert_eq!(e.kind, PropsError::TooDeep { limit });
                prop_assert_eq!(e.offset, header_at[limit]);
            }
        }
    }
}
