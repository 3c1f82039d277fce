use std::collections::{BTreeMap, BTreeSet};

use super::super::testing::{member, owning, parts, topic, with_instance};
use super::*;

mod properties;

type Result = BTreeMap<String, Assignment>;

/// Each member takes its assignment as what it owns, one generation on (what a member does
/// after SyncGroup in the cooperative protocol).
fn adopt(members: &[Member], out: &Result) -> Vec<Member> {
    let generation = members
        .iter()
        .map(|m| m.subscription.generation)
        .max()
        .unwrap_or(0)
        .max(0)
        + 1;
    members
        .iter()
        .map(|m| owning(m.clone(), out[&m.id].clone(), generation))
        .collect()
}

/// Rebalances until the assignment stops changing; the result and how many rounds it took.
fn settle(members: &[Member], partitions: &BTreeMap<String, Vec<i32>>) -> (Vec<Member>, usize) {
    let mut state = members.to_vec();
    for round in 1..=5 {
        let out = CooperativeSticky.assign(&state, partitions);
        let next = adopt(&state, &out);
        let unchanged = next
            .iter()
            .zip(&state)
            .all(|(n, s)| n.subscription.owned == s.subscription.owned);
        state = next;
        if unchanged {
            return (state, round);
        }
    }
    panic!("no stable assignment after 5 rounds: {state:?}");
}

fn count(a: &Assignment) -> usize {
    a.values().map(Vec::len).sum()
}

/// Every partition of `partitions` at most once in `out`; the ones assigned.
fn assigned_once(out: &Result, partitions: &BTreeMap<String, Vec<i32>>) -> BTreeSet<(String, i32)> {
    let mut seen = BTreeSet::new();
    for a in out.values() {
        for (t, ps) in a {
            for p in ps {
                assert!(partitions[t].contains(p), "{t}/{p} does not exist");
                assert!(
                    seen.insert((t.clone(), *p)),
                    "{t}/{p} assigned twice: {out:?}"
                );
            }
        }
    }
    seen
}

fn all(partitions: &BTreeMap<String, Vec<i32>>) -> BTreeSet<(String, i32)> {
    partitions
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
        .collect()
}

fn owned_counts(state: &[Member]) -> Vec<usize> {
    state.iter().map(|m| count(&m.subscription.owned)).collect()
}

fn balanced(counts: &[usize]) -> bool {
    counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1
}

#[test]
fn fresh_group_is_balanced_and_complete_in_one_round() {
    let members = [
        member("a", &["t"]),
        member("b", &["t"]),
        member("c", &["t"]),
    ];
    let out = CooperativeSticky.assign(&members, &topic("t", 7));
    assert_eq!(assigned_once(&out, &topic("t", 7)), all(&topic("t", 7)));
    let mut counts: Vec<usize> = out.values().map(count).collect();
    counts.sort();
    assert_eq!(counts, [2, 2, 3]);
}

#[test]
fn a_move_takes_two_rebalances() {
    let t = topic("t", 4);
    let a = owning(member("a", &["t"]), topic("t", 4), 3);
    let b = member("b", &["t"]);
    // Round 1: a keeps half and gives up the rest; b gets nothing a still claims.
    let first = CooperativeSticky.assign(&[a.clone(), b.clone()], &t);
    assert_eq!(parts(&first["a"], "t"), [0, 1]);
    assert!(first["b"].is_empty(), "{first:?}");
    // Round 2 (a revoked 2 and 3 and rejoined): b gets them, a keeps its own.
    let state = adopt(&[a, b], &first);
    let second = CooperativeSticky.assign(&state, &t);
    assert_eq!(parts(&second["a"], "t"), [0, 1]);
    assert_eq!(parts(&second["b"], "t"), [2, 3]);
}

#[test]
fn a_joining_member_moves_only_what_it_takes() {
    let t = topic("t", 9);
    let (settled, _) = settle(
        &[
            member("a", &["t"]),
            member("b", &["t"]),
            member("c", &["t"]),
        ],
        &t,
    );
    let before: Vec<Assignment> = settled
        .iter()
        .map(|m| m.subscription.owned.clone())
        .collect();
    let mut joined = settled.clone();
    joined.push(member("d", &["t"]));
    let first = CooperativeSticky.assign(&joined, &t);
    // Nobody gains a partition in the first round; two are revoked in all (9 → 3,2,2,2).
    let mut revoked = 0;
    for (m, old) in settled.iter().zip(&before) {
        let now = parts(&first[&m.id], "t");
        assert!(
            now.iter().all(|p| parts(old, "t").contains(p)),
            "{} gained: {first:?}",
            m.id
        );
        revoked += count(old) - now.len();
    }
    assert_eq!(revoked, 2);
    assert!(first["d"].is_empty());
    let (after, rounds) = settle(&joined, &t);
    assert_eq!(rounds, 3, "move, hand over, then stable");
    // The old members kept everything they were not asked to give up.
    for (m, old) in after.iter().zip(&before) {
        assert!(
            parts(&m.subscription.owned, "t")
                .iter()
                .all(|p| parts(old, "t").contains(p))
        );
    }
    assert_eq!(count(&after[3].subscription.owned), 2);
    assert!(balanced(&owned_counts(&after)));
}

#[test]
fn a_leaving_members_partitions_go_to_the_others_at_once() {
    let t = topic("t", 8);
    let names = ["a", "b", "c", "d"];
    let (settled, _) = settle(&names.map(|n| member(n, &["t"])), &t);
    let stay = &settled[..3];
    let out = CooperativeSticky.assign(stay, &t);
    assert_eq!(
        assigned_once(&out, &t),
        all(&t),
        "nothing withheld: no one claims d's"
    );
    for m in stay {
        let now = parts(&out[&m.id], "t");
        assert!(
            parts(&m.subscription.owned, "t")
                .iter()
                .all(|p| now.contains(p))
        );
    }
    let counts: Vec<usize> = out.values().map(count).collect();
    assert!(balanced(&counts), "{counts:?}");
}

#[test]
fn claims_of_an_older_generation_lose_to_the_newest() {
    let t = topic("t", 4);
    // a missed a rebalance: it still claims everything in generation 1; b owns 2 and 3 in 2.
    let a = owning(member("a", &["t"]), topic("t", 4), 1);
    let b = owning(
        member("b", &["t"]),
        BTreeMap::from([("t".to_owned(), vec![2, 3])]),
        2,
    );
    let out = CooperativeSticky.assign(&[a, b], &t);
    assert_eq!(parts(&out["b"], "t"), [2, 3]);
    assert_eq!(parts(&out["a"], "t"), [0, 1]);
}

#[test]
fn a_partition_claimed_twice_in_one_generation_ends_with_one_member() {
    let t = topic("t", 2);
    let both = BTreeMap::from([("t".to_owned(), vec![0])]);
    let a = owning(member("a", &["t"]), both.clone(), 4);
    let b = owning(member("b", &["t"]), both, 4);
    let out = CooperativeSticky.assign(&[a.clone(), b.clone()], &t);
    assigned_once(&out, &t);
    let (after, _) = settle(&[a, b], &t);
    assert_eq!(owned_counts(&after), [1, 1]);
}

#[test]
fn restarted_static_member_keeps_its_partitions() {
    let t = topic("t", 6);
    let pods = [
        with_instance(member("m-7", &["t"]), "pod-0"),
        with_instance(member("m-3", &["t"]), "pod-1"),
        with_instance(member("m-5", &["t"]), "pod-2"),
    ];
    let (settled, _) = settle(&pods, &t);
    // pod-1 restarts with a new member id and the partitions it had (a restarted static member
    // rejoins claiming them): same partitions, nothing moves.
    let mut restarted = settled.clone();
    restarted[1].id = "m-0".to_owned();
    let out = CooperativeSticky.assign(&restarted, &t);
    assert_eq!(out["m-0"], settled[1].subscription.owned);
    // And a whole static group restarted without state ranks by instance id, so it lands on the
    // same assignment as before whatever its new member ids.
    let fresh = [
        with_instance(member("x-2", &["t"]), "pod-0"),
        with_instance(member("x-1", &["t"]), "pod-1"),
        with_instance(member("x-0", &["t"]), "pod-2"),
    ];
    let again = CooperativeSticky.assign(&fresh, &t);
    for (old, new) in settled.iter().zip(&fresh) {
        assert_eq!(old.subscription.owned, again[&new.id]);
    }
}

#[test]
fn members_only_get_topics_they_subscribe_to() {
    let mut partitions = topic("x", 4);
    partitions.extend(topic("y", 2));
    let members = [member("a", &["x"]), member("b", &["x", "y"])];
    let out = CooperativeSticky.assign(&members, &partitions);
    assert_eq!(assigned_once(&out, &partitions), all(&partitions));
    assert!(!out["a"].contains_key("y"));
    assert_eq!(count(&out["a"]), 3, "a takes x while b holds y: {out:?}");
}

/// Two members each hold one partition too many: m0 a partition it consumes, m3 one it was
/// only just given. The one m3 was given moves, so nothing is revoked and the group settles in
/// this round.
#[test]
fn at_equal_gap_an_unclaimed_partition_moves_before_a_claimed_one() {
    let mut partitions = topic("x", 2);
    partitions.extend(topic("y", 6));
    let owns = |x: &[i32], y: &[i32]| {
        BTreeMap::from([("x".to_owned(), x.to_vec()), ("y".to_owned(), y.to_vec())])
    };
    let members = [
        owning(member("m0", &["x", "y"]), owns(&[0], &[3]), 3),
        owning(member("m1", &["y"]), owns(&[], &[0, 4]), 3),
        owning(member("m2", &["y"]), owns(&[], &[1, 5]), 3),
        owning(member("m3", &["x", "y"]), owns(&[], &[]), 3),
        owning(member("m4", &["x"]), owns(&[], &[]), 3),
    ];
    let out = CooperativeSticky.assign(&members, &partitions);
    for m in &members {
        for (t, ps) in &m.subscription.owned {
            for p in ps {
                assert!(
                    parts(&out[&m.id], t).contains(p),
                    "{t}/{p} revoked from {}: {out:?}",
                    m.id
                );
            }
        }
    }
    assert_eq!(parts(&out["m3"], "y"), [2], "{out:?}");
    assert_eq!(parts(&out["m4"], "x"), [1], "{out:?}");
}
