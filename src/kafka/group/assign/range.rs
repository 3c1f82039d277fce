//! `range`: per topic, the members subscribed to it in order, each given one contiguous range of
//! its partitions; the first `partitions % members` get one more (the Java client's
//! `RangeAssignor` and librdkafka's `range`).
//!
//! Members are ordered as the Java client orders them ([`super::member_order`]): static members
//! (KIP-345) by instance id first, then the others by member id. A restarted static member gets
//! a new member id but keeps its instance id, so it lands on the same ranges again.
use std::collections::BTreeMap;

use super::{Assignment, Assignor, Member, RebalanceProtocol, empty_result, member_order};

/// The range assignor (eager).
#[derive(Debug, Clone, Copy, Default)]
pub struct Range;

impl Assignor for Range {
    fn name(&self) -> &'static str {
        "range"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        members: &[Member],
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> BTreeMap<String, Assignment> {
        let mut out = empty_result(members);
        let mut ordered: Vec<&Member> = members.iter().collect();
        ordered.sort_by(|a, b| member_order(a, b));
        for (topic, parts) in partitions {
            let subscribed: Vec<&Member> = ordered
                .iter()
                .copied()
                .filter(|m| m.subscription.topics.iter().any(|t| t == topic))
                .collect();
            if subscribed.is_empty() {
                continue;
            }
            let each = parts.len() / subscribed.len();
            let extra = parts.len() % subscribed.len();
            let mut start = 0;
            for (i, m) in subscribed.iter().enumerate() {
                let len = each + usize::from(i < extra);
                let range = parts.get(start..start + len).unwrap_or_default();
                start += len;
                if range.is_empty() {
                    continue;
                }
                if let Some(a) = out.get_mut(&m.id) {
                    a.insert(topic.clone(), range.to_vec());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
