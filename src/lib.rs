//! dh-migrate: moves a Deephaven cluster's configuration from a backup bundle onto a newly
//! installed cluster. See ARCHITECTURE.md for the data flow.
//!
//! The core modules never see clap: `cli` resolves arguments into settings and calls one
//! use case of `ops` per command.

pub mod apply;
pub mod atomic;
pub mod backup;
pub mod bundle;
pub mod cli;
pub mod compare;
pub mod contexts;
pub mod diff;
pub mod emit;
pub mod encoding;
pub mod error;
pub mod etcd;
pub mod export;
pub mod formats;
pub mod inspect;
pub mod layout;
pub mod layout_detect;
pub mod mapping;
pub mod merge;
pub mod migrate;
pub mod ops;
pub mod plan;
pub mod planfile;
pub mod planview;
pub mod report;
pub mod restart;
pub mod rewrite;
pub mod roles;
pub mod scan;
pub mod secrets;
pub mod snapshot;
pub mod snapshot_db;
pub mod target;
pub mod text;
pub mod timing;
pub mod tree;
pub mod ui;
pub mod wizard;
