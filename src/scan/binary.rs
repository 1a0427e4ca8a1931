//! Old-node names inside files that stay binary (jars, keystores, anything not text in
//! a known encoding): every run of host-name characters, read as ASCII bytes and as
//! UTF-16 code units in both byte orders and both alignments, is a token exactly as in
//! text (`scan::tokens`); a token the inventory knows is a hit, reported with the file
//! and the byte offset where it starts. A binary file cannot be rewritten in place, so a
//! hit fails the plan unless the mapping keeps the host or carries the file on purpose.
//!
//! Linear in the file size: five passes, each looking at every byte once.

use crate::scan::inventory::Inventory;
use crate::scan::tokens::is_token_byte;
use serde::Serialize;

/// How the bytes of a hit encode the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ByteEncoding {
    Ascii,
    Utf16Le,
    Utf16Be,
}

impl std::fmt::Display for ByteEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ByteEncoding::Ascii => "ASCII",
            ByteEncoding::Utf16Le => "UTF-16LE",
            ByteEncoding::Utf16Be => "UTF-16BE",
        })
    }
}

/// An old-node name found in a binary file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryHit {
    pub file: String,
    /// Byte offset of the name's first byte.
    pub offset: usize,
    pub text: String,
    pub encoding: ByteEncoding,
}

/// Every old-node name in `bytes`, in offset order.
pub fn scan_bytes(file: &str, bytes: &[u8], inv: &Inventory) -> Vec<BinaryHit> {
    let mut hits = Vec::new();
    // ASCII: one byte per character.
    runs(
        bytes.len(),
        1,
        0,
        |i| Some(bytes[i]),
        |start, text| push_hit(&mut hits, file, inv, start, text, ByteEncoding::Ascii),
    );
    // UTF-16: two bytes per character, at either alignment.
    for align in 0..2 {
        let units = bytes.len().saturating_sub(align) / 2;
        for (enc, lo, hi) in [(ByteEncoding::Utf16Le, 0, 1), (ByteEncoding::Utf16Be, 1, 0)] {
            runs(
                units,
                2,
                align,
                |u| {
                    let at = align + 2 * u;
                    (bytes[at + hi] == 0).then_some(bytes[at + lo])
                },
                |start, text| push_hit(&mut hits, file, inv, start, text, enc),
            );
        }
    }
    hits.sort_by_key(|h| h.offset);
    hits
}

/// Calls `found(byte offset, token)` for each maximal run of token characters among the
/// `n` characters `char_at` gives (None: not an ASCII character), with leading and
/// trailing dots trimmed as in text.
fn runs(
    n: usize,
    width: usize,
    base: usize,
    char_at: impl Fn(usize) -> Option<u8>,
    mut found: impl FnMut(usize, &str),
) {
    let mut run = String::new();
    let mut start = 0;
    for i in 0..=n {
        let c = (i < n)
            .then(|| char_at(i))
            .flatten()
            .filter(|b| is_token_byte(*b));
        match c {
            Some(b) => {
                if run.is_empty() {
                    start = i;
                }
                run.push(b as char);
            }
            None if !run.is_empty() => {
                let lead = run.len() - run.trim_start_matches('.').len();
                let t = run.trim_matches('.');
                if !t.is_empty() {
                    found(base + (start + lead) * width, t);
                }
                run.clear();
            }
            None => {}
        }
    }
}

fn push_hit(
    hits: &mut Vec<BinaryHit>,
    file: &str,
    inv: &Inventory,
    offset: usize,
    text: &str,
    encoding: ByteEncoding,
) {
    if inv.lookup(text).is_some() {
        hits.push(BinaryHit {
            file: file.to_string(),
            offset,
            text: text.to_string(),
            encoding,
        });
    }
}
