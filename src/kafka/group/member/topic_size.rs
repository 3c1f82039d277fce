//! The subscribed topic's size while a generation is stable. Partitions added to the topic (an
//! operator's CreatePartitions) have no owner until the group rebalances, and a stable group
//! rebalances only when a member joins: a static member restarting takes its old place without
//! one. So, as Kafka's clients do on a metadata change, the member reads the topic's partition
//! count before each join and every `metadata_refresh` while stable, and joins again when it
//! changed. A coordinator answers the leader's join with a rebalance (the leader's assignment
//! reads the topic afresh) and a follower's, whose subscription is unchanged, with the current
//! generation, so the change is acted on once the leader sees it, whichever client leads.
use std::{future::Future, time::Duration};

use tracing::debug;

use crate::kafka::group::coordinator_link::CoordinatorLink;

/// The subscribed topic's partition count from a fresh Metadata read; `None` when it cannot be
/// read now (the next look tries again).
pub(super) async fn read(link: &CoordinatorLink) -> Option<usize> {
    match link.client.fresh_topic(&link.topic).await {
        Ok(topic) => Some(topic.partitions.len()),
        Err(error) => {
            debug!(topic = %link.topic, %error, "group: the topic's size could not be read");
            None
        }
    }
}

/// Returns `(before, now)` once a look every `every` finds the count other than `joined` (what
/// was read before the join; when that read failed, the first count read stands for it).
/// Reading before the join rather than after it means a change between the two is seen as one,
/// at the cost of at most one join too many.
pub(super) async fn changed<F, R>(
    every: Duration,
    joined: Option<usize>,
    mut look: F,
) -> (usize, usize)
where
    F: FnMut() -> R,
    R: Future<Output = Option<usize>>,
{
    let mut known = joined;
    loop {
        tokio::time::sleep(every).await;
        let Some(now) = look().await else {
            continue;
        };
        match known {
            Some(before) if before != now => return (before, now),
            _ => known = Some(now),
        }
    }
}

#[cfg(test)]
mod tests;
