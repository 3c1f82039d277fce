//! The partitions of an assignment that the topic has. The group's leader may be another
//! client, and a partition it made up would get a task, a fence row in the store and a
//! metadata lookup every retry; but a partition added to the topic may be missing from what a
//! broker answers for a while, and one dropped for that would stay assigned to us and
//! unconsumed (a cooperative assignor keeps a partition with the member that says it owns
//! it). So a partition past the topic's size waits, and starts once the metadata shows it
//! ([`super::GroupSupervisor`] looks again at every commit tick).
use std::time::Duration;

use tokio::time::timeout;
use tracing::warn;

use crate::kafka::Client;

/// `partitions` split into those `topic` has and those past its size, which wait. A partition
/// past the cached size is looked up afresh first: the leader read the topic afresh for its
/// assignment. When that read fails the cached size holds, and with no size at all every
/// partition waits (a task could not fetch without the topic's metadata either; a made-up
/// partition number would get a task that retries for ever). Negative numbers no topic has
/// are dropped. Each read takes at most `deadline` (a read that does not end in it failed):
/// the supervisor's events (a revocation, a loss, the shutdown) wait behind it, and with the
/// brokers silent a metadata read takes a connect timeout per address.
pub(super) async fn existing(
    client: &Client,
    topic: &str,
    partitions: Vec<i32>,
    deadline: Duration,
) -> (Vec<i32>, Vec<i32>) {
    let cached = timeout(deadline, client.partition_count(topic))
        .await
        .ok()
        .and_then(Result::ok);
    let mut count = cached;
    if partitions.iter().any(|&p| beyond(count, p)) {
        count = timeout(deadline, client.fresh_topic(topic))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|t| t.partitions.len())
            .or(cached);
    }
    let (kept, waiting, dropped) = split_existing(partitions, count);
    if !dropped.is_empty() {
        warn!(
            topic,
            dropped = dropped.len(),
            first = ?&dropped[..dropped.len().min(8)],
            "consumer: the assignment names negative partition numbers; ignored"
        );
    }
    if !waiting.is_empty() {
        warn!(
            topic,
            waiting = waiting.len(),
            first = ?&waiting[..waiting.len().min(8)],
            "consumer: the assignment names partitions the topic's metadata does not show yet; they start once it does"
        );
    }
    (kept, waiting)
}

/// Those of `waiting` a topic of `count` partitions has now.
pub(super) fn shown(waiting: &[i32], count: usize) -> Vec<i32> {
    split_existing(waiting.to_vec(), Some(count)).0
}

/// Whether partition `p` may lie past a topic of `count` partitions (`None`: unknown).
fn beyond(count: Option<usize>, p: i32) -> bool {
    usize::try_from(p).is_ok_and(|p| count.is_none_or(|c| p >= c))
}

/// `partitions` split into those a topic of `count` partitions has (`None`: unknown, none),
/// those past its size, and negative numbers.
fn split_existing(partitions: Vec<i32>, count: Option<usize>) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let count = count.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let (negative, rest): (Vec<i32>, Vec<i32>) = partitions.into_iter().partition(|&p| p < 0);
    let (kept, waiting) = rest
        .into_iter()
        .partition(|&p| (0..count).contains(&i64::from(p)));
    (kept, waiting, negative)
}

#[cfg(test)]
mod tests;
