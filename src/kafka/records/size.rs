//! Exact encoded size of a record batch (Kafka message format v2), computed without encoding.
//!
//! The broker rejects a batch over `max.message.bytes` with `MessageTooLarge` and every record in
//! it is lost unless the client splits it, so batches are closed on this exact size, not on an
//! estimate (rskafka's own aggregator estimate runs ~10% under).
use chrono::{DateTime, Utc};
use rskafka::record::Record;

/// Bytes of a v2 batch header: base offset (8), length (4), leader epoch (4), magic (1), CRC (4),
/// attributes (2), last offset delta (4), first and max timestamp (8 + 8), producer id (8),
/// producer epoch (2), base sequence (4), record count (4).
pub const BATCH_OVERHEAD: usize = 61;

/// Bytes of a zigzag varint encoding of `v`.
pub fn varint_len(v: i64) -> usize {
    let zigzag = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - (zigzag | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn bytes_len(len: Option<usize>) -> usize {
    match len {
        Some(n) => varint_len(n as i64) + n,
        None => varint_len(-1),
    }
}

/// The part of a record's encoded body that does not depend on its place in a batch
/// (attributes, key, value, headers), and the memory it holds; measured in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// Body bytes without the timestamp and offset deltas.
    pub fixed: usize,
    /// Bytes of memory the buffered record holds, counted against the producer's buffer: the
    /// record, its key, value and headers, and the header map's node. Deliberately generous,
    /// so the process stays within the configured buffer plus a margin.
    pub memory: usize,
}

/// Measures `record` once; [`placed_len`] then sizes it anywhere in a batch in O(1).
pub fn measure(record: &Record) -> Measure {
    const RECORD: usize = std::mem::size_of::<Record>();
    // A B-tree leaf holds up to 11 entries of (String, Vec<u8>) plus bookkeeping.
    const NODE: usize = 11 * 48 + 32;
    let key = record.key.as_ref();
    let value = record.value.as_ref();
    let mut fixed = 1 // attributes
        + bytes_len(key.map(Vec::len))
        + bytes_len(value.map(Vec::len))
        + varint_len(record.headers.len() as i64);
    let mut memory = RECORD
        + key.map_or(0, Vec::capacity)
        + value.map_or(0, Vec::capacity)
        + record.headers.len().div_ceil(11) * NODE;
    for (k, v) in &record.headers {
        fixed += bytes_len(Some(k.len())) + bytes_len(Some(v.len()));
        memory += k.capacity() + v.capacity() + 32;
    }
    Measure { fixed, memory }
}

/// Encoded size of a record with body part `fixed`, at `offset_delta` in its batch and
/// `ts_delta_ms` after the batch's first record.
pub fn placed_len(fixed: usize, ts_delta_ms: i64, offset_delta: usize) -> usize {
    let body = fixed + varint_len(ts_delta_ms) + varint_len(offset_delta as i64);
    varint_len(body as i64) + body
}

/// Encoded size of `record` at `offset_delta` in a batch whose first record has `first_ts`.
pub fn record_len(record: &Record, offset_delta: usize, first_ts: DateTime<Utc>) -> usize {
    let ts_delta = record.timestamp.timestamp_millis() - first_ts.timestamp_millis();
    placed_len(measure(record).fixed, ts_delta, offset_delta)
}

/// Encoded size of a whole uncompressed batch holding `records`.
pub fn batch_len(records: &[Record]) -> usize {
    let Some(first) = records.first() else {
        return BATCH_OVERHEAD;
    };
    BATCH_OVERHEAD
        + records
            .iter()
            .enumerate()
            .map(|(i, r)| record_len(r, i, first.timestamp))
            .sum::<usize>()
}

#[cfg(test)]
mod tests;
