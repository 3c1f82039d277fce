use super::*;
use crate::kafka::group::assign::encode_assignment;

#[test]
fn a_subscription_that_does_not_decode_subscribes_to_nothing() {
    for garbage in [
        &b""[..],
        b"\x00",
        b"\x7f\xff\x00\x00\x00\x05topic",
        &[0xff; 64],
    ] {
        let s = subscription_of("m-1", garbage);
        assert!(s.topics.is_empty(), "{garbage:?}");
        assert!(s.owned.is_empty());
        assert_eq!(s.generation, -1);
    }
}

#[test]
fn an_assignment_that_does_not_decode_assigns_nothing() {
    for garbage in [&b"\x00"[..], b"\xff\xff\x00", &[0x7f; 64]] {
        assert!(assignment_of(3, garbage).is_empty(), "{garbage:?}");
    }
    let sent: Assignment = [("user.events".to_owned(), vec![1, 2])]
        .into_iter()
        .collect();
    let bytes = encode_assignment(&sent).unwrap();
    assert_eq!(assignment_of(3, &bytes), sent);
}

#[test]
fn a_subscription_that_decodes_is_kept() {
    let sent = Subscription {
        topics: vec!["user.events".into()],
        owned: [("user.events".to_owned(), vec![0, 2])]
            .into_iter()
            .collect(),
        generation: 4,
        user_data: None,
    };
    let bytes = encode_subscription(&sent, RebalanceProtocol::Cooperative).unwrap();
    let got = subscription_of("m-1", &bytes);
    assert_eq!(got.topics, sent.topics);
    assert_eq!(got.owned, sent.owned);
}

#[test]
fn the_leader_s_note_says_the_partition_count_and_only_ours_is_read() {
    assert_eq!(noted(&note(12)), Some(12));
    assert_eq!(noted(b"usercenter:partitions=x"), None);
    // Another client's user data.
    assert_eq!(noted(b"\x00\x01sticky"), None);
}
