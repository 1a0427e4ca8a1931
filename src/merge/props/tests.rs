use super::*;
use proptest::prelude::*;

fn merged(m: &str, t: &str) -> Merged {
    merge("t.prop", m, t, None).unwrap()
}

#[test]
fn a_file_merged_with_itself_is_unchanged() {
    let f = "# c\nincludefiles=a.prop\nx=1\nfinalize q.*\n[service.name=a|b] {\n  y.z=2\n}\n";
    let r = merged(f, f);
    assert_eq!(r.text, f);
    assert_eq!(r.report, MergeReport::default());
}

#[test]
fn an_empty_migrated_file_takes_every_setting_of_the_new_cluster() {
    let r = merged("", "a=1\n[host=x] {\n  b=2\n}\n");
    assert_eq!(
        r.text,
        format!("{KEPT_COMMENT}\na=1\n[host=x] {{\n    b=2\n}}\n")
    );
    assert_eq!(r.report.kept, vec!["a", "[host=x] b"]);
}

#[test]
fn a_close_brace_after_other_text_gets_the_kept_keys_on_lines_of_their_own() {
    let r = merged("[a=b] { }\n", "[a=b] {\nk=v\n}\n");
    assert_eq!(
        r.text,
        format!("[a=b] {{ \n    {KEPT_COMMENT}\n    k=v\n}}\n")
    );
}

#[test]
fn continuation_lines_are_copied_as_the_new_cluster_wrote_them() {
    let r = merged("a=1\n", "list=x,\\\n     y\n");
    assert_eq!(r.text, format!("a=1\n{KEPT_COMMENT}\nlist=x,\\\n     y\n"));
    assert_eq!(settings(&r.text).unwrap()["list"], "x,y");
}

/// A small property file: top-level declarations, scope blocks, and `finalize` lines.
fn props_file() -> impl Strategy<Value = String> {
    let decl = (0..6u8, 0..4u8).prop_map(|(k, v)| format!("k{k}=v{v}"));
    let item = prop_oneof![
        4 => decl.clone(),
        1 => (0..3u8, prop::collection::vec(decl.clone(), 0..3)).prop_map(|(s, ds)| {
            let mut t = format!("[service.name=s{s}] {{\n");
            for d in ds {
                t.push_str("    ");
                t.push_str(&d);
                t.push('\n');
            }
            t.push('}');
            t
        }),
        1 => (0..6u8).prop_map(|k| format!("finalize k{k}x*")),
        1 => Just("# comment".to_string()),
    ];
    prop::collection::vec(item, 0..8)
        .prop_map(|items| {
            let mut s = items.join("\n");
            s.push('\n');
            s
        })
        .prop_filter("parses", |s| props::parse(s).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn merging_with_itself_changes_nothing(f in props_file()) {
        let r = merge("t.prop", &f, &f, None).unwrap();
        prop_assert_eq!(r.text, f);
    }

    #[test]
    fn a_merge_keeps_the_bundle_and_adds_the_new_only_settings(a in props_file(), b in props_file()) {
        let Ok(r) = merge("t.prop", &a, &b, None) else {
            // Refused merges are errors naming the setting; nothing to check further.
            return Ok(());
        };
        // Every byte of the bundle is kept, in order.
        let mut rest = r.text.as_str();
        for ch in a.chars() {
            let i = rest.find(ch).expect("bundle byte lost");
            rest = &rest[i + ch.len_utf8()..];
        }
        let (sa, sb, sr) = (settings(&a).unwrap(), settings(&b).unwrap(), settings(&r.text).unwrap());
        for (k, v) in &sa {
            prop_assert_eq!(sr.get(k), Some(v));
        }
        for (k, v) in &sb {
            prop_assert_eq!(sr.get(k), Some(sa.get(k).unwrap_or(v)));
        }
        // Merging again against the new cluster, or re-planning against the result, changes nothing.
        let again = merge("t.prop", &r.text, &b, None).unwrap();
        prop_assert_eq!(&again.text, &r.text);
        let replan = merge("t.prop", &a, &r.text, None).unwrap();
        prop_assert_eq!(settings(&replan.text).unwrap(), sr);
    }
}
