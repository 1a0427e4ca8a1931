//! Shared support for integration tests: real etcd servers and clusters (see [`etcd`]).
//!
//! Each test binary uses a different subset of these helpers, so unused ones are not
//! warnings here.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod etcd;
pub mod fs;
pub mod mariadb;

pub use etcd::*;
