//! The few protobuf wire-format rules the snapshot's values need: varints, length-delimited
//! fields, and skipping what we do not read. Messages read: `mvccpb.KeyValue`,
//! `authpb.User`/`authpb.Role` (names only) and `leasepb.Lease`.

/// One field of a message: its number and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// Fixed 32/64-bit fields (never used by the messages we read, but legal).
    Fixed(u32),
}

/// Iterates over a message's fields; a malformed message yields one `Err` and stops.
pub struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, failed: false }
}

fn varint(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let mut out = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or("varint runs past the end")?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint longer than 10 bytes")
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    if buf.len() < n {
        return Err("field runs past the end");
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

impl<'a> Fields<'a> {
    fn next_field(&mut self) -> Result<Field<'a>, &'static str> {
        let tag = varint(&mut self.buf)?;
        let number = u32::try_from(tag >> 3).map_err(|_| "field number too large")?;
        if number == 0 {
            return Err("field number 0");
        }
        match tag & 7 {
            0 => Ok(Field::Varint(number, varint(&mut self.buf)?)),
            1 => take(&mut self.buf, 8).map(|_| Field::Fixed(number)),
            2 => {
                let len =
                    usize::try_from(varint(&mut self.buf)?).map_err(|_| "length too large")?;
                Ok(Field::Bytes(number, take(&mut self.buf, len)?))
            }
            5 => take(&mut self.buf, 4).map(|_| Field::Fixed(number)),
            _ => Err("unsupported wire type"),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let r = self.next_field();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_bytes_and_rejects_truncation() {
        // field 1 bytes "ab", field 2 varint 300, field 6 varint -1 (10 bytes)
        let mut msg = vec![0x0a, 2, b'a', b'b', 0x10, 0xac, 0x02, 0x30];
        msg.extend([0xff; 9]);
        msg.push(0x01);
        let got: Vec<_> = fields(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                Field::Bytes(1, b"ab"),
                Field::Varint(2, 300),
                Field::Varint(6, u64::MAX)
            ]
        );
        let cut = &msg[..3];
        let got: Vec<_> = fields(cut).collect();
        assert_eq!(got, vec![Err("field runs past the end")]);
        assert!(fields(&[0x08]).next().unwrap().is_err());
        assert!(fields(&[0x0b]).next().unwrap().is_err());
    }
}
