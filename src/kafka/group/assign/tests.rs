use std::collections::BTreeMap;

use super::{testing::member, *};

#[test]
fn subscription_round_trips_with_owned_partitions() -> Result<(), CodecError> {
    let s = Subscription {
        topics: vec!["a".into(), "b".into()],
        owned: BTreeMap::from([("a".to_owned(), vec![0, 2])]),
        generation: 7,
        user_data: Some(bytes::Bytes::from_static(b"x")),
    };
    let bytes = encode_subscription(&s, RebalanceProtocol::Cooperative)?;
    assert_eq!(decode_subscription(&bytes)?, s);
    Ok(())
}

/// An older client as group leader (IBM Sarama 1.22, the Go service's) reads only version 0
/// and refuses trailing bytes: an eager assignor's subscription is version 0, exactly the
/// topics and user data.
#[test]
fn eager_subscriptions_are_version_0_for_older_leaders() -> Result<(), CodecError> {
    let s = Subscription {
        topics: vec!["a".into()],
        owned: BTreeMap::from([("a".to_owned(), vec![0])]),
        generation: 7,
        user_data: None,
    };
    let bytes = encode_subscription(&s, RebalanceProtocol::Eager)?;
    // version 0, one topic "a", user data null (-1): nothing after it.
    let expected: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 1, b'a', 0xff, 0xff, 0xff, 0xff];
    assert_eq!(&bytes[..], expected);
    let back = decode_subscription(&bytes)?;
    assert_eq!((back.topics, back.generation), (s.topics, -1));
    assert!(back.owned.is_empty());
    Ok(())
}

#[test]
fn assignment_round_trips_and_empty_bytes_mean_nothing() -> Result<(), CodecError> {
    let a = BTreeMap::from([("t".to_owned(), vec![1, 3, 5])]);
    assert_eq!(decode_assignment(&encode_assignment(&a)?)?, a);
    assert!(decode_assignment(&[])?.is_empty());
    assert!(decode_assignment(&[0]).is_err());
    Ok(())
}

/// A topic listed more than once (the protocol allows it; a hostile leader may list it
/// thousands of times): its partitions are merged, sorted, each once.
#[test]
fn a_topic_listed_twice_in_an_assignment_is_one_sorted_list() -> Result<(), CodecError> {
    use kafka_protocol::{
        messages::{
            TopicName, consumer_protocol_assignment::ConsumerProtocolAssignment,
            consumer_protocol_assignment::TopicPartition,
        },
        protocol::{Encodable, StrBytes},
    };
    let entry = |partitions: Vec<i32>| {
        TopicPartition::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(partitions)
    };
    let msg = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![entry(vec![5, 1]), entry(vec![3, 1])]);
    let mut bytes = bytes::BytesMut::from(&1i16.to_be_bytes()[..]);
    msg.encode(&mut bytes, 1).expect("encodes");
    let decoded = decode_assignment(&bytes)?;
    assert_eq!(decoded, BTreeMap::from([("t".to_owned(), vec![1, 3, 5])]));
    Ok(())
}

#[test]
fn an_assignment_carries_the_leader_s_note_beside_the_partitions() -> Result<(), CodecError> {
    let a = BTreeMap::from([("t".to_owned(), vec![0, 2])]);
    let noted = encode_assignment_noting(&a, Some(b"note"))?;
    assert_eq!(decode_assignment(&noted)?, a);
    assert_eq!(assignment_note(&noted).as_deref(), Some(&b"note"[..]));
    assert_eq!(assignment_note(&encode_assignment(&a)?), None);
    assert_eq!(assignment_note(&[]), None);
    assert_eq!(assignment_note(&[0]), None);
    Ok(())
}

#[test]
fn roundrobin_deals_partitions_in_member_order() {
    let members = [member("m2", &["t"]), member("m1", &["t"])];
    let parts = BTreeMap::from([("t".to_owned(), (0..5).collect::<Vec<_>>())]);
    let out = RoundRobin.assign(&members, &parts);
    assert_eq!(out["m1"]["t"], vec![0, 2, 4]);
    assert_eq!(out["m2"]["t"], vec![1, 3]);
}

#[test]
fn roundrobin_skips_members_not_subscribed() {
    let members = [member("a", &["x"]), member("b", &["y"])];
    let parts = BTreeMap::from([("x".to_owned(), vec![0, 1]), ("y".to_owned(), vec![0])]);
    let out = RoundRobin.assign(&members, &parts);
    assert_eq!(out["a"], BTreeMap::from([("x".to_owned(), vec![0, 1])]));
    assert_eq!(out["b"], BTreeMap::from([("y".to_owned(), vec![0])]));
}

#[test]
fn by_name_knows_every_name_and_each_reports_it() {
    // `config::ASSIGNORS` is this list: the configuration accepts exactly the names built here.
    for name in NAMES {
        let assignor = by_name(name).expect("a listed name");
        assert_eq!(assignor.name(), *name);
    }
    assert!(by_name("sticky").is_none());
    assert_eq!(
        by_name("cooperative-sticky").map(|a| a.protocol()),
        Some(RebalanceProtocol::Cooperative)
    );
    assert_eq!(
        by_name("range").map(|a| a.protocol()),
        Some(RebalanceProtocol::Eager)
    );
}

#[test]
fn static_members_rank_first_by_instance_id() {
    let a = testing::with_instance(member("z", &[]), "i-1");
    let b = testing::with_instance(member("a", &[]), "i-2");
    let c = member("b", &[]);
    let mut all = [c.clone(), b.clone(), a.clone()];
    all.sort_by(member_order);
    assert_eq!(all, [a, b, c]);
}
