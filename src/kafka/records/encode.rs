//! Writing a record batch (magic 2) in one pass, the inverse of the reader: the records go
//! straight from their fields into one buffer (compressed with the batch's codec), behind a
//! header with the producer id, epoch and base sequence and the CRC-32C.
//!
//! rskafka's writer first converts each record into its protocol type, then grows a `Vec` as it
//! writes; here the buffer is sized from the exact encoded length ([`super::size`]), so the
//! bytes of a record are copied once, from the record into the batch.
use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use rskafka::{client::partition::Compression, record::Record};

use super::size::{BATCH_OVERHEAD, measure, placed_len, varint_len};

/// Where the header fields that identify the writer sit in an encoded batch.
const CRC_AT: usize = 17;
/// Attributes: the first byte the CRC covers.
const ATTRIBUTES_AT: usize = 21;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;

/// The writer's identity in a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The producer id (−1: none).
    pub producer_id: i64,
    /// The producer epoch (−1: none).
    pub producer_epoch: i16,
    /// The sequence of the first record (−1: none).
    pub base_sequence: i32,
}

fn codec_id(compression: Compression) -> i16 {
    match compression {
        Compression::NoCompression => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

fn put_varint(out: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    out.put_u8(z as u8);
}

fn put_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.put_slice(b);
        }
        None => put_varint(out, -1),
    }
}

/// Appends the records of a batch (uncompressed), each with its length prefix; `fixed[i]` is
/// record i's [`measure`]d fixed part.
fn put_records(out: &mut BytesMut, records: &[Record], fixed: &[usize], first_ms: i64) {
    for (delta, (r, fixed)) in records.iter().zip(fixed).enumerate() {
        let ts_delta = r.timestamp.timestamp_millis() - first_ms;
        let body = fixed + varint_len(ts_delta) + varint_len(delta as i64);
        put_varint(out, body as i64);
        out.put_u8(0); // attributes
        put_varint(out, ts_delta);
        put_varint(out, delta as i64);
        put_bytes(out, r.key.as_deref());
        put_bytes(out, r.value.as_deref());
        put_varint(out, r.headers.len() as i64);
        for (k, v) in &r.headers {
            put_bytes(out, Some(k.as_bytes()));
            put_bytes(out, Some(v));
        }
    }
}

/// The records section compressed with `compression`.
fn compressed(records: &[u8], compression: Compression) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(records.len() / 2 + 64);
    match compression {
        Compression::NoCompression => out.extend_from_slice(records),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            e.write_all(records)?;
            out = e.finish()?;
        }
        Compression::Snappy => {
            out.resize(snap::raw::max_compress_len(records.len()), 0);
            let n = snap::raw::Encoder::new()
                .compress(records, &mut out)
                .map_err(std::io::Error::other)?;
            out.truncate(n);
        }
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(lz4::BlockMode::Independent)
                .build(out)?;
            e.write_all(records)?;
            let (o, result) = e.finish();
            result?;
            out = o;
        }
        Compression::Zstd => {
            let mut e = zstd::Encoder::new(out, 0)?;
            e.write_all(records)?;
            out = e.finish()?;
        }
    }
    Ok(out)
}

/// One batch of `records` (at least one) compressed with `compression` and stamped with
/// `stamp`, ready for a Produce request.
pub fn encode_batch(
    records: &[Record],
    compression: Compression,
    stamp: Stamp,
) -> std::io::Result<Bytes> {
    let first_ms = records
        .first()
        .map_or(0, |r| r.timestamp.timestamp_millis());
    let max_ms = records
        .iter()
        .map(|r| r.timestamp.timestamp_millis())
        .max()
        .unwrap_or(first_ms);
    // Each record measured once; the buffer gets the batch's exact uncompressed size.
    let fixed: Vec<usize> = records.iter().map(|r| measure(r).fixed).collect();
    let len = BATCH_OVERHEAD
        + records
            .iter()
            .zip(&fixed)
            .enumerate()
            .map(|(i, (r, f))| placed_len(*f, r.timestamp.timestamp_millis() - first_ms, i))
            .sum::<usize>();
    let mut out = BytesMut::with_capacity(len);
    out.put_i64(0); // base offset
    out.put_i32(0); // batch length, set below
    out.put_i32(-1); // partition leader epoch
    out.put_i8(2); // magic
    out.put_u32(0); // CRC, set below
    out.put_i16(codec_id(compression));
    out.put_i32(i32::try_from(records.len().saturating_sub(1)).unwrap_or(i32::MAX));
    out.put_i64(first_ms);
    out.put_i64(max_ms);
    out.put_i64(stamp.producer_id);
    out.put_i16(stamp.producer_epoch);
    out.put_i32(stamp.base_sequence);
    out.put_i32(i32::try_from(records.len()).unwrap_or(i32::MAX));
    debug_assert_eq!(out.len(), BATCH_OVERHEAD);
    if compression == Compression::NoCompression {
        put_records(&mut out, records, &fixed, first_ms);
    } else {
        let mut plain = BytesMut::with_capacity(len - BATCH_OVERHEAD);
        put_records(&mut plain, records, &fixed, first_ms);
        out.extend_from_slice(&compressed(&plain, compression)?);
    }
    seal(&mut out);
    Ok(out.freeze())
}

/// Sets the batch length and the CRC of an encoded batch.
fn seal(batch: &mut [u8]) {
    let length = i32::try_from(batch.len() - 12).unwrap_or(i32::MAX);
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// `batch` (from [`encode_batch`]) under another identity: a copy with the header fields
/// and the CRC rewritten (after a producer id renewal; rare).
pub fn restamp(batch: &Bytes, stamp: Stamp) -> Bytes {
    let mut out = BytesMut::from(&batch[..]);
    if out.len() >= BATCH_OVERHEAD {
        out[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&stamp.producer_id.to_be_bytes());
        out[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2]
            .copy_from_slice(&stamp.producer_epoch.to_be_bytes());
        out[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4]
            .copy_from_slice(&stamp.base_sequence.to_be_bytes());
        seal(&mut out);
    }
    out.freeze()
}

#[cfg(test)]
mod tests;
