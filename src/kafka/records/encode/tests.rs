use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::*;
use crate::kafka::records::{read, size::batch_len};

fn record(i: u8, ms: i64) -> Record {
    Record {
        key: i.is_multiple_of(2).then(|| vec![b'k', i]),
        value: Some(vec![i; usize::from(i) * 10]),
        headers: BTreeMap::from([
            ("ce_id".to_owned(), vec![b'x', i]),
            ("ce_sequence".to_owned(), i.to_string().into_bytes()),
        ]),
        timestamp: Utc.timestamp_millis_opt(ms).unwrap(),
    }
}

const STAMP: Stamp = Stamp {
    producer_id: 77,
    producer_epoch: 3,
    base_sequence: 1_000,
};

fn records() -> Vec<Record> {
    vec![
        record(0, 1_000),
        record(1, 1_005),
        record(2, 999),
        record(3, 2_000),
    ]
}

#[test]
fn every_codec_reads_back_as_written() {
    for compression in [
        Compression::NoCompression,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batch = encode_batch(&records(), compression, STAMP).unwrap();
        let back = read(&batch, 1 << 20, &[]).unwrap().records;
        assert_eq!(back.len(), 4, "{compression:?}");
        for (i, (r, original)) in back.iter().zip(records()).enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.timestamp_ms, original.timestamp.timestamp_millis());
            assert_eq!(r.key.as_deref(), original.key.as_deref());
            assert_eq!(r.value.as_deref(), original.value.as_deref());
            let headers: Vec<(&[u8], &[u8])> = r.headers.iter().collect();
            let expected: Vec<(&[u8], &[u8])> = original
                .headers
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.as_slice()))
                .collect();
            assert_eq!(headers, expected);
        }
    }
}

#[test]
fn the_header_carries_the_stamp_and_an_uncompressed_batch_has_its_exact_size() {
    let batch = encode_batch(&records(), Compression::NoCompression, STAMP).unwrap();
    assert_eq!(batch.len(), batch_len(&records()));
    let at = |i: usize, n: usize| batch[i..i + n].to_vec();
    assert_eq!(at(PRODUCER_ID_AT, 8), 77i64.to_be_bytes());
    assert_eq!(at(PRODUCER_EPOCH_AT, 2), 3i16.to_be_bytes());
    assert_eq!(at(BASE_SEQUENCE_AT, 4), 1_000i32.to_be_bytes());
    // first and max timestamps, last offset delta
    assert_eq!(at(23, 4), 3i32.to_be_bytes());
    assert_eq!(at(27, 8), 1_000i64.to_be_bytes());
    assert_eq!(at(35, 8), 2_000i64.to_be_bytes());
}

#[test]
fn a_restamped_batch_has_the_new_identity_and_a_valid_crc() {
    let batch = encode_batch(&records(), Compression::Snappy, STAMP).unwrap();
    let next = Stamp {
        producer_id: 78,
        producer_epoch: 0,
        base_sequence: 0,
    };
    let again = restamp(&batch, next);
    assert_eq!(
        again[PRODUCER_ID_AT..PRODUCER_ID_AT + 8],
        78i64.to_be_bytes()
    );
    assert_eq!(
        again[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4],
        0i32.to_be_bytes()
    );
    // The reader checks the CRC.
    assert_eq!(read(&again, 1 << 20, &[]).unwrap().records.len(), 4);
    assert_eq!(again.len(), batch.len());
}
