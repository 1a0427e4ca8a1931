//! Golden merge cases: `tests/golden/merge-props/<case>/` and `tests/golden/merge-yaml/
//! <case>/` hold `in/migrated.*` (the bundle's file after migration), `in/target.*` (the
//! new cluster's copy), optionally `in/mapping.yaml` (a mapping file with a `merge:`
//! section), and either `out/merged.*` (the expected result, written by hand) or
//! `out/error.txt` (a phrase the error must contain). The merged text must equal the
//! expected file byte for byte.

use dh_migrate::mapping::Mapping;
use dh_migrate::merge::{props, yaml, MergeError, Merged};
use std::fs;
use std::path::{Path, PathBuf};

type Engine = fn(
    &str,
    &str,
    &str,
    Option<&dh_migrate::mapping::merge_rules::ItemRules>,
) -> Result<Merged, MergeError>;

fn run_cases(folder: &str, ext: &str, item: &str, engine: Engine) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(folder);
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in &cases {
        let read = |p: &str| fs::read_to_string(case.join(p)).unwrap();
        let migrated = read(&format!("in/migrated.{ext}"));
        let target = read(&format!("in/target.{ext}"));
        let mapping = case
            .join("in/mapping.yaml")
            .exists()
            .then(|| Mapping::parse("mapping.yaml", &read("in/mapping.yaml")).unwrap());
        let rules = mapping.as_ref().and_then(|m| m.merge.for_item(item));
        let got = engine(item, &migrated, &target, rules);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expected = case.join(format!("out/merged.{ext}"));
        if expected.exists() {
            let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                got.text,
                fs::read_to_string(&expected).unwrap(),
                "case {name}"
            );
        } else {
            let phrase = read("out/error.txt");
            let err = got
                .err()
                .unwrap_or_else(|| panic!("{name}: expected an error"));
            assert!(
                err.to_string().contains(phrase.trim()),
                "case {name}: `{err}` lacks `{}`",
                phrase.trim()
            );
        }
    }
    cases.len()
}

#[test]
fn property_file_merges_match_their_golden_output() {
    let n = run_cases(
        "merge-props",
        "prop",
        "config/props/iris-environment.prop",
        props::merge,
    );
    assert!(n >= 6);
}

#[test]
fn yaml_merges_match_their_golden_output() {
    let n = run_cases(
        "merge-yaml",
        "yaml",
        "config/routing/routing.yaml",
        yaml::merge,
    );
    assert!(n >= 5);
}
