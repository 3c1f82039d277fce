use bytes::Bytes;
use kafka_protocol::{
    messages::fetch_response::{FetchableTopicResponse, PartitionData},
    protocol::Encodable,
};
use rskafka::protocol::{
    record::{
        ControlBatchOrRecords, Record, RecordBatch, RecordBatchCompression,
        RecordBatchTimestampType,
    },
    traits::WriteType,
};

use super::*;
use crate::kafka::protocol::adapter::testing::{
    check_declaration, request_round_trip, response_round_trip,
};

fn part(topic: &str, partition: i32, offset: i64) -> FetchPart {
    FetchPart {
        topic: topic.into(),
        partition,
        offset,
        max_bytes: 1 << 16,
    }
}

fn call() -> Fetch {
    Fetch {
        parts: vec![part("events", 3, 42)],
        max_wait_ms: 250,
    }
}

fn batch_bytes(base: i64, n: i32) -> Bytes {
    let batch = RecordBatch {
        base_offset: base,
        partition_leader_epoch: 0,
        last_offset_delta: n - 1,
        first_timestamp: 5,
        max_timestamp: 5,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: batch_bytes_records(n),
        compression: RecordBatchCompression::NoCompression,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    let mut out = Vec::new();
    batch.write(&mut out).unwrap();
    out.into()
}

fn response(partition: i32, error_code: i16, records: Option<Bytes>) -> FetchResponse {
    let data = PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(error_code)
        .with_high_watermark(99)
        .with_records(records);
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![data]),
    ])
}

#[test]
fn declaration_matches_kafka_protocol() {
    check_declaration::<Fetch>();
}

#[test]
fn request_names_one_partition_from_the_offset() {
    for version in 4..=12 {
        let r = request_round_trip(&call(), version);
        assert_eq!(
            (r.max_wait_ms, r.max_bytes, r.isolation_level),
            (250, 1 << 16, READ_COMMITTED)
        );
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].topic.0.as_str(), "events");
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.partition, p.fetch_offset), (3, 42), "v{version}");
    }
}

/// 100 partitions of 1 MiB each ask for 50 MiB in all, not 100 MiB: the answer must stay under
/// the frame limit we read.
#[test]
fn a_request_asks_for_at_most_50_mib() {
    let parts = (0..100)
        .map(|p| FetchPart {
            max_bytes: 1 << 20,
            ..part("events", p, 0)
        })
        .collect();
    let call = Fetch {
        parts,
        max_wait_ms: 20,
    };
    assert_eq!(
        request_round_trip(&call, Fetch::VERSIONS.1).max_bytes,
        MAX_FETCH_BYTES
    );
    assert_eq!(MAX_FETCH_BYTES, 50 << 20);
}

/// No answer to a Fetch this client sends can name a `preferred_read_replica` (version 11 on,
/// where a broker may send the consumer to a follower): this client fetches from leaders only.
#[test]
fn a_fetch_is_never_redirected_to_a_follower() {
    let redirect = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![
                PartitionData::default()
                    .with_preferred_read_replica(kafka_protocol::messages::BrokerId(3)),
            ]),
    ]);
    let mut bytes = bytes::BytesMut::new();
    for version in Fetch::VERSIONS.0..=Fetch::VERSIONS.1 {
        assert!(redirect.encode(&mut bytes, version).is_err(), "v{version}");
    }
    assert!(redirect.encode(&mut bytes, 11).is_ok());
}

#[test]
fn partitions_of_one_request_group_by_topic_and_add_up_their_bytes() {
    let call = Fetch {
        parts: vec![part("a", 0, 1), part("b", 2, 5), part("a", 1, 9)],
        max_wait_ms: 20,
    };
    for version in 4..=12 {
        let r = request_round_trip(&call, version);
        assert_eq!(r.max_bytes, 3 << 16);
        let shape: Vec<(&str, Vec<(i32, i64)>)> = r
            .topics
            .iter()
            .map(|t| {
                let parts = t.partitions.iter().map(|p| (p.partition, p.fetch_offset));
                (t.topic.0.as_str(), parts.collect())
            })
            .collect();
        assert_eq!(shape, [("a", vec![(0, 1), (1, 9)]), ("b", vec![(2, 5)])]);
    }
}

#[test]
fn records_come_back_as_raw_bytes_and_decode() {
    let records = batch_bytes(42, 3);
    for version in 4..=12 {
        let body = response_round_trip::<Fetch>(&response(3, 0, Some(records.clone())), version);
        let fetched = read_answer(body, 3, 0, 1 << 16).unwrap();
        assert_eq!(fetched.high_watermark, 99);
        let offsets: Vec<i64> = fetched.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [42, 43, 44], "v{version}");
        assert_eq!(fetched.records[1].value.as_deref(), Some(&[1][..]));
    }
}

#[test]
fn errors_are_classified() {
    let read = |code| read_answer(response(3, code, None), 3, 0, 1 << 16);
    assert!(matches!(read(1), Err(FetchError::OutOfRange)));
    for code in [3, 6] {
        assert!(
            matches!(read(code), Err(FetchError::LeaderChanged { code: Some(c) }) if c.get() == code)
        );
    }
    assert!(matches!(read(29), Err(FetchError::Broker(c)) if c.get() == 29));
    assert!(matches!(
        read_answer(response(4, 0, None), 3, 0, 1 << 16),
        Err(FetchError::Missing)
    ));
    assert_eq!(
        read(0).unwrap(),
        Fetched {
            records: vec![],
            next_offset: None,
            unreadable: None,
            high_watermark: 99,
            last_stable_offset: 99,
        }
    );
}

#[test]
fn a_read_committed_answer_leaves_out_aborted_transactions_up_to_the_last_stable_offset() {
    use kafka_protocol::messages::{ProducerId, fetch_response::AbortedTransaction};
    let transactional = |base: i64, records| {
        let mut out = Vec::new();
        RecordBatch {
            base_offset: base,
            partition_leader_epoch: 0,
            last_offset_delta: 0,
            first_timestamp: 5,
            max_timestamp: 5,
            producer_id: 5,
            producer_epoch: 0,
            base_sequence: 0,
            records,
            compression: RecordBatchCompression::NoCompression,
            is_transactional: true,
            timestamp_type: RecordBatchTimestampType::CreateTime,
        }
        .write(&mut out)
        .unwrap();
        out
    };
    // Offset 43 would be its abort marker (`records::tests` has those).
    let mut records = transactional(42, batch_bytes_records(1));
    records.extend(batch_bytes(44, 2));
    let aborted = AbortedTransaction::default()
        .with_producer_id(ProducerId(5))
        .with_first_offset(42);
    let mut answer = response(3, 0, Some(Bytes::from(records)));
    answer.responses[0].partitions[0] = answer.responses[0].partitions[0]
        .clone()
        .with_last_stable_offset(46)
        .with_aborted_transactions(Some(vec![aborted]));
    for version in 4..=12 {
        let body = response_round_trip::<Fetch>(&answer, version);
        let fetched = read_answer(body, 3, 0, 1 << 16).unwrap();
        let offsets: Vec<i64> = fetched.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [44, 45], "v{version}");
        assert_eq!(fetched.next_offset, Some(46));
        assert_eq!(
            (fetched.last_stable_offset, fetched.high_watermark),
            (46, 99)
        );
    }
}

/// `n` one-byte records.
fn batch_bytes_records(n: i32) -> ControlBatchOrRecords {
    ControlBatchOrRecords::Records(
        (0..n)
            .map(|i| Record {
                timestamp_delta: 0,
                offset_delta: i,
                key: None,
                value: Some(vec![i as u8]),
                headers: vec![],
            })
            .collect(),
    )
}

#[test]
fn an_answer_without_the_partition_s_offsets_is_an_error_not_an_empty_log() {
    // Nisshi's answer for a partition whose offsets its storage did not read in time.
    let mut answer = response(3, 0, None);
    answer.responses[0].partitions[0] = answer.responses[0].partitions[0]
        .clone()
        .with_high_watermark(-1)
        .with_last_stable_offset(-1);
    for version in 4..=12 {
        let body = response_round_trip::<Fetch>(&answer, version);
        assert!(
            matches!(
                read_answer(body, 3, 0, 1 << 16),
                Err(FetchError::OffsetsUnknown)
            ),
            "v{version}"
        );
    }
}

/// An answer that names a partition twice (one bit of another partition's index flipped on the
/// way): that partition is left out, so its fetch is asked again, and the others stand.
#[test]
fn a_partition_named_twice_is_left_out_of_the_answer() {
    let data = |partition| {
        PartitionData::default()
            .with_partition_index(partition)
            .with_high_watermark(99)
            .with_records(Some(batch_bytes(0, 1)))
    };
    let answer = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![data(3), data(3), data(4)]),
    ]);
    let parts = split_answer(answer).unwrap();
    let mut named: Vec<&(String, i32)> = parts.keys().collect();
    named.sort();
    assert_eq!(named, [&("events".to_owned(), 4)]);
}

/// The Fetch's offset bounds its answer ([`crate::kafka::records::Bounds`]): a batch at 42..44
/// holds 43, and is out of place for a Fetch from 45, after it.
#[test]
fn the_offset_asked_for_bounds_the_answer() {
    let answer = response(3, 0, Some(batch_bytes(42, 3)));
    let body = response_round_trip::<Fetch>(&answer, 12);
    let fetched = read_answer(body.clone(), 3, 43, 1 << 16).unwrap();
    assert_eq!(fetched.next_offset, Some(45));
    let misplaced = read_answer(body, 3, 45, 1 << 16);
    assert!(
        matches!(
            misplaced,
            Err(FetchError::Records {
                error: crate::kafka::records::RecordsError::Misplaced {
                    base: 42,
                    next: 45,
                    ..
                },
                ..
            })
        ),
        "{misplaced:?}"
    );
}
