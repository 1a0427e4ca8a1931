//! Finding old-node references: which hosts the old cluster had, and where the migrated
//! files name them.
