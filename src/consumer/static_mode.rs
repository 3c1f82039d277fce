//! The consumer in static mode (`assignment = "static"`): a fixed share of the topic's
//! partitions (`p % instances == instance`), without a group. The partitions are read again
//! every `metadata_refresh_secs`, so partitions added later get a task too.
//!
//! A task ends on its own when another owner claimed its partition in the store (two instances
//! given one `consumer.instance`, or a replacement of this process started while it was
//! frozen), or if it panicked, a bug. The newest claim wins, so the task is not started again;
//! the partition leaves `usercenter_consumer_assigned_partitions` and an ERROR line says which.
use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, warn};

use super::{
    ConsumerConfig,
    partition::{self, Context},
    source::{KafkaPartition, PartitionSource},
};
use crate::kafka::Client;

/// The owned partitions of `partitions` that were given no task yet.
pub(super) fn to_start(
    config: &ConsumerConfig,
    partitions: &BTreeSet<i32>,
    started: &BTreeSet<i32>,
) -> Vec<i32> {
    partitions
        .iter()
        .copied()
        .filter(|p| config.owns(*p) && !started.contains(p))
        .collect()
}

/// Tells the supervisor that a partition's task ended before shutdown, when dropped: after
/// the task returned, and also if it panicked.
struct Ended {
    partition: i32,
    cancel: CancellationToken,
    tell: mpsc::UnboundedSender<i32>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        if !self.cancel.is_cancelled() {
            let _ = self.tell.send(self.partition);
        }
    }
}

/// Starts a task per owned partition, and again for partitions added later.
pub(super) async fn supervise(
    client: Arc<Client>,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    // Every partition given a task, and those whose task still runs.
    let (mut started, mut running) = (BTreeSet::new(), BTreeSet::new());
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let refresh = Duration::from_secs(ctx.config.metadata_refresh_secs);
    loop {
        let listed = tokio::select! {
            t = client.fresh_topic(&ctx.topic) => t,
            () = cancel.cancelled() => return,
        };
        match listed {
            Ok(topic) => {
                let partitions: BTreeSet<i32> = topic.partitions.keys().copied().collect();
                for p in to_start(&ctx.config, &partitions, &started) {
                    started.insert(p);
                    running.insert(p);
                    let source: Arc<dyn PartitionSource> =
                        Arc::new(KafkaPartition::new(&client, &ctx.topic, p));
                    let ended = Ended {
                        partition: p,
                        cancel: cancel.clone(),
                        tell: ended_tx.clone(),
                    };
                    let run = partition::run(
                        Arc::clone(&ctx),
                        source,
                        p,
                        partition::Start::default(),
                        cancel.clone(),
                    );
                    tasks.spawn(async move {
                        let _ended = ended;
                        run.await;
                    });
                }
                ctx.metrics.assigned_partitions.set(running.len() as i64);
            }
            Err(e) if e.is_unknown_topic() => {}
            Err(error) => warn!(topic = %ctx.topic, %error, "consumer: cannot list partitions"),
        }
        let next_listing = tokio::time::sleep(refresh);
        tokio::pin!(next_listing);
        loop {
            tokio::select! {
                () = &mut next_listing => break,
                () = cancel.cancelled() => return,
                Some(p) = ended.recv() => {
                    error!(topic = %ctx.topic, partition = p, "consumer: the partition's task ended: another owner claimed the partition (two instances with one consumer.instance?), or it failed; this instance consumes it no more until it is restarted");
                    running.remove(&p);
                    ctx.metrics.drop_lag(&ctx.topic, p);
                    ctx.metrics.assigned_partitions.set(running.len() as i64);
                }
            }
        }
    }
}
