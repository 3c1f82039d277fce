//! Round trips through the adapter for the request modules' tests.
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message};

use super::*;

/// Writes `call` at `version` as the messenger would, then decodes the bytes as the broker
/// would (kafka-protocol's request decoder).
pub(crate) fn request_round_trip<C: Call>(call: &C, version: i16) -> C::Request
where
    C::Request: Decodable,
{
    let mut bytes = Vec::new();
    Adapted(call)
        .write_versioned(&mut bytes, ApiVersion(Int16(version)))
        .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", C::KEY));
    let mut cursor = Cursor::new(bytes);
    let request = C::Request::decode(&mut cursor, version).unwrap();
    assert_eq!(
        cursor.position() as usize,
        cursor.get_ref().len(),
        "whole request read"
    );
    request
}

/// Encodes `response` at `version` as a broker would, then decodes it through [`Answer`].
pub(crate) fn response_round_trip<C: Call>(response: &C::Response, version: i16) -> C::Response
where
    C::Response: Encodable,
{
    let mut bytes = Vec::new();
    response.encode(&mut bytes, version).unwrap();
    decode_response::<C>(&bytes, version).unwrap()
}

/// Every version we declare exists in kafka-protocol, and our first flexible version is
/// where kafka-protocol switches to the flexible request and response headers.
pub(crate) fn check_declaration<C: Call>()
where
    C::Request: Message + HeaderVersion,
    C::Response: Message + HeaderVersion,
{
    let (min, max) = C::VERSIONS;
    assert!(min <= max);
    assert!(
        C::Request::VERSIONS.min <= min && max <= C::Request::VERSIONS.max,
        "{:?}",
        C::KEY
    );
    for v in min..=max {
        let flexible = v >= C::FIRST_FLEXIBLE;
        assert_eq!(
            C::Request::header_version(v) == 2,
            flexible,
            "{:?} v{v} request",
            C::KEY
        );
        assert_eq!(
            C::Response::header_version(v) == 1,
            flexible,
            "{:?} v{v} response",
            C::KEY
        );
    }
}
