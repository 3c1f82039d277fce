use super::*;

#[test]
fn codes_print_as_kafka_names_them() {
    // Names as in Kafka's protocol guide (Errors.java), including ones whose variant names
    // hold acronyms or several words.
    for (code, name) in [
        (-1, "UNKNOWN_SERVER_ERROR (-1)"),
        (3, "UNKNOWN_TOPIC_OR_PARTITION (3)"),
        (6, "NOT_LEADER_OR_FOLLOWER (6)"),
        (25, "UNKNOWN_MEMBER_ID (25)"),
        (45, "OUT_OF_ORDER_SEQUENCE_NUMBER (45)"),
        (56, "KAFKA_STORAGE_ERROR (56)"),
        (58, "SASL_AUTHENTICATION_FAILED (58)"),
        (79, "MEMBER_ID_REQUIRED (79)"),
        (82, "FENCED_INSTANCE_ID (82)"),
    ] {
        assert_eq!(ErrorCode::new(code).to_string(), name);
    }
    assert_eq!(ErrorCode::NONE.to_string(), "NONE (0)");
    assert_eq!(ErrorCode::new(9999).to_string(), "error code 9999");
    assert_eq!(
        format!("{:?}", ErrorCode::new(25)),
        "UNKNOWN_MEMBER_ID (25)"
    );
}

#[test]
fn names_and_wire_values_round_trip() {
    for code in -1..=120 {
        let c = ErrorCode::new(code);
        assert_eq!(c.get(), code);
        assert_eq!(c.is_ok(), code == 0);
        assert_eq!(ErrorCode::failure(code), (code != 0).then_some(c));
        if let Some(e) = c.error() {
            assert_eq!(ErrorCode::of(e), c);
        }
    }
    let unknown = ErrorCode::new(9999);
    assert_eq!(unknown.error(), Some(ResponseError::Unknown(9999)));
    assert!(!unknown.is_retriable());
}

#[test]
fn retriable_comes_from_kafkas_table() {
    for retriable in [
        ResponseError::NotLeaderOrFollower,
        ResponseError::RequestTimedOut,
    ] {
        assert!(ErrorCode::of(retriable).is_retriable(), "{retriable:?}");
    }
    for fatal in [
        ResponseError::MessageTooLarge,
        ResponseError::UnknownMemberId,
        ResponseError::OutOfOrderSequenceNumber,
    ] {
        assert!(!ErrorCode::of(fatal).is_retriable(), "{fatal:?}");
    }
    assert!(!ErrorCode::NONE.is_retriable());
}

#[test]
fn the_groups_hold_exactly_their_codes() {
    let moved: Vec<i16> = (-1..=120)
        .filter(|&c| ErrorCode::new(c).leader_moved())
        .collect();
    assert_eq!(moved, [3, 5, 6, 9, 56, 74, 75]);
    let coordinator: Vec<i16> = (-1..=120)
        .filter(|&c| ErrorCode::new(c).coordinator_moved())
        .collect();
    assert_eq!(coordinator, [14, 15, 16]);
}

#[test]
fn rskafka_errors_keep_their_code() {
    use rskafka::protocol::error::Error;
    assert_eq!(ErrorCode::from(&Error::UnknownMemberId), ErrorCode::new(25));
    assert_eq!(
        ErrorCode::from(&Error::DuplicateSequenceNumber),
        ErrorCode::new(46)
    );
}
