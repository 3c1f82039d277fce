use kafka_protocol::messages::{
    create_topics_response::CreatableTopicResult,
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
};

use super::*;
use crate::kafka::protocol::adapter::testing::{
    check_declaration, request_round_trip, response_round_trip,
};

#[test]
fn declarations_match_kafka_protocol() {
    check_declaration::<CreateTopic>();
    check_declaration::<ListOffset>();
}

#[test]
fn create_topic_carries_its_shape_and_reads_its_code() {
    let call = CreateTopic {
        name: "t".into(),
        partitions: 6,
        replication_factor: 1,
        timeout_ms: 5_000,
    };
    for version in 2..=7 {
        let r = request_round_trip(&call, version);
        let t = &r.topics[0];
        assert_eq!(
            (t.name.0.as_str(), t.num_partitions, t.replication_factor),
            ("t", 6, 1)
        );
        assert_eq!(r.timeout_ms, 5_000);
        let answer = CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default()
                .with_name(topic_name("other"))
                .with_error_code(0),
            CreatableTopicResult::default()
                .with_name(topic_name("t"))
                .with_error_code(36),
        ]);
        let decoded = response_round_trip::<CreateTopic>(&answer, version);
        assert_eq!(
            call.code(&decoded).and_then(|c| c.error()),
            Some(crate::kafka::error_code::ResponseError::TopicAlreadyExists)
        );
    }
    assert_eq!(call.code(&CreateTopicsResponse::default()), None);
}

#[test]
fn list_offset_asks_with_kafkas_sentinels_and_finds_its_partition() {
    for (query, sentinel, isolation) in [
        (OffsetQuery::Earliest, -2, READ_COMMITTED),
        (OffsetQuery::Latest, -1, READ_COMMITTED),
        (OffsetQuery::HighWatermark, -1, READ_UNCOMMITTED),
        (
            OffsetQuery::At(1_700_000_000_000),
            1_700_000_000_000,
            READ_COMMITTED,
        ),
    ] {
        let call = ListOffset {
            topic: "t".into(),
            partition: 3,
            query,
        };
        for version in 2..=7 {
            let r = request_round_trip(&call, version);
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.partition_index, p.timestamp), (3, sentinel));
            assert_eq!((r.replica_id.0, r.isolation_level), (-1, isolation));
            let answer = ListOffsetsResponse::default().with_topics(vec![
                ListOffsetsTopicResponse::default()
                    .with_name(topic_name("t"))
                    .with_partitions(vec![
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(2)
                            .with_offset(7),
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(3)
                            .with_offset(42),
                    ]),
            ]);
            let decoded = response_round_trip::<ListOffset>(&answer, version);
            assert_eq!(call.offset(&decoded), Some((ErrorCode::NONE, 42)));
        }
    }
}
