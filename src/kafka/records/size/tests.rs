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
