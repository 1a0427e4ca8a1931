//! Unit tests of the YAML model: exact spans, paths through aliases and merges, errors.

use super::*;

fn doc(src: &str) -> YamlDoc {
    match parse(src) {
        Ok(d) => {
            assert_eq!(d.render(src), src, "render must give back the source");
            d
        }
        Err(e) => panic!("{src:?} should parse, got {e} ({:?})", e.kind),
    }
}

/// (token text, decoded value, is_key) of every scalar.
fn tokens<'a>(src: &'a str, d: &YamlDoc) -> Vec<(&'a str, String, bool)> {
    d.scalars()
        .iter()
        .map(|s| (s.span.slice(src), s.value.clone(), s.is_key))
        .collect()
}

fn paths(d: &YamlDoc, scalar: usize) -> Vec<String> {
    d.paths_of(scalar).iter().map(|p| p.to_string()).collect()
}

fn error(src: &str) -> (usize, YamlError) {
    match parse(src) {
        Ok(_) => panic!("{src:?} should be refused"),
        Err(e) => (e.offset, e.kind),
    }
}

#[test]
fn plain_single_and_double_quoted_spans() {
    let src = "a: plain value\nb: 'it''s'\nc: \"tab\\there \\\"q\\\" \\u00e9\"\n";
    let d = doc(src);
    assert_eq!(
        tokens(src, &d),
        vec![
            ("a", "a".to_string(), true),
            ("plain value", "plain value".to_string(), false),
            ("b", "b".to_string(), true),
            ("'it''s'", "it's".to_string(), false),
            ("c", "c".to_string(), true),
            (
                "\"tab\\there \\\"q\\\" \\u00e9\"",
                "tab\there \"q\" é".to_string(),
                false
            ),
        ]
    );
    assert_eq!(d.scalars()[1].span, Span::new(3, 14));
    assert_eq!(d.scalars()[3].style, ScalarStyle::SingleQuoted);
    assert_eq!(d.scalars()[5].style, ScalarStyle::DoubleQuoted);
}

#[test]
fn keys_have_the_path_of_their_entry() {
    let src = "outer:\n  'quoted key': 1\n  \"k2\": x\n";
    let d = doc(src);
    let s = d.scalars();
    assert_eq!(s[1].span.slice(src), "'quoted key'");
    assert!(s[1].is_key);
    assert_eq!(s[1].path.to_string(), "outer.quoted key");
    assert_eq!(s[2].path.to_string(), "outer.quoted key");
    assert_eq!(s[3].span.slice(src), "\"k2\"");
    assert_eq!(s[4].path.to_string(), "outer.k2");
}

#[test]
fn flow_maps_and_sequences_have_exact_spans() {
    let src = "ep: {host: a.example.com, port: 1}\nl: [ x , 'y' ]\n";
    let d = doc(src);
    assert_eq!(
        tokens(src, &d).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec!["ep", "host", "a.example.com", "port", "1", "l", "x", "'y'"]
    );
    assert_eq!(d.scalars()[2].path.to_string(), "ep.host");
    assert_eq!(d.scalars()[7].path.to_string(), "l[1]");
    let Some(Node::Map { entries, .. }) = d.root() else {
        panic!("root is a map")
    };
    match &entries[0].1 {
        Node::Map { span, .. } => assert_eq!(span.slice(src), "{host: a.example.com, port: 1}"),
        other => panic!("flow map expected, got {other:?}"),
    }
    match &entries[1].1 {
        Node::Seq { span, items } => {
            assert_eq!(span.slice(src), "[ x , 'y' ]");
            assert_eq!(items.len(), 2);
        }
        other => panic!("flow seq expected, got {other:?}"),
    }
}

#[test]
fn anchored_scalar_span_excludes_the_anchor() {
    let src = "anchors:\n  - &h dh-query-1\nhost: *h\n";
    let d = doc(src);
    let s = &d.scalars()[1];
    assert_eq!(s.span.slice(src), "dh-query-1");
    assert_eq!(s.span, Span::new(16, 26));
    assert_eq!(s.anchor, Some(0));
    let a = &d.anchors()[0];
    assert_eq!(a.name, "h");
    assert_eq!(a.span.slice(src), "&h");
    assert_eq!(a.node_span.slice(src), "dh-query-1");
    assert_eq!(a.path.to_string(), "anchors[0]");
    let alias = &d.aliases()[0];
    assert_eq!(alias.span.slice(src), "*h");
    assert_eq!(alias.path.to_string(), "host");
    assert!(!alias.merge);
    assert_eq!(alias.anchor, 0);
}

#[test]
fn tagged_scalar_span_excludes_the_tag() {
    let src = "port: !!str 22015\n";
    let d = doc(src);
    assert_eq!(d.scalars()[1].span.slice(src), "22015");
    assert_eq!(d.scalars()[1].value, "22015");
}

#[test]
fn scalars_followed_by_comments_stop_before_them() {
    let src = "a: \"x\" # note dh-1\nb: plain words   # other\nc: 'q' #\n";
    let d = doc(src);
    assert_eq!(
        tokens(src, &d).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec!["a", "\"x\"", "b", "plain words", "c", "'q'"]
    );
    let comments: Vec<&str> = d.comments().iter().map(|c| c.slice(src)).collect();
    assert_eq!(comments, vec!["# note dh-1", "# other", "#"]);
    assert_eq!(
        d.context_at(src.find("dh-1").unwrap_or(0)),
        YamlContext::Comment
    );
}

#[test]
fn crlf_line_ends_and_multiline_scalars() {
    let src = "a: one\r\n  two\r\nb: \"x\r\n  y\"\r\n# c\r\nc: 'p\r\n\r\n  q'\r\n";
    let d = doc(src);
    assert_eq!(
        tokens(src, &d),
        vec![
            ("a", "a".to_string(), true),
            ("one\r\n  two", "one two".to_string(), false),
            ("b", "b".to_string(), true),
            ("\"x\r\n  y\"", "x y".to_string(), false),
            ("c", "c".to_string(), true),
            ("'p\r\n\r\n  q'", "p\nq".to_string(), false),
        ]
    );
    // The comment excludes its line break.
    assert_eq!(d.comments()[0].slice(src), "# c");
}

#[test]
fn unicode_before_a_scalar_gives_byte_offsets() {
    // "é" and "ü" are two bytes each, "😀" four: the parser counts characters.
    let src = "# ééé 😀\nkü: &é wert # ü\nx: *é\n";
    let d = doc(src);
    let s = &d.scalars()[1];
    assert_eq!(s.span.slice(src), "wert");
    assert_eq!(s.span, Span::new(23, 27));
    assert_eq!(d.scalars()[0].span.slice(src), "kü");
    assert_eq!(d.anchors()[0].span.slice(src), "&é");
    assert_eq!(d.anchors()[0].name, "é");
    assert_eq!(d.aliases()[0].span.slice(src), "*é");
    assert_eq!(paths(&d, 1), vec!["kü", "x"]);
}

#[test]
fn bom_is_kept_outside_every_token() {
    let src = "\u{feff}a: b\n";
    let d = doc(src);
    assert_eq!(d.scalars()[0].span, Span::new(3, 4));
}

#[test]
fn paths_through_a_merge_key() {
    let src = "\
defaults: &d
  host: dh-infra-1
  port: 22015
svc:
  <<: *d
  port: 22016
";
    let d = doc(src);
    let host = 2; // value `dh-infra-1`
    let port = 4; // value `22015`
    assert_eq!(d.scalars()[host].value, "dh-infra-1");
    assert_eq!(paths(&d, host), vec!["defaults.host", "svc.host"]);
    // `svc` overrides port: the anchored 22015 is not reached there.
    assert_eq!(d.scalars()[port].value, "22015");
    assert_eq!(paths(&d, port), vec!["defaults.port"]);
    // The key scalar names the same entries as its value.
    assert_eq!(paths(&d, 1), vec!["defaults.host", "svc.host"]);
    assert!(d.aliases()[0].merge);
    assert_eq!(d.aliases()[0].path.to_string(), "svc.<<");
}

#[test]
fn merge_lists_take_the_first_source_of_a_key() {
    let src = "\
a: &a {host: h-a, x: 1}
b: &b {host: h-b, y: 2}
c:
  <<: [*a, *b]
";
    let d = doc(src);
    let idx = |v: &str| {
        d.scalars()
            .iter()
            .position(|s| s.value == v)
            .unwrap_or(usize::MAX)
    };
    assert_eq!(paths(&d, idx("h-a")), vec!["a.host", "c.host"]);
    assert_eq!(paths(&d, idx("h-b")), vec!["b.host"]);
    assert_eq!(paths(&d, idx("2")), vec!["b.y", "c.y"]);
    assert!(d.aliases().iter().all(|a| a.merge));
}

#[test]
fn paths_through_a_plain_alias() {
    let src = "hosts:\n  - &q dh-query-1\nservers:\n  one: *q\n  list: [*q, other]\n";
    let d = doc(src);
    assert_eq!(
        paths(&d, 1),
        vec!["hosts[0]", "servers.one", "servers.list[0]"]
    );
}

#[test]
fn nested_anchors_are_followed_recursively() {
    let src = "\
anchors:
  - &ep
    host: &h dh-dis-1
    tailerPort: 22021
  - &dis
    endpoint: *ep
dataImportServers:
  db_dis:
    <<: *dis
  other:
    endpoint:
      <<: *ep
  direct: *h
";
    let d = doc(src);
    let host = d
        .scalars()
        .iter()
        .position(|s| s.value == "dh-dis-1")
        .unwrap_or(0);
    assert_eq!(
        paths(&d, host),
        vec![
            "anchors[0].host",
            "anchors[1].endpoint.host",
            "dataImportServers.db_dis.endpoint.host",
            "dataImportServers.other.endpoint.host",
            "dataImportServers.direct",
        ]
    );
}

#[test]
fn scalar_at_and_context_at() {
    let src = "k: &a v1 # c\nl: *a\n";
    let d = doc(src);
    assert_eq!(d.scalar_at(0), Some(0));
    assert_eq!(d.scalar_at(1), None);
    assert_eq!(d.scalar_at(6), Some(1));
    assert_eq!(d.scalar_at(7), Some(1));
    assert_eq!(d.scalar_at(8), None);
    assert_eq!(d.context_at(6), YamlContext::Scalar(1));
    assert_eq!(d.context_at(3), YamlContext::AnchorName);
    assert_eq!(d.context_at(4), YamlContext::AnchorName);
    assert_eq!(d.context_at(10), YamlContext::Comment);
    assert_eq!(d.context_at(16), YamlContext::AliasName);
    assert_eq!(d.context_at(1), YamlContext::Other);
    assert_eq!(d.context_at(999), YamlContext::Other);
}

#[test]
fn empty_file_and_comment_only_file_have_no_root() {
    assert!(doc("").root().is_none());
    let d = doc("# just a comment\n");
    assert!(d.root().is_none());
    assert_eq!(d.comments().len(), 1);
}

#[test]
fn implicit_null_values_have_empty_spans() {
    let src = "a:\nb: 1\n";
    let d = doc(src);
    assert_eq!(d.scalars()[1].value, "");
    assert!(d.scalars()[1].span.is_empty());
    assert_eq!(d.scalars()[1].path.to_string(), "a");
}

#[test]
fn block_sequence_and_map_node_spans() {
    let src = "top:\n  - a\n  - b: 1\n    c: 2\n";
    let d = doc(src);
    let Some(Node::Map { entries, .. }) = d.root() else {
        panic!("root map")
    };
    let Node::Seq { span, items } = &entries[0].1 else {
        panic!("seq")
    };
    assert_eq!(span.slice(src), "- a\n  - b: 1\n    c: 2");
    let Node::Map { span, .. } = &items[1] else {
        panic!("map")
    };
    assert_eq!(span.slice(src), "b: 1\n    c: 2");
}

#[test]
fn duplicate_key_is_reported_at_the_second_key() {
    assert_eq!(
        error("a: 1\nb:\n  x: 1\n  x: 2\n"),
        (
            17,
            YamlError::DuplicateKey {
                key: "x".to_string()
            }
        )
    );
}

#[test]
fn undefined_and_recursive_aliases_are_errors() {
    assert_eq!(
        error("a: *nope\n"),
        (
            3,
            YamlError::UndefinedAlias {
                name: "nope".to_string()
            }
        )
    );
    assert_eq!(
        error("a: &x [1, *x]\n"),
        (
            10,
            YamlError::RecursiveAlias {
                name: "x".to_string()
            }
        )
    );
}

#[test]
fn refused_constructs_have_typed_errors() {
    assert_eq!(
        error("a: 1\n---\nb: 2\n"),
        (5, YamlError::MultipleDocuments)
    );
    assert_eq!(
        error("? [a]\n: 1\n"),
        (
            2,
            YamlError::ComplexKey {
                found: NodeKind::Seq
            }
        )
    );
    assert_eq!(error("a: &s x\nb:\n  <<: *s\n"), (17, YamlError::BadMerge));
    assert_eq!(error("b:\n  <<: {k: v}\n"), (9, YamlError::BadMerge));
}

#[test]
fn syntax_errors_are_classified() {
    let (offset, kind) = error("a: \"open\n");
    assert_eq!(offset, 3);
    assert_eq!(
        kind,
        YamlError::Syntax {
            problem: SyntaxProblem::UnterminatedQuote
        }
    );
    let (_, kind) = error("a: \"\\q\"\n");
    assert_eq!(kind.code(), "syntax/invalid-escape");
}

#[test]
fn path_display_joins_keys_and_indices() {
    let p = Path(vec![
        PathSeg::Key("storage".into()),
        PathSeg::Index(0),
        PathSeg::Key("dbRoot".into()),
    ]);
    assert_eq!(p.to_string(), "storage[0].dbRoot");
    assert_eq!(Path::default().to_string(), "");
}

#[test]
fn block_scalars_span_from_header_to_last_content_line() {
    let src = "a: |\n  host-1\n  host-2\nb: >-\n  one\n  two\n\nc: x\n";
    let d = doc(src);
    assert_eq!(
        tokens(src, &d),
        vec![
            ("a", "a".to_string(), true),
            (
                "|\n  host-1\n  host-2",
                "host-1\nhost-2\n".to_string(),
                false
            ),
            ("b", "b".to_string(), true),
            (">-\n  one\n  two", "one two".to_string(), false),
            ("c", "c".to_string(), true),
            ("x", "x".to_string(), false),
        ]
    );
    assert_eq!(d.scalars()[1].style, ScalarStyle::Literal);
    assert_eq!(d.scalars()[1].block_indent, Some(2));
    assert_eq!(d.scalars()[3].style, ScalarStyle::Folded);
    // A host inside is found at its exact bytes, in the scalar, at the scalar's path.
    let host = src.find("host-2").unwrap();
    assert_eq!(d.context_at(host), YamlContext::Scalar(1));
    assert_eq!(paths(&d, 1), vec!["a"]);
}

#[test]
fn block_scalars_in_lists_under_anchors_with_indicators() {
    let src = "\
base: &b |2-  # two more than the map
    indented
  flush
list:
  - >
    folded
    line

  - |+
    kept

  - *b
";
    let d = doc(src);
    let blocks: Vec<(&str, &str)> = d
        .scalars()
        .iter()
        .filter(|s| s.block_indent.is_some())
        .map(|s| (s.span.slice(src), s.value.as_str()))
        .collect();
    assert_eq!(
        blocks,
        vec![
            (
                "|2-  # two more than the map\n    indented\n  flush",
                "  indented\nflush"
            ),
            (">\n    folded\n    line", "folded line\n"),
            ("|+\n    kept\n\n", "kept\n\n"),
        ]
    );
    assert_eq!(d.anchors()[0].name, "b");
    assert_eq!(paths(&d, 1), vec!["base", "list[2]"]);
    assert_eq!(paths(&d, 4), vec!["list[1]"]);
}

#[test]
fn several_documents_each_with_a_root_and_own_anchors() {
    let src = "a: &x 1\n---\nb: 2\n...\n---\n- c\n";
    assert_eq!(error(src), (8, YamlError::MultipleDocuments));
    let d = parse_stream(src).expect("a stream");
    assert_eq!(d.render(src), src);
    assert_eq!(d.roots().len(), 3);
    assert!(matches!(d.root(), Some(Node::Map { .. })));
    assert!(matches!(d.roots()[2], Node::Seq { .. }));
    assert_eq!(paths(&d, 3), vec!["b"]);
    assert_eq!(paths(&d, 4), vec!["[0]"]);
    // An alias cannot reach an anchor of an earlier document.
    let e = parse_stream("a: &x 1\n---\nb: *x\n").expect_err("alias across documents");
    assert_eq!(e.kind, YamlError::UndefinedAlias { name: "x".into() });
}

#[test]
fn empty_keys_are_implicit_nulls_not_duplicates() {
    let src = ": a\n: b\n\"\": c\n";
    let d = doc(src);
    assert_eq!(d.scalars().iter().filter(|s| s.is_key).count(), 3);
    assert_eq!(
        error("\"\": a\n'': b\n"),
        (6, YamlError::DuplicateKey { key: String::new() })
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let flow = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse_with_max_depth(&flow(4), 4).is_ok());
    let e = parse_with_max_depth(&flow(5), 4).expect_err("too deep");
    assert_eq!((e.offset, e.kind), (4, YamlError::TooDeep { limit: 4 }));
    // The parser's own guard may stop a deep flow collection while it scans ahead.
    let e = parse_stream(&flow(100_000)).expect_err("100,000 deep");
    assert_eq!(e.kind, YamlError::TooDeep { limit: MAX_DEPTH });
    assert!(e.offset <= 256, "{}", e.offset);
    // Block sequences nest without indentation: `- - - x`.
    let e = parse_stream(&format!("{}x\n", "- ".repeat(100_000))).expect_err("deep");
    assert_eq!(e.kind, YamlError::TooDeep { limit: MAX_DEPTH });
}

#[test]
fn paths_of_every_scalar_cost_no_pass_over_the_whole_file() {
    // Finding the maps that merge a map in used to scan every node of the file for each
    // step of each path: 20,000 scalars made that quadratic (minutes in a release build).
    let mut src = String::from("base: &b {x: 1}\nouter:\n  inner:\n    <<: *b\n");
    for i in 0..20_000 {
        src.push_str(&format!("    h{i}: dh-infra-1\n"));
    }
    let d = doc(&src);
    let total: usize = (0..d.scalars().len()).map(|i| d.paths_of(i).len()).sum();
    assert_eq!(
        total,
        d.scalars().len() + 2,
        "x is also reached through the merge"
    );
    assert_eq!(paths(&d, 2), vec!["base.x", "outer.inner.x"]);
    let last = d.scalars().len() - 1;
    assert_eq!(paths(&d, last), vec!["outer.inner.h19999"]);
}

#[test]
fn single_path_shortcut_agrees_with_the_full_resolution() {
    let src = "\
anchors:
  - &h dh-infra-1
  - &m {host: x, port: 1}
plain:
  deep: {a: [1, 2, {b: 3}]}
uses:
  host: *h
  merged:
    <<: *m
    port: 2
";
    let d = doc(src);
    let mut shortcuts = 0;
    for (i, &node) in d.scalar_node.iter().enumerate() {
        if d.graph.single_path[node] {
            shortcuts += 1;
        }
        assert_eq!(d.paths_of(i), d.graph.paths(node), "scalar {i}");
    }
    // `anchors`, `plain`, `deep`, `a`, 1, 2, `b`, 3, `uses`, `host` (the key), `merged`,
    // `<<`, `port` and 2 take the shortcut; the aliased `dh-infra-1` and the keys and
    // values of the merged-in map do not.
    assert_eq!(shortcuts, 14);
}
