//! The partitions of an assignment that the topic has. The group's leader may be another
//! client, and a partition it made up would get a task, a fence row in the store and a
//! metadata lookup every retry.
use tracing::warn;

use crate::kafka::Client;

/// Those of `partitions` that `topic` has. When the topic's size cannot be read, only negative
/// numbers are dropped. A partition past the cached size is looked up afresh before it is
/// dropped: the leader read the topic afresh for its assignment, and partitions added since
/// our cache was filled would otherwise stay assigned to us and unconsumed (a cooperative
/// assignor keeps a partition with the member that says it owns it).
pub(super) async fn existing(client: &Client, topic: &str, partitions: Vec<i32>) -> Vec<i32> {
    let mut count = client.partition_count(topic).await.ok();
    if partitions.iter().any(|&p| beyond(count, p)) {
        count = client
            .fresh_topic(topic)
            .await
            .map(|t| t.partitions.len())
            .ok()
            .or(count);
    }
    let (kept, dropped) = split_existing(partitions, count);
    if !dropped.is_empty() {
        warn!(
            topic,
            dropped = dropped.len(),
            first = ?&dropped[..dropped.len().min(8)],
            "consumer: the assignment names partitions the topic does not have; ignored"
        );
    }
    kept
}

/// Whether partition `p` may lie past a topic of `count` partitions (`None`: unknown).
fn beyond(count: Option<usize>, p: i32) -> bool {
    usize::try_from(p).is_ok_and(|p| count.is_none_or(|c| p >= c))
}

/// `partitions` split into those a topic of `count` partitions has and the rest (`None`: only
/// negative numbers are known not to exist).
fn split_existing(partitions: Vec<i32>, count: Option<usize>) -> (Vec<i32>, Vec<i32>) {
    let count = count.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    partitions
        .into_iter()
        .partition(|&p| (0..count).contains(&i64::from(p)))
}

#[cfg(test)]
mod tests;
