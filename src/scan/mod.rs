//! Finding old-node references: which hosts the old cluster had (`inventory`), how text
//! splits into host tokens (`tokens`), and where the migrated files name old hosts, with
//! the context that decides each reference's role (`refs`).

pub mod binary;
pub mod inventory;
pub mod refs;
pub mod tokens;
