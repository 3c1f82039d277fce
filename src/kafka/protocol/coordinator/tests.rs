use kafka_protocol::messages::{
    BrokerId, FindCoordinatorResponse, ListGroupsResponse, find_coordinator_response::Coordinator,
    list_groups_response::ListedGroup,
};

use super::*;
use crate::kafka::protocol::adapter::testing::{request_round_trip, response_round_trip};

#[test]
fn find_coordinator_round_trips_in_both_shapes() {
    let call = FindCoordinator {
        key: "usercenter".into(),
        key_type: CoordinatorType::Group,
    };
    for version in 0..=6 {
        let request = request_round_trip(&call, version);
        if version >= 4 {
            assert_eq!(
                request.coordinator_keys,
                vec![StrBytes::from_static_str("usercenter")]
            );
            assert!(request.key.is_empty());
        } else {
            assert_eq!(request.key.as_str(), "usercenter");
        }
        assert_eq!(request.key_type, 0);
    }
    let txn = FindCoordinator {
        key: "t".into(),
        key_type: CoordinatorType::Transaction,
    };
    assert_eq!(request_round_trip(&txn, 1).key_type, 1);
}

#[test]
fn found_reads_either_shape() {
    let old = FindCoordinatorResponse::default()
        .with_node_id(BrokerId(3))
        .with_host(StrBytes::from_static_str("kafka-3"))
        .with_port(9092);
    for version in 0..=3 {
        let decoded = response_round_trip::<FindCoordinator>(&old, version);
        let found = FindCoordinator::found(&decoded, version).unwrap();
        assert_eq!(
            (found.node_id, found.addr.as_str(), found.error_code),
            (3, "kafka-3:9092", ErrorCode::NONE)
        );
    }
    let new = FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_key(StrBytes::from_static_str("usercenter"))
            .with_node_id(BrokerId(1))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(9093)
            .with_error_code(15),
    ]);
    for version in 4..=6 {
        let decoded = response_round_trip::<FindCoordinator>(&new, version);
        let found = FindCoordinator::found(&decoded, version).unwrap();
        assert_eq!(
            (found.node_id, found.addr.as_str(), found.error_code),
            (1, "127.0.0.1:9093", ErrorCode::new(15))
        );
    }
    assert_eq!(
        FindCoordinator::found(&FindCoordinatorResponse::default(), 4),
        None
    );
}

#[test]
fn describe_groups_round_trips() {
    let call = DescribeGroups {
        groups: vec!["a".into(), "b".into()],
    };
    for version in 0..=6 {
        let request = request_round_trip(&call, version);
        let ids: Vec<&str> = request.groups.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}

#[test]
fn list_groups_filters_states_from_v4() {
    let call = ListGroups {
        states: vec!["Stable".into()],
    };
    for version in 0..=5 {
        let request = request_round_trip(&call, version);
        let expected: &[&str] = if version >= 4 { &["Stable"] } else { &[] };
        let states: Vec<&str> = request.states_filter.iter().map(|s| s.as_str()).collect();
        assert_eq!(states, expected, "v{version}");
    }
    let response = ListGroupsResponse::default().with_groups(vec![
        ListedGroup::default()
            .with_group_id(group_id("g"))
            .with_protocol_type(StrBytes::from_static_str("consumer")),
    ]);
    let decoded = response_round_trip::<ListGroups>(&response, 3);
    assert_eq!(decoded.groups[0].group_id.0.as_str(), "g");
}
