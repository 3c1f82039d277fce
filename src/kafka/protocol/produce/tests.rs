use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

use super::*;
use crate::kafka::protocol::adapter::testing::{
    check_declaration, request_round_trip, response_round_trip,
};

fn call() -> Produce {
    Produce {
        topic: "t".into(),
        partition: 2,
        batch: Bytes::from_static(b"batch bytes"),
        timeout_ms: 30_000,
    }
}

#[test]
fn declaration_matches_kafka_protocol() {
    check_declaration::<Produce>();
}

#[test]
fn the_batch_travels_as_written_with_acks_all() {
    for version in 3..=8 {
        let r = request_round_trip(&call(), version);
        assert_eq!((r.acks, r.timeout_ms), (-1, 30_000));
        let p = &r.topic_data[0].partition_data[0];
        assert_eq!(r.topic_data[0].name.0.as_str(), "t");
        assert_eq!(
            (p.index, p.records.as_deref()),
            (2, Some(&b"batch bytes"[..]))
        );
    }
}

#[test]
fn the_answer_names_the_partitions_code_and_offset() {
    let partition = |index, code, offset| {
        PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(code)
            .with_base_offset(offset)
    };
    let answer = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(topic_name("t"))
            .with_partition_responses(vec![partition(1, 0, 5), partition(2, 46, -1)]),
    ]);
    for version in 3..=8 {
        let back = response_round_trip::<Produce>(&answer, version);
        assert_eq!(call().answer(&back), Some((ErrorCode::new(46), -1)));
    }
    assert_eq!(call().answer(&ProduceResponse::default()), None);

    // A partition named twice (another partition's success whose index a flipped bit made
    // this one's, before this one's refusal): no answer, so the batch is sent again rather
    // than settled as delivered.
    let damaged = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(topic_name("t"))
            .with_partition_responses(vec![partition(2, 0, 5), partition(2, 6, -1)]),
    ]);
    assert_eq!(call().answer(&damaged), None);
}

/// A topic's partitions as a request carries them: index and batch bytes.
type Parts = Vec<(i32, Vec<u8>)>;

#[test]
fn several_batches_travel_in_one_request_grouped_by_topic() {
    check_declaration::<ProduceBatches>();
    let part = |topic: &str, partition, batch: &'static [u8]| Produce {
        topic: topic.into(),
        partition,
        batch: Bytes::from_static(batch),
        timeout_ms: 30_000,
    };
    let call = ProduceBatches {
        parts: vec![
            part("a", 0, b"a0"),
            part("b", 2, b"b2"),
            part("a", 1, b"a1"),
        ],
    };
    for version in 3..=8 {
        let r = request_round_trip(&call, version);
        assert_eq!((r.acks, r.timeout_ms), (-1, 30_000));
        let sent: Vec<(String, Parts)> = r
            .topic_data
            .iter()
            .map(|t| {
                let parts = t.partition_data.iter().map(|p| {
                    let batch = p.records.as_deref().unwrap_or_default().to_vec();
                    (p.index, batch)
                });
                (t.name.0.to_string(), parts.collect())
            })
            .collect();
        assert_eq!(
            sent,
            [
                (
                    "a".to_owned(),
                    vec![(0, b"a0".to_vec()), (1, b"a1".to_vec())]
                ),
                ("b".to_owned(), vec![(2, b"b2".to_vec())]),
            ]
        );
    }
}
