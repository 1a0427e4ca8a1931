//! Size limits on what a bundle may make dh-migrate hold in memory: one configuration file,
//! and all loaded content together. They are checked on each entry's declared size before
//! its data is read (and the read is capped at that size), so a decompression bomb stops at
//! its first oversized entry instead of filling memory.
//!
//! The limits are set once per process at the command-line edge ([`set_limits`]); a library
//! caller that never sets them gets [`Limits::default`], or passes its own to
//! [`super::Bundle::open_with_limits`].

use std::sync::OnceLock;

/// The limits one bundle read obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest configuration file (under `config/` or `cluster/`, or the manifest); files
    /// under `files/` and `nodes/` may be up to 64 MiB when this is lower. A file over its
    /// limit makes the bundle invalid and stops the read.
    pub file: u64,
    /// Largest total of loaded content over the whole bundle.
    pub bundle: u64,
}

/// Default limit per loaded file: configuration files are kilobytes; the largest real
/// routing file seen is under 1 MiB.
pub const DEFAULT_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// Default limit on all loaded content: the synthetic 10,000-schema bundle holds 14 MiB of
/// configuration text. Together with the parse models this keeps a hostile bundle under
/// about 300 MiB of memory.
pub const DEFAULT_BUNDLE_LIMIT: u64 = 256 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            file: DEFAULT_FILE_LIMIT,
            bundle: DEFAULT_BUNDLE_LIMIT,
        }
    }
}

static CONFIGURED: OnceLock<Limits> = OnceLock::new();

/// Sets the limits every later [`super::Bundle::open`] in this process uses. Only the first
/// call counts (the command line sets them once); returns whether this call did.
pub fn set_limits(limits: Limits) -> bool {
    CONFIGURED.set(limits).is_ok()
}

/// The limits in force: the configured ones, else the defaults.
pub fn current() -> Limits {
    CONFIGURED.get().copied().unwrap_or_default()
}

/// Which limit an entry ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    File,
    Bundle,
}

impl LimitKind {
    /// The flag that raises this limit, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            LimitKind::File => "--max-file-size",
            LimitKind::Bundle => "--max-bundle-size",
        }
    }
}

/// Parses a size as the flags take it: a number of bytes with an optional `K`, `M` or `G`
/// suffix (binary multiples, `KiB`/`MiB`/`GiB` spellings too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(digits_end);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 16M, 512K, 1G, 1048576)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        _ => return Err(format!("{text:?}: unknown size unit (use K, M or G)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("x").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
