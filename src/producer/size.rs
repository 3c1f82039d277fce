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
    let ts_delta = (record.timestamp - first_ts).num_milliseconds();
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
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(-1), 1);
        assert_eq!(varint_len(63), 1);
        assert_eq!(varint_len(64), 2);
        assert_eq!(varint_len(-64), 1);
        assert_eq!(varint_len(-65), 2);
        assert_eq!(varint_len(8191), 2);
        assert_eq!(varint_len(8192), 3);
        assert_eq!(varint_len(i64::MAX), 10);
        assert_eq!(varint_len(i64::MIN), 10);
    }

    use proptest::prelude::*;
    use rskafka::protocol::{
        record::{
            ControlBatchOrRecords, Record as WireRecord, RecordBatch, RecordBatchCompression,
            RecordBatchTimestampType, RecordHeader,
        },
        traits::WriteType,
    };

    /// The batch as rskafka's encoder writes it (same mapping as its produce path).
    fn encoded_len(records: &[Record]) -> usize {
        let first = records[0].timestamp;
        let batch = RecordBatch {
            base_offset: 0,
            partition_leader_epoch: 0,
            last_offset_delta: records.len() as i32 - 1,
            first_timestamp: first.timestamp_millis(),
            max_timestamp: first.timestamp_millis(),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records: ControlBatchOrRecords::Records(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| WireRecord {
                        timestamp_delta: (r.timestamp - first).num_milliseconds(),
                        offset_delta: i as i32,
                        key: r.key.clone(),
                        value: r.value.clone(),
                        headers: r
                            .headers
                            .iter()
                            .map(|(k, v)| RecordHeader {
                                key: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            compression: RecordBatchCompression::NoCompression,
            is_transactional: false,
            timestamp_type: RecordBatchTimestampType::CreateTime,
        };
        let mut buf = Vec::new();
        batch.write(&mut buf).unwrap();
        buf.len()
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..3000)),
            prop::collection::btree_map(
                "[a-z_]{0,20}",
                prop::collection::vec(any::<u8>(), 0..200),
                0..5,
            ),
            -100_000i64..100_000,
        )
            .prop_map(|(key, value, headers, ms)| Record {
                key,
                value,
                headers,
                timestamp: chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + ms)
                    .unwrap_or_default(),
            })
    }

    proptest! {
        #[test]
        fn batch_len_is_the_exact_encoded_size(records in prop::collection::vec(arb_record(), 1..200)) {
            prop_assert_eq!(batch_len(&records), encoded_len(&records));
        }
    }

    #[test]
    fn known_record_size() {
        // key "k", value "vv", one header ("h", "x"), first in its batch:
        // attributes 1 + ts 1 + offset 1 + key 1+1 + value 1+2 + count 1 + header (1+1)+(1+1) = 13,
        // plus 1 byte of length prefix.
        let record = Record {
            key: Some(b"k".to_vec()),
            value: Some(b"vv".to_vec()),
            headers: [("h".to_owned(), b"x".to_vec())].into_iter().collect(),
            timestamp: Utc::now(),
        };
        assert_eq!(record_len(&record, 0, record.timestamp), 14);
        assert_eq!(
            batch_len(std::slice::from_ref(&record)),
            BATCH_OVERHEAD + 14
        );
    }
}
