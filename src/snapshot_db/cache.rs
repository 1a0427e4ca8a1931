//! A small read cache over the snapshot file: a few aligned windows of the file, least
//! recently used replaced first. bbolt lays pages out mostly in order, and live values
//! read in key order come from a few regions at a time, so most reads are served from a
//! window and the file is read in large positional reads instead of one per page or
//! value. Memory: `WINDOWS * WINDOW` bytes, whatever the file size.

use std::fs::File;
use std::os::unix::fs::FileExt;

const WINDOW: u64 = 256 << 10;
const WINDOWS: usize = 8;

pub struct Cache<'f> {
    file: &'f File,
    /// Bytes of the file that may be read (the database without the trailer).
    len: u64,
    /// (window index, bytes, last use)
    windows: Vec<(u64, Vec<u8>, u64)>,
    tick: u64,
}

impl<'f> Cache<'f> {
    pub fn new(file: &'f File, len: u64) -> Cache<'f> {
        Cache {
            file,
            len,
            windows: Vec::with_capacity(WINDOWS),
            tick: 0,
        }
    }

    /// Reads `out.len()` bytes at `off` (an error past the end, like `read_exact_at`).
    pub fn read(&mut self, off: u64, out: &mut [u8]) -> std::io::Result<()> {
        let end = off + out.len() as u64;
        let index = off / WINDOW;
        if end > self.len || (end - 1) / WINDOW != index || out.is_empty() {
            // Past the end (the file reports it), across a window boundary, or empty.
            return self.file.read_exact_at(out, off);
        }
        self.tick += 1;
        let slot = match self.windows.iter().position(|w| w.0 == index) {
            Some(i) => i,
            None => {
                let start = index * WINDOW;
                let n = (self.len - start).min(WINDOW) as usize;
                let i = if self.windows.len() < WINDOWS {
                    self.windows.push((index, vec![0; n], 0));
                    self.windows.len() - 1
                } else {
                    let (i, _) = self
                        .windows
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, w)| w.2)
                        .expect("WINDOWS > 0");
                    i
                };
                let w = &mut self.windows[i];
                w.0 = index;
                w.1.resize(n, 0);
                self.file.read_exact_at(&mut w.1, start)?;
                i
            }
        };
        let w = &mut self.windows[slot];
        w.2 = self.tick;
        let from = (off - index * WINDOW) as usize;
        out.copy_from_slice(&w.1[from..from + out.len()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_equal_the_file_across_windows_and_at_the_end() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..(3 * WINDOW as usize + 100))
            .map(|i| (i * 7) as u8)
            .collect();
        f.write_all(&data).unwrap();
        let mut c = Cache::new(&f, data.len() as u64);
        for &(off, len) in &[
            (0u64, 10usize),
            (WINDOW - 4, 8),
            (WINDOW * 3, 100),
            (5, 4096),
            (WINDOW * 2 + 9, 1),
        ] {
            let mut out = vec![0; len];
            c.read(off, &mut out).unwrap();
            assert_eq!(out, &data[off as usize..off as usize + len]);
        }
        let mut out = vec![0; 200];
        assert!(c.read(WINDOW * 3, &mut out).is_err());
    }
}
