//! The task of a partition the member owns: started with where the group left it, saying when
//! its start offset is in the store (from then on its store offset may go to the group), and
//! stopped once its batch in hand is committed.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    consumer::{
        partition::{self, Context, Start},
        source::{KafkaPartition, PartitionSource},
    },
    kafka::Client,
};

/// The task of a partition we own.
pub(super) struct Owned {
    /// Stops the task (a child of the consumer's shutdown).
    pub cancel: CancellationToken,
    /// The partition's loop.
    pub task: JoinHandle<()>,
    /// Set once the task stored its start offset ([`Start::started`]): only then may the
    /// store's offset go to the group, which is otherwise older than the group's when another
    /// member handled the partition since it was last ours.
    started: Arc<AtomicBool>,
    /// When the supervisor first saw the task ended while the partition was still ours.
    pub ended: Option<Instant>,
    /// The group's committed offset the task started with, for a task started again.
    pub committed: Option<i64>,
}

impl Owned {
    /// Starts the loop of partition `p` on `tasks`, assigned in `generation`, from the
    /// group's `committed` offset of it (see `partition::start_offset`), stopped by `shutdown`.
    pub fn spawn(
        client: &Arc<Client>,
        ctx: &Arc<Context>,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
        p: i32,
        generation: i32,
        committed: Option<i64>,
    ) -> Self {
        let cancel = shutdown.child_token();
        let started = Arc::new(AtomicBool::new(false));
        let start = Start {
            generation,
            committed,
            started: Some(Arc::clone(&started)),
        };
        let source: Arc<dyn PartitionSource> = Arc::new(KafkaPartition::new(client, &ctx.topic, p));
        let task = tasks.spawn(partition::run(
            Arc::clone(ctx),
            source,
            p,
            start,
            cancel.clone(),
        ));
        Self {
            cancel,
            task,
            started,
            ended: None,
            committed,
        }
    }

    /// Whether the task stored its start offset.
    pub fn has_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
}

/// Cancels the tasks of the partitions `tasks` holds and waits until each has committed its
/// batch in hand and ended; the partitions whose task had stored its start offset by then (the
/// ones whose store offset may go to the group), read once the tasks ended.
pub(super) async fn stop(tasks: Vec<(i32, Owned)>) -> Vec<i32> {
    for (_, t) in &tasks {
        t.cancel.cancel();
    }
    let mut started = Vec::new();
    for (p, t) in tasks {
        let _ = t.task.await;
        if t.started.load(Ordering::Acquire) {
            started.push(p);
        }
    }
    started
}
