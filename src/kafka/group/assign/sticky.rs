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
//!    of them, one moves: of the topics whose move narrows the gap most, the member's highest
//!    partition it does not claim (in any generation), if any, else its highest. Between equal
//!    gaps such an unclaimed partition moves first, as it needs no revocation. With equal
//!    subscriptions every member ends with ⌊n/m⌋ or ⌈n/m⌉ partitions.
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

/// The partitions of each topic, in order and each once.
type Partitions<'a> = BTreeMap<&'a str, BTreeSet<i32>>;

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
        let partitions: Partitions<'_> = partitions
            .iter()
            .map(|(topic, parts)| (topic.as_str(), parts.iter().copied().collect()))
            .collect();
        let claims = claimants(&ordered, &partitions);
        let target = balanced(&ordered, &partitions, &claims);
        let mut out = empty_result(members);
        for (i, m) in ordered.iter().enumerate() {
            let Some(a) = out.get_mut(&m.id) else {
                continue;
            };
            for &(topic, p) in &target[i] {
                // Step 4: not while another member claims it.
                if claimed_by(&claims, i, (topic, p)) || !claims.contains_key(&(topic, p)) {
                    a.entry(topic.to_owned()).or_default().push(p);
                }
            }
        }
        out
    }
}

/// Who claims each partition of `partitions` (whatever their generation): indexes into
/// `members`, each once. Claims on partitions that do not exist are left out.
fn claimants<'a>(
    members: &[&'a Member],
    partitions: &Partitions<'_>,
) -> BTreeMap<Tp<'a>, Vec<usize>> {
    let mut who: BTreeMap<Tp<'a>, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for (topic, parts) in &m.subscription.owned {
            let Some(existing) = partitions.get(topic.as_str()) else {
                continue;
            };
            for &p in parts.iter().filter(|p| existing.contains(p)) {
                let claimed = who.entry((topic.as_str(), p)).or_default();
                if claimed.last() != Some(&i) {
                    claimed.push(i);
                }
            }
        }
    }
    who
}

/// Whether member `i` claims `tp` (in the [`claimants`] index).
fn claimed_by(claims: &BTreeMap<Tp<'_>, Vec<usize>>, i: usize, tp: Tp<'_>) -> bool {
    claims.get(&tp).is_some_and(|who| who.contains(&i))
}

fn subscribed(m: &Member, topic: &str) -> bool {
    m.subscription.topics.iter().any(|t| t == topic)
}

/// Steps 1–3: the balanced, sticky assignment, per member of `members` (in that order), from
/// the [`claimants`] of each partition.
fn balanced<'a>(
    members: &[&Member],
    partitions: &Partitions<'a>,
    claims: &BTreeMap<Tp<'_>, Vec<usize>>,
) -> Vec<BTreeSet<Tp<'a>>> {
    let mut target: Vec<BTreeSet<Tp<'a>>> = vec![BTreeSet::new(); members.len()];
    let Some(newest) = members.iter().map(|m| m.subscription.generation).max() else {
        return target;
    };
    // Each topic's subscribers, in member order.
    let subscribers: BTreeMap<&'a str, Vec<usize>> = partitions
        .keys()
        .map(|&topic| {
            let who = (0..members.len())
                .filter(|&i| subscribed(members[i], topic))
                .collect();
            (topic, who)
        })
        .collect();
    // Steps 1 and 2: keep valid ownership (one claimant of the newest generation, subscribed
    // to the topic), then hand out the rest to the least loaded.
    let mut free = Vec::new();
    for (&topic, parts) in partitions {
        for &p in parts {
            let tp = (topic, p);
            let valid: Vec<usize> = claims
                .get(&tp)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| {
                    let m = members[i];
                    m.subscription.generation == newest && subscribed(m, topic)
                })
                .collect();
            match valid.as_slice() {
                [only] => {
                    target[*only].insert(tp);
                }
                _ => free.push(tp),
            }
        }
    }
    for tp in free {
        let least = subscribers
            .get(tp.0)
            .into_iter()
            .flatten()
            .copied()
            .min_by_key(|&i| (target[i].len(), i));
        if let Some(i) = least {
            target[i].insert(tp);
        }
    }
    // Step 3: move from the fullest to the emptiest until no move narrows the spread. What each
    // member does not claim (its partitions that move without a revocation, so first) is kept
    // apart.
    let mut fresh: Vec<BTreeSet<Tp<'a>>> = target
        .iter()
        .enumerate()
        .map(|(i, parts)| {
            parts
                .iter()
                .copied()
                .filter(|tp| !claimed_by(claims, i, *tp))
                .collect()
        })
        .collect();
    while let Some((from, to, tp)) = best_move(&subscribers, &target, &fresh) {
        target[from].remove(&tp);
        fresh[from].remove(&tp);
        target[to].insert(tp);
        if !claimed_by(claims, to, tp) {
            fresh[to].insert(tp);
        }
    }
    target
}

/// The move that narrows the spread most: from a member with at least two more partitions than
/// the receiver, which must be subscribed to the partition's topic. Of the topics whose move
/// narrows the gap most, the member's highest partition it does not claim (`fresh`) goes, else
/// its highest. Between members with the same gap, a fresh partition goes before one its member
/// claims (which would be revoked), then the earlier member's. One call costs
/// O(members × topics × log partitions).
fn best_move<'a>(
    subscribers: &BTreeMap<&'a str, Vec<usize>>,
    target: &[BTreeSet<Tp<'a>>],
    fresh: &[BTreeSet<Tp<'a>>],
) -> Option<(usize, usize, Tp<'a>)> {
    let least = least_loaded(subscribers, target);
    // The best so far: (gap, fresh), the member, the receiver, the partition.
    let mut best: Option<((usize, bool), usize, usize, Tp<'a>)> = None;
    for (from, parts) in target.iter().enumerate() {
        // Where each topic it holds could go, and how far apart the two are: its least loaded
        // other subscriber, if that one has two partitions fewer.
        let receivers: Vec<(&'a str, usize, usize)> = least
            .iter()
            .filter(|(topic, _)| highest_of(parts, topic).is_some())
            .filter_map(|(&topic, &[first, second])| {
                let to = if first == Some(from) { second } else { first }?;
                (target[to].len() + 1 < parts.len())
                    .then(|| (topic, to, parts.len() - target[to].len()))
            })
            .collect();
        let Some(gap) = receivers.iter().map(|r| r.2).max() else {
            continue;
        };
        if best.is_some_and(|(key, ..)| (gap, true) <= key) {
            continue;
        }
        // Its highest partition, fresh if it has any, of a topic that moves across that gap.
        let highest = |set: &BTreeSet<Tp<'a>>| {
            receivers
                .iter()
                .filter(|r| r.2 == gap)
                .filter_map(|r| highest_of(set, r.0).map(|tp| (r.1, tp)))
                .max_by_key(|(_, tp)| *tp)
        };
        let pick = match highest(&fresh[from]) {
            Some(pick) => Some((pick, true)),
            None => highest(parts).map(|pick| (pick, false)),
        };
        if let Some(((to, tp), is_fresh)) = pick
            && best.is_none_or(|(key, ..)| (gap, is_fresh) > key)
        {
            best = Some(((gap, is_fresh), from, to, tp));
        }
    }
    best.map(|(_, from, to, tp)| (from, to, tp))
}

/// The highest partition of `topic` in `set`.
fn highest_of<'a>(set: &BTreeSet<Tp<'a>>, topic: &'a str) -> Option<Tp<'a>> {
    set.range((topic, i32::MIN)..=(topic, i32::MAX))
        .next_back()
        .copied()
}

/// Per topic, its two least loaded subscribers (by load, then order): the least loaded other
/// than any one member is one of them.
fn least_loaded<'t>(
    subscribers: &BTreeMap<&'t str, Vec<usize>>,
    target: &[BTreeSet<Tp<'_>>],
) -> BTreeMap<&'t str, [Option<usize>; 2]> {
    subscribers
        .iter()
        .map(|(&topic, who)| {
            let mut two = [None, None];
            for &i in who {
                let load = |j: Option<usize>| j.map(|j| (target[j].len(), j));
                let key = Some((target[i].len(), i));
                if two[0].is_none() || key < load(two[0]) {
                    two = [Some(i), two[0]];
                } else if two[1].is_none() || key < load(two[1]) {
                    two[1] = Some(i);
                }
            }
            (topic, two)
        })
        .collect()
}

#[cfg(test)]
mod tests;
