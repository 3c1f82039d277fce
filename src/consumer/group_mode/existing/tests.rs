use super::{beyond, shown, split_existing};

#[test]
fn partitions_past_the_topic_s_size_wait_and_negative_ones_are_dropped() {
    let assigned = vec![-1, 0, 2, 3, 7, i32::MAX];
    assert_eq!(
        split_existing(assigned.clone(), Some(3)),
        (vec![0, 2], vec![3, 7, i32::MAX], vec![-1])
    );
    // The topic's size unknown: every partition waits until a size is read, and the negative
    // number is dropped.
    assert_eq!(
        split_existing(assigned, None),
        (vec![], vec![0, 2, 3, 7, i32::MAX], vec![-1])
    );
}

#[test]
fn waiting_partitions_start_once_the_topic_shows_them() {
    let waiting = [3, 7, 8];
    assert_eq!(shown(&waiting, 3), Vec::<i32>::new());
    assert_eq!(shown(&waiting, 8), vec![3, 7]);
    assert_eq!(shown(&waiting, 12), vec![3, 7, 8]);
}

#[test]
fn a_partition_past_the_cached_size_or_of_an_unknown_size_is_looked_up_afresh() {
    assert!(!beyond(Some(3), 2));
    assert!(beyond(Some(3), 3));
    assert!(beyond(None, 0));
    // A negative number is dropped without a look.
    assert!(!beyond(None, -1));
}
