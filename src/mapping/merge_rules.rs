//! The mapping file's optional `merge:` section: per configuration item (a bundle-layout
//! path such as `config/props/iris-environment.prop`), which of the new cluster's own
//! settings `apply` drops, and where the new cluster's value wins over the bundle's.
//!
//! Without this section nothing only the new cluster has is ever removed, and the bundle
//! wins wherever both set a value (contract: "Merge, never overwrite"). Names are property
//! keys (scoped ones written `[service.name=x] key`, the headers as in the file) or YAML
//! paths (`dataImportServers.db_dis.tailerPort`, `storage[0]`); `*` matches any run of
//! characters, so `"*"` names every setting of the item.

/// One name (or pattern) in a `drop:` or `new-wins:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleName {
    /// As written, with the whitespace inside `[...]` scope headers removed.
    pub pattern: String,
    pub line: usize,
}

/// The decisions for one item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemRules {
    /// Bundle-layout path of the item.
    pub item: String,
    pub line: usize,
    /// Settings only the new cluster has that apply removes.
    pub drop: Vec<RuleName>,
    /// Settings both set where the new cluster's value stays.
    pub new_wins: Vec<RuleName>,
}

impl ItemRules {
    /// The `drop:` entry naming `name`, if any.
    pub fn drops(&self, name: &str) -> Option<&RuleName> {
        find(&self.drop, name)
    }

    /// The `new-wins:` entry naming `name`, if any.
    pub fn new_wins(&self, name: &str) -> Option<&RuleName> {
        find(&self.new_wins, name)
    }
}

fn find<'a>(list: &'a [RuleName], name: &str) -> Option<&'a RuleName> {
    let name = normalize(name);
    list.iter().find(|r| glob(&r.pattern, &name))
}

/// Of one merged item: the names dropped, and the names where the new cluster's value won.
pub type MergedNames = (Vec<String>, Vec<String>);

/// Every item's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeRules {
    pub items: Vec<ItemRules>,
}

impl MergeRules {
    /// The decisions for the item at `path` (empty when the section does not name it).
    pub fn for_item(&self, path: &str) -> Option<&ItemRules> {
        self.items.iter().find(|i| i.item == path)
    }

    /// Every entry of the section that decided nothing, one line each naming the mapping
    /// file's line: an item that is not merged (not in both the bundle and the new
    /// cluster), a `drop:` name that matches no setting only the new cluster has, a
    /// `new-wins:` name that matches no setting both set. A typo here would otherwise let
    /// the bundle overwrite a value the user meant to keep, without a word.
    /// `merged` gives, per merged item, the names dropped and the names the new cluster won.
    pub fn unmatched(
        &self,
        mapping_file: &str,
        merged: &dyn Fn(&str) -> Option<MergedNames>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for item in &self.items {
            let Some((dropped, won)) = merged(&item.item) else {
                out.push(format!(
                    "{mapping_file}:{}: merge: `{}` is not an item both the bundle and the new cluster have, so nothing is merged there",
                    item.line, item.item
                ));
                continue;
            };
            for (list, names, what) in [
                (&item.drop, &dropped, "no setting only the new cluster has"),
                (
                    &item.new_wins,
                    &won,
                    "no setting both the bundle and the new cluster set",
                ),
            ] {
                for r in list {
                    if !names.iter().any(|n| glob(&r.pattern, &normalize(n))) {
                        out.push(format!(
                            "{mapping_file}:{}: merge: `{}` matches {what} in {}",
                            r.line, r.pattern, item.item
                        ));
                    }
                }
            }
        }
        out
    }
}

/// `name` with the whitespace inside leading `[...]` scope headers removed and the rest
/// trimmed, so `[service.name = a | b] key` and `[service.name=a|b] key` are one name.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name.trim();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            break;
        };
        out.push('[');
        out.extend(inner[..close].chars().filter(|c| !c.is_whitespace()));
        out.push(']');
        rest = inner[close + 1..].trim_start();
        if !rest.is_empty() && !rest.starts_with('[') {
            out.push(' ');
        }
    }
    out.push_str(rest.trim());
    out
}

/// `*` matches any run of characters (none included); everything else literally: the
/// property grammar's own `finalize` pattern matching.
pub use crate::formats::props::glob_match as glob;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_globbed() {
        assert_eq!(
            normalize(" [service.name = a | b] [host=x]  k.y "),
            "[service.name=a|b][host=x] k.y"
        );
        assert_eq!(normalize("plain.key"), "plain.key");
        assert!(glob("*", "anything"));
        assert!(glob("log.*.enabled", "log.json.enabled"));
        assert!(!glob("log.*.enabled", "log.json.disabled"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
    }
}
