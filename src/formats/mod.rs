//! Lossless models of the configuration formats a bundle holds. Each parser keeps the
//! byte span of everything it recognises, so a rewrite can change exactly the bytes of a
//! reference and nothing else, and each can render its text back from its parts.

pub mod cnf;
pub mod props;
pub mod xml;
pub mod yaml;
