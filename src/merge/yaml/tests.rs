use super::*;
use proptest::prelude::*;

fn leaves_of(text: &str) -> BTreeMap<String, String> {
    let doc = yaml::parse(text).unwrap();
    leaves(&doc, text)
        .unwrap()
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect()
}

#[test]
fn merge_keys_and_aliases_are_resolved_for_comparing() {
    let t = "anchors:\n  - &D\n    tailerPort: 22021\ndis:\n  db_dis:\n    <<: *D\n    host: a\n";
    let l = leaves_of(t);
    assert_eq!(l["dis.db_dis.tailerPort"], "22021");
    assert_eq!(l["dis.db_dis.host"], "a");
    assert!(!l.keys().any(|k| k.contains("<<")));
    // The new cluster writes the port directly: nothing to keep.
    let target = "dis:\n  db_dis:\n    host: a\n    tailerPort: 22021\n";
    let r = merge("r.yaml", t, target, None).unwrap();
    assert_eq!(r.text, t);
    assert!(r.report.kept.is_empty());
}

#[test]
fn a_file_merged_with_itself_is_unchanged() {
    let f = "a: &x {p: 1}\nb:\n  <<: *x\n  q: [1, 2]\n";
    let r = merge("r.yaml", f, f, None).unwrap();
    assert_eq!(r.text, f);
}

#[test]
fn resolving_is_bounded() {
    let mut t = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        t.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let doc = yaml::parse(&t).unwrap();
    assert!(resolve(&doc, &t).unwrap_err().contains("more than"));
}

/// The test's own statement of what a merge keeps: leaves of `theirs` below a map entry
/// that `ours` lacks.
fn new_only(
    theirs: &RValue,
    ours: Option<&RValue>,
    path: Path,
    out: &mut BTreeMap<String, String>,
) {
    match (theirs, ours) {
        (_, None) => match theirs {
            RValue::Scalar(s) => {
                out.insert(path.to_string(), s.value.clone());
            }
            RValue::Map(e) => {
                for (k, v) in e {
                    new_only(v, None, path.child(PathSeg::Key(k.value.clone())), out);
                }
            }
            RValue::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    new_only(v, None, path.child(PathSeg::Index(i)), out);
                }
            }
        },
        (RValue::Map(te), Some(RValue::Map(_))) => {
            for (k, v) in te {
                let o = ours.and_then(|o| o.get(&k.value));
                new_only(v, o, path.child(PathSeg::Key(k.value.clone())), out);
            }
        }
        _ => {}
    }
}

/// A small block-style YAML map: nested maps, lists and scalars.
fn yaml_file() -> impl Strategy<Value = String> {
    /// A top-level entry: key number, nested entries (None: a scalar; empty: a list), value.
    type Entry = (u8, Option<Vec<(u8, u8)>>, u8);
    fn render(v: &[Entry]) -> String {
        let mut s = String::new();
        for (k, inner, val) in v {
            match inner {
                None => s.push_str(&format!("k{k}: v{val}\n")),
                Some(es) if es.is_empty() => s.push_str(&format!("k{k}: [a, b]\n")),
                Some(es) => {
                    s.push_str(&format!("k{k}:\n"));
                    let mut seen = Vec::new();
                    for (ik, iv) in es {
                        if !seen.contains(ik) {
                            seen.push(*ik);
                            s.push_str(&format!("  i{ik}: \"w{iv}\"\n"));
                        }
                    }
                }
            }
        }
        s
    }
    prop::collection::vec(
        (
            0..6u8,
            prop::option::of(prop::collection::vec((0..4u8, 0..3u8), 0..4)),
            0..3u8,
        ),
        0..6,
    )
    .prop_map(|mut v| {
        let mut seen = Vec::new();
        v.retain(|(k, _, _)| {
            let new = !seen.contains(k);
            seen.push(*k);
            new
        });
        render(&v)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn merging_with_itself_changes_nothing(f in yaml_file()) {
        let r = merge("r.yaml", &f, &f, None).unwrap();
        prop_assert_eq!(r.text, f);
    }

    #[test]
    fn a_merge_keeps_the_bundle_and_adds_the_new_only_entries(a in yaml_file(), b in yaml_file()) {
        let Ok(r) = merge("r.yaml", &a, &b, None) else { return Ok(()); };
        let (la, lr) = (leaves_of(&a), leaves_of(&r.text));
        for (k, v) in &la {
            prop_assert_eq!(lr.get(k), Some(v));
        }
        // Every leaf of the new cluster's tree under a map entry the bundle lacks is kept.
        let da = yaml::parse(&a).unwrap();
        let db = yaml::parse(&b).unwrap();
        let ra = resolve(&da, &a).unwrap().unwrap_or(RValue::Map(Vec::new()));
        if let Some(rb) = resolve(&db, &b).unwrap() {
            let mut expected = BTreeMap::new();
            new_only(&rb, Some(&ra), Path::default(), &mut expected);
            for (k, v) in &expected {
                prop_assert_eq!(lr.get(k), Some(v));
            }
            // Nothing else appears.
            prop_assert!(lr.keys().all(|k| la.contains_key(k) || expected.contains_key(k)));
        }
        let again = merge("r.yaml", &r.text, &b, None).unwrap();
        prop_assert_eq!(&again.text, &r.text);
        let replan = merge("r.yaml", &a, &r.text, None).unwrap();
        prop_assert_eq!(leaves_of(&replan.text), lr);
    }
}
