use kafka_protocol::messages::{
    JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
    join_group_response::JoinGroupResponseMember,
};

use super::*;
use crate::kafka::protocol::adapter::testing::{request_round_trip, response_round_trip};

fn join() -> JoinGroup {
    JoinGroup {
        group_id: "g".into(),
        session_timeout_ms: 45_000,
        rebalance_timeout_ms: 60_000,
        member_id: "m-1".into(),
        group_instance_id: Some("pod-0".into()),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"\0\x01meta"))],
        reason: Some("starting".into()),
    }
}

#[test]
fn join_group_round_trips_at_every_version() {
    let call = join();
    for version in 0..=9 {
        let r = request_round_trip(&call, version);
        assert_eq!(r.group_id.0.as_str(), "g");
        assert_eq!(r.session_timeout_ms, 45_000);
        assert_eq!(r.member_id.as_str(), "m-1");
        assert_eq!(r.protocol_type.as_str(), "consumer");
        assert_eq!(r.protocols[0].name.as_str(), "range");
        assert_eq!(&r.protocols[0].metadata[..], b"\0\x01meta");
        assert_eq!(
            r.rebalance_timeout_ms,
            if version >= 1 { 60_000 } else { -1 }
        );
        assert_eq!(r.group_instance_id.is_some(), version >= 5, "v{version}");
        assert_eq!(r.reason.is_some(), version >= 8, "v{version}");
    }
}

#[test]
fn join_group_answer_lists_members() {
    let response = JoinGroupResponse::default()
        .with_generation_id(7)
        .with_protocol_name(Some(StrBytes::from_static_str("range")))
        .with_leader(StrBytes::from_static_str("m-1"))
        .with_member_id(StrBytes::from_static_str("m-1"))
        .with_members(vec![
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_static_str("m-1"))
                .with_metadata(Bytes::from_static(b"x")),
        ]);
    for version in 0..=9 {
        let decoded = response_round_trip::<JoinGroup>(&response, version);
        assert_eq!(decoded.generation_id, 7);
        assert_eq!(decoded.members.len(), 1);
    }
}

#[test]
fn sync_group_round_trips_at_every_version() {
    let call = SyncGroup {
        group_id: "g".into(),
        generation_id: 7,
        member_id: "m-1".into(),
        group_instance_id: Some("pod-0".into()),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![("m-1".into(), Bytes::from_static(b"assigned"))],
    };
    for version in 0..=5 {
        let r = request_round_trip(&call, version);
        assert_eq!((r.generation_id, r.member_id.as_str()), (7, "m-1"));
        assert_eq!(&r.assignments[0].assignment[..], b"assigned");
        assert_eq!(r.group_instance_id.is_some(), version >= 3);
        assert_eq!(r.protocol_name.is_some(), version >= 5);
    }
    let response = SyncGroupResponse::default().with_assignment(Bytes::from_static(b"mine"));
    for version in 0..=5 {
        let decoded = response_round_trip::<SyncGroup>(&response, version);
        assert_eq!(&decoded.assignment[..], b"mine");
    }
}

#[test]
fn heartbeat_round_trips_at_every_version() {
    let call = Heartbeat {
        group_id: "g".into(),
        generation_id: 3,
        member_id: "m".into(),
        group_instance_id: Some("pod-0".into()),
    };
    for version in 0..=4 {
        let r = request_round_trip(&call, version);
        assert_eq!((r.group_id.0.as_str(), r.generation_id), ("g", 3));
        assert_eq!(r.group_instance_id.is_some(), version >= 3);
    }
}

#[test]
fn leave_group_changes_shape_at_v3() {
    let call = LeaveGroup {
        group_id: "g".into(),
        member_id: "m".into(),
        group_instance_id: None,
        reason: Some("shutdown".into()),
    };
    for version in 0..=5 {
        let r = request_round_trip(&call, version);
        if version < 3 {
            assert_eq!(r.member_id.as_str(), "m");
            assert!(r.members.is_empty());
        } else {
            assert_eq!(r.members.len(), 1);
            assert_eq!(r.members[0].member_id.as_str(), "m");
            assert_eq!(r.members[0].reason.is_some(), version >= 5);
        }
    }
    let decoded =
        response_round_trip::<LeaveGroup>(&LeaveGroupResponse::default().with_error_code(25), 2);
    assert_eq!(decoded.error_code, 25);
}
