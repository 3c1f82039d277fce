use kafka_protocol::{
    messages::{
        BrokerId, TopicName,
        metadata_response::{
            MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
        },
    },
    protocol::StrBytes,
};

use super::*;

fn answer() -> MetadataResponse {
    let partition = |index, leader, error_code| {
        MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(leader))
            .with_error_code(error_code)
    };
    MetadataResponse::default()
        .with_controller_id(BrokerId(2))
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("b"))
                .with_port(9093),
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("a"))
                .with_port(9092),
        ])
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(vec![
                    partition(1, 2, 0),
                    partition(0, 1, 0),
                    // LEADER_NOT_AVAILABLE: listed, without a leader.
                    partition(2, -1, 5),
                ]),
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("gone"))))
                .with_error_code(3),
        ])
}

#[test]
fn an_answer_fills_brokers_controller_and_leaders() {
    let mut cache = Cache::default();
    let topics = cache.absorb(&answer());
    assert_eq!(cache.broker_addrs(), ["a:9092", "b:9093"]);
    assert_eq!(cache.controller, Some(2));
    let t = topics["t"].as_ref().unwrap();
    let leaders: Vec<(i32, Option<i32>)> = t.partitions.iter().map(|(p, l)| (*p, *l)).collect();
    assert_eq!(leaders, [(0, Some(1)), (1, Some(2)), (2, None)]);
    assert_eq!(topics["gone"].as_ref().unwrap_err().get(), 3);
    assert!(cache.topics.contains_key("t") && !cache.topics.contains_key("gone"));
    assert_eq!(cache.leader_addr("t", 1).as_deref(), Some("b:9093"));
    assert_eq!(cache.leader_addr("t", 2), None, "no leader");
    assert_eq!(cache.leader_addr("t", 9), None, "no such partition");
    assert_eq!(cache.leader_addr("gone", 0), None);
}

#[test]
fn an_answer_without_brokers_keeps_the_known_ones() {
    let mut cache = Cache::default();
    cache.absorb(&answer());
    cache.absorb(&MetadataResponse::default().with_controller_id(BrokerId(-1)));
    assert_eq!(cache.broker_addrs().len(), 2);
    assert_eq!(cache.controller, None);
}
