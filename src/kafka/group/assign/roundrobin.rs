//! `roundrobin`: every (topic, partition) in order, dealt to the subscribed members in member-id
//! order (the Java client's and librdkafka's behaviour when all members subscribe to the same
//! topics).
use std::collections::BTreeMap;

use super::{Assignment, Assignor, Member, RebalanceProtocol, empty_result};

/// The round-robin assignor (eager).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin;

impl Assignor for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        members: &[Member],
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> BTreeMap<String, Assignment> {
        let mut ids: Vec<&Member> = members.iter().collect();
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = empty_result(members);
        if ids.is_empty() {
            return out;
        }
        let mut next = 0usize;
        for (topic, parts) in partitions {
            for &p in parts {
                // The next member in the circle that subscribed to this topic.
                for step in 0..ids.len() {
                    let m = ids[(next + step) % ids.len()];
                    if m.subscription.topics.iter().any(|t| t == topic) {
                        if let Some(a) = out.get_mut(&m.id) {
                            a.entry(topic.clone()).or_default().push(p);
                        }
                        next = (next + step + 1) % ids.len();
                        break;
                    }
                }
            }
        }
        for a in out.values_mut() {
            for parts in a.values_mut() {
                parts.sort_unstable();
            }
        }
        out
    }
}
