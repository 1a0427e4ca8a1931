//! A read-only reader of bbolt database files, as far as an etcd snapshot needs: the two
//! meta pages (magic, version, FNV-1a checksum; the valid one with the higher txid wins),
//! branch and leaf pages with their overflow pages, and buckets stored in their own page
//! tree or inline in their parent's leaf value.
//!
//! Every page is read with a positional read into a buffer reused per tree level, so the
//! memory used is a few pages whatever the file size. Every page is checked before use:
//! its id, its type (only branch or leaf inside a tree: any other flag is an error, never a
//! guess), its element table and every key/value range inside its bytes; a page reached
//! twice (a cycle or a shared page) is an error, which also keeps the walk linear in the
//! file size.
//!
//! Format learned from etcd-io/bbolt (commit 4e65d8f): `internal/common/page.go` (page
//! header, element layouts, flags), `internal/common/meta.go` (meta fields, checksum),
//! `internal/common/bucket.go` (bucket header, inline buckets), `db.go` (meta selection).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::cache::Cache;
use super::Problem;

const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF_FLAG: u32 = 0x01;
/// The meta fields covered by the checksum: everything before it (56 bytes).
const META_SUMMED: usize = 56;
/// A page (with its overflow pages) larger than this is refused rather than buffered: etcd
/// values are limited by its request size (1.5 MiB by default), so real pages stay far below.
pub const MAX_PAGE_SPAN: u64 = 64 << 20;
/// Deeper trees than this cannot come from bbolt (it splits pages by fill, so even a
/// terabyte file stays under ten levels); a deeper one is corrupt.
const MAX_DEPTH: usize = 64;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The valid meta page's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub root: u64,
    /// The high-water mark: pages `0..pgid` are the database.
    pub pgid: u64,
    pub txid: u64,
}

/// FNV-1a, 64 bit: bbolt's meta checksum.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Checks one meta page (the bytes after the page header) and returns its fields.
fn parse_meta(page: &[u8]) -> Result<Meta, String> {
    if page.len() < PAGE_HEADER + META_SUMMED + 8 {
        return Err("shorter than a meta page".into());
    }
    let flags = u16_at(page, 8);
    if flags != META {
        return Err(format!("page flags {flags:#06x}, expected meta (0x0004)"));
    }
    let m = &page[PAGE_HEADER..];
    if u32_at(m, 0) != MAGIC {
        return Err("bad magic number (not a bbolt file)".into());
    }
    if u32_at(m, 4) != VERSION {
        return Err(format!(
            "bbolt version {} (expected {VERSION})",
            u32_at(m, 4)
        ));
    }
    let sum = fnv1a(&m[..META_SUMMED]);
    if u64_at(m, META_SUMMED) != sum {
        return Err("checksum mismatch".into());
    }
    let page_size = u32_at(m, 8);
    if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("implausible page size {page_size}"));
    }
    Ok(Meta {
        page_size,
        root: u64_at(m, 16),
        pgid: u64_at(m, 40),
        txid: u64_at(m, 48),
    })
}

/// Where a bucket's tree starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketRoot {
    Page(u64),
    /// An inline bucket: its one leaf page is the parent's value after the bucket header;
    /// `off` is where those bytes sit in the file.
    Inline {
        off: u64,
        page: Vec<u8>,
    },
}

/// What a walk calls for each entry of a bucket, in key order.
pub type Visitor<'v> = dyn FnMut(&[u8], Value<'_>) -> Result<(), Problem> + 'v;

/// One leaf entry handed to a walk's visitor.
pub enum Value<'a> {
    /// A plain value and its offset in the file.
    Data(&'a [u8], u64),
    Bucket(BucketRoot),
}

pub struct Db<'f> {
    file: &'f File,
    /// Bytes of the database proper (the file without the snapshot trailer).
    len: u64,
    pub meta: Meta,
}

impl<'f> Db<'f> {
    /// Reads both meta pages and keeps the valid one with the higher transaction id.
    pub fn open(file: &'f File, len: u64) -> Result<Db<'f>, Problem> {
        let read = |off: u64, n: usize| -> Result<Vec<u8>, Problem> {
            let mut buf = vec![0; n];
            file.read_exact_at(&mut buf, off).map_err(Problem::Read)?;
            Ok(buf)
        };
        if len < 1024 {
            return Err(Problem::TooSmall(len));
        }
        let first = read(0, 512)?;
        let meta0 = parse_meta(&first);
        // The second meta page sits one page further: its size comes from the first meta
        // page when that one is valid, otherwise each possible page size is tried.
        let sizes: Vec<u64> = match &meta0 {
            Ok(m) => vec![u64::from(m.page_size)],
            Err(_) => (9..=20).map(|s| 1u64 << s).collect(),
        };
        let mut meta1 = Err("not found".to_string());
        for size in sizes {
            if size + 512 > len {
                continue;
            }
            meta1 = parse_meta(&read(size, 512)?);
            if meta1.is_ok() {
                break;
            }
        }
        let meta = match (&meta0, &meta1) {
            (Ok(a), Ok(b)) if a.page_size != b.page_size => {
                return Err(Problem::Meta(
                    "the two meta pages disagree on the page size".into(),
                ))
            }
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    *b
                } else {
                    *a
                }
            }
            (Ok(a), Err(_)) => *a,
            (Err(_), Ok(b)) => *b,
            (Err(a), Err(b)) => {
                return Err(Problem::Meta(format!(
                    "both meta pages are invalid (page 0: {a}; page 1: {b})"
                )))
            }
        };
        let ps = u64::from(meta.page_size);
        let needed = meta.pgid.checked_mul(ps).ok_or(Problem::Meta(format!(
            "high-water mark {} overflows",
            meta.pgid
        )))?;
        if needed > len {
            return Err(Problem::Truncated { needed, len });
        }
        if meta.root < 2 || meta.root >= meta.pgid {
            return Err(Problem::Meta(format!(
                "root bucket page {} outside the database (pages 2..{})",
                meta.root, meta.pgid
            )));
        }
        Ok(Db { file, len, meta })
    }

    pub fn walker(&self) -> Walker<'_, 'f> {
        let pages = usize::try_from(self.meta.pgid).unwrap_or(usize::MAX);
        Walker {
            db: self,
            cache: Cache::new(self.file, self.len),
            visited: vec![0u64; pages.div_ceil(64)],
            bufs: Vec::new(),
        }
    }
}

/// Walks bucket trees; remembers every page it has visited across walks.
pub struct Walker<'d, 'f> {
    db: &'d Db<'f>,
    cache: Cache<'f>,
    visited: Vec<u64>,
    bufs: Vec<Vec<u8>>,
}

impl Walker<'_, '_> {
    /// The root bucket: the top-level buckets, each by name.
    pub fn top_level(&mut self) -> Result<Vec<(Vec<u8>, BucketRoot)>, Problem> {
        let mut out = Vec::new();
        self.walk(&BucketRoot::Page(self.db.meta.root), &mut |k, v| {
            match v {
                Value::Bucket(root) => out.push((k.to_vec(), root)),
                Value::Data(..) => {
                    return Err(Problem::Tree(format!(
                        "the root holds a plain key {:?} (etcd keeps only buckets there)",
                        String::from_utf8_lossy(k)
                    )))
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` for every entry of one bucket, in key order (checked).
    pub fn walk(&mut self, root: &BucketRoot, visit: &mut Visitor<'_>) -> Result<(), Problem> {
        let mut prev: Option<Vec<u8>> = None;
        let mut ordered = |key: &[u8], v: Value<'_>| -> Result<(), Problem> {
            if let Some(p) = &mut prev {
                if key <= p.as_slice() {
                    return Err(Problem::Tree(format!(
                        "keys out of order ({} after {})",
                        hex::encode(key),
                        hex::encode(&p)
                    )));
                }
                p.clear();
                p.extend_from_slice(key);
            } else {
                prev = Some(key.to_vec());
            }
            visit(key, v)
        };
        match root {
            BucketRoot::Page(pgid) => self.walk_page(*pgid, 0, &mut ordered),
            BucketRoot::Inline { off, page } => {
                let elems = check_elements(page, LEAF, "inline bucket")?;
                leaf_entries(page, *off, elems, "inline bucket", &mut ordered)
            }
        }
    }

    fn mark(&mut self, first: u64, count: u64) -> Result<(), Problem> {
        for p in first..first + count {
            let (word, bit) = ((p / 64) as usize, p % 64);
            if self.visited[word] & (1 << bit) != 0 {
                return Err(Problem::Tree(format!(
                    "page {p} is reached twice (a cycle or a shared page)"
                )));
            }
            self.visited[word] |= 1 << bit;
        }
        Ok(())
    }

    /// Reads page `pgid` with its overflow pages into `buf`.
    fn read_page(&mut self, pgid: u64, buf: &mut Vec<u8>) -> Result<(), Problem> {
        let meta = self.db.meta;
        let ps = u64::from(meta.page_size);
        if pgid < 2 || pgid >= meta.pgid {
            return Err(Problem::Tree(format!(
                "page {pgid} is outside the database (pages 2..{})",
                meta.pgid
            )));
        }
        buf.resize(ps as usize, 0);
        self.cache.read(pgid * ps, buf).map_err(Problem::Read)?;
        let id = u64_at(buf, 0);
        if id != pgid {
            return Err(Problem::Tree(format!("page {pgid} says it is page {id}")));
        }
        let overflow = u64::from(u32_at(buf, 12));
        if pgid + overflow >= meta.pgid {
            return Err(Problem::Tree(format!(
                "page {pgid} with {overflow} overflow pages runs past the database"
            )));
        }
        let span = (overflow + 1) * ps;
        if span > MAX_PAGE_SPAN {
            return Err(Problem::Tree(format!(
                "page {pgid} spans {span} bytes, over the reader's limit of {MAX_PAGE_SPAN}"
            )));
        }
        self.mark(pgid, overflow + 1)?;
        if overflow > 0 {
            buf.resize(span as usize, 0);
            debug_assert!(pgid * ps + span <= self.db.len);
            self.cache
                .read((pgid + 1) * ps, &mut buf[ps as usize..])
                .map_err(Problem::Read)?;
        }
        Ok(())
    }

    fn walk_page(
        &mut self,
        pgid: u64,
        depth: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<(), Problem> {
        if depth >= MAX_DEPTH {
            return Err(Problem::Tree(format!(
                "tree deeper than {MAX_DEPTH} levels at page {pgid}"
            )));
        }
        if self.bufs.len() <= depth {
            self.bufs.resize_with(depth + 1, Vec::new);
        }
        let mut buf = std::mem::take(&mut self.bufs[depth]);
        let result = (|| {
            self.read_page(pgid, &mut buf)?;
            let flags = u16_at(&buf, 8);
            let place = format!("page {pgid}");
            match flags {
                LEAF => {
                    let elems = check_elements(&buf, LEAF, &place)?;
                    let off = pgid * u64::from(self.db.meta.page_size);
                    leaf_entries(&buf, off, elems, &place, visit)
                }
                BRANCH => {
                    let elems = check_elements(&buf, BRANCH, &place)?;
                    for i in 0..elems {
                        let e = PAGE_HEADER + i * ELEMENT;
                        let (pos, ksize) = (u32_at(&buf, e) as usize, u32_at(&buf, e + 4) as usize);
                        if e + pos + ksize > buf.len() {
                            return Err(Problem::Tree(format!(
                                "{place}: branch element {i} points outside the page"
                            )));
                        }
                        let child = u64_at(&buf, e + 8);
                        self.walk_page(child, depth + 1, visit)?;
                    }
                    Ok(())
                }
                other => Err(Problem::Tree(format!(
                    "{place} has flags {other:#06x} where a branch (0x0001) or leaf (0x0002) page belongs"
                ))),
            }
        })();
        self.bufs[depth] = buf;
        result
    }
}

/// Checks a page's flags and that its element table fits; returns the element count.
fn check_elements(page: &[u8], want: u16, place: &str) -> Result<usize, Problem> {
    if page.len() < PAGE_HEADER {
        return Err(Problem::Tree(format!(
            "{place}: shorter than a page header"
        )));
    }
    let flags = u16_at(page, 8);
    if flags != want {
        return Err(Problem::Tree(format!(
            "{place} has flags {flags:#06x}, expected {want:#06x}"
        )));
    }
    let count = usize::from(u16_at(page, 10));
    if PAGE_HEADER + count * ELEMENT > page.len() {
        return Err(Problem::Tree(format!(
            "{place}: {count} elements do not fit in the page"
        )));
    }
    Ok(count)
}

/// Hands each element of a (checked) leaf page to `visit`.
fn leaf_entries(
    page: &[u8],
    page_off: u64,
    count: usize,
    place: &str,
    visit: &mut Visitor<'_>,
) -> Result<(), Problem> {
    for i in 0..count {
        let e = PAGE_HEADER + i * ELEMENT;
        let flags = u32_at(page, e);
        let (pos, ksize, vsize) = (
            u32_at(page, e + 4) as usize,
            u32_at(page, e + 8) as usize,
            u32_at(page, e + 12) as usize,
        );
        let start = e + pos;
        let end = start + ksize + vsize;
        if end > page.len() {
            return Err(Problem::Tree(format!(
                "{place}: leaf element {i} points outside the page"
            )));
        }
        let key = &page[start..start + ksize];
        let value = &page[start + ksize..end];
        let value_off = page_off + (start + ksize) as u64;
        match flags {
            0 => visit(key, Value::Data(value, value_off))?,
            BUCKET_LEAF_FLAG => {
                if value.len() < BUCKET_HEADER {
                    return Err(Problem::Tree(format!(
                        "{place}: bucket {} has a short header",
                        hex::encode(key)
                    )));
                }
                let root = u64_at(value, 0);
                let bucket = if root == 0 {
                    BucketRoot::Inline {
                        off: value_off + BUCKET_HEADER as u64,
                        page: value[BUCKET_HEADER..].to_vec(),
                    }
                } else {
                    BucketRoot::Page(root)
                };
                visit(key, Value::Bucket(bucket))?
            }
            other => {
                return Err(Problem::Tree(format!(
                    "{place}: leaf element {i} has unknown flags {other:#x}"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    fn meta_page(txid: u64, page_size: u32) -> Vec<u8> {
        let mut p = vec![0u8; 512];
        p[8..10].copy_from_slice(&META.to_le_bytes());
        let m = &mut p[PAGE_HEADER..];
        m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&VERSION.to_le_bytes());
        m[8..12].copy_from_slice(&page_size.to_le_bytes());
        m[16..24].copy_from_slice(&3u64.to_le_bytes());
        m[40..48].copy_from_slice(&4u64.to_le_bytes());
        m[48..56].copy_from_slice(&txid.to_le_bytes());
        let sum = fnv1a(&m[..META_SUMMED]);
        m[56..64].copy_from_slice(&sum.to_le_bytes());
        p
    }

    #[test]
    fn meta_checks_magic_version_checksum() {
        let good = meta_page(7, 4096);
        assert_eq!(parse_meta(&good).unwrap().txid, 7);
        let mut bad = good.clone();
        bad[PAGE_HEADER + 48] ^= 1;
        assert_eq!(parse_meta(&bad).unwrap_err(), "checksum mismatch");
        let mut bad = good.clone();
        bad[PAGE_HEADER] ^= 1;
        assert!(parse_meta(&bad).unwrap_err().contains("magic"));
        let mut bad = good;
        bad[8] = 0x10;
        assert!(parse_meta(&bad).unwrap_err().contains("flags"));
    }

    #[test]
    fn unknown_leaf_flags_are_refused() {
        let mut page = vec![0u8; 64];
        page[8..10].copy_from_slice(&LEAF.to_le_bytes());
        page[10..12].copy_from_slice(&1u16.to_le_bytes());
        page[16..20].copy_from_slice(&2u32.to_le_bytes()); // flags 2: unknown
        page[20..24].copy_from_slice(&16u32.to_le_bytes());
        page[24..28].copy_from_slice(&1u32.to_le_bytes());
        let n = check_elements(&page, LEAF, "p").unwrap();
        let err = leaf_entries(&page, 0, n, "p", &mut |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("unknown flags"), "{err}");
        // An element table that does not fit.
        page[10..12].copy_from_slice(&9u16.to_le_bytes());
        assert!(check_elements(&page, LEAF, "p").is_err());
    }
}
