use super::{beyond, split_existing};

#[test]
fn an_assignment_keeps_only_the_topic_s_partitions() {
    let assigned = vec![-1, 0, 2, 3, 7, i32::MAX];
    assert_eq!(
        split_existing(assigned.clone(), Some(3)),
        (vec![0, 2], vec![-1, 3, 7, i32::MAX])
    );
    // The topic's size unknown: only the negative number is dropped.
    assert_eq!(
        split_existing(assigned, None),
        (vec![0, 2, 3, 7, i32::MAX], vec![-1])
    );
}

#[test]
fn a_partition_past_the_cached_size_or_of_an_unknown_size_is_looked_up_afresh() {
    assert!(!beyond(Some(3), 2));
    assert!(beyond(Some(3), 3));
    assert!(beyond(None, 0));
    // A negative number is dropped without a look.
    assert!(!beyond(None, -1));
}
