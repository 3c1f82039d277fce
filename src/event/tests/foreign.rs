//! Events other writers send: the Go service's, without our own headers, and the next
//! release's.
use super::*;

/// Another writer's JSON event (the Go service's) carries the CloudEvents attributes and the
/// data, but none of our own headers: no request id, producer id, sequence or data version. It
/// decodes, as the first data layout; present but unreadable, each of those is still an error,
/// and a postcard event still needs its data version (its bytes do not say their layout).
#[test]
fn an_event_without_our_own_headers_decodes_from_json() {
    let rec = sample().encode(ContentType::Json).unwrap();
    let mut headers = rec.headers.clone();
    for name in [
        header::REQUEST_ID,
        header::PRODUCER_ID,
        header::SEQUENCE,
        header::DATA_VERSION,
    ] {
        headers.remove(name);
    }
    let event = Envelope::decode(&headers, Some(&rec.value)).unwrap();
    assert_eq!(
        (event.version, event.producer_id, event.sequence),
        (1, 0, 0)
    );
    assert_eq!(event.request_id, "");
    assert_eq!((event.id, event.user_id), (sample().id, sample().user_id));
    assert_eq!(event.data, sample().data);
    for name in [header::PRODUCER_ID, header::SEQUENCE, header::DATA_VERSION] {
        let mut bad = headers.clone();
        bad.insert(name.to_owned(), b"x".to_vec());
        let err = Envelope::decode(&bad, Some(&rec.value)).unwrap_err();
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    let postcard = sample().encode(ContentType::Postcard).unwrap();
    let mut headers = postcard.headers.clone();
    headers.remove(header::DATA_VERSION);
    let err = Envelope::decode(&headers, Some(&postcard.value)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MissingHeader {
            name: header::DATA_VERSION
        }
    );
}

/// The next release's event, in a rolling upgrade: its data version is read before its type and
/// its content type, so one with an encoding this build does not know is waited on (a data
/// version error), not dead-lettered as an unknown content type.
#[test]
fn the_data_version_is_read_before_the_encoding() {
    let rec = sample().encode(ContentType::Json).unwrap();
    let mut headers = rec.headers.clone();
    headers.insert(
        header::DATA_VERSION.into(),
        (DATA_VERSION + 1).to_string().into_bytes(),
    );
    headers.insert(header::CONTENT_TYPE.into(), b"application/x-next".to_vec());
    let err = Envelope::decode(&headers, Some(&rec.value)).unwrap_err();
    assert!(matches!(err, DecodeError::DataVersion { .. }), "{err}");
}

/// A `user.updated` of the release before (data version 2) has no `previous_email`: its
/// postcard bytes decode as that layout, and its JSON without the field; under version 3 the
/// same postcard bytes are a value cut short, not an old record.
#[test]
fn an_update_of_the_release_before_decodes_without_its_previous_address() {
    let old = super::super::data::UpdatedV2 {
        nickname: Some("Ada".into()),
        email: Some("new@example.com".into()),
        avatar_url: None,
    };
    let mut event = sample();
    event.data = EventData::Updated(Updated::from(old.clone()));
    for ct in [ContentType::Postcard, ContentType::Json] {
        let rec = event.encode(ct).unwrap();
        let bytes = ct.encode(&old).unwrap();
        let mut v2 = rec.headers.clone();
        v2.insert(header::DATA_VERSION.into(), b"2".to_vec());
        let decoded = Envelope::decode(&v2, Some(&bytes)).unwrap();
        assert_eq!((decoded.version, &decoded.data), (2, &event.data), "{ct:?}");
        if ct == ContentType::Postcard {
            assert!(Envelope::decode(&rec.headers, Some(&bytes)).is_err());
        }
    }
}
