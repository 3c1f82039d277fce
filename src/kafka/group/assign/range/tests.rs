use std::collections::BTreeMap;

use super::super::testing::{member, parts, topic, with_instance};
use super::*;

#[test]
fn contiguous_ranges_the_first_get_one_more() {
    let members = [
        member("c", &["t"]),
        member("a", &["t"]),
        member("b", &["t"]),
    ];
    let out = Range.assign(&members, &topic("t", 8));
    assert_eq!(parts(&out["a"], "t"), [0, 1, 2]);
    assert_eq!(parts(&out["b"], "t"), [3, 4, 5]);
    assert_eq!(parts(&out["c"], "t"), [6, 7]);
}

#[test]
fn each_topic_is_split_on_its_own() {
    // Per topic, not over all partitions: both topics' first ranges go to the first member
    // (the known unevenness of the range assignor).
    let members = [member("a", &["x", "y"]), member("b", &["x", "y"])];
    let mut partitions = topic("x", 3);
    partitions.extend(topic("y", 3));
    let out = Range.assign(&members, &partitions);
    assert_eq!(
        out["a"],
        BTreeMap::from([("x".to_owned(), vec![0, 1]), ("y".to_owned(), vec![0, 1])])
    );
    assert_eq!(
        out["b"],
        BTreeMap::from([("x".to_owned(), vec![2]), ("y".to_owned(), vec![2])])
    );
}

#[test]
fn more_members_than_partitions_leaves_the_last_empty() {
    let members = [
        member("a", &["t"]),
        member("b", &["t"]),
        member("c", &["t"]),
    ];
    let out = Range.assign(&members, &topic("t", 2));
    assert_eq!(parts(&out["a"], "t"), [0]);
    assert_eq!(parts(&out["b"], "t"), [1]);
    assert!(out["c"].is_empty(), "present, with nothing: {out:?}");
}

#[test]
fn only_subscribers_of_a_topic_share_it() {
    let members = [member("a", &["x"]), member("b", &["x", "y"])];
    let mut partitions = topic("x", 4);
    partitions.extend(topic("y", 2));
    let out = Range.assign(&members, &partitions);
    assert_eq!(parts(&out["a"], "x"), [0, 1]);
    assert_eq!(parts(&out["b"], "x"), [2, 3]);
    assert_eq!(parts(&out["b"], "y"), [0, 1]);
    assert!(!out["a"].contains_key("y"));
}

#[test]
fn restarted_static_member_gets_its_ranges_back() {
    let before = [
        with_instance(member("m-9", &["t"]), "pod-0"),
        with_instance(member("m-1", &["t"]), "pod-1"),
    ];
    let first = Range.assign(&before, &topic("t", 4));
    // pod-0 restarts: a new member id that sorts after the other's.
    let after = [
        with_instance(member("m-0", &["t"]), "pod-1"),
        with_instance(member("m-5", &["t"]), "pod-0"),
    ];
    let second = Range.assign(&after, &topic("t", 4));
    assert_eq!(first["m-9"], second["m-5"]);
    assert_eq!(first["m-1"], second["m-0"]);
    assert_eq!(parts(&second["m-5"], "t"), [0, 1]);
}

#[test]
fn no_members_no_assignment() {
    assert!(Range.assign(&[], &topic("t", 3)).is_empty());
}
