use kafka_protocol::messages::{
    OffsetCommitResponse,
    offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic},
    offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    },
};

use super::*;
use crate::kafka::protocol::adapter::testing::{request_round_trip, response_round_trip};

fn offset(topic: &str, partition: i32, offset: i64) -> CommittedOffset {
    CommittedOffset {
        topic: topic.into(),
        partition,
        offset,
        metadata: Some("m".into()),
        error_code: ErrorCode::NONE,
    }
}

#[test]
fn offset_commit_groups_partitions_by_topic() {
    let call = OffsetCommit {
        group_id: "g".into(),
        generation_id: 4,
        member_id: "m".into(),
        group_instance_id: Some("pod-0".into()),
        offsets: vec![offset("a", 0, 10), offset("b", 1, 5), offset("a", 2, 7)],
    };
    for version in 2..=9 {
        let r = request_round_trip(&call, version);
        assert_eq!(
            (r.generation_id_or_member_epoch, r.member_id.as_str()),
            (4, "m")
        );
        assert_eq!(r.group_instance_id.is_some(), version >= 7);
        let shape: Vec<(&str, Vec<(i32, i64)>)> = r
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset));
                (t.name.0.as_str(), parts.collect())
            })
            .collect();
        assert_eq!(shape, [("a", vec![(0, 10), (2, 7)]), ("b", vec![(1, 5)])]);
        assert_eq!(
            r.topics[0].partitions[0].committed_metadata.as_deref(),
            Some("m")
        );
    }
    let response = OffsetCommitResponse::default().with_topics(vec![
        OffsetCommitResponseTopic::default()
            .with_name(topic_name("a"))
            .with_partitions(vec![
                OffsetCommitResponsePartition::default().with_error_code(22),
            ]),
    ]);
    let decoded = response_round_trip::<OffsetCommit>(&response, 8);
    assert_eq!(decoded.topics[0].partitions[0].error_code, 22);
}

#[test]
fn offset_fetch_builds_both_shapes() {
    let some = OffsetFetch {
        group_id: "g".into(),
        topics: Some(vec![("a".into(), vec![0, 1])]),
        require_stable: true,
    };
    let all = OffsetFetch {
        group_id: "g".into(),
        topics: None,
        require_stable: false,
    };
    for version in 2..=9 {
        let r = request_round_trip(&some, version);
        let r_all = request_round_trip(&all, version);
        if version >= 8 {
            let group = &r.groups[0];
            assert_eq!(group.group_id.0.as_str(), "g");
            let topics = group.topics.as_ref().unwrap();
            assert_eq!(topics[0].partition_indexes, [0, 1]);
            assert!(r_all.groups[0].topics.is_none());
        } else {
            assert_eq!(r.group_id.0.as_str(), "g");
            assert_eq!(r.topics.as_ref().unwrap()[0].partition_indexes, [0, 1]);
            assert!(r_all.topics.is_none());
        }
        // Asked for where the version has the field (7 and later), only by `some`.
        assert_eq!(r.require_stable, version >= 7, "version {version}");
        assert!(!r_all.require_stable);
    }
}

#[test]
fn offsets_reads_either_shape() {
    let old = OffsetFetchResponse::default().with_topics(vec![
        OffsetFetchResponseTopic::default()
            .with_name(topic_name("a"))
            .with_partitions(vec![
                OffsetFetchResponsePartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(42),
            ]),
    ]);
    for version in 2..=7 {
        let decoded = response_round_trip::<OffsetFetch>(&old, version);
        let offsets = OffsetFetch::offsets(&decoded, version).unwrap();
        assert_eq!(
            (
                offsets[0].topic.as_str(),
                offsets[0].partition,
                offsets[0].offset
            ),
            ("a", 1, 42)
        );
    }
    let failed = OffsetFetchResponse::default().with_error_code(16);
    assert_eq!(
        OffsetFetch::offsets(&response_round_trip::<OffsetFetch>(&failed, 3), 3),
        Err(ErrorCode::new(16))
    );
    let new = OffsetFetchResponse::default().with_groups(vec![
        OffsetFetchResponseGroup::default()
            .with_group_id(group_id("g"))
            .with_topics(vec![
                OffsetFetchResponseTopics::default()
                    .with_name(topic_name("b"))
                    .with_partitions(vec![
                        OffsetFetchResponsePartitions::default()
                            .with_partition_index(0)
                            .with_committed_offset(-1),
                    ]),
            ]),
    ]);
    for version in 8..=9 {
        let decoded = response_round_trip::<OffsetFetch>(&new, version);
        let offsets = OffsetFetch::offsets(&decoded, version).unwrap();
        assert_eq!((offsets[0].topic.as_str(), offsets[0].offset), ("b", -1));
    }
}
