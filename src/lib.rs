//! dh-migrate: moves a Deephaven cluster's configuration from a backup bundle onto a newly
//! installed cluster. See ARCHITECTURE.md for the data flow.
//!
//! The core modules never see clap: `cli` resolves arguments into settings and calls them.

pub mod bundle;
pub mod cli;
pub mod error;
pub mod etcd;
pub mod formats;
pub mod roles;
pub mod scan;
pub mod text;
