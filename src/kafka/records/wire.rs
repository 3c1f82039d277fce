//! The varint-encoded parts of a record, read from a [`Bytes`] buffer with every length checked.
use bytes::Bytes;

use super::{RawHeaders, RecordsError};

/// A read position in a buffer.
pub(super) struct Cursor<'a> {
    buf: &'a Bytes,
    at: usize,
}

fn malformed(what: &'static str) -> RecordsError {
    RecordsError::Malformed(what)
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a Bytes) -> Self {
        Self { buf, at: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, RecordsError> {
        let b = *self.buf.get(self.at).ok_or(malformed("truncated varint"))?;
        self.at += 1;
        Ok(b)
    }

    /// A zigzag varint of at most `max_bytes` bytes.
    fn zigzag(&mut self, max_bytes: u32) -> Result<i64, RecordsError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(malformed("varint too long"))
    }

    fn varint(&mut self) -> Result<i64, RecordsError> {
        self.zigzag(5)
            .and_then(|v| i32::try_from(v).map_err(|_| malformed("varint out of range")))
            .map(i64::from)
    }

    fn varlong(&mut self) -> Result<i64, RecordsError> {
        self.zigzag(10)
    }

    /// `len` bytes as a slice of the buffer.
    fn take(&mut self, len: usize) -> Result<Bytes, RecordsError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or(malformed("length beyond the bytes"))?;
        let out = self.buf.slice(self.at..end);
        self.at = end;
        Ok(out)
    }

    /// Bytes with a varint length, −1 for null.
    fn nullable(&mut self) -> Result<Option<Bytes>, RecordsError> {
        match self.varint()? {
            -1 => Ok(None),
            len => Ok(Some(self.take(
                usize::try_from(len).map_err(|_| malformed("negative length"))?,
            )?)),
        }
    }
}

/// The fields of one record as read.
pub(super) struct Record {
    pub(super) timestamp_delta: i64,
    pub(super) offset_delta: i64,
    pub(super) key: Option<Bytes>,
    pub(super) value: Option<Bytes>,
    pub(super) headers: RawHeaders,
}

/// Reads one record; its length prefix must match its fields exactly.
pub(super) fn record(cursor: &mut Cursor<'_>) -> Result<Record, RecordsError> {
    let len = usize::try_from(cursor.varint()?).map_err(|_| malformed("record length"))?;
    let body = cursor.take(len)?;
    let mut c = Cursor::new(&body);
    let _attributes = c.byte()?;
    let timestamp_delta = c.varlong()?;
    let offset_delta = c.varint()?;
    let key = c.nullable()?;
    let value = c.nullable()?;
    let count = usize::try_from(c.varint()?).map_err(|_| malformed("header count"))?;
    let start = c.at;
    for _ in 0..count {
        header(&mut c)?;
    }
    let headers = RawHeaders {
        count,
        raw: body.slice(start..c.at),
    };
    if !c.is_empty() {
        return Err(malformed("bytes after a record's headers"));
    }
    Ok(Record {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

/// One header: name and value (a null value reads as empty).
pub(super) fn header<'b>(cursor: &mut Cursor<'b>) -> Result<(&'b [u8], &'b [u8]), RecordsError> {
    let name = cursor.varint()?;
    let name = slice(
        cursor,
        usize::try_from(name).map_err(|_| malformed("header name"))?,
    )?;
    let value = match cursor.varint()? {
        -1 => &[][..],
        len => slice(
            cursor,
            usize::try_from(len).map_err(|_| malformed("header value"))?,
        )?,
    };
    Ok((name, value))
}

/// `len` bytes borrowed from the buffer (no reference count taken).
fn slice<'b>(cursor: &mut Cursor<'b>, len: usize) -> Result<&'b [u8], RecordsError> {
    let buf: &'b Bytes = cursor.buf;
    let end = cursor
        .at
        .checked_add(len)
        .filter(|&end| end <= buf.len())
        .ok_or(malformed("length beyond the bytes"))?;
    let out = &buf[cursor.at..end];
    cursor.at = end;
    Ok(out)
}

/// Appends `value` as a zigzag varint.
pub(super) fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
