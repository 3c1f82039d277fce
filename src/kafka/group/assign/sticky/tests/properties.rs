//! Properties of cooperative-sticky over random groups: every round is safe (nothing handed to
//! a member while another still claims it), and the group settles complete and balanced.
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// A random group: members over one or two topics, with random (possibly conflicting,
/// possibly stale) claims.
fn group() -> impl Strategy<Value = (Vec<Member>, BTreeMap<String, Vec<i32>>)> {
    (1usize..6, 0i32..13, 0i32..5).prop_flat_map(|(n, px, py)| {
        let claims = proptest::collection::vec(
            (
                proptest::collection::btree_set(0..px.max(1) + 2, 0..6),
                -1i32..3,
            ),
            n,
        );
        (claims, Just(px), Just(py)).prop_map(move |(claims, px, py)| {
            let mut partitions = topic("x", px);
            partitions.extend(topic("y", py));
            let members = claims
                .into_iter()
                .enumerate()
                .map(|(i, (owned, generation))| {
                    // Claims may name partitions that no longer exist.
                    let owned = BTreeMap::from([("x".to_owned(), owned.into_iter().collect())]);
                    owning(member(&format!("m{i}"), &["x", "y"]), owned, generation)
                })
                .collect();
            (members, partitions)
        })
    })
}

/// Cooperative safety: the first partition handed to a member while another member still
/// claims it, if any.
fn handed_while_claimed(members: &[Member], out: &Result) -> Option<String> {
    for m in members {
        for (t, ps) in &out[&m.id] {
            for p in ps {
                let mine = parts(&m.subscription.owned, t).contains(p);
                let others = members
                    .iter()
                    .any(|o| o.id != m.id && parts(&o.subscription.owned, t).contains(p));
                if others && !mine {
                    return Some(format!("{t}/{p} handed to {} while claimed", m.id));
                }
            }
        }
    }
    None
}

/// A random group with mixed subscriptions: each member subscribes to x, y or both, and claims
/// partitions of both (possibly conflicting, stale, of partitions that do not exist, or of a
/// topic it does not subscribe to).
fn mixed_group() -> impl Strategy<Value = (Vec<Member>, BTreeMap<String, Vec<i32>>)> {
    use proptest::collection::{btree_set, vec};
    (1usize..6, 0i32..10, 0i32..7).prop_flat_map(|(n, px, py)| {
        let one = (
            0usize..3,
            btree_set(0..px + 2, 0..5),
            btree_set(0..py + 2, 0..4),
            -1i32..3,
        );
        (vec(one, n), Just(px), Just(py)).prop_map(|(claims, px, py)| {
            let mut partitions = topic("x", px);
            partitions.extend(topic("y", py));
            let members = claims
                .into_iter()
                .enumerate()
                .map(|(i, (subscription, x, y, generation))| {
                    let topics: &[&str] = [&["x"][..], &["y"], &["x", "y"]][subscription];
                    let owned = BTreeMap::from([
                        ("x".to_owned(), x.into_iter().collect()),
                        ("y".to_owned(), y.into_iter().collect()),
                    ]);
                    owning(member(&format!("m{i}"), topics), owned, generation)
                })
                .collect();
            (members, partitions)
        })
    })
}

proptest! {
    #[test]
    fn every_round_is_safe_and_the_group_settles_balanced((members, partitions) in group()) {
        let out = CooperativeSticky.assign(&members, &partitions);
        assigned_once(&out, &partitions);
        let unsafe_hand = handed_while_claimed(&members, &out);
        prop_assert!(unsafe_hand.is_none(), "{unsafe_hand:?}");
        let (settled, rounds) = settle(&members, &partitions);
        prop_assert!(rounds <= 3, "{rounds} rounds");
        let last: Result = settled
            .iter()
            .map(|m| (m.id.clone(), m.subscription.owned.clone()))
            .collect();
        prop_assert_eq!(assigned_once(&last, &partitions), all(&partitions));
        prop_assert!(balanced(&owned_counts(&settled)));
    }

    #[test]
    fn with_mixed_subscriptions_every_round_is_safe_and_settles_with_no_move_left(
        (members, partitions) in mixed_group()
    ) {
        let out = CooperativeSticky.assign(&members, &partitions);
        assigned_once(&out, &partitions);
        for m in &members {
            for t in out[&m.id].keys() {
                prop_assert!(subscribed(m, t), "{} got {t}", m.id);
            }
        }
        let unsafe_hand = handed_while_claimed(&members, &out);
        prop_assert!(unsafe_hand.is_none(), "{unsafe_hand:?}");

        // Stale claims and free partitions handed to a member that then holds too many can
        // take a move more than with equal subscriptions: `settle` allows five rounds.
        let (settled, _) = settle(&members, &partitions);
        let last: Result = settled
            .iter()
            .map(|m| (m.id.clone(), m.subscription.owned.clone()))
            .collect();
        let wanted: BTreeSet<(String, i32)> = all(&partitions)
            .into_iter()
            .filter(|(t, _)| members.iter().any(|m| subscribed(m, t)))
            .collect();
        prop_assert_eq!(assigned_once(&last, &partitions), wanted);
        // Step 3 left no move: nobody holds two more than a member that could take one.
        for a in &settled {
            let held = count(&a.subscription.owned);
            for (t, _) in a.subscription.owned.iter().filter(|(_, ps)| !ps.is_empty()) {
                for b in settled.iter().filter(|b| b.id != a.id && subscribed(b, t)) {
                    let other = count(&b.subscription.owned);
                    prop_assert!(held <= other + 1, "{} holds {held} with {t}, {} holds {other}", a.id, b.id);
                }
            }
        }
    }
}
