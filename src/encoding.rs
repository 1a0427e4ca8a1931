//! Text that is not UTF-8: which files are text in another encoding, decoding them for
//! parsing, scanning and rewriting, and encoding the result back **in the file's own
//! encoding**, byte for byte outside the rewritten references.
//!
//! A file is text in another encoding when it says so: a UTF-16 byte-order mark, or an
//! XML declaration naming its encoding (`<?xml version="1.0" encoding="ISO-8859-1"?>`,
//! `Shift_JIS`, ...). Property files without either are ISO-8859-1, as Java reads them.
//! Everything else that is not UTF-8 stays binary (scanned as bytes by
//! `scan::binary`). Decoding is refused (an error naming the file, nothing written) when
//! the bytes are malformed for the encoding, or when encoding the decoded text again would
//! not give back the very same bytes: a rewrite must never change a byte it did not mean
//! to.
//!
//! ISO-8859-1 is read as windows-1252, its WHATWG superset: the bytes 0x80-0x9F decode
//! to the characters windows-1252 gives them and encode back to the same bytes.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How a decoded file's bytes were encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextEncoding {
    pub encoding: &'static Encoding,
    /// The byte-order mark the file starts with (kept when writing it back).
    pub bom: bool,
}

impl TextEncoding {
    /// The encoding's name, e.g. `UTF-16LE`, `windows-1252`, `Shift_JIS`.
    pub fn name(&self) -> &'static str {
        self.encoding.name()
    }

    /// `text` encoded back, BOM included. Fails when a character has no encoding (never
    /// for a rewrite, which only writes host names and IPs).
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(text.len() + 2);
        if self.encoding == UTF_16LE || self.encoding == UTF_16BE {
            // encoding_rs only encodes to UTF-8-compatible encodings; UTF-16 by hand.
            if self.bom {
                out.extend_from_slice(if self.encoding == UTF_16LE {
                    &[0xFF, 0xFE]
                } else {
                    &[0xFE, 0xFF]
                });
            }
            for unit in text.encode_utf16() {
                out.extend_from_slice(&if self.encoding == UTF_16LE {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            return Ok(out);
        }
        let (bytes, _, unmappable) = self.encoding.encode(text);
        if unmappable {
            return Err(format!(
                "the text has characters {} cannot encode",
                self.name()
            ));
        }
        out.extend_from_slice(&bytes);
        Ok(out)
    }
}

/// A file decoded from another encoding.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: TextEncoding,
}

/// Why a file that declares an encoding cannot be read as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("its XML declaration names encoding `{0}`, which dh-migrate does not know")]
    UnknownEncoding(String),
    #[error("it is not valid {encoding} (malformed bytes near byte {offset})")]
    Malformed {
        encoding: &'static str,
        offset: usize,
    },
    #[error("its {0} text does not encode back to the same bytes, so it cannot be rewritten without changing other bytes")]
    NotRoundTrip(&'static str),
}

/// The encoding named by an XML declaration at the very start of `bytes` (ASCII-compatible
/// encodings only; UTF-16 is recognised by its BOM).
fn declared(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// Decodes `bytes` (a file at `path` that is not valid UTF-8) when the file declares
/// another encoding; `Ok(None)` when it does not (it is binary).
pub fn decode(path: &str, bytes: &[u8]) -> Result<Option<Decoded>, DecodeError> {
    let (encoding, bom) = if bytes.starts_with(&[0xFF, 0xFE]) {
        (UTF_16LE, true)
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        (UTF_16BE, true)
    } else if let Some(label) = declared(bytes) {
        let e = Encoding::for_label(label.trim().as_bytes())
            .ok_or(DecodeError::UnknownEncoding(label))?;
        // A declaration saying UTF-8 on bytes that are not: malformed, not binary.
        (e, false)
    } else if path.ends_with(".prop") {
        (WINDOWS_1252, false)
    } else {
        return Ok(None);
    };
    let body = if bom { &bytes[2..] } else { bytes };
    let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(body) else {
        let offset = first_malformed(encoding, body) + usize::from(bom) * 2;
        return Err(DecodeError::Malformed {
            encoding: encoding.name(),
            offset,
        });
    };
    let decoded = Decoded {
        text: text.into_owned(),
        encoding: TextEncoding { encoding, bom },
    };
    if decoded.encoding.encode(&decoded.text).as_deref() != Ok(bytes) {
        return Err(DecodeError::NotRoundTrip(encoding.name()));
    }
    Ok(Some(decoded))
}

/// The offset of the first malformed byte sequence (for the message).
fn first_malformed(encoding: &'static Encoding, bytes: &[u8]) -> usize {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(decoder.max_utf8_buffer_length(bytes.len()).unwrap_or(0));
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(bad, _) => read.saturating_sub(bad as usize),
        _ => read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::SHIFT_JIS;

    #[test]
    fn latin1_xml_round_trips_and_rewrites_in_its_own_encoding() {
        let mut bytes =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Log dir=\"/caf".to_vec();
        bytes.push(0xE9); // é
        bytes.extend_from_slice(b"\" host=\"dh-query-1\"/>\n");
        let d = decode("files/a.xml", &bytes).unwrap().unwrap();
        assert!(d.text.contains("/café"));
        let out = d
            .encoding
            .encode(&d.text.replace("dh-query-1", "query-a"))
            .unwrap();
        let mut want = bytes.clone();
        let at = want.windows(10).position(|w| w == b"dh-query-1").unwrap();
        want.splice(at..at + 10, b"query-a".iter().copied());
        assert_eq!(out, want);
    }

    #[test]
    fn utf16_with_bom_in_both_byte_orders() {
        for (bom, le) in [([0xFF, 0xFE], true), ([0xFE, 0xFF], false)] {
            let mut bytes = bom.to_vec();
            for u in "h=dh-query-1\n".encode_utf16() {
                bytes.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
            }
            let d = decode("files/a.xml", &bytes).unwrap().unwrap();
            assert_eq!(d.text, "h=dh-query-1\n");
            assert_eq!(d.encoding.encode(&d.text).unwrap(), bytes);
        }
    }

    #[test]
    fn shift_jis_declared() {
        let (sjis, _, _) = SHIFT_JIS
            .encode("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a>日本 dh-query-1</a>");
        let d = decode("files/a.xml", &sjis).unwrap().unwrap();
        assert!(d.text.contains("日本 dh-query-1"));
        assert_eq!(d.encoding.name(), "Shift_JIS");
    }

    #[test]
    fn malformed_and_unknown_are_errors_and_undeclared_bytes_are_binary() {
        assert!(matches!(
            decode("files/a.xml", &[0xFF, 0xFE, 0x00, 0xD8]),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            decode("files/a.xml", b"<?xml version=\"1.0\" encoding=\"klingon\"?><a/>\xff"),
            Err(DecodeError::UnknownEncoding(e)) if e == "klingon"
        ));
        assert!(decode("files/lib/x.jar", b"PK\x03\x04\xff\xfe")
            .unwrap()
            .is_none());
    }
}
