//! A loaded bundle file's bytes, held once: text (valid UTF-8) as the `Arc<str>` the
//! configuration tree parses and the migration shares, anything else as bytes. Deciding
//! which when the file is read means the tree takes its text without a copy (a large
//! bundle's files were held twice: as the bundle's bytes and as the tree's text).

use std::ops::Deref;
use std::sync::Arc;

/// The bytes of a loaded file; [`Content::text`] when they are UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(Held);

/// Private, so that `Bytes` always holds bytes that are not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    Text(Arc<str>),
    Bytes(Arc<[u8]>),
}

impl Content {
    /// The bytes, copied once into a shared buffer of their exact size.
    pub fn from_slice(bytes: &[u8]) -> Content {
        Content(match std::str::from_utf8(bytes) {
            Ok(text) => Held::Text(Arc::from(text)),
            Err(_) => Held::Bytes(Arc::from(bytes)),
        })
    }

    /// The text, when the bytes are UTF-8 (None: they are not).
    pub fn text(&self) -> Option<&Arc<str>> {
        match &self.0 {
            Held::Text(t) => Some(t),
            Held::Bytes(_) => None,
        }
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content(match String::from_utf8(bytes) {
            Ok(text) => Held::Text(Arc::from(text)),
            Err(e) => Held::Bytes(Arc::from(e.into_bytes())),
        })
    }
}

impl Deref for Content {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Held::Text(t) => t.as_bytes(),
            Held::Bytes(b) => b,
        }
    }
}

impl AsRef<[u8]> for Content {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_text_and_anything_else_bytes_with_the_same_bytes_either_way() {
        let text = "host=dh-query-1.old.example.com # é\n".as_bytes();
        let latin1 = b"host=caf\xe9\n";
        for c in [Content::from_slice(text), Content::from(text.to_vec())] {
            assert_eq!(
                c.text().map(|t| &**t),
                Some(std::str::from_utf8(text).unwrap())
            );
            assert_eq!(&*c, text);
        }
        for c in [Content::from_slice(latin1), Content::from(latin1.to_vec())] {
            assert_eq!(c.text(), None);
            assert_eq!(&*c, &latin1[..]);
        }
        // Empty is text; a cut multi-byte character is not.
        assert_eq!(Content::from_slice(b"").text().map(|t| t.len()), Some(0));
        assert_eq!(Content::from_slice(&"é".as_bytes()[..1]).text(), None);
    }
}
