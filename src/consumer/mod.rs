//! The offset-managed consumer loop of `user.events`.
//!
//! Which partitions an instance owns is decided either by the Kafka consumer-group protocol
//! (`assignment = "group"`, the default: [`group_mode`] runs a
//! [`crate::kafka::group::GroupMember`] and copies the store's offsets to the group) or by a
//! fixed share (`static_mode`: `p % instances == instance`). Either way the offsets that
//! count live in the store, and each partition's owner holds a [`fence`] claim that every
//! batch commit checks.
//!
//! ```text
//! static_mode: partitions of the topic (re-read every metadata_refresh_secs) ─► one task per owned partition
//! group_mode:  Assigned / Revoked / Lost events of the group member ─► start / stop partition tasks
//! partition task: fetch(offset) ─► apply_batch in ONE store transaction:
//!                  for each record: duplicate? skip │ poison? dead letter (outbox) │ handler effects
//!                  + dedupe marks + outbox rows (notifications, analytics, dead letters)
//!                  + next offset
//!                 handler failure: commit what came before, back off, retry; after N attempts
//!                 dead-letter it. OffsetOutOfRange, or empty answers past the high
//!                 watermark for 5 s: reset to earliest (warning + metric).
//! ```
//!
//! Because the offset, the effects and the dedupe marks commit together, a restart (even after
//! SIGKILL) resumes exactly after the last committed record, and a record seen again (producer
//! retry, outbox replay, a copy by another client with the same headers) is skipped by its
//! dedupe key: effects apply exactly once. Outputs reach Kafka through the outbox relay.
//! Dedupe marks are kept for `dedupe_horizon_secs`, then [`prune`]d with the event log.
mod dead_log;
pub mod fence;
mod group_mode;
pub mod handler;
mod metrics;
mod partition;
pub mod process;
pub mod prune;
pub mod source;
mod static_mode;

use std::{sync::Arc, time::Duration};

use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use crate::config::{AssignmentMode, ConsumerConfig, StartPolicy};
pub use handler::{
    BoxError, Effects, HandlerError, HandlerResult, NoopHandler, RecordError, RecordHandler, Write,
};
pub use metrics::ConsumerMetrics;

use crate::{kafka::Client, store::Store};
use partition::Context;

/// A running consumer.
#[derive(Debug)]
pub struct Consumer {
    cancel: CancellationToken,
    tasks: TaskTracker,
    metrics: Arc<ConsumerMetrics>,
    /// The tasks that run until the stop (the supervisor, the pruning), by what they are.
    watched: Vec<(&'static str, JoinHandle<()>)>,
}

/// What a consumer is built from, besides the process's Kafka client.
pub struct ConsumerParts {
    /// The topic it consumes.
    pub topic: String,
    /// `[consumer]`.
    pub config: ConsumerConfig,
    /// Where each batch's effects, dedupe marks, outbox rows and next offset commit together.
    pub store: Arc<dyn Store>,
    /// What each record becomes.
    pub handler: Arc<dyn RecordHandler>,
    /// What it counts; may exist before the consumer (the service's `/metrics` holds them
    /// from its start).
    pub metrics: Arc<ConsumerMetrics>,
    /// `ce_producerid` stamped, with a sequence from the store, on every outbox row it writes.
    pub producer_id: u64,
    /// Woken after a commit that wrote outbox rows (the outbox relay's wake-up).
    pub outbox_wake: Arc<Notify>,
}

impl std::fmt::Debug for ConsumerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerParts")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Starts the consumer built from `parts`. Records, offsets and the group go through
    /// `client`, the process's Kafka client.
    pub fn start(client: Arc<Client>, parts: ConsumerParts) -> Self {
        Self::start_within(client, parts, &CancellationToken::new())
    }

    /// [`Consumer::start`], also stopped when `parent` is cancelled (the service's Kafka side:
    /// a stop that cannot wait for [`Consumer::stop`] still ends the consumer's work, its
    /// prune pass included, after the batch in hand).
    pub fn start_within(
        client: Arc<Client>,
        parts: ConsumerParts,
        parent: &CancellationToken,
    ) -> Self {
        let ConsumerParts {
            topic,
            config,
            store,
            handler,
            metrics,
            producer_id,
            outbox_wake,
        } = parts;
        let ctx = Arc::new(Context {
            topic,
            config,
            store,
            handler,
            metrics: Arc::clone(&metrics),
            producer_id,
            outbox_wake,
            dead_log: dead_log::DeadLetterLog::default(),
            held: partition::held::HeldRecords::default(),
        });
        let cancel = parent.child_token();
        let tasks = TaskTracker::new();
        let pruning = tasks.spawn(prune::run(
            Arc::clone(&ctx.store),
            Duration::from_secs(ctx.config.dedupe_horizon_secs),
            Duration::from_secs(ctx.config.prune_interval_secs),
            Arc::clone(&metrics),
            cancel.clone(),
        ));
        let supervisor = match ctx.config.mode() {
            AssignmentMode::Group => tasks.spawn(group_mode::supervise(
                client,
                ctx,
                tasks.clone(),
                cancel.clone(),
            )),
            AssignmentMode::Static => tasks.spawn(static_mode::supervise(
                client,
                ctx,
                tasks.clone(),
                cancel.clone(),
            )),
        };
        Self {
            cancel,
            tasks,
            metrics,
            watched: vec![
                ("the consumer's supervisor", supervisor),
                ("the consumer's dedupe pruning", pruning),
            ],
        }
    }

    /// Resolves when the consumer's supervisor or its pruning panicked: what and its message.
    /// A task that returned is not watched further (a group member fenced by another process
    /// with its `group_instance_id` stops consuming by design, the rest of the service running
    /// on); with none left it never resolves.
    pub async fn panicked(&mut self) -> String {
        while !self.watched.is_empty() {
            let ended = self.watched.iter_mut().map(|(_, handle)| handle);
            let (ended, i, _) = futures::future::select_all(ended).await;
            let (what, _) = self.watched.swap_remove(i);
            if let Err(e) = ended
                && e.is_panic()
            {
                return crate::logging::task_ended(what, Err(e));
            }
        }
        std::future::pending().await
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

#[cfg(test)]
mod tests;
