//! Streaming helpers shared by the archive and directory readers: counting the bytes read
//! from the bundle source, reporting that count as progress, and hashing a stream with a
//! fixed buffer (so memory does not grow with file size).

use std::cell::Cell;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::{Content, Progress};

/// Counts the bytes read from the bundle source (the compressed file for an archive).
pub(crate) struct Counting<'c, R> {
    pub inner: R,
    pub count: &'c Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Reports the byte count as [`Progress::Advanced`] whenever it moved since the last
/// report. The count lives in a `Cell` because the reader that updates it is owned by the
/// decompressor and tar reader, while the reports come from the entry loop.
pub(crate) struct Reporter<'p, 'c> {
    progress: &'p mut dyn FnMut(Progress),
    count: &'c Cell<u64>,
    reported: u64,
}

impl<'p, 'c> Reporter<'p, 'c> {
    pub fn new(progress: &'p mut dyn FnMut(Progress), count: &'c Cell<u64>) -> Self {
        Reporter {
            progress,
            count,
            reported: 0,
        }
    }

    pub fn tick(&mut self) {
        let now = self.count.get();
        if now != self.reported {
            self.reported = now;
            (self.progress)(Progress::Advanced { bytes: now });
        }
    }
}

/// What [`hash_stream`] found.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub sha256: [u8; 32],
    pub size: u64,
    pub content: Option<Content>,
}

/// Reads a small stream whole into `scratch` (the caller's, reused from file to file, so
/// its memory is touched once), hashes it, and keeps it as its [`Content`]: one copy of
/// exactly its size. As [`hash_stream`] with `keep = Some(size)`: more than `size` bytes
/// is an error, so the size checked against the limits bounds the memory.
pub(crate) fn read_small(
    reader: &mut dyn Read,
    size: u64,
    scratch: &mut Vec<u8>,
) -> io::Result<Hashed> {
    scratch.clear();
    scratch.reserve(usize::try_from(size).unwrap_or(0).saturating_add(1));
    // One byte more than expected is enough to tell that the file grew.
    reader.take(size.saturating_add(1)).read_to_end(scratch)?;
    if scratch.len() as u64 > size {
        return Err(io::Error::other(
            "the file holds more bytes than its size said (it changed while read)",
        ));
    }
    Ok(Hashed {
        sha256: Sha256::digest(&scratch).into(),
        size: scratch.len() as u64,
        content: Some(Content::from_slice(scratch)),
    })
}

/// Hashes a stream to its end with the caller's buffer. With `keep = Some(expected size)`
/// the bytes are also collected, never more than that size (a file that grows while it is
/// read is an error, so the size checked against the limits bounds the memory); otherwise
/// only the digest and the length survive.
pub(crate) fn hash_stream(
    reader: &mut dyn Read,
    keep: Option<u64>,
    buf: &mut [u8],
    reporter: &mut Reporter<'_, '_>,
) -> io::Result<Hashed> {
    let mut hasher = Sha256::new();
    // The capacity is only a hint; never trust a header's size for a huge allocation.
    let mut content = keep.map(|size| Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
    let mut size = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if keep.is_some_and(|expected| size + n as u64 > expected) {
            return Err(io::Error::other(
                "the file holds more bytes than its size said (it changed while read)",
            ));
        }
        hasher.update(&buf[..n]);
        if let Some(c) = content.as_mut() {
            c.extend_from_slice(&buf[..n]);
        }
        size += n as u64;
        reporter.tick();
    }
    Ok(Hashed {
        sha256: hasher.finalize().into(),
        size,
        content: content.map(Content::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_is_read_whole_and_hashed_and_growth_is_refused() {
        let data = b"host=dh-query-1.old.example.com\n";
        let size = data.len() as u64;
        let mut scratch = b"left from an earlier, longer file".to_vec();
        let got = read_small(&mut &data[..], size, &mut scratch).unwrap();
        assert_eq!(got.content.as_deref(), Some(&data[..]));
        assert!(
            got.content.unwrap().text().is_some(),
            "UTF-8 is kept as text"
        );
        assert_eq!(got.size, size);
        assert_eq!(got.sha256, <[u8; 32]>::from(Sha256::digest(data)));
        // The same digest as the streaming reader's.
        let count = std::cell::Cell::new(0);
        let mut quiet = |_: Progress| {};
        let mut reporter = Reporter::new(&mut quiet, &count);
        let streamed = hash_stream(&mut &data[..], Some(size), &mut [0; 7], &mut reporter).unwrap();
        assert_eq!(streamed.sha256, got.sha256);
        // Grown since its size was taken: refused, whatever the growth.
        for smaller in [size - 1, 0] {
            let err = read_small(&mut &data[..], smaller, &mut scratch).unwrap_err();
            assert!(err.to_string().contains("changed while read"), "{err}");
        }
        // Shrunk: what is there (the manifest then tells the difference).
        let got = read_small(&mut &data[..10], size, &mut scratch).unwrap();
        assert_eq!(got.size, 10);
        assert_eq!(got.content.as_deref(), Some(&data[..10]));
        assert_eq!(got.sha256, <[u8; 32]>::from(Sha256::digest(&data[..10])));
    }
}
