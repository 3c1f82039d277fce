//! The group assignors on a leader's worst rebalance: one member owns every partition of the
//! topic and the others join with nothing, so balance moves all but ⌈P/M⌉ of them.
//!
//! `cargo bench --bench assignors`
use std::{collections::BTreeMap, hint::black_box};

use criterion::{Criterion, criterion_group, criterion_main};
use usercenter::kafka::group::assign::{
    Assignor, CooperativeSticky, Member, Range, RoundRobin, Subscription,
};

/// `members` members of a group on topic `t` with `partitions` partitions, the first owning all.
fn joined(partitions: i32, members: usize) -> (Vec<Member>, BTreeMap<String, Vec<i32>>) {
    let all: Vec<i32> = (0..partitions).collect();
    let topics = BTreeMap::from([("t".to_owned(), all.clone())]);
    let group = (0..members)
        .map(|i| Member {
            id: format!("member-{i:03}"),
            instance_id: None,
            subscription: Subscription {
                topics: vec!["t".to_owned()],
                owned: if i == 0 {
                    BTreeMap::from([("t".to_owned(), all.clone())])
                } else {
                    BTreeMap::new()
                },
                generation: 7,
                user_data: None,
            },
        })
        .collect();
    (group, topics)
}

fn assignors(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign");
    for (partitions, members) in [(256, 16), (1_000, 100), (3_000, 100)] {
        let (m, topics) = joined(partitions, members);
        let each: [&dyn Assignor; 3] = [&CooperativeSticky, &RoundRobin, &Range];
        for assignor in each {
            let name = format!("{}/{partitions}p-{members}m", assignor.name());
            group.bench_function(name, |b| {
                b.iter(|| assignor.assign(black_box(&m), black_box(&topics)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, assignors);
criterion_main!(benches);
