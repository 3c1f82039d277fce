use kafka_protocol::messages::InitProducerIdResponse;

use super::*;
use crate::kafka::error_code::ResponseError;
use crate::kafka::protocol::adapter::testing::{request_round_trip, response_round_trip};

#[test]
fn never_transactional_and_bumps_from_v3() {
    let fresh = InitProducerId::default();
    let bump = InitProducerId {
        current: Some(ProducerIdentity { id: 42, epoch: 3 }),
    };
    for version in 0..=5 {
        let r = request_round_trip(&fresh, version);
        assert_eq!(r.transactional_id, None, "v{version}");
        assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
        let r = request_round_trip(&bump, version);
        assert_eq!(r.transactional_id, None);
        let expected = if version >= 3 { (42, 3) } else { (-1, -1) };
        assert_eq!((r.producer_id.0, r.producer_epoch), expected, "v{version}");
    }
}

#[test]
fn identity_or_error_code() {
    let ok = InitProducerIdResponse::default()
        .with_producer_id(7.into())
        .with_producer_epoch(1);
    let decoded = response_round_trip::<InitProducerId>(&ok, 4);
    assert_eq!(
        InitProducerId::identity(&decoded),
        Ok(ProducerIdentity { id: 7, epoch: 1 })
    );
    let refused = InitProducerIdResponse::default().with_error_code(53);
    let decoded = response_round_trip::<InitProducerId>(&refused, 0);
    assert_eq!(
        InitProducerId::identity(&decoded),
        Err(ErrorCode::of(
            ResponseError::TransactionalIdAuthorizationFailed
        ))
    );
}
