//! Consumer groups: the classic Kafka group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup through a coordinator) on top of [`super::protocol`].
//!
//! | module | owns |
//! |---|---|
//! | `assign` | the assignors (`range`, `roundrobin`, `cooperative-sticky`) and the standard consumer-protocol wire format of subscriptions and assignments, so mixed groups with librdkafka or the Java client work |
pub mod assign;
