//! `layout detect`: writes a layout file from the keys an etcd actually holds, so a site
//! can check (and use) the spellings its Deephaven version really has instead of trusting
//! the shipped default. It owns the guessing, and only here: each item is placed from its
//! own evidence (a `file`/`name` part pair, the file name, the content), every key it
//! cannot place is listed, and the result is a plain layout file for the user to read.
//!
//! Version 2 is written when items are directories with a `file` part; version 1 when
//! configuration files sit at one key each.

use std::collections::{BTreeMap, BTreeSet};

/// What detection needs of one key: its name, its `name` part's value when it is one, and
/// the first bytes of its value (enough to tell a schema from a property file).
#[derive(Debug, Clone)]
pub struct Seen {
    pub key: String,
    pub head: Vec<u8>,
}

/// How many bytes of each value are kept for sniffing.
pub const HEAD: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The layout file text.
    pub layout: String,
    /// How many keys each item kind covers.
    pub placed: BTreeMap<String, usize>,
    /// Keys that are neither an item nor a part of one.
    pub unplaced: Vec<String>,
}

/// An item found: its kind, the key pattern (relative to the prefix) and bundle pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    kind: &'static str,
    bundle: String,
    /// `dir:`/`key:` pattern, or the `scan:` root.
    place: String,
    scan: bool,
}

fn kind_of(name: &str, head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head);
    if name.ends_with(".prop") {
        Some("props")
    } else if name.ends_with(".schema") || text.contains("<Table") {
        Some("schema")
    } else if name.ends_with(".xml")
        && (text.contains("PersistentQuery") || text.contains("<Query"))
    {
        Some("pq")
    } else if name == "routing.yaml" || text.contains("dataImportServers:") {
        Some("routing")
    } else if name.ends_with(".yaml") || name.ends_with(".yml") || text.contains("claims:") {
        Some("dis")
    } else if name.ends_with(".xml") {
        Some("acl")
    } else {
        None
    }
}

/// `<Table name="T" namespace="N"` (either order): the schema's namespace and table.
fn schema_names(head: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let tag = &text[text.find("<Table")?..];
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let attr = |a: &str| {
        let at = tag.find(&format!(" {a}=\""))? + a.len() + 3;
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    };
    Some((attr("namespace")?, attr("name")?))
}

/// Replaces the segment equal to `value` (the last such) in `path` by `{var}`.
fn generalize(path: &str, value: &str, var: &str) -> Option<String> {
    let mut segs: Vec<String> = path.split('/').map(str::to_string).collect();
    let i = segs.iter().rposition(|s| s == value)?;
    segs[i] = format!("{{{var}}}");
    Some(segs.join("/"))
}

/// The rule for one item whose directory (v2) or key (v1) is `place`, named `name`.
fn rule(place: &str, name: &str, head: &[u8], v2: bool) -> Option<Rule> {
    let kind = kind_of(name, head)?;
    let parent = place.rsplit_once('/').map_or("", |(p, _)| p);
    let last = place.rsplit('/').next().unwrap_or(place);
    // A directory named by a serial number: items found by scanning its parent.
    if v2 && !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Rule {
            kind,
            bundle: format!(
                "config/{}/{{name}}.xml",
                if kind == "pq" { "pq" } else { kind }
            ),
            place: parent.to_string(),
            scan: true,
        });
    }
    let stem = |ext: &str| name.strip_suffix(ext).unwrap_or(name).to_string();
    let (bundle, place) = match kind {
        "props" => {
            let stem = stem(".prop");
            let place = generalize(place, name, "name")
                .map(|p| p.replace("{name}", "{name}.prop"))
                .or_else(|| generalize(place, &stem, "name"))?;
            ("config/props/{name}.prop".to_string(), place)
        }
        "routing" => ("config/routing/routing.yaml".to_string(), place.to_string()),
        "dis" => {
            let stem = stem(".yaml");
            let place = generalize(place, name, "name")
                .map(|p| p.replace("{name}", "{name}.yaml"))
                .or_else(|| generalize(place, &stem, "name"))?;
            ("config/routing/dis/{name}.yaml".to_string(), place)
        }
        "schema" => {
            let (ns, table) = schema_names(head)?;
            let with_table = generalize(place, &format!("{table}.schema"), "table")
                .map(|p| p.replace("{table}", "{table}.schema"))
                .or_else(|| generalize(place, &table, "table"))?;
            let place = generalize(&with_table, &ns, "namespace")?;
            (
                "config/schemas/{namespace}/{namespace}.{table}.schema".to_string(),
                place,
            )
        }
        "pq" | "acl" => {
            let dir = if kind == "pq" { "pq" } else { "acls" };
            let stem = stem(".xml");
            let place = generalize(place, name, "name")
                .map(|p| p.replace("{name}", "{name}.xml"))
                .or_else(|| generalize(place, &stem, "name"))?;
            (format!("config/{dir}/{{name}}.xml"), place)
        }
        _ => return None,
    };
    Some(Rule {
        kind,
        bundle,
        place,
        scan: false,
    })
}

/// The longest common prefix of `keys` that ends with `/`.
fn common_prefix<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let mut prefix: Option<&str> = None;
    for k in keys {
        prefix = Some(match prefix {
            None => k,
            Some(p) => {
                let n = p.bytes().zip(k.bytes()).take_while(|(a, b)| a == b).count();
                &p[..n]
            }
        });
    }
    let p = prefix.unwrap_or("/");
    p[..p.rfind('/').map_or(0, |i| i + 1)].to_string()
}

/// Detects a layout from every key of an etcd (or a snapshot of one).
pub fn detect(seen: &[Seen]) -> Detected {
    let by_key: BTreeMap<&str, &[u8]> = seen
        .iter()
        .map(|s| (s.key.as_str(), s.head.as_slice()))
        .collect();
    let dirs: BTreeSet<&str> = seen
        .iter()
        .filter_map(|s| s.key.strip_suffix("/file"))
        .collect();
    let v2 = !dirs.is_empty();
    // place (v2: item directory; v1: key) -> (name, head of the bytes)
    let mut found: Vec<(String, String, Vec<u8>)> = Vec::new();
    if v2 {
        for dir in &dirs {
            let head = by_key[format!("{dir}/file").as_str()];
            let name = by_key
                .get(format!("{dir}/name").as_str())
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|| dir.rsplit('/').next().unwrap_or(dir).to_string());
            found.push((dir.to_string(), name, head.to_vec()));
        }
    } else {
        for s in seen {
            let name = s.key.rsplit('/').next().unwrap_or(&s.key).to_string();
            found.push((s.key.clone(), name, s.head.clone()));
        }
    }
    let mut rules: BTreeMap<Rule, usize> = BTreeMap::new();
    let mut items: BTreeSet<String> = BTreeSet::new();
    for (place, name, head) in &found {
        if let Some(r) = rule(place, name, head, v2) {
            *rules.entry(r).or_default() += 1;
            items.insert(place.clone());
        }
    }
    // Every key of a placed item directory (file, name, meta subtree) is placed.
    let placed_key = |k: &str| {
        if v2 {
            items.iter().any(|d| {
                k.strip_prefix(d.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            })
        } else {
            items.contains(k)
        }
    };
    let unplaced: Vec<String> = seen
        .iter()
        .map(|s| s.key.clone())
        .filter(|k| !placed_key(k))
        .collect();
    let prefix = common_prefix(rules.keys().map(|r| r.place.as_str()));
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = String::new();
    out.push_str(
        "# Written by `dh-migrate layout detect` from the keys found; check it before use.\n",
    );
    out.push_str(&format!("version: {}\n", if v2 { 2 } else { 1 }));
    out.push_str(&format!("prefix: {}\n", yaml_scalar(&prefix)));
    if v2 {
        out.push_str("parts:\n  file: file\n  name: name\n  meta: meta\n  guard: guard\n");
    }
    out.push_str("items:\n");
    // One rule per kind and pattern; the most common first within a kind.
    let mut ordered: Vec<(&Rule, &usize)> = rules.iter().collect();
    ordered.sort_by(|a, b| {
        (a.0.kind, std::cmp::Reverse(a.1)).cmp(&(b.0.kind, std::cmp::Reverse(b.1)))
    });
    for (r, n) in ordered {
        *placed.entry(r.kind.to_string()).or_default() += n;
        let rel = r.place.strip_prefix(&prefix).unwrap_or(&r.place);
        out.push_str(&format!("  - kind: {}        # {n} found\n", r.kind));
        out.push_str(&format!("    bundle: {}\n", yaml_scalar(&r.bundle)));
        let field = match (v2, r.scan) {
            (true, true) => "scan",
            (true, false) => "dir",
            (false, _) => "key",
        };
        out.push_str(&format!("    {field}: {}\n", yaml_scalar(rel)));
    }
    if !unplaced.is_empty() {
        out.push_str(&format!("# {} keys not placed:\n", unplaced.len()));
        for k in &unplaced {
            out.push_str(&format!("#   {}\n", k.replace('\n', "\\n")));
        }
    }
    Detected {
        layout: out,
        placed,
        unplaced,
    }
}

/// A YAML scalar: plain when safe, double-quoted otherwise.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-{}".contains(c))
        && !s.starts_with('{');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn seen(keys: &[(&str, &str)]) -> Vec<Seen> {
        keys.iter()
            .map(|(k, v)| Seen {
                key: k.to_string(),
                head: v.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn a_v2_keyspace_gives_a_v2_layout_that_maps_its_items() {
        let keys = seen(&[
            ("/main/config/props/iris-environment.prop/file", "a=b\n"),
            (
                "/main/config/props/iris-environment.prop/name",
                "iris-environment.prop",
            ),
            ("/main/config/props/iris-environment.prop/meta/guard", "7"),
            ("/main/config/props/iris-common.prop/file", "c=d\n"),
            ("/main/config/routing/file", "dataImportServers:\n"),
            ("/main/config/routing/disconfigs/Ing1/file", "claims: []\n"),
            ("/main/config/routing/disconfigs/Ing1/name", "Ing1.yaml"),
            (
                "/main/config/schema/Market/tables/Trades/file",
                "<Table name=\"Trades\" namespace=\"Market\">",
            ),
            ("/main/data/pq/12/file", "<PersistentQuery/>"),
            ("/main/data/pq/12/name", "Dash.xml"),
            ("/main/runtime/leader", "host-1"),
        ]);
        let d = detect(&keys);
        let l =
            Layout::parse("detected", &d.layout).unwrap_or_else(|e| panic!("{e}\n{}", d.layout));
        assert_eq!(l.version, 2);
        assert_eq!(l.prefix, "/main/");
        let path = |k: &str| l.path_for(k).map(|(p, _)| p);
        assert_eq!(
            path("/main/config/props/iris-common.prop/file").as_deref(),
            Some("config/props/iris-common.prop")
        );
        assert_eq!(
            path("/main/config/routing/file").as_deref(),
            Some("config/routing/routing.yaml")
        );
        assert_eq!(
            path("/main/config/routing/disconfigs/Ing1/file").as_deref(),
            Some("config/routing/dis/Ing1.yaml")
        );
        assert_eq!(
            path("/main/config/schema/Market/tables/Trades/file").as_deref(),
            Some("config/schemas/Market/Market.Trades.schema")
        );
        let kv: Vec<(&str, &[u8])> = vec![("/main/data/pq/12/name", b"Dash.xml")];
        assert_eq!(l.scanned(kv)[0].1, "config/pq/Dash.xml");
        assert_eq!(d.unplaced, vec!["/main/runtime/leader"]);
        assert!(d.layout.contains("#   /main/runtime/leader"));
    }

    #[test]
    fn a_v1_keyspace_gives_the_shipped_v1_mapping() {
        let keys = seen(&[
            ("/deephaven/config/props/iris-environment.prop", "a=b\n"),
            (
                "/deephaven/config/routing/routing.yaml",
                "dataImportServers:\n",
            ),
            ("/deephaven/config/routing/dis/Ing1.yaml", "claims: []\n"),
            (
                "/deephaven/config/schemas/Market/Trades.schema",
                "<Table namespace=\"Market\" name=\"Trades\">",
            ),
            ("/deephaven/config/pq/Dash.xml", "<PersistentQuery/>"),
            ("/deephaven/runtime/presence/h", "{}"),
        ]);
        let d = detect(&keys);
        let l =
            Layout::parse("detected", &d.layout).unwrap_or_else(|e| panic!("{e}\n{}", d.layout));
        let shipped = Layout::v1();
        for k in &keys[..5] {
            assert_eq!(
                l.path_for(&k.key).map(|p| p.0),
                shipped.path_for(&k.key).map(|p| p.0),
                "{}\n{}",
                k.key,
                d.layout
            );
        }
        assert_eq!(d.unplaced, vec!["/deephaven/runtime/presence/h"]);
    }
}
