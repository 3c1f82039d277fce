//! What other members of a consumer group send us: JoinGroup protocol metadata (a subscription,
//! which the leader decodes for every member) and SyncGroup assignments (which each member
//! decodes). The first byte picks which. A subscription that decodes is then assigned by every
//! assignor, beside a member of our own, over the topics it names (at most 8 partitions each):
//! its claims and generation come off the wire too. Ok or Err, never a panic.
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use usercenter::kafka::group::assign::{
    Member, Subscription, by_name, decode_assignment, decode_subscription,
};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    if pick % 2 == 1 {
        let _ = decode_assignment(bytes);
        return;
    }
    let Ok(theirs) = decode_subscription(bytes) else { return };
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
        if let Some(assignor) = by_name(name) {
            let _ = assignor.assign(&members, &partitions);
        }
    }
});
