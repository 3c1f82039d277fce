//! What other members of a consumer group send us: JoinGroup protocol metadata (a subscription,
//! which the leader decodes for every member) and SyncGroup assignments (which each member
//! decodes). The first byte picks which.
//!
//! What decodes must encode again and decode to the same value (the leader writes what it read
//! back to the group). A subscription that decodes is then assigned by every assignor, beside a
//! member of our own, over the topics it names (at most 8 partitions each): its claims and
//! generation come off the wire too. Each result must keep the `Assignor` contract: every member
//! in it, only partitions that exist and of topics the member subscribed to, none twice, and
//! every partition handed out, except, for the cooperative assignor, one some member still
//! claims (it is handed out in the next round, after its revocation).
#![no_main]
use std::collections::{BTreeMap, BTreeSet};

use libfuzzer_sys::fuzz_target;
use usercenter::kafka::group::assign::{
    Assignment, Member, RebalanceProtocol, Subscription, by_name, decode_assignment,
    decode_subscription, encode_assignment, encode_subscription,
};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    if pick % 2 == 1 {
        if let Ok(assignment) = decode_assignment(bytes) {
            let again = encode_assignment(&assignment).expect("a decoded assignment encodes");
            let back = decode_assignment(&again).expect("an encoded assignment decodes");
            assert_eq!(back, assignment, "an assignment round trip");
        }
        return;
    }
    let Ok(theirs) = decode_subscription(bytes) else { return };
    let again = encode_subscription(&theirs, RebalanceProtocol::Cooperative)
        .expect("a decoded subscription encodes");
    let back = decode_subscription(&again).expect("an encoded subscription decodes");
    assert_eq!(back, theirs, "a subscription round trip");

    let partitions: BTreeMap<String, Vec<i32>> = theirs
        .topics
        .iter()
        .take(16)
        .enumerate()
        .map(|(i, t)| (t.clone(), (0..(i as i32 % 8) + 1).collect()))
        .collect();
    let ours = Subscription {
        topics: partitions.keys().cloned().collect(),
        generation: theirs.generation,
        ..Subscription::default()
    };
    let members = [
        Member { id: "theirs".into(), instance_id: None, subscription: theirs },
        Member { id: "ours".into(), instance_id: None, subscription: ours },
    ];
    for name in ["range", "roundrobin", "cooperative-sticky"] {
        let assignor = by_name(name).expect("a known assignor");
        let result = assignor.assign(&members, &partitions);
        check(name, assignor.protocol(), &members, &partitions, &result);
    }
});

/// Panics where `result` breaks the `Assignor` contract.
fn check(
    name: &str,
    protocol: RebalanceProtocol,
    members: &[Member],
    partitions: &BTreeMap<String, Vec<i32>>,
    result: &BTreeMap<String, Assignment>,
) {
    let ids: BTreeSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let got: BTreeSet<&str> = result.keys().map(String::as_str).collect();
    assert_eq!(got, ids, "{name}: every member once, no other");
    let mut handed: BTreeSet<(&str, i32)> = BTreeSet::new();
    for m in members {
        for (topic, parts) in &result[&m.id] {
            assert!(
                m.subscription.topics.contains(topic),
                "{name}: {} got {topic:?}, which it did not subscribe to",
                m.id
            );
            let exist = partitions.get(topic);
            for &p in parts {
                assert!(
                    exist.is_some_and(|e| e.contains(&p)),
                    "{name}: {} got {topic:?}/{p}, which does not exist",
                    m.id
                );
                assert!(
                    handed.insert((topic.as_str(), p)),
                    "{name}: {topic:?}/{p} handed out twice"
                );
            }
        }
    }
    for (topic, parts) in partitions {
        for &p in parts {
            if handed.contains(&(topic.as_str(), p)) {
                continue;
            }
            let claimed = members.iter().any(|m| {
                m.subscription
                    .owned
                    .get(topic)
                    .is_some_and(|owned| owned.contains(&p))
            });
            assert!(
                protocol == RebalanceProtocol::Cooperative && claimed,
                "{name}: {topic:?}/{p} handed to no one"
            );
        }
    }
}
