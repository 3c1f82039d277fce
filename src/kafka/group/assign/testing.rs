//! Members and partition maps for the assignors' tests.
use std::collections::BTreeMap;

use super::{Assignment, Member, Subscription};

/// A dynamic member subscribed to `topics`, owning nothing.
pub(crate) fn member(id: &str, topics: &[&str]) -> Member {
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

/// `m` claiming `owned` in `generation`.
pub(crate) fn owning(mut m: Member, owned: Assignment, generation: i32) -> Member {
    m.subscription.owned = owned;
    m.subscription.generation = generation;
    m
}

/// `m` as a static member with `instance`.
pub(crate) fn with_instance(mut m: Member, instance: &str) -> Member {
    m.instance_id = Some(instance.to_owned());
    m
}

/// `topic` with partitions `0..n`.
pub(crate) fn topic(topic: &str, n: i32) -> BTreeMap<String, Vec<i32>> {
    BTreeMap::from([(topic.to_owned(), (0..n).collect())])
}

/// One topic's partitions from an assignment.
pub(crate) fn parts(a: &Assignment, topic: &str) -> Vec<i32> {
    a.get(topic).cloned().unwrap_or_default()
}
