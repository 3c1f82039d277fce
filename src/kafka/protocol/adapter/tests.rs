use kafka_protocol::messages::{DescribeGroupsResponse, HeartbeatResponse};

use super::{testing::*, *};
use crate::kafka::protocol::{
    DescribeGroups, FindCoordinator, Heartbeat, InitProducerId, JoinGroup, LeaveGroup, ListGroups,
    OffsetCommit, OffsetFetch, SyncGroup,
};

#[test]
fn declarations_match_kafka_protocol() {
    check_declaration::<InitProducerId>();
    check_declaration::<FindCoordinator>();
    check_declaration::<JoinGroup>();
    check_declaration::<SyncGroup>();
    check_declaration::<Heartbeat>();
    check_declaration::<LeaveGroup>();
    check_declaration::<OffsetCommit>();
    check_declaration::<OffsetFetch>();
    check_declaration::<DescribeGroups>();
    check_declaration::<ListGroups>();
}

#[test]
fn rskafka_sees_our_key_and_range() {
    assert_eq!(
        <Adapted<'_, Heartbeat> as RequestBody>::API_KEY,
        ApiKey::Heartbeat
    );
    let range = <Adapted<'_, OffsetCommit> as RequestBody>::API_VERSION_RANGE;
    assert_eq!((range.min().0.0, range.max().0.0), (2, 9));
    let flexible = <Adapted<'_, JoinGroup> as RequestBody>::FIRST_TAGGED_FIELD_IN_RESPONSE_VERSION;
    assert_eq!(flexible.0.0, 6);
}

#[test]
fn answers_remember_their_version() {
    let response = HeartbeatResponse::default()
        .with_error_code(27)
        .with_throttle_time_ms(5);
    for version in 0..=4 {
        let mut bytes = Vec::new();
        kafka_protocol::protocol::Encodable::encode(&response, &mut bytes, version).unwrap();
        let mut cursor = Cursor::new(bytes);
        let answer =
            Answer::<HeartbeatResponse>::read_versioned(&mut cursor, ApiVersion(Int16(version)))
                .unwrap();
        assert_eq!(answer.version, version);
        assert_eq!(answer.body.error_code, 27);
        // v0 has no throttle time.
        assert_eq!(
            answer.body.throttle_time_ms,
            if version == 0 { 0 } else { 5 }
        );
    }
}

#[test]
fn malformed_responses_are_errors() {
    // Truncated: an error, not a panic.
    assert!(decode_response::<Heartbeat>(&[0], 0).is_err());
    // Trailing bytes.
    assert!(decode_response::<Heartbeat>(&[0, 0, 9], 0).is_err());
    // An array count larger than the bytes present (small enough to allocate).
    let bytes = 1000i32.to_be_bytes();
    assert!(decode_response::<DescribeGroups>(&bytes, 0).is_err());
    // A negative array count.
    assert!(decode_response::<DescribeGroups>(&(-5i32).to_be_bytes(), 0).is_err());
    let empty = response_round_trip::<DescribeGroups>(&DescribeGroupsResponse::default(), 5);
    assert!(empty.groups.is_empty());
}

#[test]
fn encoder_refusals_become_write_errors() {
    // A version we never declared: kafka-protocol refuses it, rskafka gets a WriteError.
    let mut bytes = Vec::new();
    let err = Adapted(&Heartbeat {
        group_id: "g".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    })
    .write_versioned(&mut bytes, ApiVersion(Int16(99)))
    .unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn lost_connections_are_recognised() {
    let lost = CallError::Timeout {
        api: ApiKey::Heartbeat,
        after: std::time::Duration::from_secs(1),
    };
    assert!(lost.is_connection_lost());
    // A request the broker's throttle kept from being written: the connection is fine.
    let throttled = CallError::Throttled {
        api: ApiKey::Produce,
    };
    assert!(!throttled.is_connection_lost());
    assert!(throttled.share(2).iter().all(|e| !e.is_connection_lost()));
    // One a lane dropped unwritten as its time passed: the connection is fine too.
    let not_written = CallError::NotWritten {
        api: ApiKey::Produce,
    };
    assert!(!not_written.is_connection_lost());
    assert!(not_written.share(2).iter().all(|e| !e.is_connection_lost()));
    let unsupported = CallError::from_request(
        ApiKey::Heartbeat,
        (0, 4),
        RequestError::NoVersionMatch {
            api_key: ApiKey::Heartbeat,
        },
    );
    assert!(matches!(
        unsupported,
        CallError::Unsupported { min: 0, max: 4, .. }
    ));
    assert!(!unsupported.is_connection_lost());
}

#[test]
fn a_shared_error_keeps_what_each_caller_acts_on() {
    let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    let lost = CallError::from_request(ApiKey::Produce, (3, 8), RequestError::IO(io()));
    let shared = lost.share(3);
    assert_eq!(shared.len(), 3);
    for e in &shared {
        assert!(matches!(e, CallError::Shared { .. }), "{e:?}");
        assert!(e.is_connection_lost(), "{e:?}");
        assert_eq!(e.to_string(), "Produce request failed");
    }
    // Shared again (a request formed from parts of a shared one): still the same.
    let again = shared.into_iter().next().unwrap().share(2);
    assert!(again.iter().all(CallError::is_connection_lost));

    // A decoding error is no lost connection, in one caller's hands or in several.
    let decode = RequestError::TooMuchData {
        message_size: 10,
        read: 5,
        api_key: ApiKey::Produce,
        api_version: ApiVersion(Int16(8)),
    };
    let shared = CallError::from_request(ApiKey::Produce, (3, 8), decode).share(2);
    assert!(shared.iter().all(|e| !e.is_connection_lost()));

    let unsupported = CallError::Unsupported {
        api: ApiKey::Produce,
        min: 3,
        max: 8,
    };
    assert!(
        unsupported
            .share(2)
            .iter()
            .all(|e| matches!(e, CallError::Unsupported { min: 3, max: 8, .. }))
    );
    let timeout = CallError::Timeout {
        api: ApiKey::Produce,
        after: std::time::Duration::from_secs(2),
    };
    let timeouts = timeout.share(2);
    assert!(
        timeouts
            .iter()
            .all(|e| matches!(e, CallError::Timeout { .. }))
    );
    assert!(timeouts.iter().all(CallError::is_connection_lost));
}
