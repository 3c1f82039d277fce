//! The subscribed topic's size while a generation is stable. Partitions added to the topic (an
//! operator's CreatePartitions) have no owner until the group rebalances, and a stable group
//! rebalances only when a member joins: a static member restarting takes its old place without
//! one. So, as Kafka's clients do on a metadata change, a member compares the topic's
//! partition count every `metadata_refresh` while stable with the count its assignment was
//! made over, and joins again when they differ; the coordinator answers the leader's join with
//! a rebalance, whose assignment reads the topic afresh (a follower's join, its subscription
//! unchanged, is answered with the generation it has).
//!
//! The count compared with is the one a leader of ours noted in the assignment it made
//! (`rebalance::note`): a leader restarted in its static place keeps an assignment made
//! before, perhaps over fewer partitions. Without a note (another client made the
//! assignment), it is the count read before the join: a change between the two is then seen as
//! one, at the cost of at most one join too many.
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

/// Returns `(before, now)` once a look every `every` finds the count other than `joined` (the
/// assignment's, else the one read before the join; when neither is known, the first count
/// read stands for it).
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
