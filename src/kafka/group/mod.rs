//! Consumer groups: the classic Kafka group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup through a coordinator) on top of [`super::protocol`].
//!
//! | module | owns |
//! |---|---|
//! | `assign` | the assignors (`range`, `roundrobin`, `cooperative-sticky`) and the standard consumer-protocol wire format of subscriptions and assignments, so mixed groups with librdkafka or the Java client work |
//! | `member` | [`GroupMember`], the handle (commits, leave), and in `member::task` the membership task (rounds, revocations) and the events it sends the consumer, in `member::heartbeat` a run of heartbeats and how it ended |
//! | `rebalance` | one JoinGroup + SyncGroup round, with the leader's assignment |
//! | `coordinator_link` | the member's link to the coordinator (found again when it moves), the member id and generation, offset commit and fetch |
pub mod assign;
mod coordinator_link;
mod member;
mod rebalance;

pub use coordinator_link::Membership;
pub use member::{GroupError, GroupEvent, GroupMember, MemberConfig, MemberHandle};
