//! The offset-managed consumer loop of `user.events`.
//!
//! Which partitions an instance owns is
//! decided either by the Kafka consumer-group protocol (`assignment = "group"`, the default:
//! [`group`] runs a [`crate::kafka::group::GroupMember`] and copies the store's offsets to the
//! group) or by a fixed share (`"static"`: `p % instances == instance`). Either way the offsets
//! that count live in the store, and each partition's owner holds a [`fence`] claim that every
//! batch commit checks.
//!
//! ```text
//! supervisor (static): partitions of the topic (re-read every metadata_refresh_secs) ─► one task per owned partition
//! supervisor (group):  Assigned / Revoked events of the group member ─► start / stop partition tasks
//! partition task: fetch(offset) ─► pass in ONE store transaction:
//!                  for each record: duplicate? skip │ poison? dead letter (outbox) │ handler effects
//!                  + dedupe marks + outbox rows (notifications, analytics, dead letters)
//!                  + next offset
//!                 handler failure: commit what came before, back off, retry; after N attempts
//!                 dead-letter it. OffsetOutOfRange: reset to earliest (warning + metric).
//! ```
//!
//! Because the offset, the effects and the dedupe marks commit together, a restart (even after
//! SIGKILL) resumes exactly after the last committed record, and a record seen again (producer
//! retry, outbox replay, a copy by another client with the same headers) is skipped by its
//! dedupe key: effects apply exactly once. Outputs reach Kafka through the outbox relay.
//! Dedupe marks are kept for `dedupe_horizon_secs`, then [`prune`]d with the event log.
mod dead_log;
pub mod fence;
mod group;
pub mod handler;
mod metrics;
mod partition;
pub mod process;
pub mod prune;
pub mod source;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::warn;

pub use crate::config::{AssignmentMode, ConsumerConfig, StartPolicy};
pub use handler::{
    BoxError, Effects, HandlerError, HandlerResult, NoopHandler, RecordError, RecordHandler, Write,
};
pub use metrics::ConsumerMetrics;

use crate::{kafka::Client, store::Store};
use partition::Context;
use source::{KafkaPartition, PartitionSource};

/// A running consumer.
#[derive(Debug)]
pub struct Consumer {
    cancel: CancellationToken,
    tasks: TaskTracker,
    metrics: Arc<ConsumerMetrics>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Starts consuming `topic` with `handler`, counting into `metrics` (which may exist before
    /// the consumer: the service's `/metrics` holds them from its start); outbox rows it writes
    /// wake `outbox_wake`. Records, offsets and the group go through `client`, the process's
    /// Kafka client.
    #[allow(clippy::too_many_arguments)] // each is a different part the consumer is built from
    pub fn start(
        metrics: Arc<ConsumerMetrics>,
        client: Arc<Client>,
        topic: &str,
        config: ConsumerConfig,
        store: Arc<dyn Store>,
        handler: Arc<dyn RecordHandler>,
        outbox_wake: Arc<Notify>,
        producer_id: u64,
    ) -> Self {
        let ctx = Arc::new(Context {
            topic: topic.to_owned(),
            config,
            store,
            handler,
            metrics: Arc::clone(&metrics),
            producer_id,
            outbox_wake,
            dead_log: dead_log::DeadLetterLog::default(),
        });
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(prune::run(
            Arc::clone(&ctx.store),
            Duration::from_secs(ctx.config.dedupe_horizon_secs),
            Duration::from_secs(ctx.config.prune_interval_secs),
            Arc::clone(&metrics),
            cancel.clone(),
        ));
        match ctx.config.mode() {
            AssignmentMode::Group => {
                tasks.spawn(group::supervise(client, ctx, tasks.clone(), cancel.clone()))
            }
            AssignmentMode::Static => {
                tasks.spawn(supervise(client, ctx, tasks.clone(), cancel.clone()))
            }
        };
        Self {
            cancel,
            tasks,
            metrics,
        }
    }

    /// The consumer's metrics.
    pub fn metrics(&self) -> &Arc<ConsumerMetrics> {
        &self.metrics
    }

    /// Stops every partition after the batch in hand is committed; waits at most `deadline`.
    /// Returns whether everything stopped in time.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tasks.close();
        tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_ok()
    }
}

/// The owned partitions of `partitions` that have no task yet.
fn to_start(
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
async fn supervise(
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

#[cfg(test)]
mod tests;
