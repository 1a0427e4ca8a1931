//! Hostile parser inputs of issue 10 through the real binary, generated here (no large
//! files committed): a tailer XML nested 100,000 elements deep, 20,000 nested property
//! scope blocks, and a config file that is not UTF-8. Each must stop with the parse-error
//! exit status (4), name `file:line:col`, and write nothing, for `inspect` and for
//! `plan --emit`. Time and peak memory of the same probes on a release build are measured
//! by `scripts/hostile/parsers.sh`.

use std::fs;

use crate::support::cli::run as dh_migrate;
use crate::support::fs::listing;

const TAILER: &str = "files/etc/sysconfig/illumon.d/resources/tailerConfig.xml";
const PROPS: &str = "config/props/iris-environment.prop";
const ROUTING: &str = "config/routing/routing.yaml";

/// A temp dir holding `bundle/` (the given file), `target/` and `mapping.yaml`.
fn setup(rel: &str, content: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let write = |rel: &str, content: &[u8]| {
        let p = tmp.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    };
    write(&format!("bundle/{rel}"), content);
    write("target/config/props/iris-environment.prop", b"a=b\n");
    write("mapping.yaml", b"version: 1\nhosts: {}\n");
    tmp
}

/// `inspect` and `plan --emit` both fail with 4 and `expected` in stderr, print nothing
/// on stdout, and leave the temp dir exactly as it was.
fn assert_parse_error(tmp: &tempfile::TempDir, expected: &str) {
    let before = listing(tmp.path());
    let plan = [
        "plan",
        "bundle",
        "--target",
        "target",
        "--mapping",
        "mapping.yaml",
        "--emit",
        "emitted",
    ];
    for args in [&["inspect", "bundle"][..], &plan[..]] {
        let out = dh_migrate(tmp.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: stderr:\n{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
        assert!(
            stderr.contains(expected),
            "{args:?}: stderr lacks {expected:?}:\n{stderr}"
        );
        assert_eq!(listing(tmp.path()), before, "{args:?} wrote something");
    }
}

#[test]
fn xml_nested_100000_deep_stops_at_the_depth_limit_naming_the_tag() {
    let n = 100_000;
    let xml = format!(
        "<?xml version=\"1.0\"?>\n{}{}\n",
        "<a>".repeat(n),
        "</a>".repeat(n)
    );
    assert!(xml.len() > 700_000);
    let tmp = setup(TAILER, xml.as_bytes());
    // The 33rd `<a>` starts at column 3 * 32 + 1 of line 2.
    assert_parse_error(
        &tmp,
        &format!("{TAILER}:2:97: elements nested deeper than 32 levels"),
    );
}

#[test]
fn props_with_20000_nested_scope_blocks_stop_at_the_depth_limit_naming_the_header() {
    let n = 20_000;
    let mut props = String::new();
    for i in 0..n {
        props.push_str(&format!(
            "[host=dh-infra-1|dh-infra-1.old.example.com] {{\nk{i}=dh-infra-1:{i}\n"
        ));
    }
    props.push_str(&"}\n".repeat(n));
    assert!(props.len() > 1_200_000);
    let tmp = setup(PROPS, props.as_bytes());
    // Two lines per block: the 17th header is on line 33.
    assert_parse_error(
        &tmp,
        &format!("{PROPS}:33:1: scope blocks nested deeper than 16 levels"),
    );
}

#[test]
fn invalid_utf8_in_a_config_file_names_its_line_and_column() {
    // YAML must be UTF-8 (or UTF-16 with a byte-order mark); property files are not used
    // here because Java reads them as ISO-8859-1, so any byte is text there.
    // `é` is one character of two bytes: the bad byte is the second character of line 2.
    let tmp = setup(ROUTING, b"a: 1\n\xc3\xa9\xffb: 2\n");
    assert_parse_error(
        &tmp,
        &format!("{ROUTING}:2:2: not valid UTF-8 (first invalid byte at byte offset 7)"),
    );
}
