//! The postcard layouts of every data version this build reads, pinned byte for byte.
use super::*;

/// The postcard bytes of each type's sample value at this build's data version, as records in
/// the topic hold them: a change to a data struct's layout (a field added, removed, reordered
/// or retyped) fails here, and needs a new data version with the old layout kept for reading
/// (data.rs says why). The bytes were written once by this build; `Deleted` at version 1 is
/// pinned as its own layout.
#[test]
fn postcard_layouts_are_pinned() {
    use crate::event::fixtures::sample as sample_of;
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let pinned = [
        (
            EventType::Registered,
            "036164610f616461406578616d706c652e636f6d",
        ),
        (EventType::LoggedIn, "093139322e302e322e31066375726c2f3801"),
        (
            EventType::PasswordChanged,
            "1000000000000000000000000000005eed093139322e302e322e31",
        ),
        (
            EventType::StatusChanged,
            "00021000000000000000000000000000005eed",
        ),
        (
            EventType::Deleted,
            "1000000000000000000000000000005eed0110676f6e65406578616d706c652e636f6d",
        ),
        (
            EventType::Updated,
            "010341646100011968747470733a2f2f6578616d706c652e636f6d2f612e706e6700",
        ),
    ];
    for (ty, bytes) in pinned {
        let rec = sample_of(ty).encode(ContentType::Postcard).unwrap();
        assert_eq!(
            hex(&rec.value),
            bytes,
            "{ty:?} at data version {DATA_VERSION}"
        );
    }
    let v1 = ContentType::Postcard
        .encode(&super::data::DeletedV1 {
            deleted_by: Uuid::from_u128(0x5eed),
        })
        .unwrap();
    assert_eq!(
        hex(&v1),
        "1000000000000000000000000000005eed",
        "Deleted at data version 1"
    );
    let v2 = ContentType::Postcard
        .encode(&super::data::UpdatedV2 {
            nickname: Some("Ada".into()),
            email: None,
            avatar_url: Some("https://example.com/a.png".into()),
        })
        .unwrap();
    assert_eq!(
        hex(&v2),
        "010341646100011968747470733a2f2f6578616d706c652e636f6d2f612e706e67",
        "Updated at data version 2"
    );
    // Version 3 with the previous address filled in: the version 2 bytes, then it.
    let mut with_previous = sample_of(EventType::Updated);
    if let EventData::Updated(d) = &mut with_previous.data {
        d.previous_email = Some("ada@example.com".into());
    }
    let rec = with_previous.encode(ContentType::Postcard).unwrap();
    assert_eq!(
        hex(&rec.value),
        "010341646100011968747470733a2f2f6578616d706c652e636f6d2f612e706e67\
         010f616461406578616d706c652e636f6d",
        "Updated at data version 3, previous_email set"
    );
}
