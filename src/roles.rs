//! dh-migrate's role vocabulary: what part of a Deephaven cluster a node plays, and which
//! role a Deephaven service belongs to. The service table is data
//! (`templates/role-contexts.yaml`), so a site can correct it without a new build.

use std::fmt;
use std::str::FromStr;

/// A node role. The names are dh-migrate's own (README, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// configuration, authentication, ACL writer, controller, web API, log aggregator
    Infra,
    Query,
    Merge,
    /// data import server and tailer
    Dis,
    Etcd,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Infra, Role::Query, Role::Merge, Role::Dis, Role::Etcd];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Infra => "infra",
            Role::Query => "query",
            Role::Merge => "merge",
            Role::Dis => "dis",
            Role::Etcd => "etcd",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name outside the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected one of infra, query, merge, dis, etcd")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_vocabulary_case_insensitively() {
        assert_eq!("DIS".parse::<Role>(), Ok(Role::Dis));
        assert_eq!(" infra ".parse::<Role>(), Ok(Role::Infra));
        assert_eq!("ingest".parse::<Role>(), Err(UnknownRole("ingest".into())));
    }
}
