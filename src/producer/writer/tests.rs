use std::io::Cursor;

use rskafka::protocol::{
    api_version::ApiVersion,
    messages::{
        ProduceResponse, ProduceResponsePartitionResponse, ProduceResponseResponse,
        WriteVersionedType,
    },
    primitives::{Int16, Int32, Int64, Records, String_},
    record::{ControlBatchOrRecords, RecordBatchCompression},
    traits::{ReadType, WriteType},
};

use super::{
    request::{Verdict, classify, next_sequence, restamp, take_records},
    *,
};
use crate::kafka::{error_code::ErrorCode, protocol::ProducerIdentity};

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(vec![b'v'; 10]),
            headers: [("h".to_owned(), vec![1])].into(),
            timestamp: chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + i as i64)
                .unwrap(),
        })
        .collect()
}

const ID: ProducerIdentity = ProducerIdentity { id: 77, epoch: 2 };

#[test]
fn requests_carry_identity_and_sequence() {
    let request = produce_request("t", 3, records(4), Compression::Snappy, ID, 40, 5_000);
    assert_eq!((request.acks.0, request.timeout_ms.0), (-1, 5_000));
    let partition = &request.topic_data[0].partition_data[0];
    assert_eq!(
        (request.topic_data[0].name.0.as_str(), partition.index.0),
        ("t", 3)
    );
    let batch = &partition.records.0[0];
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (77, 2, 40)
    );
    assert_eq!(batch.last_offset_delta, 3);
    assert!(!batch.is_transactional);
    assert_eq!(batch.compression, RecordBatchCompression::Snappy);
    assert_eq!(
        (batch.first_timestamp, batch.max_timestamp),
        (1_700_000_000_000, 1_700_000_000_003)
    );

    // What goes on the wire decodes to the same batch header (rskafka's own decoder).
    let mut wire = Vec::new();
    WriteType::write(&partition.records, &mut wire).unwrap();
    let decoded = Records::read(&mut Cursor::new(wire)).unwrap();
    let d = &decoded.0[0];
    assert_eq!(
        (d.producer_id, d.producer_epoch, d.base_sequence),
        (77, 2, 40)
    );
    let ControlBatchOrRecords::Records(rs) = &d.records else {
        panic!("control batch")
    };
    assert_eq!(rs.len(), 4);
    assert_eq!(rs[2].key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(rs[3].timestamp_delta, 3);
}

#[test]
fn a_rejected_request_gives_back_the_records_it_was_built_from() {
    let sent = records(5);
    let request = produce_request("t", 0, sent.clone(), Compression::Zstd, ID, 7, 1_000);
    assert_eq!(take_records(request), sent);
}

#[test]
fn restamp_changes_only_identity_and_sequence() {
    let mut request = produce_request("t", 0, records(2), Compression::NoCompression, ID, 9, 1);
    restamp(&mut request, ProducerIdentity { id: 78, epoch: 0 }, 0);
    let batch = &request.topic_data[0].partition_data[0].records.0[0];
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (78, 0, 0)
    );
    assert_eq!(batch.last_offset_delta, 1);
    // Still a valid request at every version rskafka writes.
    for v in 3..=7 {
        request
            .write_versioned(&mut Vec::new(), ApiVersion(Int16(v)))
            .unwrap();
    }
}

#[test]
fn sequences_wrap_like_kafkas() {
    assert_eq!(next_sequence(0, 5), 5);
    assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(i32::MAX - 2, 5), 2);
}

#[test]
fn answers_are_found_by_topic_and_partition() {
    let partition = |index, code: i16, offset| ProduceResponsePartitionResponse {
        index: Int32(index),
        error: rskafka::protocol::error::Error::new(code),
        base_offset: Int64(offset),
        log_append_time_ms: None,
        log_start_offset: None,
    };
    let response = ProduceResponse {
        responses: vec![ProduceResponseResponse {
            name: String_("t".into()),
            partition_responses: vec![partition(0, 0, 100), partition(1, 46, -1)],
        }],
        throttle_time_ms: None,
    };
    assert_eq!(
        response_error(&response, "t", 0),
        Some((ErrorCode::NONE, 100))
    );
    assert_eq!(
        response_error(&response, "t", 1),
        Some((ErrorCode::new(46), -1))
    );
    assert_eq!(response_error(&response, "t", 2), None);
    assert_eq!(response_error(&response, "u", 0), None);
}

#[test]
fn verdicts_follow_the_documented_table() {
    let classify = |code, offset, behind| classify(ErrorCode::new(code), offset, behind);
    assert_eq!(classify(0, 5, false), Verdict::Delivered(Some(5)));
    assert_eq!(classify(46, -1, false), Verdict::Delivered(None));
    // Out of order behind an earlier failure: part of that retry; at the head: renew.
    assert_eq!(classify(45, -1, true), Verdict::Retry { refresh: false });
    assert_eq!(classify(45, -1, false), Verdict::Renew);
    for code in [47, 59, 90] {
        assert_eq!(classify(code, -1, false), Verdict::Renew, "{code}");
        assert_eq!(classify(code, -1, true), Verdict::Renew, "{code}");
    }
    for code in [3, 5, 6, 74, 75] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Retry { refresh: true },
            "{code}"
        );
    }
    // Retriable in Kafka's table: REQUEST_TIMED_OUT, REPLICA_NOT_AVAILABLE, NETWORK_EXCEPTION,
    // NOT_ENOUGH_REPLICAS(_AFTER_APPEND), KAFKA_STORAGE_ERROR, THROTTLING_QUOTA_EXCEEDED: resent
    // to the leader found again.
    for code in [7, 9, 13, 19, 20, 56, 89] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Retry { refresh: true },
            "{code}"
        );
    }
    // Not retriable there (BROKER_NOT_AVAILABLE and CONCURRENT_TRANSACTIONS included), a code
    // newer than the table, and CORRUPT_MESSAGE (resent unchanged, it would stay corrupt).
    for code in [-1, 2, 8, 10, 18, 29, 51, 87, 9999] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Fail(ErrorCode::new(code)),
            "{code}"
        );
    }
}

#[test]
fn defaults_allow_five_in_flight() {
    let config = WriterConfig::default();
    assert_eq!(config.max_in_flight, 5);
    assert!(config.delivery_timeout > Duration::from_secs(config.broker_timeout_ms as u64 / 1000));
}
