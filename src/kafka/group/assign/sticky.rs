//! `cooperative-sticky`: balanced and sticky, rebalancing incrementally (KIP-429, with the
//! KIP-341 generation rules), as the Java client's `CooperativeStickyAssignor` and
//! librdkafka's `cooperative-sticky`.
//!
//! Stickiness keeps a partition with the member consuming it, so a rebalance moves only what
//! balance needs: the others go on consuming through it. Each member tells in its subscription
//! what it owns and in which generation ([`super::Subscription::owned`] and `generation`).
//!
//! 1. Claims count only from members whose generation is the highest any member reports; a
//!    member with an older generation missed a rebalance and its partitions may have moved on.
//!    A partition claimed by two members of that generation belongs to neither.
//! 2. Each member keeps what it validly owns; partitions nobody owns go to the least loaded
//!    member subscribed to their topic.
//! 3. While some member has two or more partitions more than another member that could take one
//!    of them, one moves (a partition it did not own before, if any, else its highest).
//!    With equal subscriptions every member ends with ⌊n/m⌋ or ⌈n/m⌉ partitions.
//! 4. The cooperative protocol: a partition that some other member still claims (in any
//!    generation) is not handed to its new owner in this round. The claimant, finding it
//!    missing from its assignment, stops consuming it, commits, and rejoins; in that next
//!    rebalance nobody claims it and step 2 gives it to the member that needs it. So no
//!    partition is ever consumed by two members at once, and the partitions that do not move
//!    are never revoked.
//!
//! Ties go by [`super::member_order`] (static members by instance id), so a restarted static
//! member, which gets a new member id, ranks as before.
use std::collections::{BTreeMap, BTreeSet};

use super::{Assignment, Assignor, Member, RebalanceProtocol, empty_result, member_order};

/// A partition, borrowed from the partition map.
type Tp<'a> = (&'a str, i32);

/// The cooperative sticky assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeSticky;

impl Assignor for CooperativeSticky {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        members: &[Member],
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> BTreeMap<String, Assignment> {
        let mut ordered: Vec<&Member> = members.iter().collect();
        ordered.sort_by(|a, b| member_order(a, b));
        let target = balanced(&ordered, partitions);
        let mut out = empty_result(members);
        for (i, m) in ordered.iter().enumerate() {
            let Some(a) = out.get_mut(&m.id) else {
                continue;
            };
            for &(topic, p) in &target[i] {
                if claims(m, topic, p) || !ordered.iter().any(|o| claims(o, topic, p)) {
                    a.entry(topic.to_owned()).or_default().push(p);
                }
            }
        }
        out
    }
}

/// Whether `m` says it owns `topic`/`p` (whatever its generation).
fn claims(m: &Member, topic: &str, p: i32) -> bool {
    m.subscription
        .owned
        .get(topic)
        .is_some_and(|parts| parts.contains(&p))
}

fn subscribed(m: &Member, topic: &str) -> bool {
    m.subscription.topics.iter().any(|t| t == topic)
}

/// Steps 1–3: the balanced, sticky assignment, per member of `members` (in that order).
fn balanced<'a>(
    members: &[&Member],
    partitions: &'a BTreeMap<String, Vec<i32>>,
) -> Vec<BTreeSet<Tp<'a>>> {
    let mut target: Vec<BTreeSet<Tp<'a>>> = vec![BTreeSet::new(); members.len()];
    let Some(newest) = members.iter().map(|m| m.subscription.generation).max() else {
        return target;
    };
    // Step 1: valid claims.
    let mut claimants: BTreeMap<Tp<'a>, Vec<usize>> = BTreeMap::new();
    for (topic, parts) in partitions {
        for &p in parts {
            let who: Vec<usize> = members
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.subscription.generation == newest
                        && subscribed(m, topic)
                        && claims(m, topic, p)
                })
                .map(|(i, _)| i)
                .collect();
            claimants.insert((topic.as_str(), p), who);
        }
    }
    // Step 2: keep valid ownership, then hand out the rest to the least loaded.
    let mut kept: BTreeSet<(usize, Tp<'a>)> = BTreeSet::new();
    let mut free = Vec::new();
    for (tp, who) in &claimants {
        match who.as_slice() {
            [only] => {
                target[*only].insert(*tp);
                kept.insert((*only, *tp));
            }
            _ => free.push(*tp),
        }
    }
    for tp in free {
        let least = (0..members.len())
            .filter(|&i| subscribed(members[i], tp.0))
            .min_by_key(|&i| (target[i].len(), i));
        if let Some(i) = least {
            target[i].insert(tp);
        }
    }
    // Step 3: move from the fullest to the emptiest until no move narrows the spread.
    while let Some((from, to, tp)) = best_move(members, &target, &kept) {
        target[from].remove(&tp);
        target[to].insert(tp);
    }
    target
}

/// The move that narrows the spread most: from a member with at least two more partitions than
/// the receiver, which must be subscribed to the partition's topic.
fn best_move<'a>(
    members: &[&Member],
    target: &[BTreeSet<Tp<'a>>],
    kept: &BTreeSet<(usize, Tp<'a>)>,
) -> Option<(usize, usize, Tp<'a>)> {
    let mut best: Option<(usize, usize, usize, Tp<'a>)> = None;
    for (from, parts) in target.iter().enumerate() {
        // Partitions it did not own before go first, then the highest.
        let mut candidates: Vec<Tp<'a>> = parts.iter().rev().copied().collect();
        candidates.sort_by_key(|tp| kept.contains(&(from, *tp)));
        for tp in candidates {
            let receiver = (0..members.len())
                .filter(|&to| to != from && subscribed(members[to], tp.0))
                .filter(|&to| target[to].len() + 1 < parts.len())
                .min_by_key(|&to| (target[to].len(), to));
            if let Some(to) = receiver {
                let gap = parts.len() - target[to].len();
                if best.is_none_or(|(g, ..)| gap > g) {
                    best = Some((gap, from, to, tp));
                }
            }
        }
    }
    best.map(|(_, from, to, tp)| (from, to, tp))
}

#[cfg(test)]
mod tests;
