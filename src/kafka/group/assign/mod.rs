//! Partition assignment inside a consumer group, in the standard "consumer" protocol type.
//!
//! The group leader runs an assignor over every member's [`Subscription`] and the topics'
//! partitions; each member's share travels back through SyncGroup as an encoded
//! [`Assignment`]. Subscriptions and assignments use Kafka's `ConsumerProtocolSubscription` /
//! `ConsumerProtocolAssignment` layouts (from the `kafka-protocol` crate), and assignors carry
//! the standard names, so a group can mix this service with librdkafka or the Java client.
//!
//! | name | module | protocol | shape |
//! |---|---|---|---|
//! | `range` | `range` | eager | per topic, contiguous ranges in member order |
//! | `roundrobin` | `roundrobin` | eager | every partition dealt in turn |
//! | `cooperative-sticky` | `sticky` | cooperative (KIP-429) | balanced ±1, keeps owned partitions, moves in two rebalances |
mod codec;
mod range;
mod roundrobin;
mod sticky;

use std::collections::BTreeMap;

pub use codec::{
    CodecError, assignment_note, decode_assignment, decode_subscription, encode_assignment,
    encode_assignment_noting, encode_subscription,
};
pub use range::Range;
pub use roundrobin::RoundRobin;
pub use sticky::CooperativeSticky;

/// Partitions by topic, each list sorted.
pub type Assignment = BTreeMap<String, Vec<i32>>;

/// What a member sends in JoinGroup: the topics it wants and, for incremental (cooperative)
/// rebalancing, the partitions it owns now and the generation it owned them in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The topics, sorted.
    pub topics: Vec<String>,
    /// Partitions the member owns now (empty for eager assignors and new members).
    pub owned: Assignment,
    /// The generation `owned` belongs to, or -1 when unknown.
    pub generation: i32,
    /// Assignor-specific bytes, passed through.
    pub user_data: Option<bytes::Bytes>,
}

/// One member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator gave it.
    pub id: String,
    /// Its static id (KIP-345), if any.
    pub instance_id: Option<String>,
    /// Its decoded subscription.
    pub subscription: Subscription,
}

/// How a group using an assignor rebalances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member gives up all its partitions before the group rebalances.
    Eager,
    /// KIP-429: a member keeps consuming the partitions that stay with it, and gives up only those
    /// taken from it (after which the group rebalances once more to hand them out).
    Cooperative,
}

/// A partition assignor.
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name in JoinGroup, as every Kafka client spells it.
    fn name(&self) -> &'static str;
    /// Eager or cooperative.
    fn protocol(&self) -> RebalanceProtocol;
    /// Each member's partitions (every member of `members` appears in the result, possibly with
    /// nothing). `partitions` maps each subscribed topic to its partition ids, sorted. A member
    /// only gets partitions of topics it subscribed to; every partition goes to exactly one member
    /// that subscribed to its topic.
    fn assign(
        &self,
        members: &[Member],
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> BTreeMap<String, Assignment>;
}

/// The assignor named `name`, as the configuration spells it.
pub fn by_name(name: &str) -> Option<Box<dyn Assignor>> {
    match name {
        "range" => Some(Box::new(Range)),
        "roundrobin" => Some(Box::new(RoundRobin)),
        "cooperative-sticky" => Some(Box::new(CooperativeSticky)),
        _ => None,
    }
}

/// The names [`by_name`] knows, for error messages.
pub const NAMES: &[&str] = &["range", "roundrobin", "cooperative-sticky"];

/// The order in which assignors rank members, as the Java client's `MemberInfo` does: static
/// members (KIP-345) first, by instance id, then the others by member id. A static member's
/// instance id survives its restarts, its member id does not.
pub(crate) fn member_order(a: &Member, b: &Member) -> std::cmp::Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.id.cmp(&b.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    }
}

/// Every member with an empty assignment: an assignor's starting point.
pub(crate) fn empty_result(members: &[Member]) -> BTreeMap<String, Assignment> {
    members
        .iter()
        .map(|m| (m.id.clone(), Assignment::new()))
        .collect()
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
