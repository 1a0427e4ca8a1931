//! What a snapshot would bring back besides configuration: the old cluster's members, its
//! etcd users and roles (names and role grants only: a user's password hash is never
//! decoded), its leases, and a few facts from the `meta`, `auth` and `cluster` buckets.
//!
//! Formats learned from etcd-io/etcd (commit c34dc7e): `server/storage/schema/bucket.go`
//! (bucket names), `schema/membership.go` (member id in hex -> JSON member),
//! `schema/auth.go`, `schema/auth_users.go`, `schema/auth_roles.go`, `api/authpb/auth.proto`,
//! `schema/lease.go` + `server/lease/leasepb/lease.proto`, `schema/schema.go` (meta keys).

use serde::Serialize;

use super::proto::{self, Field};
use super::Problem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member id as etcd prints it (hex).
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub name: String,
    /// How many key permissions the role grants (their ranges are not secrets, but the
    /// count is what the restore advice needs).
    pub permissions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub id: i64,
    pub ttl: i64,
}

/// The old cluster's etcd identity as the snapshot records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub members: Vec<Member>,
    pub removed_members: Vec<String>,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub auth_enabled: bool,
    pub leases: Vec<Lease>,
    pub cluster_version: Option<String>,
    pub consistent_index: Option<u64>,
    pub compact_revision: Option<u64>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bad(bucket: &str, key: &[u8], what: impl Into<String>) -> Problem {
    Problem::Value {
        bucket: bucket.to_string(),
        key: text(key),
        what: what.into(),
    }
}

impl Identity {
    /// Takes one entry of one of etcd's buckets; entries of other buckets are ignored.
    pub fn add(&mut self, bucket: &[u8], key: &[u8], value: &[u8]) -> Result<(), Problem> {
        match bucket {
            b"members" => self.members.push(member(key, value)?),
            b"members_removed" => self.removed_members.push(text(key)),
            b"authUsers" => self.users.push(user(key, value)?),
            b"authRoles" => self.roles.push(role(key, value)?),
            b"auth" if key == b"authEnabled" => {
                self.auth_enabled = value.first() == Some(&1);
            }
            b"lease" => self.leases.push(lease(key, value)?),
            b"cluster" if key == b"clusterVersion" => self.cluster_version = Some(text(value)),
            b"meta" if key == b"consistent_index" => {
                let v: [u8; 8] = value
                    .try_into()
                    .map_err(|_| bad("meta", key, "not 8 bytes"))?;
                self.consistent_index = Some(u64::from_be_bytes(v));
            }
            b"meta" if key == b"finishedCompactRev" => {
                let r = super::mvcc::parse_revision(value)?;
                self.compact_revision = Some(r.main);
            }
            _ => {}
        }
        Ok(())
    }
}

fn member(key: &[u8], value: &[u8]) -> Result<Member, Problem> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Json {
        #[serde(default)]
        name: String,
        #[serde(default, rename = "peerURLs")]
        peer_urls: Vec<String>,
        #[serde(default, rename = "clientURLs")]
        client_urls: Vec<String>,
        #[serde(default)]
        is_learner: bool,
    }
    let j: Json = serde_json::from_slice(value)
        .map_err(|e| bad("members", key, format!("not a member record: {e}")))?;
    Ok(Member {
        id: text(key),
        name: j.name,
        peer_urls: j.peer_urls,
        client_urls: j.client_urls,
        is_learner: j.is_learner,
    })
}

fn user(key: &[u8], value: &[u8]) -> Result<User, Problem> {
    let mut u = User {
        name: text(key),
        roles: Vec::new(),
    };
    for f in proto::fields(value) {
        // Field 2 (the password hash) is deliberately skipped unread.
        match f.map_err(|w| bad("authUsers", key, w))? {
            Field::Bytes(1, name) => u.name = text(name),
            Field::Bytes(3, role) => u.roles.push(text(role)),
            _ => {}
        }
    }
    Ok(u)
}

fn role(key: &[u8], value: &[u8]) -> Result<Role, Problem> {
    let mut r = Role {
        name: text(key),
        permissions: 0,
    };
    for f in proto::fields(value) {
        match f.map_err(|w| bad("authRoles", key, w))? {
            Field::Bytes(1, name) => r.name = text(name),
            Field::Bytes(2, _) => r.permissions += 1,
            _ => {}
        }
    }
    Ok(r)
}

fn lease(key: &[u8], value: &[u8]) -> Result<Lease, Problem> {
    let mut l = Lease { id: 0, ttl: 0 };
    for f in proto::fields(value) {
        match f.map_err(|w| bad("lease", key, w))? {
            Field::Varint(1, id) => l.id = id as i64,
            Field::Varint(2, ttl) => l.ttl = ttl as i64,
            _ => {}
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_keep_names_and_roles_never_the_password() {
        let mut v = vec![0x0a, 4];
        v.extend(b"root");
        v.extend([0x12, 6]);
        v.extend(b"SECRET");
        v.extend([0x1a, 4]);
        v.extend(b"root");
        let u = user(b"root", &v).unwrap();
        assert_eq!(u.roles, vec!["root"]);
        assert!(!format!("{u:?}").contains("SECRET"));
    }

    #[test]
    fn members_are_json_records() {
        let m = member(
            b"8e9e05c52164694d",
            br#"{"id":10276657743932975437,"peerURLs":["http://127.0.0.1:2380"],"name":"m1"}"#,
        )
        .unwrap();
        assert_eq!(m.name, "m1");
        assert_eq!(m.peer_urls, vec!["http://127.0.0.1:2380"]);
        assert!(member(b"1", b"{not json").is_err());
    }
}
