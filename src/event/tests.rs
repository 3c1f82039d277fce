//! Round trips of every event in both encodings, and decoding of hostile input.
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn status() -> impl Strategy<Value = UserStatus> {
    prop_oneof![
        Just(UserStatus::Active),
        Just(UserStatus::Disabled),
        Just(UserStatus::Locked)
    ]
}

fn data() -> impl Strategy<Value = EventData> {
    prop_oneof![
        (text(), text())
            .prop_map(|(username, email)| EventData::Registered(Registered { username, email })),
        (text(), text(), any::<bool>()).prop_map(|(ip, user_agent, success)| {
            EventData::LoggedIn(LoggedIn {
                ip,
                user_agent,
                success,
            })
        }),
        (uuid(), text()).prop_map(|(changed_by, ip)| {
            EventData::PasswordChanged(PasswordChanged { changed_by, ip })
        }),
        (status(), status(), uuid()).prop_map(|(from, to, changed_by)| {
            EventData::StatusChanged(StatusChanged {
                from,
                to,
                changed_by,
            })
        }),
        (uuid(), proptest::option::of("[a-z@.]{0,20}"))
            .prop_map(|(deleted_by, email)| { EventData::Deleted(Deleted { deleted_by, email }) }),
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(
                |(nickname, email, avatar_url, previous_email)| EventData::Updated(Updated {
                    nickname,
                    email,
                    avatar_url,
                    previous_email
                })
            ),
    ]
}

prop_compose! {
    fn envelope()(
        id in uuid(),
        user_id in uuid(),
        micros in 0i64..=253_402_300_799_999_999,
        request_id in text(),
        producer_id in any::<u64>(),
        sequence in any::<u64>(),
        data in data(),
    ) -> Envelope {
        Envelope {
            version: DATA_VERSION,
            id,
            user_id,
            occurred_at: chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default(),
            request_id,
            producer_id,
            sequence,
            data,
        }
    }
}

fn content_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![Just(ContentType::Postcard), Just(ContentType::Json)]
}

proptest! {
    #[test]
    fn every_event_round_trips(env in envelope(), ct in content_type()) {
        let rec = env.encode(ct).unwrap();
        prop_assert_eq!(rec.key.clone(), env.user_id.to_string().into_bytes());
        prop_assert_eq!(rec.headers.get(header::TYPE).map(Vec::as_slice),
            Some(env.event_type().as_str().as_bytes()));
        let back = Envelope::decode(&rec.headers, Some(&rec.value)).unwrap();
        prop_assert_eq!(back, env);
    }

    #[test]
    fn truncated_values_are_errors(env in envelope(), ct in content_type(), cut in any::<prop::sample::Index>()) {
        let rec = env.encode(ct).unwrap();
        let len = cut.index(rec.value.len().max(1));
        if len < rec.value.len() {
            let err = Envelope::decode(&rec.headers, Some(&rec.value[..len])).unwrap_err();
            let is_value_error = matches!(err, DecodeError::Value { .. });
            prop_assert!(is_value_error, "{:?}", err);
        }
    }

    #[test]
    fn bit_flips_never_panic(env in envelope(), ct in content_type(), bit in any::<prop::sample::Index>()) {
        let mut rec = env.encode(ct).unwrap();
        if !rec.value.is_empty() {
            let i = bit.index(rec.value.len() * 8);
            rec.value[i / 8] ^= 1 << (i % 8);
        }
        // Any outcome but a panic is fine; a decoded event must be internally consistent.
        if let Ok(back) = Envelope::decode(&rec.headers, Some(&rec.value)) {
            prop_assert_eq!(back.event_type(), env.event_type());
        }
    }

    #[test]
    fn random_values_never_panic(env in envelope(), ct in content_type(), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let rec = env.encode(ct).unwrap();
        let _ = Envelope::decode(&rec.headers, Some(&bytes));
    }

    #[test]
    fn random_headers_never_panic(
        headers in prop::collection::btree_map("ce_[a-z]{2,12}|content-type", prop::collection::vec(any::<u8>(), 0..40), 0..12),
        value in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        prop_assert!(Envelope::decode(&headers, value.as_deref()).is_err());
    }
}

fn sample() -> Envelope {
    Envelope {
        version: DATA_VERSION,
        id: Uuid::from_u128(1),
        user_id: Uuid::from_u128(2),
        occurred_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .unwrap_or_default(),
        request_id: "req-1".into(),
        producer_id: 7,
        sequence: 42,
        data: EventData::Registered(Registered {
            username: "ada".into(),
            email: "ada@example.com".into(),
        }),
    }
}

#[test]
fn headers_follow_cloudevents_binary_mode() {
    let rec = sample().encode(ContentType::Postcard).unwrap();
    let h = |name: &str| String::from_utf8(rec.headers[name].clone()).unwrap();
    assert_eq!(h("ce_specversion"), "1.0");
    assert_eq!(h("ce_id"), Uuid::from_u128(1).to_string());
    assert_eq!(h("ce_type"), "user.registered");
    assert_eq!(h("ce_time"), "2023-11-14T22:13:20.123456Z");
    assert_eq!(h("ce_subject"), Uuid::from_u128(2).to_string());
    assert_eq!(h("ce_source"), "/usercenter/7");
    assert_eq!(h("ce_requestid"), "req-1");
    assert_eq!(h("ce_producerid"), "7");
    assert_eq!(h("ce_sequence"), "42");
    assert_eq!(h("content-type"), "application/x-postcard");
    let json = sample().encode(ContentType::Json).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.value).unwrap();
    assert_eq!(value["username"], "ada");
}

#[test]
fn missing_or_bad_headers_are_named() {
    let rec = sample().encode(ContentType::Json).unwrap();
    for name in [
        header::ID,
        header::TYPE,
        header::TIME,
        header::SUBJECT,
        header::CONTENT_TYPE,
    ] {
        let mut headers = rec.headers.clone();
        headers.remove(name);
        let err = Envelope::decode(&headers, Some(&rec.value)).unwrap_err();
        assert_eq!(err, DecodeError::MissingHeader { name });
        headers.insert(name.to_owned(), b"\xff\xfe".to_vec());
        let err = Envelope::decode(&headers, Some(&rec.value)).unwrap_err();
        assert!(
            err.to_string().contains(name)
                || matches!(
                    err,
                    DecodeError::UnknownType(_) | DecodeError::ContentType(_)
                ),
            "{err}"
        );
    }
    // A time RFC 3339 reads but whose year in UTC it cannot write.
    for edge in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"] {
        let mut headers = rec.headers.clone();
        headers.insert(header::TIME.into(), edge.as_bytes().to_vec());
        let err = Envelope::decode(&headers, Some(&rec.value)).unwrap_err();
        assert!(
            matches!(err, DecodeError::BadHeader { name, .. } if name == header::TIME),
            "{edge}: {err}"
        );
    }
    // The nil id is what a writer that never set one writes: no event's.
    let mut headers = rec.headers.clone();
    headers.insert(
        header::ID.into(),
        uuid::Uuid::nil().to_string().into_bytes(),
    );
    let err = Envelope::decode(&headers, Some(&rec.value)).unwrap_err();
    assert!(
        matches!(err, DecodeError::BadHeader { name, .. } if name == header::ID),
        "{err}"
    );
    let mut headers = rec.headers.clone();
    headers.insert(header::TYPE.into(), b"user.exploded".to_vec());
    assert_eq!(
        Envelope::decode(&headers, Some(&rec.value)).unwrap_err(),
        DecodeError::UnknownType("user.exploded".into())
    );
    let mut headers = rec.headers.clone();
    let next = DATA_VERSION + 1;
    headers.insert(header::DATA_VERSION.into(), next.to_string().into_bytes());
    assert!(matches!(
        Envelope::decode(&headers, Some(&rec.value)).unwrap_err(),
        DecodeError::DataVersion { found, .. } if found == next
    ));
    // A type this build does not know, of a later data version: that release's event.
    headers.insert(header::TYPE.into(), b"user.email_verified".to_vec());
    assert!(matches!(
        Envelope::decode(&headers, Some(&rec.value)).unwrap_err(),
        DecodeError::DataVersion { found, .. } if found == next
    ));
    assert_eq!(
        Envelope::decode(&rec.headers, None).unwrap_err(),
        DecodeError::MissingValue
    );
}

#[test]
fn content_type_parameters_are_ignored() {
    assert_eq!(
        ContentType::parse("application/json; charset=utf-8"),
        Some(ContentType::Json)
    );
    assert_eq!(
        ContentType::parse("Application/X-Postcard"),
        Some(ContentType::Postcard)
    );
    assert_eq!(ContentType::parse("text/plain"), None);
}

#[test]
fn event_types_parse_back() {
    for ty in EventType::ALL {
        assert_eq!(EventType::parse(ty.as_str()), Some(ty));
    }
    assert_eq!(EventType::ALL.len(), 6);
}

#[test]
fn a_deleted_event_written_before_it_carried_the_email_still_decodes() {
    for ct in [ContentType::Postcard, ContentType::Json] {
        let mut event = sample();
        event.data = EventData::Deleted(Deleted {
            deleted_by: Uuid::from_u128(3),
            email: Some("ada@example.com".into()),
        });
        let rec = event.encode(ct).unwrap();
        assert_eq!(
            Envelope::decode(&rec.headers, Some(&rec.value)).unwrap(),
            event
        );
        let old = ct
            .encode(&super::data::DeletedV1 {
                deleted_by: Uuid::from_u128(3),
            })
            .unwrap();
        // Written before: `ce_dataversion` 1 says which layout the value has.
        let mut v1 = rec.headers.clone();
        v1.insert(header::DATA_VERSION.into(), b"1".to_vec());
        let decoded = Envelope::decode(&v1, Some(&old)).unwrap();
        assert_eq!(decoded.version, 1);
        if ct == ContentType::Postcard {
            // Under version 2 the same bytes are a value cut short, not an old record.
            assert!(Envelope::decode(&rec.headers, Some(&old)).is_err());
        }
        assert_eq!(
            decoded.data,
            EventData::Deleted(Deleted {
                deleted_by: Uuid::from_u128(3),
                email: None,
            })
        );
    }
}

/// Another writer's event whose texts no event of ours holds is refused, naming the field:
/// each text is copied into the outputs it causes, escaped, so a megabyte name would make
/// several megabytes of outbox rows. At the bound it still decodes.
#[test]
fn texts_longer_than_any_event_holds_are_refused_by_name() {
    let long = |n: usize| "\u{1}".repeat(n);
    let mut env = fixtures::sample(EventType::Registered);
    for ct in [ContentType::Postcard, ContentType::Json] {
        env.data = EventData::Registered(Registered {
            username: long(MAX_TEXT),
            email: "ada@example.com".into(),
        });
        let rec = env.encode(ct).unwrap();
        assert!(Envelope::decode(&rec.headers, Some(&rec.value)).is_ok());
        env.data = EventData::Registered(Registered {
            username: "ada".into(),
            email: long(MAX_TEXT + 1),
        });
        let rec = env.encode(ct).unwrap();
        assert_eq!(
            Envelope::decode(&rec.headers, Some(&rec.value)).unwrap_err(),
            DecodeError::TooLong {
                field: "email",
                bytes: MAX_TEXT + 1,
                most: MAX_TEXT
            }
        );
    }
    let mut env = fixtures::sample(EventType::Updated);
    env.data = EventData::Updated(Updated {
        nickname: None,
        email: None,
        avatar_url: Some(long(MAX_TEXT + 1)),
        previous_email: None,
    });
    let rec = env.encode(ContentType::Postcard).unwrap();
    let err = Envelope::decode(&rec.headers, Some(&rec.value)).unwrap_err();
    assert!(err.to_string().starts_with("avatar_url is"), "{err}");
    let mut env = fixtures::sample(EventType::LoggedIn);
    env.request_id = "r".repeat(MAX_REQUEST_ID + 1);
    let rec = env.encode(ContentType::Postcard).unwrap();
    assert!(matches!(
        Envelope::decode(&rec.headers, Some(&rec.value)).unwrap_err(),
        DecodeError::TooLong {
            field: header::REQUEST_ID,
            ..
        }
    ));
}

mod foreign;
mod layouts;
