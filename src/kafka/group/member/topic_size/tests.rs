use std::{collections::VecDeque, sync::Mutex, time::Duration};

use super::changed;

/// What `changed` returns when the looks answer `answers` in turn (then the last forever),
/// and how many looks it took.
async fn outcome(joined: Option<usize>, answers: &[Option<usize>]) -> ((usize, usize), usize) {
    let left = Mutex::new(answers.iter().copied().collect::<VecDeque<_>>());
    let looks = Mutex::new(0);
    let last = *answers.last().unwrap();
    let result = changed(Duration::from_millis(1), joined, || {
        *looks.lock().unwrap() += 1;
        let next = left.lock().unwrap().pop_front().unwrap_or(last);
        async move { next }
    })
    .await;
    let looks = *looks.lock().unwrap();
    (result, looks)
}

#[tokio::test(start_paused = true)]
async fn a_count_other_than_the_one_joined_with_ends_the_watch() {
    assert_eq!(
        outcome(Some(4), &[Some(4), None, Some(4), Some(8)]).await,
        ((4, 8), 4)
    );
    // Fewer partitions (a topic recreated smaller) is a change too.
    assert_eq!(outcome(Some(4), &[Some(2)]).await, ((4, 2), 1));
}

#[tokio::test(start_paused = true)]
async fn with_no_count_before_the_join_the_first_read_stands_for_it() {
    assert_eq!(
        outcome(None, &[None, Some(4), Some(4), Some(6)]).await,
        ((4, 6), 4)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_topic_is_watched_for_good() {
    let watch = outcome(Some(4), &[Some(4)]);
    let waited = tokio::time::timeout(Duration::from_secs(1), watch).await;
    assert!(waited.is_err(), "{waited:?}");
}
