//! The consumer in static mode (`assignment = "static"`): a fixed share of the topic's
//! partitions (`p % instances == instance`), without a group. The partitions are read again
//! every `metadata_refresh_secs`, so partitions added later get a task too.
use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::warn;

use super::{
    ConsumerConfig,
    partition::{self, Context},
    source::{KafkaPartition, PartitionSource},
};
use crate::kafka::Client;

/// The owned partitions of `partitions` that have no task yet.
pub(super) fn to_start(
    config: &ConsumerConfig,
    partitions: &BTreeSet<i32>,
    running: &BTreeSet<i32>,
) -> Vec<i32> {
    partitions
        .iter()
        .copied()
        .filter(|p| config.owns(*p) && !running.contains(p))
        .collect()
}

/// Starts a task per owned partition, and again for partitions added later.
pub(super) async fn supervise(
    client: Arc<Client>,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let mut running = BTreeSet::new();
    let refresh = Duration::from_secs(ctx.config.metadata_refresh_secs);
    loop {
        let listed = tokio::select! {
            t = client.fresh_topic(&ctx.topic) => t,
            () = cancel.cancelled() => return,
        };
        match listed {
            Ok(topic) => {
                let partitions: BTreeSet<i32> = topic.partitions.keys().copied().collect();
                for p in to_start(&ctx.config, &partitions, &running) {
                    running.insert(p);
                    let source: Arc<dyn PartitionSource> =
                        Arc::new(KafkaPartition::new(&client, &ctx.topic, p));
                    tasks.spawn(partition::run(
                        Arc::clone(&ctx),
                        source,
                        p,
                        partition::Start::default(),
                        cancel.clone(),
                    ));
                }
                ctx.metrics.assigned_partitions.set(running.len() as i64);
            }
            Err(e) if e.is_unknown_topic() => {}
            Err(error) => warn!(topic = %ctx.topic, %error, "consumer: cannot list partitions"),
        }
        tokio::select! {
            () = tokio::time::sleep(refresh) => {}
            () = cancel.cancelled() => return,
        }
    }
}
