use std::collections::BTreeMap;

use super::*;

fn member(id: &str, topics: &[&str]) -> Member {
    Member {
        id: id.to_owned(),
        instance_id: None,
        subscription: Subscription {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            generation: -1,
            ..Subscription::default()
        },
    }
}

#[test]
fn subscription_round_trips_with_owned_partitions() -> Result<(), CodecError> {
    let s = Subscription {
        topics: vec!["a".into(), "b".into()],
        owned: BTreeMap::from([("a".to_owned(), vec![0, 2])]),
        generation: 7,
        user_data: Some(bytes::Bytes::from_static(b"x")),
    };
    assert_eq!(decode_subscription(&encode_subscription(&s)?)?, s);
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
