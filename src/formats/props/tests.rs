//! Unit tests: one group per grammar rule, expected keys, values and spans written by hand.

use super::*;
use crate::text::position_of;

/// Parses `src`, checks that the parts tile it exactly and that render rebuilds it.
fn ok(src: &str) -> PropsFile {
    let f = match parse(src) {
        Ok(f) => f,
        Err(e) => panic!("{src:?} failed: {e} at {}", position_of(src, e.offset)),
    };
    let mut at = 0;
    for p in f.parts() {
        assert_eq!(p.span.start, at, "gap or overlap before {p:?} in {src:?}");
        assert!(p.span.end > p.span.start, "empty part {p:?}");
        at = p.span.end;
    }
    assert_eq!(at, src.len(), "parts stop short in {src:?}");
    assert_eq!(f.render(src), src);
    f
}

/// Parses `src` expecting an error: `(line, col, kind name)`.
fn err(src: &str) -> (usize, usize, &'static str) {
    match parse(src) {
        Ok(_) => panic!("{src:?} parsed but should fail"),
        Err(e) => {
            let p = position_of(src, e.offset);
            (p.line, p.col, e.kind.name())
        }
    }
}

fn kv(f: &PropsFile) -> Vec<(&str, &str)> {
    f.declarations()
        .iter()
        .map(|d| (d.key.as_str(), d.value.as_str()))
        .collect()
}

fn sp(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

// ---- declarations ----

#[test]
fn declaration_key_trimmed_value_left_trimmed_only() {
    let f = ok("a.b = hello  \n");
    let d = &f.declarations()[0];
    assert_eq!(d.key, "a.b");
    assert_eq!(d.key_span, sp(0, 3));
    assert_eq!(d.value, "hello  ");
    assert_eq!(d.value_span, sp(6, 13));
    assert_eq!(d.line, 1);
    assert!(!d.is_final);
    assert_eq!(d.scope, None);
}

#[test]
fn declaration_splits_at_first_equals_or_colon() {
    let f = ok("k:v=w\nm=n:o\n");
    assert_eq!(kv(&f), vec![("k", "v=w"), ("m", "n:o")]);
    assert_eq!(f.declarations()[1].value_span, sp(8, 11));
}

#[test]
fn declaration_without_separator_has_empty_value() {
    let f = ok("  lonely key  \n");
    let d = &f.declarations()[0];
    assert_eq!(d.key, "lonely key");
    assert_eq!(d.key_span, sp(2, 12));
    assert_eq!(d.value, "");
    assert!(d.value_span.is_empty());
}

#[test]
fn empty_key_and_empty_value_are_accepted() {
    let f = ok("=x\nk=\n");
    assert_eq!(kv(&f), vec![("", "x"), ("k", "")]);
    assert_eq!(f.declarations()[1].value_span, sp(5, 5));
}

#[test]
fn leading_whitespace_of_every_line_is_ignored() {
    let f = ok("\t a=1\n\x0c  b =\t2\n");
    assert_eq!(kv(&f), vec![("a", "1"), ("b", "2")]);
    assert_eq!(f.declarations()[0].key_span, sp(2, 3));
    assert_eq!(f.declarations()[1].line, 2);
}

#[test]
fn no_inline_comments() {
    let f = ok("url=https://h:8000/x   # note\n");
    assert_eq!(kv(&f), vec![("url", "https://h:8000/x   # note")]);
    assert!(f.comments().is_empty());
}

#[test]
fn last_declaration_wins() {
    let f = ok("a=1\nb=2\na=3\n");
    assert_eq!(f.get("a").map(|d| d.value.as_str()), Some("3"));
    assert_eq!(f.get("a").map(|d| d.line), Some(3));
    assert_eq!(f.get("A"), None, "keys are case-sensitive");
}

#[test]
fn unicode_keys_and_values() {
    let f = ok("clé=välue ✓\n");
    assert_eq!(kv(&f), vec![("clé", "välue ✓")]);
    assert_eq!(f.declarations()[0].key_span, sp(0, 4));
    assert_eq!(f.declarations()[0].value_span, sp(5, 15));
}

// ---- comments and blank lines ----

#[test]
fn hash_and_bang_lines_are_comments() {
    let src = "# one\n! two\n   # three\n\n  \nk=v\n";
    let f = ok(src);
    assert_eq!(f.comments(), &[sp(0, 5), sp(6, 11), sp(15, 22)]);
    assert_eq!(kv(&f), vec![("k", "v")]);
    assert_eq!(f.declarations()[0].line, 6);
}

#[test]
fn comment_line_ending_in_backslash_does_not_continue() {
    let f = ok("# note \\\nk=v\n");
    assert_eq!(f.comments(), &[sp(0, 8)]);
    assert_eq!(kv(&f), vec![("k", "v")]);
}

// ---- line endings ----

#[test]
fn crlf_is_a_line_ending_not_value_text() {
    let src = "a=1\r\nb = two \r\n# c\r\n";
    let f = ok(src);
    assert_eq!(kv(&f), vec![("a", "1"), ("b", "two ")]);
    assert_eq!(f.declarations()[0].value_span, sp(2, 3));
    assert_eq!(f.comments(), &[sp(15, 18)]);
    let ends: Vec<Span> = f
        .parts()
        .iter()
        .filter(|p| p.kind == PartKind::LineEnd)
        .map(|p| p.span)
        .collect();
    assert_eq!(ends, vec![sp(3, 5), sp(13, 15), sp(18, 20)]);
}

#[test]
fn no_final_newline_and_empty_file() {
    assert_eq!(kv(&ok("k=v")), vec![("k", "v")]);
    assert!(ok("").declarations().is_empty());
    assert!(ok("\n\n").declarations().is_empty());
}

// ---- continuations ----

#[test]
fn continuation_joins_lines_and_drops_next_indent() {
    let src = "k = one \\\n    two\nnext=x\n";
    let f = ok(src);
    assert_eq!(kv(&f), vec![("k", "one two"), ("next", "x")]);
    let d = &f.declarations()[0];
    assert_eq!(d.value_span, sp(4, 17));
    // 't' of "two" is decoded byte 4 and source byte 14.
    assert_eq!(d.raw_offset(4), 14);
    assert_eq!(d.raw_span(4..7), sp(14, 17));
    assert_eq!(d.raw_offset(7), 17);
    assert_eq!(f.declarations()[1].line, 3);
}

#[test]
fn even_backslashes_do_not_continue() {
    let f = ok("k=a\\\\\nb=c\n");
    assert_eq!(kv(&f), vec![("k", "a\\"), ("b", "c")]);
}

#[test]
fn odd_backslashes_continue_after_an_escaped_pair() {
    let f = ok("k=a\\\\\\\n  b\n");
    assert_eq!(kv(&f), vec![("k", "a\\b")]);
}

#[test]
fn continuation_with_crlf_and_key_split() {
    let f = ok("ke\\\r\n  y=a\\\r\n\tb\r\n");
    assert_eq!(kv(&f), vec![("key", "ab")]);
    let d = &f.declarations()[0];
    assert_eq!(d.key_span, sp(0, 8));
    assert_eq!(d.value_span, sp(9, 15));
}

#[test]
fn continuation_between_separator_and_value_is_its_own_part() {
    let src = "k=\\\n   v\n";
    let f = ok(src);
    assert_eq!(kv(&f), vec![("k", "v")]);
    assert_eq!(f.declarations()[0].value_span, sp(7, 8));
    let cont: Vec<Span> = f
        .parts()
        .iter()
        .filter(|p| p.kind == PartKind::Continuation)
        .map(|p| p.span)
        .collect();
    assert_eq!(cont, vec![sp(2, 7)]);
}

#[test]
fn continuation_at_end_of_file_joins_nothing() {
    let f = ok("k=v\\");
    assert_eq!(kv(&f), vec![("k", "v")]);
    let f = ok("k=v\\\n");
    assert_eq!(kv(&f), vec![("k", "v")]);
    assert_eq!(f.declarations()[0].value_span, sp(2, 3));
}

#[test]
fn continuation_over_blank_lines_and_comment_looking_text() {
    let f = ok("k=a\\\n\\\n  # not a comment\n");
    assert_eq!(kv(&f), vec![("k", "a# not a comment")]);
    assert!(f.comments().is_empty());
}

// ---- escapes ----

#[test]
fn java_escapes_are_decoded() {
    let f = ok("k=\\t\\n\\r\\f\\u00e9\\\\\\=x\\q\n");
    assert_eq!(kv(&f), vec![("k", "\t\n\r\x0cé\\=xq")]);
    let d = &f.declarations()[0];
    // 'é' is decoded byte 4 (two bytes) and comes from `\u00e9` at source bytes 10..16.
    assert_eq!(d.raw_offset(4), 10);
    assert_eq!(d.raw_offset(5), 10);
    assert_eq!(d.raw_span(4..6), sp(10, 16));
}

#[test]
fn surrogate_pair_escapes_make_one_character() {
    let f = ok("k=\\uD83D\\ude00!\n");
    assert_eq!(kv(&f), vec![("k", "😀!")]);
    assert_eq!(f.declarations()[0].raw_span(0..4), sp(2, 14));
}

#[test]
fn escaped_separator_and_space_in_key() {
    let f = ok("a\\=b\\:c\\ =v\n");
    assert_eq!(kv(&f), vec![("a=b:c ", "v")]);
    assert_eq!(f.declarations()[0].key_span, sp(0, 9));
}

#[test]
fn escaped_leading_space_in_value_is_kept() {
    let f = ok("k=\\  v\n");
    assert_eq!(kv(&f), vec![("k", "  v")]);
}

#[test]
fn bad_unicode_escape_is_an_error() {
    assert_eq!(err("k=\\u12G4\n"), (1, 3, "BadUnicodeEscape"));
    assert_eq!(err("a=1\nk=x\\u12"), (2, 4, "BadUnicodeEscape"));
    assert_eq!(err("k\\u00=1\n"), (1, 2, "BadUnicodeEscape"));
    assert_eq!(err("[a=\\uzzzz] {\n}\n"), (1, 4, "BadUnicodeEscape"));
}

#[test]
fn lone_surrogate_is_an_error() {
    assert_eq!(err("k=\\uD83Dx\n"), (1, 3, "UnpairedSurrogate"));
    assert_eq!(err("k=\\uDE00\n"), (1, 3, "UnpairedSurrogate"));
}

// ---- includefiles ----

#[test]
fn includefiles_first_non_comment_line() {
    let src = "# head\n\nincludefiles = a.prop, b.prop ,,c.prop\nx=1\n";
    let f = ok(src);
    let inc = f.includefiles().expect("includefiles");
    assert_eq!(inc.declaration, 0);
    let names: Vec<(&str, Span)> = inc.files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    assert_eq!(
        names,
        vec![
            ("a.prop", sp(23, 29)),
            ("b.prop", sp(31, 37)),
            ("c.prop", sp(40, 46))
        ]
    );
    assert_eq!(&src[23..29], "a.prop");
}

#[test]
fn includefiles_later_is_an_error() {
    assert_eq!(
        err("x=1\nincludefiles=a.prop\n"),
        (2, 1, "IncludefilesNotFirst")
    );
    assert_eq!(
        err("[a=b] {\nincludefiles=a.prop\n}\n"),
        (2, 1, "IncludefilesNotFirst")
    );
    assert!(ok("x=1\n").includefiles().is_none());
}

// ---- final / finalize ----

#[test]
fn final_declares_and_locks() {
    let f = ok("final a.b = 1\nFINAL\tc=2\n");
    assert_eq!(kv(&f), vec![("a.b", "1"), ("c", "2")]);
    assert!(f.declarations().iter().all(|d| d.is_final));
    assert_eq!(f.declarations()[0].key_span, sp(6, 9));
    assert_eq!(f.declarations()[1].line, 2);
    assert_eq!(err("final a=1\nb=2\na=3\n"), (3, 1, "FinalRedefined"));
    assert_eq!(err("final a=1\n  final a=2\n"), (2, 9, "FinalRedefined"));
}

#[test]
fn keywords_cannot_be_keys() {
    assert_eq!(err("final=3\n"), (1, 1, "KeywordAsKey"));
    assert_eq!(err("finalize: x\n"), (1, 1, "KeywordAsKey"));
    assert_eq!(err("x=1\n  Final  = 3\n"), (2, 3, "KeywordAsKey"));
    assert_eq!(err("final\n"), (1, 1, "KeywordAsKey"));
    assert_eq!(err("final final=1\n"), (1, 7, "KeywordAsKey"));
    assert_eq!(err("fin\\al=1\n"), (1, 1, "KeywordAsKey"));
}

#[test]
fn words_starting_with_keywords_are_ordinary_keys() {
    let f = ok("finalizer=1\nfinal.x=2\nfinally:3\n");
    assert_eq!(
        kv(&f),
        vec![("finalizer", "1"), ("final.x", "2"), ("finally", "3")]
    );
    assert!(f.declarations().iter().all(|d| !d.is_final));
}

#[test]
fn finalize_names_with_wildcards() {
    let src = "finalize a, b.* ,*.secret\nbx=1\n";
    let f = ok(src);
    let names: Vec<(&str, Span, usize)> = f
        .finalized()
        .iter()
        .map(|n| (n.name.as_str(), n.span, n.line))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a", sp(9, 10), 1),
            ("b.*", sp(12, 15), 1),
            ("*.secret", sp(17, 25), 1)
        ]
    );
    assert_eq!(kv(&f), vec![("bx", "1")]);
    assert_eq!(err("FINALIZE b.*\nb.c=1\n"), (2, 1, "FinalRedefined"));
    assert_eq!(
        err("finalize *.secret\nauth.x.secret=1\n"),
        (2, 1, "FinalRedefined")
    );
    assert_eq!(err("finalize a\na=1\n"), (2, 1, "FinalRedefined"));
    assert_eq!(err("finalize a,,b\n"), (1, 12, "EmptyFinalizeName"));
    assert_eq!(err("finalize a,\n"), (1, 12, "EmptyFinalizeName"));
}

#[test]
fn final_redefinition_follows_scope_chains() {
    // Sibling scopes may never apply to the same process: not flagged.
    ok("[a=1] {\nfinal k=1\n}\n[a=2] {\nk=2\n}\n");
    // A top-level redefinition applies wherever the final one does.
    assert_eq!(
        err("[a=1] {\nfinal k=1\n}\nk=2\n"),
        (4, 1, "FinalRedefined")
    );
    // A nested one applies only where the lock does.
    assert_eq!(
        err("final k=1\n[a=1] {\n[b=2] {\nk=2\n}\n}\n"),
        (4, 1, "FinalRedefined")
    );
}

#[test]
fn glob_matching() {
    use super::parser::glob_match;
    assert!(glob_match("auth.*.secret", "auth.x.y.secret"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*", "a"));
    assert!(!glob_match("auth.*.secret", "auth.secretx"));
    assert!(!glob_match("a.b", "a.bc"));
    assert!(glob_match("*b*b", "abbab"));
}

// ---- scopes ----

#[test]
fn scope_block_with_items_and_alternatives() {
    let src =
        "[service.name=iris_controller|authentication_server, process.name = x] {\n  k=v\n}\n";
    let f = ok(src);
    assert_eq!(f.scopes().len(), 1);
    let s = &f.scopes()[0];
    assert_eq!(s.header_span, sp(0, 70));
    assert_eq!(s.open_span, sp(71, 72));
    assert_eq!(s.close_span, Some(sp(79, 80)));
    assert_eq!(s.parent, None);
    assert_eq!(s.items.len(), 2);
    assert_eq!(s.items[0].key, "service.name");
    assert_eq!(s.items[0].key_span, sp(1, 13));
    let vals: Vec<(&str, Span)> = s.items[0]
        .values
        .iter()
        .map(|(v, s)| (v.as_str(), *s))
        .collect();
    assert_eq!(
        vals,
        vec![
            ("iris_controller", sp(14, 29)),
            ("authentication_server", sp(30, 51))
        ]
    );
    assert_eq!(s.items[1].key, "process.name");
    assert_eq!(s.items[1].key_span, sp(53, 65));
    assert_eq!(s.items[1].values[0].1, sp(68, 69));
    assert_eq!(
        f.services(0),
        vec!["iris_controller", "authentication_server"]
    );
    assert_eq!(f.declarations()[0].scope, Some(0));
    assert_eq!(f.declarations()[0].line, 2);
}

#[test]
fn nested_scopes_and_chains() {
    let src = "[a=1] {\n [service.name=db_dis] {\n  k=v\n }\n m=n\n}\nz=0\n";
    let f = ok(src);
    assert_eq!(f.scopes().len(), 2);
    assert_eq!(f.scopes()[1].parent, Some(0));
    assert_eq!(f.scope_chain(1), vec![0, 1]);
    assert_eq!(f.scope_chain(0), vec![0]);
    assert_eq!(f.services(1), vec!["db_dis"]);
    assert!(f.services(0).is_empty());
    let scopes: Vec<Option<ScopeId>> = f.declarations().iter().map(|d| d.scope).collect();
    assert_eq!(scopes, vec![Some(1), Some(0), None]);
}

#[test]
fn open_brace_on_next_non_comment_line() {
    let f = ok("[a=b]\n# note\n\n  {\nk=v\n}\n");
    assert_eq!(f.scopes()[0].open_span, sp(16, 17));
    assert_eq!(f.declarations()[0].scope, Some(0));
    assert_eq!(f.comments(), &[sp(6, 12)]);
    assert_eq!(err("[a=b]\nk=v\n"), (2, 1, "ExpectedOpenBrace"));
    assert_eq!(err("[a=b] k=v\n"), (1, 7, "ExpectedOpenBrace"));
    assert_eq!(err("[a=b]\n[c=d] {\n}\n"), (2, 1, "ExpectedOpenBrace"));
    assert_eq!(err("[a=b]\n"), (2, 1, "ExpectedOpenBrace"));
}

#[test]
fn close_brace_then_declaration_and_open_then_declaration() {
    let f = ok("[a=b] { k=v\n} x=1\n[c=d]{}  # c\n");
    assert_eq!(kv(&f), vec![("k", "v"), ("x", "1")]);
    assert_eq!(f.declarations()[0].scope, Some(0));
    assert_eq!(f.declarations()[1].scope, None);
    assert_eq!(f.declarations()[1].key_span, sp(14, 15));
    assert_eq!(f.scopes()[1].open_span, sp(23, 24));
    assert_eq!(f.scopes()[1].close_span, Some(sp(24, 25)));
    assert_eq!(f.comments(), &[sp(27, 30)]);
}

#[test]
fn declaration_takes_the_rest_of_its_line_even_a_brace() {
    let f = ok("[a=b] { k=v }\n}\n");
    assert_eq!(kv(&f), vec![("k", "v }")]);
    assert_eq!(f.scopes()[0].close_span, Some(sp(14, 15)));
    assert_eq!(err("[a=b] { k=v }\n"), (1, 1, "UnclosedScope"));
}

#[test]
fn host_names_in_headers() {
    let src = "[host=dh-query-2|dh-query-2.example.com] {\n}\n";
    let f = ok(src);
    let vals: Vec<(&str, Span)> = f.scopes()[0].items[0]
        .values
        .iter()
        .map(|(v, s)| (v.as_str(), *s))
        .collect();
    assert_eq!(
        vals,
        vec![
            ("dh-query-2", sp(6, 16)),
            ("dh-query-2.example.com", sp(17, 39))
        ]
    );
}

#[test]
fn header_split_by_a_continuation() {
    let f = ok("[a=b,\\\n   c=d] {\n}\n");
    let s = &f.scopes()[0];
    assert_eq!(s.items.len(), 2);
    assert_eq!(s.items[1].key, "c");
    assert_eq!(s.items[1].key_span, sp(10, 11));
    assert_eq!(s.header_span, sp(0, 14));
}

#[test]
fn scope_errors() {
    assert_eq!(err("[a] {\n}\n"), (1, 2, "ScopeItemWithoutEquals"));
    assert_eq!(err("[a=b, c ] {\n}\n"), (1, 7, "ScopeItemWithoutEquals"));
    assert_eq!(err("[a=b {\n}\n"), (1, 7, "MissingCloseBracket"));
    assert_eq!(err("x=1\n\n  [a=b] {\nk=v\n"), (3, 3, "UnclosedScope"));
    assert_eq!(err("[a=b] {\n  [c=d] {\n}\n"), (1, 1, "UnclosedScope"));
    assert_eq!(err("k=v\n  }\n"), (2, 3, "UnmatchedCloseBrace"));
    assert_eq!(err("[a=b] {\n} }\n"), (2, 3, "UnmatchedCloseBrace"));
    assert_eq!(err("{\n}\n"), (1, 1, "UnexpectedOpenBrace"));
    assert_eq!(err("[a=b] { {\n}\n"), (1, 9, "UnexpectedOpenBrace"));
    // Only trailing items that are empty are dropped (as Java's split does).
    assert_eq!(err("[a=b, ] {\n}\n"), (1, 7, "EmptyScopeItem"));
    assert_eq!(err("[a=b,,c=d] {\n}\n"), (1, 6, "EmptyScopeItem"));
    assert_eq!(err("[,a=b] {\n}\n"), (1, 2, "EmptyScopeItem"));
    assert_eq!(err("[] {\n}\n"), (1, 2, "EmptyScopeItem"));
    // The empty alternative is reported right after its `|`.
    assert_eq!(err("[a=b| ] {\n}\n"), (1, 6, "EmptyScopeValue"));
    assert_eq!(err("é=ü\n[ä] {\n}\n"), (2, 2, "ScopeItemWithoutEquals"));
}

// ---- context_at ----

#[test]
fn context_at_offsets() {
    let src = "# c\n[host=h1|h2] {\nk = v1\nfinalize x\n}\n";
    let f = ok(src);
    assert_eq!(f.context_at(1), PropsContext::Comment);
    assert_eq!(
        f.context_at(4),
        PropsContext::ScopeHeader {
            scope: 0,
            item: None
        }
    );
    assert_eq!(
        f.context_at(5),
        PropsContext::ScopeHeader {
            scope: 0,
            item: Some(0)
        }
    );
    assert_eq!(
        f.context_at(11),
        PropsContext::ScopeHeader {
            scope: 0,
            item: Some(0)
        }
    );
    assert_eq!(f.context_at(17), PropsContext::Other);
    assert_eq!(
        f.context_at(19),
        PropsContext::Declaration {
            index: 0,
            in_key: true
        }
    );
    assert_eq!(
        f.context_at(20),
        PropsContext::Declaration {
            index: 0,
            in_key: false
        }
    );
    assert_eq!(
        f.context_at(23),
        PropsContext::Declaration {
            index: 0,
            in_key: false
        }
    );
    assert_eq!(f.context_at(35), PropsContext::Other);
    assert_eq!(f.context_at(src.len()), PropsContext::Other);
}

#[test]
fn render_walks_the_parts() {
    // Rendering a different text of the same length shows each part is sliced from the
    // text given, in order, rather than a stored copy being returned.
    let f = ok("a=1\n");
    assert_eq!(f.render("b:2\n"), "b:2\n");
    let kinds: Vec<PartKind> = f.parts().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PartKind::Key,
            PartKind::Separator,
            PartKind::Value,
            PartKind::LineEnd
        ]
    );
}

#[test]
fn error_messages_say_what_was_expected() {
    let e = parse("[a=b {\n").unwrap_err();
    assert_eq!(e.kind.to_string(), "expected `]` to close the scope header");
    let e = parse("final a=1\na=2\n").unwrap_err();
    assert_eq!(
        e.kind,
        PropsError::FinalRedefined {
            key: "a".into(),
            final_line: 1
        }
    );
    assert_eq!(
        e.kind.to_string(),
        "key `a` was made final on line 1 and cannot be declared again"
    );
}

#[test]
fn scope_nesting_deeper_than_the_limit_is_refused_at_its_header() {
    let deep = |n: usize| format!("{}{}", "[a=b] {\n".repeat(n), "}\n".repeat(n));
    let f = parse_with_max_depth(&deep(3), 3).expect("at the limit");
    assert_eq!(f.scope_chain(2), vec![0, 1, 2]);
    let e = parse_with_max_depth(&deep(4), 3).expect_err("over the limit");
    let p = position_of(&deep(4), e.offset);
    assert_eq!((p.line, p.col), (4, 1));
    assert_eq!(e.kind, PropsError::TooDeep { limit: 3 });
    // `{` on the next line: the error still points at the header it opens.
    let e = parse_with_max_depth("[a=b] {\n[c=d]\n# c\n{\n}\n}\n", 1).expect_err("deep");
    assert_eq!(e.offset, 8);
    let e = parse(&deep(20_000)).expect_err("20,000 deep");
    assert_eq!(e.kind, PropsError::TooDeep { limit: MAX_DEPTH });
    assert_eq!(e.offset, MAX_DEPTH * "[a=b] {\n".len());
    assert_eq!(
        e.kind.to_string(),
        format!("scope blocks nested deeper than {MAX_DEPTH} levels")
    );
}

#[test]
fn many_final_keys_are_checked_by_key_not_one_by_one() {
    // 50,000 distinct final keys and a redefinition of the first: a linear lookup per
    // declaration would take 2.5 billion comparisons here.
    let mut src: String = (0..50_000).map(|i| format!("final k{i}=v\n")).collect();
    src.push_str("finalize p.*\np.x=1\n");
    let e = parse(&src).expect_err("p.x is final");
    assert_eq!(
        e.kind,
        PropsError::FinalRedefined {
            key: "p.x".into(),
            final_line: 50_001
        }
    );
    src.truncate(src.len() - "finalize p.*\np.x=1\n".len());
    src.push_str("k7=again\n");
    let e = parse(&src).expect_err("k7 is final");
    assert_eq!(
        e.kind,
        PropsError::FinalRedefined {
            key: "k7".into(),
            final_line: 8
        }
    );
}

#[test]
fn deephaven_leniencies_in_scope_headers_are_accepted() {
    // `[a=b,]`: Deephaven splits with Java's String.split, dropping trailing empty items.
    let f = ok("[a=b,] {\n}\n[c=d,,] {\n}\n");
    assert_eq!(f.scopes()[0].items.len(), 1);
    assert_eq!(f.scopes()[0].items[0].key, "a");
    assert_eq!(f.scopes()[1].items[0].values[0].0, "d");
    assert_eq!(f.scopes()[0].header_span, sp(0, 6));
    // `[=b]` and `[a=]`: an empty key or an empty value; such an item names no
    // alternative and matches no process.
    let f = ok("[ =b] {\n}\n[a= , c=d] {\n}\n");
    let empty_key = &f.scopes()[0].items[0];
    assert_eq!((empty_key.key.as_str(), empty_key.key_span), ("", sp(2, 2)));
    assert_eq!(empty_key.values[0].0, "b");
    let empty_value = &f.scopes()[1].items[0];
    assert_eq!(empty_value.key, "a");
    assert!(empty_value.values.is_empty());
    assert_eq!(f.scopes()[1].items[1].values[0].0, "d");
    // `final final = x` stays refused: Deephaven's parser throws "final is a reserved
    // keyword" for it too.
    assert_eq!(err("final final = 1\n"), (1, 7, "KeywordAsKey"));
}

#[test]
fn every_value_byte_maps_to_its_character_in_the_source() {
    // Values without escapes (kept without a per-byte table), one across a continuation
    // line (listed per character), one with escapes, and an empty one.
    let src = "a=h\u{e9}llo w\u{f6}rld\nb = x\\\n   y\u{e9}z\nc=plain\nd=\ne=t\\u00e9\\tx\n";
    let f = parse(src).unwrap();
    assert_eq!(f.declarations().len(), 5);
    for d in f.declarations() {
        for (i, c) in d.value.char_indices() {
            for b in i..i + c.len_utf8() {
                let span = d.raw_span(b..b + 1);
                assert_eq!(span.start, d.raw_offset(b), "{} byte {b}", d.key);
                let raw = &src[span.start..span.end];
                if d.key == "e" && matches!(c, '\u{e9}' | '\t') {
                    assert!(raw.starts_with('\\'), "{raw:?}");
                } else {
                    assert_eq!(raw, c.to_string(), "{} byte {b}", d.key);
                }
            }
        }
        assert_eq!(d.raw_offset(d.value.len()), d.value_span.end, "{}", d.key);
    }
    let a = &f.declarations()[0];
    assert_eq!(a.raw_span(0..a.value.len()), a.value_span);
}

#[test]
fn every_declaration_line_is_where_its_key_starts() {
    // CRLF and LF endings, a lone CR (text, not a line end), continuation lines, blank
    // and comment lines, a scope, and no line end at the end.
    let src =
        "a=1\r\n\r\n# c\nb=x\\\n  y\\\r\n  z\nc=one\rtwo\n[service.name=x] {\n  d=4\n}\n  e : 5";
    let f = ok(src);
    assert_eq!(f.declarations().len(), 5);
    for d in f.declarations() {
        assert_eq!(d.line, position_of(src, d.key_span.start).line, "{}", d.key);
    }
    let lines: Vec<usize> = f.declarations().iter().map(|d| d.line).collect();
    assert_eq!(lines, [1, 4, 7, 9, 11]);
}
