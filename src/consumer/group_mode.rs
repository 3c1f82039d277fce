//! The consumer in group mode: a [`GroupMember`] decides which partitions this instance owns;
//! this supervisor starts a partition task for each assigned one and stops it on revocation.
//!
//! ```text
//!  GroupMember ── Assigned(gen, ps) ─► OffsetFetch(ps) ─► task per p (claims the fence first)
//!              ── Revoked(ps, done) ─► cancel tasks, await (batch in hand commits)
//!                                      ─► OffsetCommit(store offsets of ps) ─► done
//!  every auto_commit_interval_ms ─► OffsetCommit(store offsets of the owned partitions)
//!  shutdown ─► stop every task ─► OffsetCommit ─► LeaveGroup (dynamic members)
//! ```
//!
//! The store stays the source of truth: its offsets commit with the effects, and what goes to
//! Kafka is a copy, read back from the store, so that tools see our position and lag, and a
//! new instance with an empty store starts where the group stopped.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{debug, info, warn};

use super::{
    partition::{self, Context, Start},
    process::stored_offset,
    source::{KafkaPartition, PartitionSource},
};
use crate::{
    kafka::{
        Client,
        group::{GroupEvent, GroupMember, MemberConfig, assign},
    },
    store::StoreExt,
};

/// Longest wait for the group's committed offsets of new partitions, and for LeaveGroup.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Tries at reading the group's committed offsets of newly assigned partitions.
const COMMITTED_ATTEMPTS: u32 = 3;

/// A running partition task.
struct Owned {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The member's settings from `[consumer]`.
fn member_config(ctx: &Context) -> MemberConfig {
    let c = &ctx.config;
    MemberConfig {
        group_id: c.group_id.clone(),
        topic: ctx.topic.clone(),
        session_timeout: Duration::from_millis(u64::from(c.session_timeout_ms)),
        rebalance_timeout: Duration::from_millis(u64::from(c.rebalance_timeout_ms)),
        heartbeat_interval: Duration::from_millis(u64::from(c.heartbeat_interval_ms)),
        // `check` refused unknown names; an unknown one here is skipped.
        assignors: c
            .assignors
            .iter()
            .filter_map(|a| assign::by_name(a))
            .collect(),
        group_instance_id: c.instance_id().map(str::to_owned),
    }
}

/// Runs the group member and the partition tasks it asks for until `cancel`.
pub(crate) async fn supervise(
    client: Arc<Client>,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let (member, mut events) = GroupMember::start(Arc::clone(&client), member_config(&ctx));
    let mut owned: BTreeMap<i32, Owned> = BTreeMap::new();
    let mut commits =
        tokio::time::interval(Duration::from_millis(ctx.config.auto_commit_interval_ms));
    commits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            event = events.recv() => match event {
                None => break,
                Some(GroupEvent::Assigned { generation, partitions, took }) => {
                    info!(generation, ?partitions, rebalance_secs = took.as_secs_f64(), "consumer: partitions assigned");
                    ctx.metrics.rebalances.add(1);
                    ctx.metrics.rebalance_seconds.observe(took.as_secs_f64());
                    ctx.metrics.generation.set(i64::from(generation));
                    let committed = committed(&member, &partitions).await;
                    for p in partitions {
                        let start = Start { generation, committed: committed.get(&p).copied() };
                        let child = cancel.child_token();
                        let task = tasks.spawn(start_partition(
                            Arc::clone(&client), Arc::clone(&ctx), p, start, child.clone(),
                        ));
                        owned.insert(p, Owned { cancel: child, task });
                    }
                    ctx.metrics.assigned_partitions.set(owned.len() as i64);
                }
                Some(GroupEvent::Revoked { partitions, done }) => {
                    info!(?partitions, "consumer: partitions revoked");
                    let stopped: Vec<Owned> =
                        partitions.iter().filter_map(|p| owned.remove(p)).collect();
                    stop(stopped).await;
                    commit(&member, &ctx, &partitions).await;
                    for p in &partitions {
                        ctx.metrics.drop_lag(&ctx.topic, *p);
                    }
                    ctx.metrics.assigned_partitions.set(owned.len() as i64);
                    let _ = done.send(());
                }
            },
            _ = commits.tick() => {
                owned.retain(|p, o| {
                    let alive = !o.task.is_finished();
                    if !alive {
                        ctx.metrics.drop_lag(&ctx.topic, *p);
                    }
                    alive
                });
                let partitions: Vec<i32> = owned.keys().copied().collect();
                commit(&member, &ctx, &partitions).await;
            }
        }
    }
    // A revocation still queued is answered by dropping it: the member task ends.
    drop(events);
    let partitions: Vec<i32> = owned.keys().copied().collect();
    stop(owned.into_values().collect()).await;
    commit(&member, &ctx, &partitions).await;
    member.stop(REQUEST_DEADLINE).await;
}

/// Cancels the tasks and waits until each has committed its batch in hand and ended.
async fn stop(tasks: Vec<Owned>) {
    for t in &tasks {
        t.cancel.cancel();
    }
    for t in tasks {
        let _ = t.task.await;
    }
}

/// The group's committed offsets of `partitions`, asked up to [`COMMITTED_ATTEMPTS`] times.
/// Without them a partition starts from the store's offset, which is behind when another member
/// of the group handled the partition since (see `partition::start_offset`): said in a warning.
async fn committed(member: &GroupMember, partitions: &[i32]) -> BTreeMap<i32, i64> {
    if partitions.is_empty() {
        return BTreeMap::new();
    }
    for attempt in 1..=COMMITTED_ATTEMPTS {
        match tokio::time::timeout(REQUEST_DEADLINE, member.committed(partitions)).await {
            Ok(Ok(offsets)) => return offsets,
            Ok(Err(error)) => {
                warn!(%error, attempt, "consumer: cannot read the group's committed offsets");
            }
            Err(_) => {
                warn!(
                    attempt,
                    "consumer: the group's committed offsets did not come in time"
                );
            }
        }
    }
    warn!(
        ?partitions,
        "consumer: starting from the store's offsets alone; records another member of the group handled since may be handled again"
    );
    BTreeMap::new()
}

/// Commits the store's offsets of `partitions` to the group (a failure is logged: the next
/// interval commits again, and the store keeps the truth meanwhile).
async fn commit(member: &GroupMember, ctx: &Context, partitions: &[i32]) {
    if partitions.is_empty() {
        return;
    }
    let offsets = ctx.store.read_with(|txn| {
        let mut out = BTreeMap::new();
        for p in partitions {
            if let Some(o) = stored_offset(txn, &ctx.topic, *p)? {
                out.insert(*p, o);
            }
        }
        Ok::<_, crate::store::StoreError>(out)
    });
    let offsets = match offsets {
        Ok(o) => o,
        Err(error) => {
            warn!(%error, "consumer: cannot read offsets to commit to the group");
            return;
        }
    };
    match tokio::time::timeout(REQUEST_DEADLINE, member.commit(&offsets)).await {
        Ok(Ok(())) => debug!(?offsets, "consumer: offsets committed to the group"),
        Ok(Err(error)) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!(%error, "consumer: offset commit to the group failed");
        }
        Err(_) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!("consumer: offset commit to the group timed out");
        }
    }
}

/// Runs the partition's loop (its leader is found on the first fetch).
async fn start_partition(
    client: Arc<Client>,
    ctx: Arc<Context>,
    p: i32,
    start: Start,
    cancel: CancellationToken,
) {
    let source: Arc<dyn PartitionSource> = Arc::new(KafkaPartition::new(&client, &ctx.topic, p));
    partition::run(ctx, source, p, start, cancel).await;
}
